//! A Socket.IO application written against switchboard's Rust API: connect middleware, two
//! namespaces, acks both ways, binary, rooms. The interop tests drive it with socket.io-client.
//!
//! Run: `cargo run --example socketio_app` (PORT, default 3001). Then, from a socket.io client:
//! `io("http://127.0.0.1:3001", {auth: {token: "secret"}})`.
//! - Without `auth.token == "secret"` the connection is refused: `connect_error` with message
//!   `unauthorized` and data `{"reason": "bad token"}`.
//! - `echo` (any arguments, binary too) is acknowledged with the same arguments.
//! - `ask` makes the server ask the client `question` (with an ack) and then emit `answer` with
//!   what the client acknowledged, or `no-answer` after 2 s.
//! - `join` a room, then `shout` to it: every other member gets `shouted`.
//! - Namespace `/admin` also exists; any other namespace is refused.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use switchboard::hub::Message;
use switchboard::socketio::{ConnectError, Socket, SocketHandler};
use switchboard::{Config, Switchboard};

struct App;

impl SocketHandler for App {
    fn namespace_allowed(&self, nsp: &str) -> bool {
        nsp == "/" || nsp == "/admin"
    }

    fn middleware(&self, socket: &mut Socket<'_, '_>) -> Result<(), ConnectError> {
        if socket.auth()["token"] == "secret" {
            Ok(())
        } else {
            Err(ConnectError {
                message: "unauthorized".into(),
                data: Some(json!({"reason": "bad token"})),
            })
        }
    }

    fn on_connection(&self, socket: &mut Socket<'_, '_>) {
        let nsp = socket.namespace().to_string();
        socket.emit(
            "welcome",
            vec![json!({"id": socket.id().as_ref(), "namespace": nsp})],
        );
    }

    fn on_event(
        &self,
        socket: &mut Socket<'_, '_>,
        event: &str,
        args: Vec<Value>,
        attachments: Vec<Bytes>,
        ack: Option<u64>,
    ) {
        match (event, ack) {
            ("echo", Some(id)) => socket.ack(id, args, attachments),
            ("ask", _) => {
                let reply = socket.emit_with_ack("question", args, Duration::from_secs(2));
                let (id, nsp, hub) = (
                    socket.id().clone(),
                    socket.namespace().to_string(),
                    socket.session().hub().clone(),
                );
                actix_web::rt::spawn(async move {
                    let message = match reply.await {
                        Ok(reply) => {
                            Message::with_args(Some(nsp.into()), None, "answer", reply.args)
                        }
                        Err(error) => Message::with_args(
                            Some(nsp.into()),
                            None,
                            "no-answer",
                            vec![json!(error.to_string())],
                        ),
                    };
                    hub.send_to(&id, message);
                });
            }
            ("join", Some(id)) => {
                let room = args
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or("lobby")
                    .to_string();
                let ok = socket.join(&room).is_ok();
                socket.ack(id, vec![json!(ok)], Vec::new());
            }
            ("shout", _) => {
                let room = args
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or("lobby")
                    .to_string();
                socket.to_room(&room, "shouted", args.into_iter().skip(1).collect());
            }
            _ => {}
        }
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    switchboard::init_logging();
    let port = std::env::var("PORT").unwrap_or_else(|_| "3001".into());
    let config = Config {
        listen: format!("127.0.0.1:{port}")
            .parse()
            .expect("PORT is a port number"),
        ..Config::default()
    };
    // The application's Socket.IO at /socket.io/ (every option from the config); SockJS, /ws
    // and the API stay relay mode, in the same hub.
    Switchboard::new(config).with_socketio(App).run().await
}
