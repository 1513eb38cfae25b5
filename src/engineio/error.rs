//! Engine.IO request errors, each turned into exactly the HTTP answer Node's engine.io gives.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;

/// Why an Engine.IO request was refused (the `code` of Node's JSON error body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Code 0: the `transport` query parameter is missing or not one we serve.
    #[error("Transport unknown")]
    UnknownTransport,
    /// Code 1: the `sid` names no live session.
    #[error("Session ID unknown")]
    UnknownSid,
    /// Code 2: a handshake that is not a GET.
    #[error("Bad handshake method")]
    BadHandshakeMethod,
    /// Code 3: a request that does not fit the session's state.
    #[error("Bad request")]
    BadRequest,
    /// Code 4: the application refused the handshake.
    #[error("Forbidden")]
    Forbidden,
    /// Code 5: the `EIO` query parameter is missing or not a version we speak.
    #[error("Unsupported protocol version")]
    UnsupportedProtocolVersion,
    /// Code 3 with status 503: the node is at its session limit (Node has no such limit).
    #[error("session limit reached")]
    SessionLimit,
}

impl EngineError {
    /// The numeric code of Node's error body.
    pub fn code(self) -> u8 {
        match self {
            EngineError::UnknownTransport => 0,
            EngineError::UnknownSid => 1,
            EngineError::BadHandshakeMethod => 2,
            EngineError::BadRequest | EngineError::SessionLimit => 3,
            EngineError::Forbidden => 4,
            EngineError::UnsupportedProtocolVersion => 5,
        }
    }

    /// The HTTP status: 403 for a refused handshake, 503 for a full node, 400 otherwise.
    pub fn status(self) -> StatusCode {
        match self {
            EngineError::Forbidden => StatusCode::FORBIDDEN,
            EngineError::SessionLimit => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The HTTP answer: the status and `{"code":N,"message":"..."}`.
    pub fn response(self) -> HttpResponse {
        HttpResponse::build(self.status())
            .json(json!({"code": self.code(), "message": self.to_string()}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_match_node() {
        let all = [
            (EngineError::UnknownTransport, 0, "Transport unknown", 400),
            (EngineError::UnknownSid, 1, "Session ID unknown", 400),
            (
                EngineError::BadHandshakeMethod,
                2,
                "Bad handshake method",
                400,
            ),
            (EngineError::BadRequest, 3, "Bad request", 400),
            (EngineError::Forbidden, 4, "Forbidden", 403),
            (
                EngineError::SessionLimit,
                3,
                crate::hub::SESSION_LIMIT_REACHED,
                503,
            ),
            (
                EngineError::UnsupportedProtocolVersion,
                5,
                "Unsupported protocol version",
                400,
            ),
        ];
        for (error, code, message, status) in all {
            assert_eq!(error.code(), code);
            assert_eq!(error.to_string(), message);
            assert_eq!(error.status().as_u16(), status);
        }
    }
}
