//! Signed tokens (JWT): HS256 with a shared secret, or RS256 / ES256 with the issuer's public key.

use std::collections::HashSet;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::{ready, AuthError, Authentication, Authenticator, Credentials, User};

/// Seconds of clock difference allowed on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

/// The claims switchboard reads. `exp` and `nbf` are checked by the decoder.
#[derive(Deserialize)]
struct Claims {
    sub: Option<Value>,
    #[serde(default)]
    info: Value,
    rooms: Option<Vec<String>>,
    publish: Option<bool>,
}

/// A public key switchboard cannot use.
#[derive(Debug, thiserror::Error)]
#[error("unusable key: {0}")]
pub struct JwtKeyError(String);

/// Checks the token every client presents: its signature (only with the configured algorithm:
/// `none` and every other algorithm are refused), `exp` and `nbf`, and a `sub`, the user id.
/// `info` (any JSON) is public information about the user, `rooms` limits what it may join (an
/// entry ending in `*` is a prefix), and `publish: false` makes it read-only.
pub struct JwtAuthenticator {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field("algorithms", &self.validation.algorithms)
            .finish()
    }
}

impl JwtAuthenticator {
    /// Tokens signed with HS256 and `secret` (not empty).
    pub fn hs256(secret: &[u8]) -> Result<JwtAuthenticator, JwtKeyError> {
        DecodingKey::from_secret(secret)
            .map(|key| Self::with(key, Algorithm::HS256))
            .map_err(|e| JwtKeyError(e.to_string()))
    }

    /// Tokens signed with the private half of `pem`: an RSA public key (RS256) or an EC P-256
    /// public key (ES256).
    pub fn from_public_key_pem(pem: &[u8]) -> Result<JwtAuthenticator, JwtKeyError> {
        if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            return Ok(Self::with(key, Algorithm::RS256));
        }
        DecodingKey::from_ec_pem(pem)
            .map(|key| Self::with(key, Algorithm::ES256))
            .map_err(|e| JwtKeyError(e.to_string()))
    }

    fn with(key: DecodingKey, algorithm: Algorithm) -> JwtAuthenticator {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::from(["sub".to_string()]);
        JwtAuthenticator { key, validation }
    }

    /// The user a token names, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<User, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                _ => {
                    tracing::debug!(%error, "token refused");
                    AuthError::Invalid
                }
            })?
            .claims;
        let id = match claims.sub {
            Some(Value::String(sub)) if !sub.is_empty() => sub,
            _ => return Err(AuthError::Invalid),
        };
        let mut user = User::new(id).with_info(claims.info);
        if let Some(rooms) = claims.rooms {
            user = user.with_rooms(rooms);
        }
        if claims.publish == Some(false) {
            user = user.read_only();
        }
        Ok(user)
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, credentials: &Credentials<'_>) -> Authentication {
        ready(
            credentials
                .token()
                .ok_or(AuthError::Missing)
                .and_then(|token| self.verify(token)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &[u8] = b"a test secret";

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn hs256(claims: Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_good_token_names_its_user_with_info_rooms_and_publish() {
        let auth = JwtAuthenticator::hs256(SECRET).unwrap();
        let token = hs256(
            json!({"sub": "u1", "exp": now() + 60, "info": {"name": "Ann"},
                                 "rooms": ["lobby", "team:*"], "publish": false}),
        );
        let user = auth.verify(&token).unwrap();
        assert_eq!(user.id(), "u1");
        assert_eq!(user.info(), &json!({"name": "Ann"}));
        assert!(user.may_join("team:1") && !user.may_join("other"));
        assert!(!user.may_publish("lobby"));
        let plain = auth.verify(&hs256(json!({"sub": "u2"}))).unwrap();
        assert!(plain.may_publish("anything"));
    }

    #[test]
    fn expired_early_unsigned_foreign_and_anonymous_tokens_are_refused() {
        let auth = JwtAuthenticator::hs256(SECRET).unwrap();
        let expired = hs256(json!({"sub": "u1", "exp": now() - 60}));
        assert_eq!(auth.verify(&expired), Err(AuthError::Expired));
        let early = hs256(json!({"sub": "u1", "nbf": now() + 60}));
        assert_eq!(auth.verify(&early), Err(AuthError::NotYetValid));
        let within_leeway = hs256(json!({"sub": "u1", "exp": now() - 2}));
        assert!(auth.verify(&within_leeway).is_ok());
        let other_key = encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": "u1"}),
            &EncodingKey::from_secret(b"another secret").unwrap(),
        )
        .unwrap();
        assert_eq!(auth.verify(&other_key), Err(AuthError::Invalid));
        let other_algorithm = encode(
            &Header::new(Algorithm::HS512),
            &json!({"sub": "u1"}),
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap();
        assert_eq!(auth.verify(&other_algorithm), Err(AuthError::Invalid));
        // `alg: none`: a header and claims with no signature.
        use base64::Engine;
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let unsigned = format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"})),
            b64(json!({"sub": "u1"}))
        );
        assert_eq!(auth.verify(&unsigned), Err(AuthError::Invalid));
        assert_eq!(
            auth.verify(&hs256(json!({"name": "nobody"}))),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.verify(&hs256(json!({"sub": 7}))),
            Err(AuthError::Invalid)
        );
        assert_eq!(auth.verify("not a token"), Err(AuthError::Invalid));
    }

    #[test]
    fn an_empty_secret_and_a_pem_that_is_no_public_key_are_refused() {
        assert!(JwtAuthenticator::hs256(b"").is_err());
        assert!(JwtAuthenticator::from_public_key_pem(b"-----BEGIN NOTHING-----").is_err());
    }
}
