//! Why a Socket.IO socket disconnected, in socket.io's own words.

use crate::hub::DisconnectReason;

/// Why a socket disconnected: the `reason` of Node's `disconnect` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The connection was closed (the client went away or closed it).
    TransportClose,
    /// The connection failed (or the client could not keep up).
    TransportError,
    /// The client sent a packet that could not be decoded.
    ParseError,
    /// The client stopped answering pings.
    PingTimeout,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The server disconnected the socket.
    ServerNamespaceDisconnect,
    /// The client disconnected the socket (a DISCONNECT packet).
    ClientNamespaceDisconnect,
}

impl CloseReason {
    /// socket.io's wording, as its `disconnect` event gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::ParseError => "parse error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ServerShuttingDown => "server shutting down",
            CloseReason::ServerNamespaceDisconnect => "server namespace disconnect",
            CloseReason::ClientNamespaceDisconnect => "client namespace disconnect",
        }
    }

    /// The socket's reason when its whole connection ends for `reason`.
    pub fn of(reason: &DisconnectReason) -> CloseReason {
        match reason {
            DisconnectReason::ClientClosed | DisconnectReason::TransportClosed => {
                CloseReason::TransportClose
            }
            DisconnectReason::PingTimeout => CloseReason::PingTimeout,
            DisconnectReason::ParseError(_) => CloseReason::ParseError,
            DisconnectReason::TransportError(_)
            | DisconnectReason::MessageTooBig
            | DisconnectReason::Overflow => CloseReason::TransportError,
            DisconnectReason::ServerShutdown => CloseReason::ServerShuttingDown,
            DisconnectReason::ServerDisconnect => CloseReason::ServerNamespaceDisconnect,
        }
    }

    /// Whether a socket that ended this way is kept for connection state recovery (socket.io's
    /// recoverable reasons: it dropped, rather than left or was sent away or misbehaved).
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            CloseReason::TransportClose
                | CloseReason::TransportError
                | CloseReason::PingTimeout
                | CloseReason::ServerShuttingDown
        )
    }

    /// The protocol-neutral reason the hub's handlers see.
    pub fn to_disconnect_reason(self) -> DisconnectReason {
        match self {
            CloseReason::TransportClose => DisconnectReason::TransportClosed,
            CloseReason::TransportError => DisconnectReason::TransportError(self.as_str().into()),
            CloseReason::ParseError => DisconnectReason::ParseError(self.as_str().into()),
            CloseReason::PingTimeout => DisconnectReason::PingTimeout,
            CloseReason::ServerShuttingDown => DisconnectReason::ServerShutdown,
            CloseReason::ServerNamespaceDisconnect => DisconnectReason::ServerDisconnect,
            CloseReason::ClientNamespaceDisconnect => DisconnectReason::ClientClosed,
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_node_s_and_map_both_ways() {
        let cases = [
            (DisconnectReason::ClientClosed, "transport close"),
            (DisconnectReason::TransportClosed, "transport close"),
            (DisconnectReason::PingTimeout, "ping timeout"),
            (
                DisconnectReason::ParseError("bad event".into()),
                "parse error",
            ),
            (
                DisconnectReason::TransportError("x".into()),
                "transport error",
            ),
            (DisconnectReason::MessageTooBig, "transport error"),
            (DisconnectReason::Overflow, "transport error"),
            (DisconnectReason::ServerShutdown, "server shutting down"),
            (
                DisconnectReason::ServerDisconnect,
                "server namespace disconnect",
            ),
        ];
        for (reason, node) in cases {
            assert_eq!(CloseReason::of(&reason).as_str(), node, "{reason:?}");
        }
        assert!(!CloseReason::ParseError.is_recoverable());
        assert!(!CloseReason::ClientNamespaceDisconnect.is_recoverable());
        assert!(CloseReason::PingTimeout.is_recoverable());
        assert_eq!(
            CloseReason::ClientNamespaceDisconnect.to_disconnect_reason(),
            DisconnectReason::ClientClosed
        );
    }
}
