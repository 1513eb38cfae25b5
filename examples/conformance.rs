//! The server the official Engine.IO and Socket.IO protocol test suites run against (they are
//! hard-wired to localhost:3000): Socket.IO at `/socket.io/` running the suite's application, and
//! a bare Engine.IO echo at `/engine.io/`, with pingInterval 300 ms, pingTimeout 200 ms and
//! connectTimeout 1000 ms.
//!
//! Run: `cargo run --example conformance`.

use std::time::Duration;

use switchboard::engineio::{Echo, Engine, EngineConfig};
use switchboard::socketio::conformance::ConformanceApp;
use switchboard::socketio::{SocketIo, SocketIoConfig};
use switchboard::{Config, Switchboard};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    switchboard::init_logging();
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let config = Config {
        listen: format!("127.0.0.1:{port}")
            .parse()
            .expect("PORT is a port number"),
        socketio_path: "/relay.io/".into(),
        ..Config::default()
    };
    let switchboard = Switchboard::new(config);
    let engine_config = |path: &str| EngineConfig {
        path: path.into(),
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        ..EngineConfig::default()
    };
    let hub = switchboard.hub().clone();
    let options = switchboard::SessionOptions::default();
    let socketio = Engine::new(
        engine_config("/socket.io/"),
        SocketIo::new(
            ConformanceApp,
            SocketIoConfig {
                connect_timeout: Duration::from_millis(1000),
                ..SocketIoConfig::default()
            },
        ),
        hub.clone(),
        options.clone(),
    );
    let echo = Engine::new(engine_config("/engine.io/"), Echo, hub, options);
    switchboard
        .mount(move |cfg| {
            socketio.configure(cfg);
            echo.configure(cfg);
        })
        .run()
        .await
}
