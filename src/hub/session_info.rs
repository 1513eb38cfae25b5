//! What the hub knows of a session: its protocol, transport and why it ended.

use std::fmt;

/// The protocol a session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Plain WebSocket with the JSON relay envelope.
    WebSocket,
    /// Socket.IO (any Engine.IO version).
    SocketIo,
    /// SockJS.
    SockJs,
}

impl Protocol {
    /// Every protocol, in a stable order.
    pub const ALL: [Protocol; 3] = [Protocol::WebSocket, Protocol::SocketIo, Protocol::SockJs];

    /// The protocol's name as it appears in logs and stats.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::WebSocket => "websocket",
            Protocol::SocketIo => "socketio",
            Protocol::SockJs => "sockjs",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transport a session is currently attached through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Transport {
    /// A WebSocket connection.
    WebSocket = 0,
    /// HTTP long-polling (Engine.IO polling, SockJS xhr).
    Polling = 1,
    /// A streaming HTTP response (SockJS xhr_streaming).
    XhrStreaming = 2,
    /// Server-sent events (SockJS eventsource).
    EventSource = 3,
    /// A forever-iframe (SockJS htmlfile).
    HtmlFile = 4,
    /// JSONP polling.
    Jsonp = 5,
}

impl Transport {
    /// The transport's name as it appears in logs and stats.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::Polling => "polling",
            Transport::XhrStreaming => "xhr_streaming",
            Transport::EventSource => "eventsource",
            Transport::HtmlFile => "htmlfile",
            Transport::Jsonp => "jsonp",
        }
    }

    /// The transport stored as `n` by [`Transport`]'s `repr(u8)`.
    pub fn from_u8(n: u8) -> Transport {
        match n {
            1 => Transport::Polling,
            2 => Transport::XhrStreaming,
            3 => Transport::EventSource,
            4 => Transport::HtmlFile,
            5 => Transport::Jsonp,
            _ => Transport::WebSocket,
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client closed the connection cleanly.
    ClientClosed,
    /// The transport went away without a clean close (TCP reset, aborted request).
    TransportClosed,
    /// The client stopped answering keepalive pings.
    PingTimeout,
    /// The transport failed or the client broke its framing.
    TransportError(String),
    /// The client sent a packet its protocol cannot decode (what was wrong).
    ParseError(String),
    /// The client could not keep up: its outbox filled.
    Overflow,
    /// The client sent a message larger than the limit.
    MessageTooBig,
    /// The server is shutting down.
    ServerShutdown,
    /// The application (or the API) disconnected the session.
    ServerDisconnect,
}

impl DisconnectReason {
    /// How many kinds of reason there are ([`DisconnectReason::index`] is below it).
    pub(crate) const KINDS: usize = 9;

    /// Every reason's name, by [`DisconnectReason::index`].
    pub(crate) const NAMES: [&'static str; Self::KINDS] = [
        "client disconnect",
        "transport close",
        "ping timeout",
        "transport error",
        "parse error",
        "outbox overflow",
        "message too big",
        "server shutting down",
        "server disconnect",
    ];

    /// The reason's kind as a number below [`DisconnectReason::KINDS`], for counting.
    pub(crate) fn index(&self) -> usize {
        match self {
            DisconnectReason::ClientClosed => 0,
            DisconnectReason::TransportClosed => 1,
            DisconnectReason::PingTimeout => 2,
            DisconnectReason::TransportError(_) => 3,
            DisconnectReason::ParseError(_) => 4,
            DisconnectReason::Overflow => 5,
            DisconnectReason::MessageTooBig => 6,
            DisconnectReason::ServerShutdown => 7,
            DisconnectReason::ServerDisconnect => 8,
        }
    }

    /// A short stable name, as in logs and stats (socket.io's wording where it has one).
    pub fn as_str(&self) -> &'static str {
        match self {
            DisconnectReason::ClientClosed => "client disconnect",
            DisconnectReason::TransportClosed => "transport close",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::TransportError(_) => "transport error",
            DisconnectReason::ParseError(_) => "parse error",
            DisconnectReason::Overflow => "outbox overflow",
            DisconnectReason::MessageTooBig => "message too big",
            DisconnectReason::ServerShutdown => "server shutting down",
            DisconnectReason::ServerDisconnect => "server disconnect",
        }
    }
}

impl DisconnectReason {
    /// Whether a client that ended this way may come back and recover its session: it dropped
    /// (or the server went down), rather than leaving on purpose or being sent away.
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            DisconnectReason::TransportClosed
                | DisconnectReason::PingTimeout
                | DisconnectReason::TransportError(_)
                | DisconnectReason::ServerShutdown
        )
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::TransportError(detail) => write!(f, "transport error: {detail}"),
            DisconnectReason::ParseError(detail) => write!(f, "parse error: {detail}"),
            other => f.write_str(other.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_index_and_name() {
        let all = [
            DisconnectReason::ClientClosed,
            DisconnectReason::TransportClosed,
            DisconnectReason::PingTimeout,
            DisconnectReason::TransportError(String::new()),
            DisconnectReason::ParseError(String::new()),
            DisconnectReason::Overflow,
            DisconnectReason::MessageTooBig,
            DisconnectReason::ServerShutdown,
            DisconnectReason::ServerDisconnect,
        ];
        for (i, reason) in all.iter().enumerate() {
            assert_eq!(reason.index(), i);
            assert_eq!(DisconnectReason::NAMES[i], reason.as_str());
        }
    }
}
