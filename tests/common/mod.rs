//! Shared helpers for integration tests: a real server on an ephemeral port, real clients.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard::{Config, RunningServer, Switchboard};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A test configuration: ephemeral port, the repository's static folder.
pub fn config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        workers: 2,
        static_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/static").into(),
        ..Config::default()
    }
}

/// Starts a relay-mode server with `config`.
pub fn start(config: Config) -> RunningServer {
    Switchboard::new(config).start().expect("server starts")
}

/// A plain WebSocket client of the relay envelope.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub session: String,
    next_id: u64,
}

impl Client {
    /// Connects to `/ws` and reads the welcome.
    pub async fn connect(server: &RunningServer) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr()))
            .await
            .expect("websocket connects");
        let mut client = Client {
            ws,
            session: String::new(),
            next_id: 0,
        };
        let welcome = client.recv().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        client.session = welcome["session"].as_str().unwrap().to_string();
        assert_eq!(
            client.session.len(),
            20,
            "a session id is 20 characters, as Node's"
        );
        client
    }

    /// Wraps a connected socket whose welcome has not been read yet.
    pub fn from_ws(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client {
            ws,
            session: String::new(),
            next_id: 0,
        }
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(WsMessage::text(text)).await.unwrap();
    }

    /// Sends a JSON request with a fresh id and returns its answer (the next message).
    pub async fn request(&mut self, mut request: Value) -> Value {
        self.next_id += 1;
        request["id"] = Value::from(self.next_id);
        self.send_text(&request.to_string()).await;
        let answer = self.recv().await;
        assert_eq!(answer["id"], self.next_id, "answer out of order: {answer}");
        answer
    }

    /// Joins a room and checks the ack.
    pub async fn join(&mut self, room: &str) {
        let ack = self
            .request(serde_json::json!({"type":"join","room":room}))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }

    /// The next text message, as JSON (keepalive frames skipped).
    pub async fn recv(&mut self) -> Value {
        match self.next_frame().await {
            WsMessage::Text(text) => serde_json::from_str(&text).expect("server sends JSON"),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    /// The next frame other than ping/pong.
    pub async fn next_frame(&mut self) -> WsMessage {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame within the wait")
                .expect("stream open")
                .expect("frame ok");
            if !matches!(frame, WsMessage::Ping(_) | WsMessage::Pong(_)) {
                return frame;
            }
        }
    }

    /// Waits for the server's close frame and returns it.
    pub async fn expect_close(&mut self) -> CloseFrame {
        match self.next_frame().await {
            WsMessage::Close(Some(frame)) => frame,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    /// Proves nothing is queued for this client: a request's answer comes next.
    pub async fn assert_nothing_pending(&mut self) {
        let answer = self
            .request(serde_json::json!({"type":"leave","room":"__probe__"}))
            .await;
        assert_eq!(answer["type"], "ack", "{answer}");
    }
}

/// An HTTP client for the API.
pub struct Api {
    base: String,
    client: awc::Client,
    token: Option<String>,
}

impl Api {
    /// A client of `server`'s API.
    pub fn new(server: &RunningServer) -> Api {
        Api {
            base: format!("http://{}", server.addr()),
            client: awc::Client::default(),
            token: None,
        }
    }

    /// The same client, sending a bearer token.
    pub fn with_token(mut self, token: &str) -> Api {
        self.token = Some(token.into());
        self
    }

    fn auth(&self, req: awc::ClientRequest) -> awc::ClientRequest {
        match &self.token {
            Some(t) => req.insert_header(("Authorization", format!("Bearer {t}"))),
            None => req,
        }
    }

    /// POSTs a raw body with a JSON content type; returns status and JSON body.
    pub async fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        let req = self
            .auth(self.client.post(format!("{}{}", self.base, path)))
            .insert_header(("Content-Type", "application/json"));
        let mut res = req.send_body(body.to_string()).await.expect("http answer");
        let status = res.status().as_u16();
        let body = res.body().limit(1 << 20).await.expect("body");
        (status, serde_json::from_slice(&body).expect("JSON body"))
    }

    /// POSTs JSON; returns status and JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_raw(path, &body.to_string()).await
    }

    /// GETs a path; returns status and body bytes.
    pub async fn get_bytes(&self, path: &str) -> (u16, bytes::Bytes) {
        let mut res = self
            .auth(self.client.get(format!("{}{}", self.base, path)))
            .send()
            .await
            .expect("http answer");
        let status = res.status().as_u16();
        (status, res.body().limit(1 << 20).await.expect("body"))
    }

    /// GETs a path; returns status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.get_bytes(path).await;
        (status, serde_json::from_slice(&body).expect("JSON body"))
    }

    /// Publishes through the API and returns the delivered count.
    pub async fn publish(&self, room: &str, event: &str, data: Value) -> u64 {
        let (status, body) = self
            .post(
                "/api/publish",
                serde_json::json!({"room":room,"event":event,"data":data}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["delivered"].as_u64().unwrap()
    }
}

/// Waits (bounded) until `check` holds, re-checking whenever the hub may have changed.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits (up to the usual bound) until an asynchronous `check` holds.
pub async fn eventually_async<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A WebSocket client connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The next data frame (pings and pongs skipped); `None` once the server closed.
pub async fn ws_next(ws: &mut Ws) -> Option<WsMessage> {
    ws_next_with(ws, false).await
}

/// The next text frame.
pub async fn ws_text(ws: &mut Ws) -> String {
    text_of(ws_next(ws).await)
}

/// The next data frame, answering Engine.IO pings (`2`) with pongs (`3`) on the way.
pub async fn eio_next(ws: &mut Ws) -> Option<WsMessage> {
    ws_next_with(ws, true).await
}

/// The next text frame, answering Engine.IO pings on the way.
pub async fn eio_text(ws: &mut Ws) -> String {
    text_of(eio_next(ws).await)
}

fn text_of(frame: Option<WsMessage>) -> String {
    match frame {
        Some(WsMessage::Text(t)) => t.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

async fn ws_next_with(ws: &mut Ws, answer_eio_pings: bool) -> Option<WsMessage> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame within the wait")
        {
            Some(Ok(WsMessage::Text(t))) if answer_eio_pings && t.as_str() == "2" => {
                ws.send(WsMessage::text("3")).await.ok()?;
            }
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(frame)) => return Some(frame),
        }
    }
}

/// The answer to a WebSocket upgrade of `path` that is refused before the upgrade: its status
/// and JSON body.
pub async fn upgrade_refusal(server: &RunningServer, path: &str) -> (u16, Value) {
    let mut res = awc::Client::default()
        .get(format!("http://{}{path}", server.addr()))
        .insert_header(("Upgrade", "websocket"))
        .insert_header(("Connection", "Upgrade"))
        .insert_header(("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="))
        .insert_header(("Sec-WebSocket-Version", "13"))
        .send()
        .await
        .expect("http answer");
    let body = res.body().await.expect("body");
    let status = res.status().as_u16();
    (status, serde_json::from_slice(&body).expect("JSON body"))
}

/// Opens an Engine.IO v4 polling session at `base` (`http://host:port`); returns its sid.
pub async fn eio_polling_open(http: &awc::Client, base: &str) -> String {
    let mut res = http
        .get(format!("{base}/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .expect("http answer");
    let body = res.body().await.expect("body");
    let open: Value = serde_json::from_slice(&body[1..]).expect("an open packet");
    open["sid"].as_str().expect("a sid").to_string()
}
