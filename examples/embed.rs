//! Embedding switchboard in your own actix-web app, with your own handler instead of relay mode.
//!
//! Run: `cargo run --example embed`, then connect a WebSocket client to ws://127.0.0.1:8080/ws and send
//! `{"type":"emit","event":"shout","data":"hello","id":1}`; every session in room "all" hears it
//! upper-cased, and a server-side ticker publishes the time to room "all" every 5 seconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};
use switchboard::Refusal;
use switchboard::{Config, DisconnectInfo, Handler, Message, SessionRef, Switchboard, Target};

/// Puts everyone in room "all" and shouts what they send.
struct Shouter;

impl Handler for Shouter {
    fn on_connect(&self, session: &SessionRef) {
        let _ = session.join("all".into());
    }

    fn on_event(&self, session: &SessionRef, event: &str, data: Value) -> Result<Value, Refusal> {
        match (event, data) {
            ("shout", Value::String(text)) => {
                let loud = text.to_uppercase();
                let heard = session.publish_to_others("all".into(), "shout", json!(loud));
                Ok(json!({"heard_by": heard}))
            }
            _ => Err("send {\"event\":\"shout\",\"data\":\"some text\"}".into()),
        }
    }

    fn on_disconnect(&self, info: &DisconnectInfo) {
        println!("{} left ({}) from {:?}", info.id, info.reason, info.rooms);
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let switchboard = Switchboard::new(Config::default()).with_handler(Shouter);

    // Publish from Rust through the hub.
    let hub = switchboard.hub().clone();
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            hub.broadcast(
                &Target::room("all"),
                Message::new(Some("all".into()), "time", json!(now.as_secs())),
            );
        }
    });

    let mount = switchboard.configure();
    HttpServer::new(move || {
        App::new().configure(mount.clone()).route(
            "/",
            web::get().to(|| async { HttpResponse::Ok().body("my app, with switchboard at /ws") }),
        )
    })
    // Lets long-polls and streams notice a client that went away (and sets TCP_NODELAY).
    .on_connect(switchboard::on_connect)
    .bind("127.0.0.1:8080")?
    .run()
    .await
}
