//! One benchmark client per connection, for every protocol switchboard and its Node peers speak:
//! the handshake, then a reader task (counts room messages, records latency, answers pings, hands
//! control acks back) and a writer task (batches what is queued into one write or one POST).

use crate::http::{self, err, Http};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The wire protocol and transport a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proto {
    /// Plain WebSocket at /ws, the relay envelope of protocols/relay.md.
    Ws,
    /// Engine.IO v4 + Socket.IO v5 over a direct WebSocket.
    SioWs,
    /// Engine.IO v4 + Socket.IO v5 over HTTP long-polling only.
    SioPolling,
    /// Engine.IO v4 polling handshake, then the upgrade to WebSocket (the browser default).
    SioUpgrade,
    /// SockJS websocket transport at /sockjs, the relay envelope inside SockJS messages.
    SockjsWs,
    /// SockJS xhr_streaming (receive) + xhr_send (send).
    SockjsXhr,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Ws => "ws",
            Proto::SioWs => "sio-ws",
            Proto::SioPolling => "sio-polling",
            Proto::SioUpgrade => "sio-upgrade",
            Proto::SockjsWs => "sockjs-ws",
            Proto::SockjsXhr => "sockjs-xhr",
        }
    }
}

/// Ack ids at or above this carry the nanosecond time they were scheduled at (echo round trips);
/// smaller ones are control requests (join) whose ack is handed back to the caller.
pub const ECHO_BASE: u64 = 1 << 40;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since this process's epoch: the clock of every timestamp in a payload.
pub fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

pub fn at_ns(t: Instant) -> u64 {
    t.saturating_duration_since(*EPOCH.get_or_init(Instant::now))
        .as_nanos() as u64
}

/// Counters shared by every client of a scenario.
pub struct Shared {
    /// Room messages received by clients inside the room.
    pub delivered: AtomicU64,
    /// Room messages received by clients outside the room (must stay 0).
    pub outside: AtomicU64,
    /// Connections that ended while the scenario was not closing them.
    pub disconnects: AtomicU64,
    /// Error answers, failed acks, unexpected packets.
    pub errors: AtomicU64,
    /// Echo acks received.
    pub acks: AtomicU64,
    /// Latency in microseconds: of room messages (from the time in their payload) and of echo acks.
    pub hist: Mutex<Histogram<u64>>,
    pub closing: AtomicBool,
    pub last_error: Mutex<Option<String>>,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            delivered: AtomicU64::new(0),
            outside: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            hist: Mutex::new(
                Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds"),
            ),
            closing: AtomicBool::new(false),
            last_error: Mutex::new(None),
        })
    }

    pub fn error(&self, what: String) {
        self.errors.fetch_add(1, Relaxed);
        let mut last = self.last_error.lock().unwrap();
        if last.is_none() {
            *last = Some(what);
        }
    }

    fn record_since(&self, ts_ns: u64) {
        let us = now_ns().saturating_sub(ts_ns) / 1000;
        let _ = self.hist.lock().unwrap().record(us.max(1));
    }
}

/// Where to connect, and from which local addresses (127.0.0.x) to spread the source ports.
#[derive(Clone)]
pub struct Target {
    pub server: SocketAddr,
    pub sources: Vec<IpAddr>,
}

impl Target {
    pub fn source(&self, i: usize) -> IpAddr {
        self.sources[i % self.sources.len()]
    }
}

/// The relay envelope's `data` for a room message: the time it was scheduled at (`ts`, ns) padded
/// with `p` to `size` bytes of JSON.
pub fn payload(ts: u64, size: usize) -> String {
    let head = format!("{{\"ts\":{ts},\"p\":\"");
    let pad = size.saturating_sub(head.len() + 2);
    let mut s = String::with_capacity(size.max(head.len() + 2));
    s.push_str(&head);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str("\"}");
    s
}

/// The `ts` of the first payload in `text` (plain or JSON-escaped), if any.
fn marker_ts(text: &str) -> Option<u64> {
    let i = text
        .find("ts\\\":")
        .map(|i| i + 5)
        .or_else(|| text.find("ts\":").map(|i| i + 4))?;
    let digits = text[i..].bytes().take_while(u8::is_ascii_digit).count();
    text[i..i + digits].parse().ok()
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// Encodes a `join` request for `proto`.
pub fn join_msg(proto: Proto, room: &str, id: u64) -> String {
    match proto {
        Proto::SioWs | Proto::SioPolling | Proto::SioUpgrade => {
            format!("42{id}[\"join\",{}]", quote(room))
        }
        Proto::Ws => format!("{{\"type\":\"join\",\"room\":{},\"id\":{id}}}", quote(room)),
        Proto::SockjsWs | Proto::SockjsXhr => {
            format!(
                "[{}]",
                quote(&format!(
                    "{{\"type\":\"join\",\"room\":{},\"id\":{id}}}",
                    quote(room)
                ))
            )
        }
    }
}

/// Encodes a `publish` request with ack id `id` for `proto`; `data` is raw JSON.
pub fn publish_msg(proto: Proto, room: &str, event: &str, data: &str, id: u64) -> String {
    match proto {
        Proto::SioWs | Proto::SioPolling | Proto::SioUpgrade => {
            format!(
                "42{id}[\"publish\",{{\"room\":{},\"event\":{},\"data\":{data}}}]",
                quote(room),
                quote(event)
            )
        }
        Proto::Ws => format!(
            "{{\"type\":\"publish\",\"room\":{},\"event\":{},\"data\":{data},\"id\":{id}}}",
            quote(room),
            quote(event)
        ),
        Proto::SockjsWs | Proto::SockjsXhr => format!(
            "[{}]",
            quote(&format!(
                "{{\"type\":\"publish\",\"room\":{},\"event\":{},\"data\":{data},\"id\":{id}}}",
                quote(room),
                quote(event)
            ))
        ),
    }
}

/// What a reader does with what arrives.
#[derive(Clone)]
struct Recv {
    shared: Arc<Shared>,
    outside: bool,
    /// Control acks (id, ok) back to the client's owner.
    ctl: mpsc::UnboundedSender<(u64, bool)>,
    /// To answer pings.
    out: mpsc::UnboundedSender<String>,
}

/// What a frame meant for the connection.
#[derive(PartialEq)]
enum Flow {
    Go,
    Closed,
}

impl Recv {
    fn message(&self, text: &str) {
        if self.outside {
            self.shared.outside.fetch_add(1, Relaxed);
            return;
        }
        self.shared.delivered.fetch_add(1, Relaxed);
        if let Some(ts) = marker_ts(text) {
            self.shared.record_since(ts);
        }
    }

    fn ack(&self, id: u64, ok: bool) {
        if !ok {
            self.shared.error(format!("negative ack {id}"));
        }
        if id >= ECHO_BASE {
            self.shared.acks.fetch_add(1, Relaxed);
            self.shared.record_since(id - ECHO_BASE);
        } else {
            let _ = self.ctl.send((id, ok));
        }
    }

    /// One relay envelope (plain WebSocket, or one SockJS message).
    fn relay(&self, text: &str) {
        if text.starts_with("{\"type\":\"message\"") {
            return self.message(text);
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
            return self.shared.error(format!("not JSON: {text:.80}"));
        };
        match v.get("type").and_then(|t| t.as_str()) {
            Some("message") => self.message(text),
            Some("ack") => self.ack(v.get("id").and_then(|i| i.as_u64()).unwrap_or(0), true),
            Some("error") => {
                let id = v.get("id").and_then(|i| i.as_u64());
                self.shared.error(format!("error answer: {text:.120}"));
                if let Some(id) = id.filter(|&id| id < ECHO_BASE) {
                    let _ = self.ctl.send((id, false));
                }
            }
            Some("welcome") => {}
            _ => self
                .shared
                .error(format!("unexpected envelope: {text:.80}")),
        }
    }

    /// One Engine.IO packet (carrying Socket.IO packets).
    fn sio(&self, p: &str) -> Flow {
        let b = p.as_bytes();
        match b.first() {
            Some(b'2') => {
                let _ = self.out.send("3".into());
            }
            Some(b'4') => match b.get(1) {
                Some(b'2') => self.message(p),
                Some(b'3') => {
                    let digits = p[2..].bytes().take_while(u8::is_ascii_digit).count();
                    let id = p[2..2 + digits].parse().unwrap_or(0);
                    self.ack(id, p.contains("\"ok\":true"));
                }
                Some(b'1') => return Flow::Closed,
                Some(b'0') => {}
                _ => self
                    .shared
                    .error(format!("unexpected socket.io packet: {p:.80}")),
            },
            Some(b'1') => return Flow::Closed,
            Some(b'3') | Some(b'6') => {}
            _ => self
                .shared
                .error(format!("unexpected engine.io packet: {p:.80}")),
        }
        Flow::Go
    }

    fn sio_payload(&self, body: &str) -> Flow {
        for p in body.split('\u{1e}') {
            if self.sio(p) == Flow::Closed {
                return Flow::Closed;
            }
        }
        Flow::Go
    }

    /// One SockJS frame.
    fn sockjs(&self, f: &str) -> Flow {
        match f.as_bytes().first() {
            Some(b'a') => {
                if let Err(e) = self.sockjs_messages(&f[1..]) {
                    self.shared
                        .error(format!("bad sockjs frame ({e}): {f:.80}"));
                }
            }
            Some(b'c') => return Flow::Closed,
            Some(b'o') | Some(b'h') | None => {}
            _ => self
                .shared
                .error(format!("unexpected sockjs frame: {f:.80}")),
        }
        Flow::Go
    }

    /// The messages of a SockJS `a` frame (a JSON array of strings). A relay message is counted
    /// from its escaped text as it stands (the marker is found either way); anything else is
    /// unescaped and read whole. Scanning instead of parsing keeps the load generator from being
    /// the limit at 10,000 SockJS members.
    fn sockjs_messages(&self, array: &str) -> Result<(), String> {
        const MESSAGE: &str = "{\\\"type\\\":\\\"message\\\"";
        let b = array.as_bytes();
        if b.first() != Some(&b'[') {
            return Err("not an array".into());
        }
        let mut i = 1;
        loop {
            match b.get(i) {
                Some(b']') if i == 1 => return Ok(()),
                Some(b'"') => {}
                _ => return Err(format!("expected a string at {i}")),
            }
            let start = i + 1;
            let mut end = start;
            while let Some(&c) = b.get(end) {
                match c {
                    b'\\' => end += 2,
                    b'"' => break,
                    _ => end += 1,
                }
            }
            if end >= b.len() {
                return Err("unterminated string".into());
            }
            let raw = &array[start..end];
            if raw.starts_with(MESSAGE) {
                self.message(raw);
            } else {
                let text: String =
                    serde_json::from_str(&array[start - 1..=end]).map_err(|e| e.to_string())?;
                self.relay(&text);
            }
            match b.get(end + 1) {
                Some(b',') => i = end + 2,
                Some(b']') => return Ok(()),
                _ => return Err(format!("expected , or ] at {}", end + 1)),
            }
        }
    }

    fn ended(&self) {
        if !self.shared.closing.load(Relaxed) {
            self.shared.disconnects.fetch_add(1, Relaxed);
        }
    }
}

type Ws = WebSocketStream<TcpStream>;

pub struct Client {
    pub proto: Proto,
    out: mpsc::UnboundedSender<String>,
    ctl: mpsc::UnboundedReceiver<(u64, bool)>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Client {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn rand_id(n: usize) -> String {
    static SEED: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let mut x = SEED.fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed) ^ now_ns();
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"abcdefghijklmnopqrstuvwxyz0123456789"[(x % 36) as usize] as char
        })
        .collect()
}

async fn ws_open(target: &Target, source: IpAddr, path: &str) -> io::Result<Ws> {
    let stream = http::connect(target.server, source).await?;
    let url = format!("ws://{}{}", target.server, path);
    // tungstenite's default 128 KiB read buffer is zeroed per connection: at thousands of
    // connections that memset, not the server, would set the pace.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .map_err(|e| err(format!("websocket {path}: {e}")))?;
    Ok(ws)
}

async fn ws_text(ws: &mut Ws) -> io::Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(c))) => {
                return Err(err(format!("closed during handshake: {c:?}")))
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(err(format!("websocket: {e}"))),
            None => return Err(err("websocket ended during handshake")),
        }
    }
}

async fn ws_send(ws: &mut Ws, text: &str) -> io::Result<()> {
    ws.send(Message::text(text))
        .await
        .map_err(|e| err(format!("websocket send: {e}")))
}

enum Kind {
    Relay,
    Sio,
    Sockjs,
}

fn spawn_ws(
    ws: Ws,
    kind: Kind,
    rx: Recv,
    mut outq: mpsc::UnboundedReceiver<String>,
) -> Vec<JoinHandle<()>> {
    let (mut sink, mut stream) = ws.split();
    let shared = rx.shared.clone();
    let writer = tokio::spawn(async move {
        while let Some(first) = outq.recv().await {
            if sink.feed(Message::text(first)).await.is_err() {
                return;
            }
            while let Ok(more) = outq.try_recv() {
                if sink.feed(Message::text(more)).await.is_err() {
                    return;
                }
            }
            if let Err(e) = sink.flush().await {
                if !shared.closing.load(Relaxed) {
                    shared.error(format!("websocket write: {e}"));
                }
                return;
            }
        }
    });
    let reader = tokio::spawn(async move {
        while let Some(m) = stream.next().await {
            let flow = match m {
                Ok(Message::Text(t)) => match kind {
                    Kind::Relay => {
                        rx.relay(t.as_str());
                        Flow::Go
                    }
                    Kind::Sio => rx.sio(t.as_str()),
                    Kind::Sockjs => rx.sockjs(t.as_str()),
                },
                Ok(Message::Close(_)) | Err(_) => Flow::Closed,
                Ok(_) => Flow::Go,
            };
            if flow == Flow::Closed {
                break;
            }
        }
        rx.ended();
    });
    vec![writer, reader]
}

const EIO_PATH: &str = "/socket.io/?EIO=4&transport=";

/// The Engine.IO polling handshake and the Socket.IO CONNECT to `/`: the polling connection
/// (keep-alive, for the GETs) and the sid.
async fn sio_polling_connect(
    target: &Target,
    source: IpAddr,
    rx: &Recv,
) -> io::Result<(Http, String)> {
    let mut http = Http::open(target.server, source).await?;
    let (status, body) = http
        .request("GET", &format!("{EIO_PATH}polling"), None, b"")
        .await?;
    let body = String::from_utf8_lossy(&body).into_owned();
    if status != 200 || !body.starts_with('0') {
        return Err(err(format!("polling handshake: {status} {body:.100}")));
    }
    let open: serde_json::Value =
        serde_json::from_str(&body[1..]).map_err(|e| err(format!("open packet: {e}")))?;
    let sid = open["sid"]
        .as_str()
        .ok_or_else(|| err("open packet without sid"))?
        .to_owned();
    let path = format!("{EIO_PATH}polling&sid={sid}");
    let (status, _) = http
        .request("POST", &path, Some("text/plain;charset=UTF-8"), b"40")
        .await?;
    if status != 200 {
        return Err(err(format!("POST 40: {status}")));
    }
    for _ in 0..10 {
        let (status, body) = http.request("GET", &path, None, b"").await?;
        if status != 200 {
            return Err(err(format!("GET after 40: {status}")));
        }
        let body = String::from_utf8_lossy(&body);
        let mut connected = false;
        for p in body.split('\u{1e}') {
            if p.starts_with("40{") {
                connected = true;
            } else if p.starts_with("44") {
                return Err(err(format!("connect refused: {p}")));
            } else if rx.sio(p) == Flow::Closed {
                return Err(err("closed during connect"));
            }
        }
        if connected {
            return Ok((http, sid));
        }
    }
    Err(err("no CONNECT answer in 10 polls"))
}

fn spawn_sio_polling(
    target: &Target,
    source: IpAddr,
    mut http: Http,
    sid: String,
    rx: Recv,
    mut outq: mpsc::UnboundedReceiver<String>,
) -> Vec<JoinHandle<()>> {
    let path = format!("{EIO_PATH}polling&sid={sid}");
    let shared = rx.shared.clone();
    let server = target.server;
    let wpath = path.clone();
    let writer = tokio::spawn(async move {
        let mut post: Option<Http> = None;
        while let Some(first) = outq.recv().await {
            let mut body = first;
            while let Ok(more) = outq.try_recv() {
                body.push('\u{1e}');
                body.push_str(&more);
            }
            if post.as_ref().is_none_or(|h| h.closed) {
                match Http::open(server, source).await {
                    Ok(h) => post = Some(h),
                    Err(e) => return shared.error(format!("polling POST connect: {e}")),
                }
            }
            let h = post.as_mut().unwrap();
            match h
                .request(
                    "POST",
                    &wpath,
                    Some("text/plain;charset=UTF-8"),
                    body.as_bytes(),
                )
                .await
            {
                Ok((200, _)) => {}
                Ok((status, b)) => {
                    if !shared.closing.load(Relaxed) {
                        shared.error(format!(
                            "polling POST: {status} {:.80}",
                            String::from_utf8_lossy(&b)
                        ));
                    }
                    return;
                }
                Err(e) => {
                    if !shared.closing.load(Relaxed) {
                        shared.error(format!("polling POST: {e}"));
                    }
                    return;
                }
            }
        }
    });
    let reader = tokio::spawn(async move {
        while let Ok((200, body)) = http.request("GET", &path, None, b"").await {
            if rx.sio_payload(&String::from_utf8_lossy(&body)) == Flow::Closed {
                break;
            }
        }
        rx.ended();
    });
    vec![writer, reader]
}

impl Client {
    /// Connects and completes the handshake: a relay client has its welcome, a Socket.IO client its
    /// CONNECT answer. `i` picks the source address. A plain WebSocket client given `join_on_open`
    /// sends that join as soon as the socket is open, as a browser app does in `onopen`, before
    /// the welcome arrives; [`Client::joined`] waits for its answer.
    pub async fn connect(
        proto: Proto,
        target: &Target,
        i: usize,
        shared: Arc<Shared>,
        outside: bool,
        join_on_open: Option<&str>,
    ) -> io::Result<Client> {
        let source = target.source(i);
        let (out, outq) = mpsc::unbounded_channel();
        let (ctl_tx, ctl) = mpsc::unbounded_channel();
        let rx = Recv {
            shared,
            outside,
            ctl: ctl_tx,
            out: out.clone(),
        };
        let tasks = match proto {
            Proto::Ws => {
                let mut ws = ws_open(target, source, "/ws").await?;
                if let Some(room) = join_on_open {
                    ws_send(&mut ws, &join_msg(proto, room, 1)).await?;
                }
                let first = ws_text(&mut ws).await?;
                if !first.starts_with("{\"type\":\"welcome\"") {
                    return Err(err(format!("expected welcome, got {first:.80}")));
                }
                spawn_ws(ws, Kind::Relay, rx, outq)
            }
            Proto::SioWs => {
                let mut ws = ws_open(target, source, &format!("{EIO_PATH}websocket")).await?;
                let open = ws_text(&mut ws).await?;
                if !open.starts_with("0{") {
                    return Err(err(format!("expected open packet, got {open:.80}")));
                }
                ws_send(&mut ws, "40").await?;
                loop {
                    let p = ws_text(&mut ws).await?;
                    if p.starts_with("40{") {
                        break;
                    }
                    if p.starts_with("44") || rx.sio(&p) == Flow::Closed {
                        return Err(err(format!("connect refused: {p:.80}")));
                    }
                }
                spawn_ws(ws, Kind::Sio, rx, outq)
            }
            Proto::SioPolling => {
                let (http, sid) = sio_polling_connect(target, source, &rx).await?;
                spawn_sio_polling(target, source, http, sid, rx, outq)
            }
            Proto::SioUpgrade => {
                let (_polling, sid) = sio_polling_connect(target, source, &rx).await?;
                let mut ws =
                    ws_open(target, source, &format!("{EIO_PATH}websocket&sid={sid}")).await?;
                ws_send(&mut ws, "2probe").await?;
                let answer = ws_text(&mut ws).await?;
                if answer != "3probe" {
                    return Err(err(format!("expected 3probe, got {answer:.80}")));
                }
                ws_send(&mut ws, "5").await?;
                spawn_ws(ws, Kind::Sio, rx, outq)
            }
            Proto::SockjsWs => {
                let mut ws = ws_open(
                    target,
                    source,
                    &format!("/sockjs/{:03}/{}/websocket", i % 1000, rand_id(16)),
                )
                .await?;
                let o = ws_text(&mut ws).await?;
                if o != "o" {
                    return Err(err(format!("expected o frame, got {o:.80}")));
                }
                let welcome = ws_text(&mut ws).await?;
                if !welcome.starts_with("a[\"{\\\"type\\\":\\\"welcome\\\"") {
                    return Err(err(format!("expected welcome, got {welcome:.80}")));
                }
                spawn_ws(ws, Kind::Sockjs, rx, outq)
            }
            Proto::SockjsXhr => spawn_sockjs_xhr(target, source, i, rx, outq).await?,
        };
        Ok(Client {
            proto,
            out,
            ctl,
            tasks,
        })
    }

    /// Queues raw protocol text (already encoded for this client's protocol).
    pub fn send(&self, text: String) {
        let _ = self.out.send(text);
    }

    /// The next answer to one of this client's requests: its id and whether it was an ack.
    pub async fn next_ack(&mut self, timeout: Duration) -> io::Result<(u64, bool)> {
        match tokio::time::timeout(timeout, self.ctl.recv()).await {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) => Err(err("connection ended before an ack")),
            Err(_) => Err(err("no ack in time")),
        }
    }

    /// Joins `room` and waits for the ack.
    pub async fn join(&mut self, room: &str, timeout: Duration) -> io::Result<()> {
        self.send(join_msg(self.proto, room, 1));
        self.joined(timeout).await
    }

    /// Waits for the answer to the join sent (with id 1).
    pub async fn joined(&mut self, timeout: Duration) -> io::Result<()> {
        match tokio::time::timeout(timeout, self.ctl.recv()).await {
            Ok(Some((1, true))) => Ok(()),
            Ok(Some((id, ok))) => Err(err(format!("join answered id {id} ok {ok}"))),
            Ok(None) => Err(err("connection ended before the join ack")),
            Err(_) => Err(err("no join ack in time")),
        }
    }
}

/// SockJS xhr_streaming: a receiving POST that is re-opened whenever the server ends it
/// (response_limit), and xhr_send POSTs on a second connection.
async fn spawn_sockjs_xhr(
    target: &Target,
    source: IpAddr,
    i: usize,
    rx: Recv,
    mut outq: mpsc::UnboundedReceiver<String>,
) -> io::Result<Vec<JoinHandle<()>>> {
    let base = format!("/sockjs/{:03}/{}", i % 1000, rand_id(16));
    let stream_path = format!("{base}/xhr_streaming");
    let mut http = Http::open(target.server, source).await?;
    http.send("POST", &stream_path, None, b"").await?;
    let head = http
        .head()
        .await?
        .ok_or_else(|| err("xhr_streaming: closed"))?;
    if head.status != 200 {
        return Err(err(format!("xhr_streaming: status {}", head.status)));
    }
    // Read up to the welcome.
    let mut buf = Vec::new();
    let mut opened = false;
    'handshake: loop {
        let piece = http
            .piece()
            .await?
            .ok_or_else(|| err("xhr_streaming ended during handshake"))?;
        buf.extend_from_slice(&piece);
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let f = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            if f == "o" {
                opened = true;
            } else if f.starts_with("a[") && opened {
                if !f.starts_with("a[\"{\\\"type\\\":\\\"welcome\\\"") {
                    return Err(err(format!("expected welcome, got {f:.80}")));
                }
                break 'handshake;
            } else if f.starts_with('c') {
                return Err(err(format!("closed during handshake: {f}")));
            }
        }
    }
    let shared = rx.shared.clone();
    let server = target.server;
    let send_path = format!("{base}/xhr_send");
    let writer = tokio::spawn(async move {
        let mut post: Option<Http> = None;
        while let Some(first) = outq.recv().await {
            // Each queued item is a JSON array of one string: merge them into one array.
            let mut body = first;
            while let Ok(more) = outq.try_recv() {
                body.pop();
                body.push(',');
                body.push_str(&more[1..]);
            }
            if post.as_ref().is_none_or(|h| h.closed) {
                match Http::open(server, source).await {
                    Ok(h) => post = Some(h),
                    Err(e) => return shared.error(format!("xhr_send connect: {e}")),
                }
            }
            match post
                .as_mut()
                .unwrap()
                .request(
                    "POST",
                    &send_path,
                    Some("text/plain;charset=UTF-8"),
                    body.as_bytes(),
                )
                .await
            {
                Ok((204, _)) | Ok((200, _)) => {}
                other => {
                    if !shared.closing.load(Relaxed) {
                        shared.error(format!(
                            "xhr_send: {:?}",
                            other.map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()))
                        ));
                    }
                    return;
                }
            }
        }
    });
    let reader = tokio::spawn(async move {
        'streams: loop {
            loop {
                let piece = match http.piece().await {
                    Ok(Some(p)) => p,
                    Ok(None) => break,
                    Err(_) => break 'streams,
                };
                buf.extend_from_slice(&piece);
                let mut start = 0;
                while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
                    let f = String::from_utf8_lossy(&buf[start..start + nl]);
                    let flow = rx.sockjs(&f);
                    start += nl + 1;
                    if flow == Flow::Closed {
                        break 'streams;
                    }
                }
                buf.drain(..start);
            }
            // The server ended this response (response_limit): open the next one.
            if http.closed {
                match Http::open(server, source).await {
                    Ok(h) => http = h,
                    Err(_) => break,
                }
            }
            if http.send("POST", &stream_path, None, b"").await.is_err() {
                break;
            }
            match http.head().await {
                Ok(Some(h)) if h.status == 200 => {}
                _ => break,
            }
        }
        rx.ended();
    });
    Ok(vec![writer, reader])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_the_size_and_marker() {
        let p = payload(123456, 32);
        assert_eq!(p.len(), 32);
        assert_eq!(marker_ts(&p), Some(123456));
        let escaped = serde_json::to_string(&p).unwrap();
        assert_eq!(marker_ts(&escaped), Some(123456));
        assert_eq!(payload(1, 1024).len(), 1024);
    }

    #[test]
    fn sockjs_frames_are_counted_without_being_parsed_and_answers_still_are() {
        let shared = Shared::new();
        let (ctl, mut acks) = mpsc::unbounded_channel();
        let (out, _) = mpsc::unbounded_channel();
        let recv = Recv {
            shared: shared.clone(),
            outside: false,
            ctl,
            out,
        };
        let message = |ts: u64| {
            serde_json::to_string(&format!(
                "{{\"type\":\"message\",\"room\":\"r\",\"data\":{}}}",
                serde_json::to_string(&payload(ts, 32)).unwrap()
            ))
            .unwrap()
        };
        let ack = serde_json::to_string("{\"type\":\"ack\",\"id\":7}").unwrap();
        let frame = format!("a[{},{},{}]", message(1), ack, message(2));
        assert!(recv.sockjs(&frame) == Flow::Go);
        assert_eq!(shared.delivered.load(Relaxed), 2);
        assert_eq!(acks.try_recv().unwrap(), (7, true));
        assert_eq!(shared.errors.load(Relaxed), 0);
        assert!(recv.sockjs("a[]") == Flow::Go);
        recv.sockjs("a[\"unterminated");
        assert_eq!(shared.errors.load(Relaxed), 1);
    }

    #[test]
    fn encodes_requests() {
        assert_eq!(join_msg(Proto::SioWs, "r", 1), "421[\"join\",\"r\"]");
        assert_eq!(
            join_msg(Proto::Ws, "r", 1),
            "{\"type\":\"join\",\"room\":\"r\",\"id\":1}"
        );
        assert_eq!(
            join_msg(Proto::SockjsWs, "r", 1),
            "[\"{\\\"type\\\":\\\"join\\\",\\\"room\\\":\\\"r\\\",\\\"id\\\":1}\"]"
        );
        assert_eq!(
            publish_msg(Proto::SioPolling, "r", "e", "{}", 7),
            "427[\"publish\",{\"room\":\"r\",\"event\":\"e\",\"data\":{}}]"
        );
    }
}
