//! Who a client is: the identity a connection presents (a signed token, or an answer from the
//! application's backend), checked once when it connects, on every protocol.
//!
//! An [`Authenticator`] turns a connection's [`Credentials`] into a [`User`] or an [`AuthError`].
//! The binary builds one from `--auth-jwt-secret` / `--auth-jwt-public-key` ([`JwtAuthenticator`]);
//! an application gives its own to [`crate::Switchboard::with_authenticator`]. Without one,
//! every client is let in anonymously, as before.

mod backend;
mod jwt;
pub(crate) mod request;
mod user;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::engineio::Handshake;
use crate::hub::{Protocol, Transport};

pub use backend::BackendAuthenticator;
pub use jwt::{JwtAuthenticator, JwtKeyError};
pub use user::User;

/// Why a connection was refused. The same reason text reaches the client on every protocol
/// (protocols/auth.md has the codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The client presented no token.
    Missing,
    /// The token is malformed, signed with another key or algorithm, or lacks `sub`.
    Invalid,
    /// The token's `exp` has passed.
    Expired,
    /// The token's `nbf` has not come yet.
    NotYetValid,
    /// The identity may not do this (a room outside its `rooms`, publishing when read-only), or
    /// the backend said no: its message.
    NotAllowed(String),
    /// The authentication backend could not be asked (down, slow, a bad answer).
    Unavailable,
}

/// Reason texts, as the clients see them.
pub mod reasons {
    /// No token was presented.
    pub const TOKEN_REQUIRED: &str = "token required";
    /// The token is not valid.
    pub const INVALID_TOKEN: &str = "invalid token";
    /// The token has expired.
    pub const TOKEN_EXPIRED: &str = "token expired";
    /// The token is not valid yet.
    pub const TOKEN_NOT_YET_VALID: &str = "token not yet valid";
    /// The identity may not do this.
    pub const NOT_ALLOWED: &str = "not allowed";
    /// The authentication backend did not answer.
    pub const UNAVAILABLE: &str = "authentication unavailable";
}

impl AuthError {
    /// The reason the client sees.
    pub fn message(&self) -> &str {
        match self {
            AuthError::Missing => reasons::TOKEN_REQUIRED,
            AuthError::Invalid => reasons::INVALID_TOKEN,
            AuthError::Expired => reasons::TOKEN_EXPIRED,
            AuthError::NotYetValid => reasons::TOKEN_NOT_YET_VALID,
            AuthError::NotAllowed(message) if message.is_empty() => reasons::NOT_ALLOWED,
            AuthError::NotAllowed(message) => message,
            AuthError::Unavailable => reasons::UNAVAILABLE,
        }
    }

    /// The HTTP status of a refusal before a WebSocket upgrade, and (plus 4000) the SockJS
    /// close code: 401 for a missing or bad token, 403 for a refusal, 503 for a backend that
    /// did not answer.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Missing
            | AuthError::Invalid
            | AuthError::Expired
            | AuthError::NotYetValid => 401,
            AuthError::NotAllowed(_) => 403,
            AuthError::Unavailable => 503,
        }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for AuthError {}

/// What a connecting client presents.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// Its protocol.
    pub protocol: Protocol,
    /// The transport it connects with.
    pub transport: Transport,
    /// Its request: query, headers, address.
    pub request: &'a Handshake,
    /// A Socket.IO v5 client's CONNECT `auth` (`io(url, { auth })`); `null` elsewhere.
    pub auth: &'a Value,
}

impl Credentials<'_> {
    /// The token: the Socket.IO `auth.token`, else the query's `token`, else an
    /// `Authorization: Bearer` header.
    pub fn token(&self) -> Option<&str> {
        if let Some(token) = self.auth.get("token").and_then(Value::as_str) {
            return Some(token);
        }
        if let Some(token) = self.request.query.get("token") {
            return Some(token);
        }
        let header = self.request.headers.get("authorization")?;
        let (scheme, token) = header.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }
}

/// The answer of an [`Authenticator`], possibly later (a backend asked over HTTP).
pub type Authentication = Pin<Box<dyn Future<Output = Result<User, AuthError>>>>;

/// Decides who a connecting client is, or refuses it.
pub trait Authenticator: Send + Sync + 'static {
    /// The client's identity, or why it may not connect. Called on the worker thread that
    /// serves the connection; the future runs there too.
    fn authenticate(&self, credentials: &Credentials<'_>) -> Authentication;
}

/// A shared authenticator.
pub(crate) type SharedAuthenticator = Arc<dyn Authenticator>;

/// Where a service finds its authenticator, which may be set after the service is built.
pub(crate) type AuthSlot = Arc<std::sync::RwLock<Option<SharedAuthenticator>>>;

/// Refuses every client (a server whose key could not be loaded).
pub(crate) struct Refuser;

impl Authenticator for Refuser {
    fn authenticate(&self, _credentials: &Credentials<'_>) -> Authentication {
        ready(Err(AuthError::Unavailable))
    }
}

/// An answer that is ready now.
pub(crate) fn ready(answer: Result<User, AuthError>) -> Authentication {
    Box::pin(std::future::ready(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(query: &[(&str, &str)], headers: &[(&str, &str)]) -> Handshake {
        Handshake {
            query: query.iter().copied().collect(),
            headers: headers.iter().copied().collect(),
            address: None,
            path: "/".into(),
        }
    }

    fn token_of(request: &Handshake, auth: &Value) -> Option<String> {
        Credentials {
            protocol: Protocol::SocketIo,
            transport: Transport::Polling,
            request,
            auth,
        }
        .token()
        .map(str::to_string)
    }

    #[test]
    fn the_token_comes_from_auth_then_the_query_then_a_bearer_header() {
        let both = handshake(&[("token", "q")], &[("authorization", "Bearer h")]);
        assert_eq!(
            token_of(&both, &serde_json::json!({"token": "a"})).as_deref(),
            Some("a")
        );
        assert_eq!(token_of(&both, &Value::Null).as_deref(), Some("q"));
        let header = handshake(&[], &[("authorization", "bearer  h ")]);
        assert_eq!(token_of(&header, &Value::Null).as_deref(), Some("h"));
        let basic = handshake(&[], &[("authorization", "Basic xyz")]);
        assert_eq!(token_of(&basic, &Value::Null), None);
    }

    #[test]
    fn every_refusal_has_its_reason_and_status() {
        assert_eq!(AuthError::Missing.message(), "token required");
        assert_eq!(AuthError::Expired.message(), "token expired");
        assert_eq!(
            AuthError::NotAllowed(String::new()).message(),
            "not allowed"
        );
        assert_eq!(AuthError::NotAllowed("banned".into()).message(), "banned");
        assert_eq!(AuthError::Invalid.status(), 401);
        assert_eq!(AuthError::NotAllowed(String::new()).status(), 403);
        assert_eq!(AuthError::Unavailable.status(), 503);
    }
}
