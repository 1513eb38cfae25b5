//! SockJS (protocol 0.3.x, for sockjs-client 1.x), as sockjs-node 0.3.24 serves it.
//!
//! A [`SockJs`] service lives under a prefix (several may coexist, each with its own options and
//! application). Every session is a `SessionActor` with
//! a `SockJsLogic`: an `xhr` or `jsonp` request is one pull from it, a
//! streaming request (`xhr_streaming`, `eventsource`, `htmlfile`) pulls until `response_limit`,
//! a WebSocket pulls for its life. Sessions join the hub like any other, so relay mode and rooms
//! work across protocols. The internal `frame` module holds the pure codecs. See protocols/sockjs.md.

mod app;
pub(crate) mod frame;
mod headers;
mod logic;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use dashmap::DashMap;

use crate::auth::{Authenticator, SharedAuthenticator};
use crate::config::defaults;
use crate::hub::Hub;
use crate::session::{SessionActor, SessionOptions, WsLimits};

#[cfg(feature = "conformance")]
pub use app::testing;
pub use app::{RelaySockJs, SockJsApp, SockJsConn};
pub(crate) use logic::SockJsLogic;

/// Options of one SockJS service, with sockjs-node's defaults.
#[derive(Debug, Clone)]
pub struct SockJsConfig {
    /// The prefix it is mounted under, without a trailing slash (`/echo`).
    pub prefix: String,
    /// The sockjs-client script the iframe page loads.
    pub sockjs_url: String,
    /// Offer the WebSocket transports.
    pub websocket: bool,
    /// Send the `JSESSIONID` cookie (for sticky load balancers).
    pub jsessionid: bool,
    /// Time between heartbeat frames (`h`).
    pub heartbeat_delay: Duration,
    /// How long a session lives without a receiver.
    pub disconnect_delay: Duration,
    /// Bytes a streaming response carries before it ends (the client opens another).
    pub response_limit: usize,
    /// Largest message or request body accepted from a client.
    pub max_message_size: usize,
    /// Longest a posted body may take to arrive whole (answered 408 after).
    pub body_timeout: Duration,
}

impl Default for SockJsConfig {
    fn default() -> Self {
        SockJsConfig {
            prefix: "/sockjs".into(),
            sockjs_url: frame::DEFAULT_SOCKJS_URL.into(),
            websocket: true,
            jsessionid: false,
            heartbeat_delay: Duration::from_millis(defaults::SOCKJS_HEARTBEAT_MS),
            disconnect_delay: Duration::from_millis(defaults::SOCKJS_DISCONNECT_DELAY_MS),
            response_limit: defaults::SOCKJS_RESPONSE_LIMIT,
            max_message_size: defaults::MAX_MESSAGE_SIZE,
            body_timeout: Duration::from_millis(defaults::BODY_TIMEOUT_MS),
        }
    }
}

/// A session as the registry knows it: live, or closed with the frame late receivers get.
enum Entry<A: SockJsApp> {
    Live(Addr<SessionActor<SockJsLogic<A>>>),
    Closed(String),
}

impl<A: SockJsApp> Clone for Entry<A> {
    fn clone(&self) -> Self {
        match self {
            Entry::Live(addr) => Entry::Live(addr.clone()),
            Entry::Closed(frame) => Entry::Closed(frame.clone()),
        }
    }
}

/// What every request of one SockJS service shares.
pub(crate) struct SockJsShared<A: SockJsApp> {
    config: SockJsConfig,
    app: A,
    hub: Hub,
    session_options: SessionOptions,
    ws_limits: WsLimits,
    sessions: DashMap<String, Entry<A>>,
    iframe: String,
    iframe_etag: String,
    /// Who clients are, when they must say.
    authenticator: std::sync::OnceLock<SharedAuthenticator>,
}

impl<A: SockJsApp> SockJsShared<A> {
    fn authenticator(&self) -> Option<&SharedAuthenticator> {
        self.authenticator.get()
    }
}

/// A SockJS service: mount it with [`SockJs::configure`].
pub struct SockJs<A: SockJsApp> {
    shared: Arc<SockJsShared<A>>,
}

impl<A: SockJsApp> Clone for SockJs<A> {
    fn clone(&self) -> Self {
        SockJs {
            shared: self.shared.clone(),
        }
    }
}

impl<A: SockJsApp> SockJs<A> {
    /// A SockJS service running `app`, registering its sessions in `hub`.
    pub fn new(config: SockJsConfig, app: A, hub: Hub, session_options: SessionOptions) -> Self {
        let iframe = frame::iframe_html(&config.sockjs_url);
        let iframe_etag = frame::iframe_etag(&iframe);
        let ws_limits = WsLimits {
            max_message_size: config.max_message_size,
            write_timeout: session_options.write_timeout,
        };
        SockJs {
            shared: Arc::new(SockJsShared {
                config,
                app,
                hub,
                session_options,
                ws_limits,
                sessions: DashMap::new(),
                iframe,
                iframe_etag,
                authenticator: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Every new session must be let in by `authenticator` (set once): a refused one gets
    /// `c[4401,"invalid token"]` (4000 plus the HTTP status of [`crate::auth::AuthError`]) instead
    /// of its open frame, and a raw WebSocket the status itself.
    pub fn authenticated_by(self, authenticator: Arc<dyn Authenticator>) -> Self {
        if self.shared.authenticator.set(authenticator).is_err() {
            tracing::warn!("a SockJS service's authenticator is set once; this one is ignored");
        }
        self
    }

    /// Number of sessions in the registry (live or recently closed).
    pub fn session_count(&self) -> usize {
        self.shared.sessions.len()
    }

    /// Mounts the service's prefix into an actix-web app.
    pub fn configure(&self, cfg: &mut actix_web::web::ServiceConfig) {
        routes::configure(self.shared.clone(), cfg);
    }
}
