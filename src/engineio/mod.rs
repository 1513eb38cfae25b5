//! Engine.IO v4 (and v3): the transport layer under Socket.IO, usable on its own.
//!
//! An [`Engine`] serves one path (e.g. `/socket.io/`) with long-polling and WebSocket transports
//! and the upgrade from one to the other, and runs an [`EngineHandler`] on top. Each connection is
//! a `SessionActor` with an `EngineLogic`: a
//! long-poll GET is one pull from it, a WebSocket pulls for its life, and an upgrade only changes
//! which transport is allowed to pull. See protocols/socketio.md.
//!
//! The codecs (`packet`, `payload`, `jsonp`, internal) are pure functions with exact-byte tests
//! and fuzz targets.

#[cfg(feature = "conformance")]
mod echo;
mod error;
mod handler;
pub(crate) mod jsonp;
mod logic;
pub(crate) mod packet;
mod pairs;
pub(crate) mod payload;
mod polling;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use dashmap::DashMap;

use crate::config::defaults;
use crate::hub::Hub;
use crate::session::{SessionActor, SessionOptions, WsLimits};

#[cfg(feature = "conformance")]
pub use echo::Echo;
pub use error::EngineError;
pub(crate) use handler::cluster_handshake;
pub use handler::{
    message_frame_binary, message_frame_text, wire_format, EngineConn, EngineHandler,
    EngineMessage, Handshake,
};
pub(crate) use logic::EngineLogic;
pub use packet::EioVersion;
pub use pairs::Pairs;
#[cfg(feature = "fuzzing")]
pub(crate) use transport::parse_query;

/// A hook that may refuse a handshake (Node's `allowRequest`): `Err` answers 403 Forbidden.
pub type AllowRequest = Arc<dyn Fn(&actix_web::HttpRequest) -> Result<(), String> + Send + Sync>;

/// Cross-origin rules for browsers on other origins (Node's `cors` option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// Allowed origins; `*` in the list allows any.
    pub origins: Vec<String>,
    /// Allow credentials (cookies) on cross-origin requests.
    pub credentials: bool,
}

impl Cors {
    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if allowed.
    pub fn allow_origin(&self, origin: Option<&str>) -> Option<String> {
        let any = self.origins.iter().any(|o| o == "*");
        match origin {
            // As Node's `cors`: a wildcard stays a wildcard, even with credentials (which
            // browsers then refuse): allowing credentials needs a list of origins.
            _ if any => Some("*".to_string()),
            Some(origin) if self.origins.iter().any(|o| o == origin) => Some(origin.to_string()),
            _ => None,
        }
    }
}

/// Options of one Engine.IO server, with Node's defaults.
#[derive(Clone)]
pub struct EngineConfig {
    /// The path it serves, with a trailing slash (`/socket.io/`).
    pub path: String,
    /// Time between server pings (pingInterval).
    pub ping_interval: Duration,
    /// How long a ping waits for its pong (pingTimeout).
    pub ping_timeout: Duration,
    /// Largest HTTP body or WebSocket message accepted (maxHttpBufferSize).
    pub max_payload: usize,
    /// How long an upgrade may take before it is abandoned (upgradeTimeout).
    pub upgrade_timeout: Duration,
    /// Longest a POST body may take to arrive whole (answered 408 after).
    pub body_timeout: Duration,
    /// Serve Engine.IO v3 clients (socket.io-client 1.x/2.x).
    pub allow_eio3: bool,
    /// Accept the long-polling transport.
    pub polling: bool,
    /// Accept the WebSocket transport (and upgrades to it).
    pub websocket: bool,
    /// Refuses handshakes; none accepts every handshake.
    pub allow_request: Option<AllowRequest>,
    /// Cross-origin rules; none sends no CORS headers (Node's default).
    pub cors: Option<Cors>,
    /// Name of the sticky-session cookie set on the handshake (Node's `cookie`), if any.
    pub cookie: Option<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            path: "/socket.io/".into(),
            ping_interval: Duration::from_millis(defaults::PING_INTERVAL_MS),
            ping_timeout: Duration::from_millis(defaults::PING_TIMEOUT_MS),
            max_payload: defaults::MAX_MESSAGE_SIZE,
            upgrade_timeout: Duration::from_millis(defaults::UPGRADE_TIMEOUT_MS),
            body_timeout: Duration::from_millis(defaults::BODY_TIMEOUT_MS),
            allow_eio3: true,
            polling: true,
            websocket: true,
            allow_request: None,
            cors: None,
            cookie: None,
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("path", &self.path)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("max_payload", &self.max_payload)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("allow_eio3", &self.allow_eio3)
            .field("cors", &self.cors)
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}

/// What every request of one Engine.IO server shares.
pub(crate) struct EngineShared<H: EngineHandler> {
    config: EngineConfig,
    handler: H,
    hub: Hub,
    session_options: SessionOptions,
    ws_limits: WsLimits,
    sessions: DashMap<String, Addr<SessionActor<EngineLogic<H>>>>,
}

/// An Engine.IO server: mount it with [`Engine::configure`].
pub struct Engine<H: EngineHandler> {
    shared: Arc<EngineShared<H>>,
}

impl<H: EngineHandler> Clone for Engine<H> {
    fn clone(&self) -> Self {
        Engine {
            shared: self.shared.clone(),
        }
    }
}

impl<H: EngineHandler> Engine<H> {
    /// An Engine.IO server running `handler`, registering its sessions in `hub`.
    pub fn new(
        config: EngineConfig,
        handler: H,
        hub: Hub,
        session_options: SessionOptions,
    ) -> Self {
        let ws_limits = WsLimits {
            max_message_size: config.max_payload,
            write_timeout: session_options.write_timeout,
        };
        Engine {
            shared: Arc::new(EngineShared {
                config,
                handler,
                hub,
                session_options,
                ws_limits,
                sessions: DashMap::new(),
            }),
        }
    }

    /// The application on top.
    pub fn handler(&self) -> &H {
        &self.shared.handler
    }

    /// Number of open Engine.IO sessions.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.len()
    }

    /// Mounts the engine's path into an actix-web app.
    pub fn configure(&self, cfg: &mut actix_web::web::ServiceConfig) {
        transport::configure(self.shared.clone(), cfg);
    }
}

#[cfg(test)]
mod tests {
    use super::Cors;

    #[test]
    fn cors_origins() {
        let list = Cors {
            origins: vec!["https://a.example".into()],
            credentials: false,
        };
        assert_eq!(
            list.allow_origin(Some("https://a.example")).as_deref(),
            Some("https://a.example")
        );
        assert_eq!(list.allow_origin(Some("https://b.example")), None);
        assert_eq!(list.allow_origin(None), None);
        let any = Cors {
            origins: vec!["*".into()],
            credentials: false,
        };
        assert_eq!(
            any.allow_origin(Some("https://b.example")).as_deref(),
            Some("*")
        );
        let any_with_credentials = Cors {
            credentials: true,
            ..any
        };
        assert_eq!(
            any_with_credentials
                .allow_origin(Some("https://b.example"))
                .as_deref(),
            Some("*")
        );
    }
}
