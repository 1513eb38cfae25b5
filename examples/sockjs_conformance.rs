//! The server the sockjs-protocol test suite (sockjs-protocol.py 0.3.3) and sockjs-client's own
//! tests run against, on port 8081 (PORT to change it): `/echo` (response_limit 4096),
//! `/disabled_websocket_echo`, `/cookie_needed_echo`, `/close` (closes every session with
//! `3000 "Go away!"`), `/amplify` and `/broadcast`.
//!
//! Run: `cargo run --example sockjs_conformance`.

use switchboard::sockjs::{testing, SockJs, SockJsApp, SockJsConfig};
use switchboard::SessionOptions;
use switchboard::{Config, Hub, Switchboard};

fn service<A: SockJsApp>(
    hub: &Hub,
    prefix: &str,
    app: A,
    configure: impl FnOnce(&mut SockJsConfig),
) -> SockJs<A> {
    let mut config = SockJsConfig {
        prefix: prefix.into(),
        response_limit: 4096,
        ..SockJsConfig::default()
    };
    configure(&mut config);
    SockJs::new(config, app, hub.clone(), SessionOptions::default())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    switchboard::init_logging();
    let port = std::env::var("PORT").unwrap_or_else(|_| "8081".into());
    let config = Config {
        listen: format!("127.0.0.1:{port}")
            .parse()
            .expect("PORT is a port number"),
        sockjs_prefix: "/relay".into(),
        ..Config::default()
    };
    let switchboard = Switchboard::new(config);
    let hub = switchboard.hub().clone();
    let echo = service(&hub, "/echo", testing::Echo, |_| {});
    let disabled = service(&hub, "/disabled_websocket_echo", testing::Echo, |c| {
        c.websocket = false
    });
    let cookie = service(&hub, "/cookie_needed_echo", testing::Echo, |c| {
        c.jsessionid = true
    });
    let close = service(&hub, "/close", testing::Close, |_| {});
    let amplify = service(&hub, "/amplify", testing::Amplify, |_| {});
    let broadcast = service(
        &hub,
        "/broadcast",
        testing::Broadcast {
            room: "sockjs-conformance-broadcast".into(),
        },
        |_| {},
    );
    switchboard
        .mount(move |cfg| {
            echo.configure(cfg);
            disabled.configure(cfg);
            cookie.configure(cfg);
            close.configure(cfg);
            amplify.configure(cfg);
            broadcast.configure(cfg);
        })
        .run()
        .await
}
