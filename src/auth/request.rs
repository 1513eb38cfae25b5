//! Authenticating a connection that arrives as an HTTP request (a WebSocket upgrade, a SockJS
//! session's first request), and the answer to one refused before its upgrade.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse};

use super::{AuthError, Credentials, SharedAuthenticator, User};
use crate::engineio::Handshake;
use crate::hub::{Protocol, Transport};

/// Who the client of `request` is: `Ok(None)` when clients do not authenticate.
pub(crate) async fn authenticate(
    authenticator: Option<&SharedAuthenticator>,
    request: &Handshake,
    protocol: Protocol,
    transport: Transport,
) -> Result<Option<Arc<User>>, AuthError> {
    let Some(authenticator) = authenticator else {
        return Ok(None);
    };
    let credentials = Credentials {
        protocol,
        transport,
        request,
        auth: &serde_json::Value::Null,
    };
    let answer = authenticator.authenticate(&credentials).await;
    match answer {
        Ok(user) => Ok(Some(Arc::new(user))),
        Err(error) => {
            tracing::info!(%protocol, transport = transport.as_str(), address = request.address.as_deref(), reason = %error, "connection refused");
            Err(error)
        }
    }
}

/// [`authenticate`] for an HTTP request.
pub(crate) async fn authenticate_request(
    authenticator: Option<&SharedAuthenticator>,
    req: &HttpRequest,
    protocol: Protocol,
    transport: Transport,
) -> Result<Option<Arc<User>>, AuthError> {
    match authenticator {
        None => Ok(None),
        Some(_) => {
            let request = Handshake::of_request_query(req);
            authenticate(authenticator, &request, protocol, transport).await
        }
    }
}

/// The answer to a WebSocket refused before its upgrade: 401, 403 or 503 with
/// `{"error": reason}`.
pub(crate) fn refused(error: &AuthError) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(error.status())
        .unwrap_or(actix_web::http::StatusCode::UNAUTHORIZED);
    HttpResponse::build(status).json(serde_json::json!({ "error": error.message() }))
}
