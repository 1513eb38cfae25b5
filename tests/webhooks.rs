//! Webhooks against a real HTTP receiver of the test's own: every connect, join, leave and
//! disconnect arrives in order with its user and reason (a clean close, a ping timeout, a kick
//! from the API, a shutdown), `user_offline` once when a user's last session goes, bodies are
//! signed, and a receiver that is down for a while loses nothing up to the queue bound.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::{config, eventually, start, Api, Client};
use futures_util::SinkExt;
use hmac::{KeyInit, Mac};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use switchboard::{Config, RunningServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const SECRET: &str = "webhook users";
const SIGNING: &str = "webhook signing key";

/// What the receiver got: every event, in arrival order, and whether each body's signature held.
#[derive(Clone, Default)]
struct Received {
    events: Arc<Mutex<Vec<Value>>>,
    posts: Arc<Mutex<usize>>,
    bad_signatures: Arc<Mutex<usize>>,
}

impl Received {
    fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// The events of `kind`.
    fn of(&self, kind: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["type"] == kind)
            .collect()
    }

    async fn wait_for(&self, what: &str, check: impl Fn(&[Value]) -> bool) {
        let events = self.events.clone();
        eventually(what, move || check(&events.lock().unwrap())).await;
    }
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    received: web::Data<Received>,
) -> HttpResponse {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SIGNING.as_bytes()).unwrap();
    mac.update(&body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let given = req
        .headers()
        .get("X-Switchboard-Signature")
        .and_then(|v| v.to_str().ok());
    if given != Some(format!("sha256={expected}").as_str()) {
        *received.bad_signatures.lock().unwrap() += 1;
    }
    let posted: Value = serde_json::from_slice(&body).unwrap();
    *received.posts.lock().unwrap() += 1;
    received
        .events
        .lock()
        .unwrap()
        .extend(posted["events"].as_array().unwrap().iter().cloned());
    HttpResponse::Ok().finish()
}

/// A receiver listening on `listener`.
fn receiver(listener: TcpListener, received: Received) -> actix_web::dev::ServerHandle {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(received.clone()))
            .route("/hook", web::post().to(receive))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    handle
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn with_webhooks(addr: SocketAddr) -> Config {
    Config {
        auth_jwt_secret: Some(SECRET.into()),
        webhook_url: Some(format!("http://{addr}/hook")),
        webhook_secret: Some(SIGNING.into()),
        ..config()
    }
}

fn token(user: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": user}),
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn client_of(server: &RunningServer, user: &str) -> Client {
    let url = format!("ws://{}/ws?token={}", server.addr(), token(user));
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut client = Client::from_ws(ws);
    client.session = client.recv().await["session"].as_str().unwrap().to_string();
    client
}

/// The event types of one session, in order.
fn kinds_of(events: &[Value], session: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["session"] == session)
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn a_clean_close_a_kick_and_the_last_session_of_a_user_arrive_in_order_signed() {
    let received = Received::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = start(with_webhooks(listener.local_addr().unwrap()));
    let _receiver = receiver(listener, received.clone());

    let mut tab1 = client_of(&server, "ann").await;
    let tab2 = client_of(&server, "ann").await;
    tab1.join("lobby").await;
    tab1.join("news").await;
    let answer = tab1.request(json!({"type": "leave", "room": "news"})).await;
    assert_eq!(answer["type"], "ack");
    tab1.ws.send(WsMessage::Close(None)).await.unwrap();
    received
        .wait_for("tab1's disconnect", |e| {
            e.iter().any(|e| e["type"] == "disconnect")
        })
        .await;
    assert!(
        received.of("user_offline").is_empty(),
        "ann still has a tab"
    );
    let (_, kicked) = Api::new(&server)
        .post("/api/disconnect", json!({"session": tab2.session}))
        .await;
    assert_eq!(kicked, json!({"disconnected": 1}));
    received
        .wait_for("ann going offline", |e| {
            e.iter().any(|e| e["type"] == "user_offline")
        })
        .await;

    let events = received.events();
    assert_eq!(
        kinds_of(&events, &tab1.session),
        ["connect", "join", "join", "leave", "disconnect"]
    );
    assert_eq!(kinds_of(&events, &tab2.session), ["connect", "disconnect"]);
    let disconnects = received.of("disconnect");
    let first = &disconnects[0];
    assert_eq!(first["user"], "ann");
    assert_eq!(first["protocol"], "websocket");
    assert_eq!(first["transport"], "websocket");
    assert_eq!(first["reason"], "client disconnect");
    assert_eq!(first["rooms"], json!(["lobby"]));
    assert!(first["duration_ms"].is_u64());
    assert_eq!(disconnects[1]["reason"], "server disconnect");
    let offline = received.of("user_offline");
    assert_eq!(offline.len(), 1, "{offline:?}");
    assert_eq!(offline[0]["user"], "ann");
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(ids.len(), events.len(), "every event has its own id");
    assert_eq!(*received.bad_signatures.lock().unwrap(), 0);
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_ping_timeout_and_a_shutdown_are_reported_with_their_reasons() {
    let received = Received::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = start(Config {
        ping_interval_ms: 50,
        ping_timeout_ms: 100,
        ..with_webhooks(listener.local_addr().unwrap())
    });
    let _receiver = receiver(listener, received.clone());

    // A client that completes the handshake and then never answers a ping.
    let mut silent = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let request = format!(
        "GET /ws?token={} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        token("sleepy")
    );
    silent.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    silent.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    received
        .wait_for("the ping timeout", |e| {
            e.iter().any(|e| e["type"] == "disconnect")
        })
        .await;
    assert_eq!(received.of("disconnect")[0]["reason"], "ping timeout");
    assert_eq!(received.of("user_offline")[0]["user"], "sleepy");

    let staying = client_of(&server, "bob").await;
    server.shutdown().await.unwrap();
    // Shutdown waited for the last events to be taken.
    let reasons: Vec<Value> = received
        .of("disconnect")
        .iter()
        .filter(|e| e["session"] == staying.session)
        .map(|e| e["reason"].clone())
        .collect();
    assert_eq!(reasons, [json!("server shutting down")]);
}

/// The webhooks part of `/api/stats`.
async fn webhook_stats(api: &Api) -> Value {
    api.get("/api/stats").await.1["webhooks"].clone()
}

#[actix_web::test]
async fn a_receiver_down_for_a_while_loses_nothing_up_to_the_queue_bound() {
    let addr = free_addr();
    let server = start(Config {
        webhook_queue: 6,
        ..with_webhooks(addr)
    });
    let api = &Api::new(&server);
    // Nothing listens yet: the first event's POST fails and is retried.
    let mut clients = vec![client_of(&server, "user0").await];
    common::eventually_async("a failed POST", move || async move {
        webhook_stats(api).await["failed_posts"].as_u64() > Some(0)
    })
    .await;
    // Seven more events for a queue of six: three connects and three joins wait, the fourth
    // join is dropped.
    for i in 1..4 {
        clients.push(client_of(&server, &format!("user{i}")).await);
    }
    for client in &mut clients {
        client.join("lobby").await;
    }
    let webhooks = webhook_stats(api).await;
    assert_eq!(webhooks["dropped"], 1, "{webhooks}");
    assert_eq!(webhooks["pending"], 7, "{webhooks}");

    let received = Received::default();
    let _receiver = receiver(TcpListener::bind(addr).unwrap(), received.clone());
    received
        .wait_for("the queued events", |e| e.len() == 7)
        .await;
    let events = received.events();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["connect", "connect", "connect", "connect", "join", "join", "join"]
    );
    assert_eq!(events[0]["user"], "user0");
    common::eventually_async("the counters", move || async move {
        let webhooks = webhook_stats(api).await;
        webhooks["delivered"] == 7 && webhooks["pending"] == 0
    })
    .await;
}
