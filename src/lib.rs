//! switchboard: a realtime server that Socket.IO, SockJS and plain WebSocket clients can all talk
//! to, with one hub of sessions and rooms across every protocol.
//!
//! Use it as a library by mounting it into an actix-web `App`:
//!
//! ```no_run
//! use actix_web::{App, HttpServer};
//! use switchboard::{Config, Switchboard};
//!
//! # async fn run() -> std::io::Result<()> {
//! let switchboard = Switchboard::new(Config::default());
//! let hub = switchboard.hub().clone(); // publish from Rust with hub.broadcast(...)
//! HttpServer::new(move || App::new().configure(switchboard.configure()))
//!     .on_connect(switchboard::on_connect)
//!     .bind("127.0.0.1:3000")?
//!     .run()
//!     .await
//! # }
//! ```
//!
//! or run the `switchboard` binary, whose default application is relay mode ([`RelayHandler`]).
//!
//! # Which trait to implement
//!
//! | you want | implement | give it to |
//! |---|---|---|
//! | one application for every protocol (Socket.IO, SockJS, `/ws`): who may join and publish, what an `emit` answers, who left | [`Handler`] (its defaults are relay mode) | [`Switchboard::with_handler`] |
//! | the whole Socket.IO API: namespaces, connect middleware, acks both ways, binary | [`socketio::SocketHandler`] | [`Switchboard::with_socketio`] (SockJS and `/ws` stay with the `Handler`) |
//! | a SockJS service of your own at another prefix | [`sockjs::SockJsApp`] | [`sockjs::SockJs`], then [`Switchboard::mount`] |
//! | raw Engine.IO, without Socket.IO | [`engineio::EngineHandler`] | [`engineio::Engine`], then [`Switchboard::mount`] |
//!
//! Under them, every protocol is a `SessionLogic` on one session actor (internal: applications
//! never need it). Publish from Rust with [`Hub::broadcast`] ([`Switchboard::hub`]).

#![warn(missing_docs, unreachable_pub)]

mod api;
pub mod auth;
mod cluster;
pub mod config;
mod connection;
pub mod engineio;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod handler;
mod http_server;
pub mod hub;
mod metrics;
mod relay;
mod server;
mod session;
pub mod socketio;
pub mod sockjs;
#[cfg(test)]
mod test_support;
mod upgrade;
mod webhook;
mod websocket;

use std::sync::Arc;

pub use config::Config;

/// The hook to give your own `HttpServer`, as
/// `HttpServer::new(...).on_connect(switchboard::on_connect)`: without it, a long-poll or a stream whose client went away is noticed only at the next
/// timeout (Node's servers notice at once), and small writes wait for Nagle's algorithm.
/// [`Switchboard::start`] installs it itself.
pub fn on_connect(connection: &dyn std::any::Any, extensions: &mut actix_web::dev::Extensions) {
    session::peer::record(connection, extensions)
}
pub use handler::{DisconnectInfo, Handler, Refusal, SessionRef};
pub use hub::{DisconnectReason, Hub, Message, Protocol, Room, SessionId, Target, Transport};
pub use relay::RelayHandler;
pub use server::{RunningServer, Switchboard};
pub use session::SessionOptions;

/// The log filter when `RUST_LOG` is not set. actix-http logs a client's malformed request as
/// an ERROR of its dispatcher ("stream error: request parse error"); a client's mistake is not
/// a server error, and the client gets its 400 either way.
const DEFAULT_LOG_FILTER: &str = "info,actix_http::h1::dispatcher=off";

/// Logs through `tracing` to stdout, filtered by `RUST_LOG` (by default `info`, without actix-http's dispatcher errors),
/// in colour only on a terminal: what the binary and the examples use.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    // Colours only on a terminal: a log file or a collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .try_init();
}

/// What every request handler shares: the configuration, the hub and the application.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The configuration.
    pub(crate) config: Arc<Config>,
    /// The hub.
    pub(crate) hub: Hub,
    /// The application's handler.
    pub(crate) handler: handler::SharedHandler,
    /// Who clients are, when they must say (`None`: everyone is let in anonymously).
    pub(crate) authenticator: Option<auth::SharedAuthenticator>,
    /// Where webhook events go, when `--webhook-url` is set.
    pub(crate) webhooks: Option<webhook::Webhooks>,
}

impl AppState {
    /// Limits for relay requests.
    pub(crate) fn relay_limits(&self) -> relay::RelayLimits {
        relay::RelayLimits {
            max_room_name: self.config.max_room_name,
        }
    }

    /// Options for new session actors.
    pub(crate) fn session_options(&self) -> session::SessionOptions {
        session::SessionOptions {
            max_outbox: self.config.max_outbox,
            max_outbox_bytes: self.config.max_outbox_bytes,
            write_timeout: self.config.write_timeout(),
        }
    }

    /// Limits for WebSocket connections.
    pub(crate) fn ws_limits(&self) -> session::WsLimits {
        session::WsLimits {
            max_message_size: self.config.max_message_size,
            write_timeout: self.config.write_timeout(),
        }
    }
}
