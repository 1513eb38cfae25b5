//! Why a client's request could not be decoded.

use super::CLOSE_BROKEN_FRAMING;

// Errors

/// Why a client request could not be decoded. The `Display` text is the exact
/// body sockjs-node sends (with status 500 and no `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// Empty body, unsupported `Content-Type`, or JSON that is not an array
    /// (HTTP 500 on `xhr_send` / `jsonp_send`).
    #[error("Payload expected.")]
    PayloadExpected,
    /// Body is not valid JSON (HTTP 500 on `xhr_send` / `jsonp_send`).
    #[error("Broken JSON encoding.")]
    BrokenJson,
    /// Neither `c` nor `callback` is in the query string (HTTP 500 on
    /// `jsonp` / `htmlfile`).
    #[error("\"callback\" parameter required")]
    CallbackRequired,
    /// Callback has a character outside `[a-zA-Z0-9_.-]` or, for `jsonp`
    /// only, is longer than 32 characters (HTTP 500).
    #[error("invalid \"callback\" parameter")]
    InvalidCallback,
    /// A WebSocket message is not valid JSON: sockjs-node drops the session
    /// and closes the socket with [`CLOSE_BROKEN_FRAMING`]; no HTTP status.
    #[error("Broken framing.")]
    BrokenFraming,
}

impl FrameError {
    /// HTTP status sockjs-node answers with (500), or `None` for
    /// [`FrameError::BrokenFraming`], which is a WebSocket close.
    #[must_use]
    #[cfg(test)]
    pub(crate) fn http_status(self) -> Option<u16> {
        match self {
            FrameError::BrokenFraming => None,
            _ => Some(500),
        }
    }

    /// WebSocket close (code, reason) for [`FrameError::BrokenFraming`],
    /// `None` for the HTTP errors.
    #[must_use]
    pub(crate) fn websocket_close(self) -> Option<(u16, &'static str)> {
        match self {
            FrameError::BrokenFraming => Some(CLOSE_BROKEN_FRAMING),
            _ => None,
        }
    }
}
