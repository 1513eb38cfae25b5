//! Reading an HTTP request body, shared by every transport that receives a POST and the API.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web;
use futures_util::StreamExt;

/// Why a request body could not be read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// More bytes than the limit.
    #[error("request body over the size limit")]
    TooBig,
    /// The whole body did not arrive within the body timeout.
    #[error("request body not received in time")]
    TimedOut,
    /// The client went away (or broke the encoding) before the end of the body.
    #[error("request body aborted")]
    Aborted,
}

impl BodyError {
    /// The HTTP status a plain request (the API) answers this with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            BodyError::TooBig => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut => StatusCode::REQUEST_TIMEOUT,
            // Nobody reads the answer; 400 says what happened if someone does.
            BodyError::Aborted => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads a request body of at most `limit` bytes, all of it within `timeout` (a body that never
/// comes, or comes a byte at a time, is cut off then, as nginx's `client_body_timeout` does).
pub(crate) async fn read_body(
    mut body: web::Payload,
    limit: usize,
    timeout: Duration,
) -> Result<web::BytesMut, BodyError> {
    let read = async {
        let mut buf = web::BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|_| BodyError::Aborted)?;
            if buf.len() + chunk.len() > limit {
                return Err(BodyError::TooBig);
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(BodyError::TimedOut))
}
