//! `--auth-url`: the application's backend decides. On every connect switchboard POSTs what the
//! client presented, and the answer says who it is (200) or why not (4xx).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;

use super::{AuthError, Authentication, Authenticator, Credentials, User};

/// Asks an HTTP backend about each connecting client.
#[derive(Debug)]
pub struct BackendAuthenticator {
    url: String,
    timeout: Duration,
    /// Requests to the backend at once; more wait (within the timeout).
    in_flight: Arc<Semaphore>,
}

/// A backend's yes.
#[derive(Deserialize)]
struct Accepted {
    user: String,
    #[serde(default)]
    info: Value,
    rooms: Option<Vec<String>>,
    publish: Option<bool>,
}

impl BackendAuthenticator {
    /// POSTs to `url`, each answer within `timeout`, at most `concurrency` at once.
    pub fn new(
        url: impl Into<String>,
        timeout: Duration,
        concurrency: usize,
    ) -> BackendAuthenticator {
        BackendAuthenticator {
            url: url.into(),
            timeout,
            in_flight: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }
}

/// What the backend is told: `{protocol, transport, headers, query, auth, remote_addr}`.
fn request_body(credentials: &Credentials<'_>) -> Value {
    let pairs = |pairs: &crate::engineio::Pairs| {
        let mut object = Map::new();
        for (name, value) in pairs.iter() {
            object.insert(name.to_string(), Value::from(value));
        }
        Value::Object(object)
    };
    json!({
        "protocol": credentials.protocol.as_str(),
        "transport": credentials.transport.as_str(),
        "headers": pairs(&credentials.request.headers),
        "query": pairs(&credentials.request.query),
        "auth": credentials.auth,
        "remote_addr": credentials.request.address,
    })
}

/// The user a 200 names.
fn accepted(body: &[u8]) -> Result<User, AuthError> {
    let accepted: Accepted = serde_json::from_slice(body).map_err(|error| {
        tracing::error!(%error, "the auth backend answered 200 without a user");
        AuthError::Unavailable
    })?;
    if accepted.user.is_empty() {
        tracing::error!("the auth backend accepted an empty user");
        return Err(AuthError::Unavailable);
    }
    let mut user = User::new(accepted.user).with_info(accepted.info);
    if let Some(rooms) = accepted.rooms {
        user = user.with_rooms(rooms);
    }
    if accepted.publish == Some(false) {
        user = user.read_only();
    }
    Ok(user)
}

/// The refusal a 4xx carries: its JSON `message`, else its text, else `not allowed`.
fn refused(body: &[u8]) -> AuthError {
    let message = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => fields
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => std::str::from_utf8(body).ok().map(|t| t.trim().to_string()),
    };
    AuthError::NotAllowed(message.unwrap_or_default())
}

async fn ask(url: String, body: Value, timeout: Duration) -> Result<User, AuthError> {
    let client = awc::Client::builder().timeout(timeout).finish();
    let mut response = client.post(&url).send_json(&body).await.map_err(|error| {
        tracing::warn!(%error, url, "auth backend unreachable");
        AuthError::Unavailable
    })?;
    let status = response.status();
    let answer = response.body().limit(64 * 1024).await.map_err(|error| {
        tracing::warn!(%error, "auth backend's answer unreadable");
        AuthError::Unavailable
    })?;
    match status.as_u16() {
        200 => accepted(&answer),
        400..=499 => Err(refused(&answer)),
        other => {
            tracing::warn!(status = other, "auth backend failed");
            Err(AuthError::Unavailable)
        }
    }
}

impl Authenticator for BackendAuthenticator {
    fn authenticate(&self, credentials: &Credentials<'_>) -> Authentication {
        let body = request_body(credentials);
        let (url, timeout, in_flight) = (self.url.clone(), self.timeout, self.in_flight.clone());
        Box::pin(async move {
            let answer = tokio::time::timeout(timeout, async move {
                let _permit = in_flight
                    .acquire_owned()
                    .await
                    .map_err(|_| AuthError::Unavailable)?;
                ask(url, body, timeout).await
            })
            .await;
            answer.unwrap_or_else(|_| {
                tracing::warn!(
                    timeout_ms = timeout.as_millis() as u64,
                    "auth backend too slow"
                );
                Err(AuthError::Unavailable)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yes_names_the_user_and_a_no_carries_its_message() {
        let user =
            accepted(br#"{"user":"u1","info":{"n":1},"rooms":["a*"],"publish":false}"#).unwrap();
        assert_eq!(user.id(), "u1");
        assert_eq!(user.info(), &json!({"n": 1}));
        assert!(user.may_join("ab") && !user.may_publish("ab"));
        assert_eq!(accepted(br#"{"name":"x"}"#), Err(AuthError::Unavailable));
        assert_eq!(accepted(br#"{"user":""}"#), Err(AuthError::Unavailable));
        assert_eq!(refused(br#"{"message":"banned"}"#).message(), "banned");
        assert_eq!(refused(b"go away\n").message(), "go away");
        assert_eq!(refused(b"").message(), "not allowed");
    }
}
