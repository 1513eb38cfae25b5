//! Engine.IO v3 and Socket.IO protocol v4 (socket.io-client 1.x/2.x) at the wire level: the v3
//! handshake, `<UTF-16 length>:<packet>` payloads, the binary (XHR2) and `b64=1` payload forms,
//! JSONP polling, the client-initiated heartbeat, malformed POSTs, and Socket.IO v4 on top (the
//! implicit connect to `/`, `0/nsp,` connects, the v4 error packet, binary events and acks, and a
//! room shared with EIO4 clients). A real server on an ephemeral port, a real HTTP client and a
//! real WebSocket client; expectations follow the official v3 test suite and Node's engine.io.

mod common;

use common::{ws_next, ws_text, Ws};

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::SinkExt;
use serde_json::{json, Value};
use switchboard::engineio::{Echo, Engine, EngineConfig};
use switchboard::hub::{Frame, WireFormat};
use switchboard::socketio::conformance::ConformanceApp;
use switchboard::socketio::{SocketIo, SocketIoConfig};
use switchboard::SessionOptions;
use switchboard::{Message, RunningServer, Switchboard, Target};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";
const OCTET_STREAM: &str = "application/octet-stream";
const TEXT_JAVASCRIPT: &str = "text/javascript; charset=UTF-8";
const BAD_REQUEST: &str = r#"{"code":3,"message":"Bad request"}"#;

/// The v3 test suite's heartbeat settings, for the heartbeat tests.
const FAST_PING_INTERVAL: u64 = 300;
const FAST_PING_TIMEOUT: u64 = 200;
/// Settings under which no session falls silent during a test.
const SLOW_PING: u64 = 10_000;

/// A bare Engine.IO echo at `/engine.io/` (the official suites' server).
fn start_echo(ping_interval: u64, ping_timeout: u64) -> RunningServer {
    let switchboard = Switchboard::new(common::config());
    let engine = Engine::new(
        EngineConfig {
            path: "/engine.io/".into(),
            ping_interval: Duration::from_millis(ping_interval),
            ping_timeout: Duration::from_millis(ping_timeout),
            ..EngineConfig::default()
        },
        Echo,
        switchboard.hub().clone(),
        SessionOptions::default(),
    );
    switchboard
        .mount(move |cfg| engine.configure(cfg))
        .start()
        .unwrap()
}

/// The Socket.IO suite's application (`/` and `/custom`) at `/socket.io/`.
fn start_conformance() -> RunningServer {
    let switchboard = Switchboard::new(switchboard::Config {
        socketio_path: "/relay.io/".into(),
        ..common::config()
    });
    let engine = Engine::new(
        EngineConfig {
            path: "/socket.io/".into(),
            ping_interval: Duration::from_millis(SLOW_PING),
            ping_timeout: Duration::from_millis(SLOW_PING),
            ..EngineConfig::default()
        },
        SocketIo::new(ConformanceApp, SocketIoConfig::default()),
        switchboard.hub().clone(),
        SessionOptions::default(),
    );
    switchboard
        .mount(move |cfg| engine.configure(cfg))
        .start()
        .unwrap()
}

/// One HTTP answer.
struct Answer {
    status: u16,
    content_type: String,
    body: Bytes,
}

impl Answer {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }
}

struct Http {
    base: String,
    client: awc::Client,
}

impl Http {
    fn new(server: &RunningServer, path: &str) -> Http {
        Http {
            base: format!("http://{}{path}", server.addr()),
            client: awc::Client::builder().timeout(common::WAIT).finish(),
        }
    }

    async fn answer<S>(mut res: awc::ClientResponse<S>) -> Answer
    where
        S: futures_util::Stream<Item = Result<Bytes, awc::error::PayloadError>> + Unpin,
    {
        let content_type = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        Answer {
            status: res.status().as_u16(),
            content_type,
            body: res.body().limit(1 << 22).await.expect("a body"),
        }
    }

    async fn get(&self, query: &str) -> Answer {
        let res = self
            .client
            .get(format!("{}?{query}", self.base))
            .send()
            .await
            .expect("an HTTP answer");
        Http::answer(res).await
    }

    async fn post(&self, query: &str, content_type: &str, body: impl Into<Bytes>) -> Answer {
        let res = self
            .client
            .post(format!("{}?{query}", self.base))
            .insert_header(("Content-Type", content_type))
            .send_body(body.into())
            .await
            .expect("an HTTP answer");
        Http::answer(res).await
    }

    /// POSTs a string-form payload to session `sid`.
    async fn post_text(&self, sid: &str, payload: &str) -> Answer {
        self.post(
            &format!("EIO=3&transport=polling&sid={sid}"),
            "text/plain;charset=UTF-8",
            payload.to_string(),
        )
        .await
    }

    /// POSTs a binary-form payload to session `sid`.
    async fn post_binary(&self, sid: &str, payload: Vec<u8>) -> Answer {
        self.post(
            &format!("EIO=3&transport=polling&sid={sid}"),
            OCTET_STREAM,
            payload,
        )
        .await
    }

    async fn poll(&self, sid: &str) -> Answer {
        self.get(&format!("EIO=3&transport=polling&sid={sid}"))
            .await
    }

    /// Opens an EIO3 polling session (`extra` is appended to the query); returns the sid and
    /// the packets of the handshake answer.
    async fn open(&self, extra: &str) -> (String, Vec<String>) {
        let answer = self.get(&format!("EIO=3&transport=polling{extra}")).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.content_type, TEXT_PLAIN);
        let packets = split_v3(answer.text());
        let open: Value = serde_json::from_str(&packets[0][1..]).unwrap();
        (open["sid"].as_str().unwrap().to_string(), packets)
    }

    /// Opens an EIO3 JSONP polling session with callback `index`; returns the sid.
    async fn open_jsonp(&self, index: &str) -> String {
        let answer = self
            .get(&format!("EIO=3&transport=polling&j={index}"))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.content_type, TEXT_JAVASCRIPT);
        let packets = split_v3(&unwrap_jsonp(answer.text(), index));
        let open: Value = serde_json::from_str(&packets[0][1..]).unwrap();
        open["sid"].as_str().unwrap().to_string()
    }
}

/// Splits a string-form payload into its packets, checking every length counts UTF-16 units.
fn split_v3(payload: &str) -> Vec<String> {
    let mut packets = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let (length, body) = rest.split_once(':').expect("a length prefix");
        let mut units: usize = length.parse().expect("a decimal length");
        let mut end = 0;
        for c in body.chars() {
            if units == 0 {
                break;
            }
            units = units
                .checked_sub(c.len_utf16())
                .expect("length on a char boundary");
            end += c.len_utf8();
        }
        assert_eq!(units, 0, "payload shorter than its length: {payload:?}");
        packets.push(body[..end].to_string());
        rest = &body[end..];
    }
    packets
}

/// One entry of a binary-form (XHR2) payload.
fn binary_entry(binary: bool, body: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::from(binary)];
    out.extend(body.len().to_string().bytes().map(|d| d - b'0'));
    out.push(0xff);
    out.extend_from_slice(body);
    out
}

/// What engine.io-client's JSONP transport does to a payload before posting it in a form.
fn jsonp_form(payload: &str) -> String {
    let escaped = payload.replace("\\n", "\\\n").replace('\n', "\\n");
    form_urlencoded::Serializer::new(String::new())
        .append_pair("d", &escaped)
        .finish()
}

/// The payload inside a JSONP answer `___eio[<index>]("...");`.
fn unwrap_jsonp(body: &str, index: &str) -> String {
    let inner = body
        .strip_prefix(&format!("___eio[{index}]("))
        .and_then(|rest| rest.strip_suffix(");"))
        .unwrap_or_else(|| panic!("not a JSONP answer: {body}"));
    serde_json::from_str(inner).expect("a JavaScript string literal")
}

async fn ws_connect(server: &RunningServer, path: &str, query: &str) -> Ws {
    let url = format!("ws://{}{path}?{query}", server.addr());
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn ws_send(ws: &mut Ws, text: &str) {
    ws.send(WsMessage::text(text)).await.unwrap();
}

#[actix_web::test]
async fn v3_handshakes_have_the_v3_keys_and_a_utf16_length() {
    let server = start_echo(FAST_PING_INTERVAL, FAST_PING_TIMEOUT);
    let http = Http::new(&server, "/engine.io/");
    let answer = http.get("EIO=3&transport=polling").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, TEXT_PLAIN);
    let (length, packet) = answer.text().split_once(':').unwrap();
    assert_eq!(length, packet.encode_utf16().count().to_string());
    assert!(packet.starts_with('0'), "{packet}");
    let open: Value = serde_json::from_str(&packet[1..]).unwrap();
    let keys: Vec<&str> = open
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["sid", "upgrades", "pingInterval", "pingTimeout"]);
    assert_eq!(open["upgrades"], json!(["websocket"]));
    assert_eq!(open["pingInterval"], FAST_PING_INTERVAL);
    assert_eq!(open["pingTimeout"], FAST_PING_TIMEOUT);

    let mut ws = ws_connect(&server, "/engine.io/", "EIO=3&transport=websocket").await;
    let open = ws_text(&mut ws).await;
    let open: Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    assert_eq!(open["upgrades"], json!([]));
    assert_eq!(open.get("maxPayload"), None);
}

#[actix_web::test]
async fn v3_payloads_count_utf16_units_in_both_directions() {
    let server = start_echo(SLOW_PING, SLOW_PING);
    let http = Http::new(&server, "/engine.io/");
    let (sid, _) = http.open("").await;
    // é is 1 unit (2 bytes), 😀 2 units (4 bytes), € 1 unit (3 bytes).
    let payload = "2:4é3:4😀6:4a😀€b7:412:3:4";
    assert_eq!(http.post_text(&sid, payload).await.text(), "ok");
    let answer = http.poll(&sid).await;
    assert_eq!(
        (answer.status, answer.content_type.as_str()),
        (200, TEXT_PLAIN)
    );
    assert_eq!(answer.text(), payload);
    assert_eq!(split_v3(answer.text()), ["4é", "4😀", "4a😀€b", "412:3:4"]);

    // A length in bytes instead of UTF-16 units is refused.
    let (sid, _) = http.open("").await;
    assert_eq!(http.post_text(&sid, "5:4😀").await.status, 400);
}

#[actix_web::test]
async fn binary_payloads_in_the_xhr2_form_and_with_b64() {
    let server = start_echo(SLOW_PING, SLOW_PING);
    let http = Http::new(&server, "/engine.io/");
    // The v3 suite: a client supporting binary gets the binary form once something is binary.
    let expected = [
        binary_entry(false, b"4hello"),
        binary_entry(true, &[4, 1, 2, 3, 4]),
    ]
    .concat();
    assert_eq!(
        expected,
        [0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4]
    );
    let (sid, _) = http.open("").await;
    assert_eq!(
        http.post_text(&sid, "6:4hello10:b4AQIDBA==").await.text(),
        "ok"
    );
    let answer = http.poll(&sid).await;
    assert_eq!(
        (answer.status, answer.content_type.as_str()),
        (200, OCTET_STREAM)
    );
    assert_eq!(answer.body.as_ref(), expected.as_slice());

    // A binary-form POST, with multi-byte text: the string length is in bytes there.
    let posted = [
        binary_entry(false, "4é😀".as_bytes()),
        binary_entry(true, &[4, 0xff, 0]),
    ]
    .concat();
    assert_eq!(&posted[..4], &[0, 7, 255, b'4']);
    assert_eq!(http.post_binary(&sid, posted.clone()).await.text(), "ok");
    let answer = http.poll(&sid).await;
    assert_eq!(answer.content_type, OCTET_STREAM);
    assert_eq!(answer.body.as_ref(), posted.as_slice());

    // Nothing binary queued: the string form even for a binary-capable client.
    assert_eq!(http.post_text(&sid, "3:4hi").await.text(), "ok");
    let answer = http.poll(&sid).await;
    assert_eq!(
        (answer.content_type.as_str(), answer.text()),
        (TEXT_PLAIN, "3:4hi")
    );

    // b64=1 at the handshake: the string form with `b4<base64>`, for every later poll too.
    let (sid, _) = http.open("&b64=1").await;
    assert_eq!(http.post_binary(&sid, expected.clone()).await.text(), "ok");
    let answer = http.poll(&sid).await;
    assert_eq!(
        (answer.content_type.as_str(), answer.text()),
        (TEXT_PLAIN, "6:4hello10:b4AQIDBA==")
    );
}

#[actix_web::test]
async fn jsonp_answers_escaped_scripts_and_reads_form_posts() {
    let server = start_echo(SLOW_PING, SLOW_PING);
    let http = Http::new(&server, "/engine.io/");
    let sid = http.open_jsonp("5").await;
    let query = format!("EIO=3&transport=polling&sid={sid}&j=5");

    // Quotes, a newline, an escaped newline (backslash, n), U+2028, astral text and binary.
    let payload = "10:4say \"hi\"\n5:4a\\nb4:4\u{2028}😀10:b4AQIDBA==";
    let answer = http
        .post(
            &query,
            "application/x-www-form-urlencoded",
            jsonp_form(payload),
        )
        .await;
    assert_eq!((answer.status, answer.text()), (200, "ok"));
    let answer = http.get(&query).await;
    assert_eq!(
        (answer.status, answer.content_type.as_str()),
        (200, TEXT_JAVASCRIPT)
    );
    // JSON.stringify's escapes plus \u2028; binary stays base64 in a script.
    assert_eq!(
        answer.text(),
        r#"___eio[5]("10:4say \"hi\"\n5:4a\\nb4:4\u2028😀10:b4AQIDBA==");"#
    );
    assert_eq!(unwrap_jsonp(answer.text(), "5"), payload);

    // An index that is not a plain number is refused, never echoed, and opens nothing.
    for bad in ["1)%3Balert(1)%3B%2F%2F", "01", "-1", "", "1e3", "%EF%BC%91"] {
        let answer = http.get(&format!("EIO=3&transport=polling&j={bad}")).await;
        assert_eq!(
            (answer.status, answer.text()),
            (400, BAD_REQUEST),
            "j={bad}"
        );
    }
    assert_eq!(server.hub().session_count(), 1);
    let bad = format!("EIO=3&transport=polling&sid={sid}&j=x");
    assert_eq!(http.get(&bad).await.text(), BAD_REQUEST);
    let answer = http
        .post(
            &bad,
            "application/x-www-form-urlencoded",
            jsonp_form("3:4hi"),
        )
        .await;
    assert_eq!((answer.status, answer.text()), (400, BAD_REQUEST));
    // The session itself is untouched by refused requests.
    assert_eq!(
        http.post(
            &query,
            "application/x-www-form-urlencoded",
            jsonp_form("3:4hi")
        )
        .await
        .text(),
        "ok"
    );
    assert_eq!(http.get(&query).await.text(), r#"___eio[5]("3:4hi");"#);
}

#[actix_web::test]
async fn the_client_pings_the_server_answers_and_silence_closes() {
    let server = start_echo(FAST_PING_INTERVAL, FAST_PING_TIMEOUT);
    let limit = Duration::from_millis(FAST_PING_INTERVAL + FAST_PING_TIMEOUT);
    let http = Http::new(&server, "/engine.io/");
    let (sid, _) = http.open("").await;
    for _ in 0..3 {
        assert_eq!(http.post_text(&sid, "1:2").await.text(), "ok");
        assert_eq!(http.poll(&sid).await.text(), "1:3");
    }
    assert_eq!(http.post_text(&sid, "6:2probe").await.text(), "ok");
    assert_eq!(http.poll(&sid).await.text(), "6:3probe");
    // Silence: after pingInterval + pingTimeout the session is gone.
    common::eventually("the silent polling session to close", || {
        server.hub().session_count() == 0
    })
    .await;
    assert_eq!(http.post_text(&sid, "1:2").await.status, 400);

    // Over WebSocket, pings sent more often than the limit keep the session for longer.
    let mut ws = ws_connect(&server, "/engine.io/", "EIO=3&transport=websocket").await;
    assert!(ws_text(&mut ws).await.starts_with('0'));
    let kept = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(FAST_PING_INTERVAL / 2));
    while kept.elapsed() < limit * 2 {
        ticks.tick().await;
        ws_send(&mut ws, "2").await;
        assert_eq!(ws_text(&mut ws).await, "3");
    }
    ws_send(&mut ws, "2probe").await;
    assert_eq!(ws_text(&mut ws).await, "3probe");
    // Then silence: the server never pings on its own; it closes after the limit.
    let silent = Instant::now();
    assert_eq!(ws_next(&mut ws).await, None, "closed without any frame");
    assert!(
        silent.elapsed() >= limit,
        "closed after {:?}",
        silent.elapsed()
    );
    common::eventually("the websocket session to go", || {
        server.hub().session_count() == 0
    })
    .await;
}

#[actix_web::test]
async fn malformed_or_truncated_posts_get_400_and_close_the_session() {
    let server = start_echo(SLOW_PING, SLOW_PING);
    let http = Http::new(&server, "/engine.io/");
    let mut binary_huge_length = vec![0u8];
    binary_huge_length.extend([9u8; 30]);
    binary_huge_length.push(0xff);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not a payload", b"abc".to_vec()),
        ("length over the rest", b"5:4hey".to_vec()),
        ("truncated second packet", b"6:4hello6:4wor".to_vec()),
        (
            "length splitting a surrogate pair",
            "2:4😀".as_bytes().to_vec(),
        ),
        ("non-digit length", b"4:4hey3a:1".to_vec()),
        ("no colon", b"12".to_vec()),
        ("overflowing length", b"99999999999999999999999:4".to_vec()),
        ("binary: truncated body", vec![0, 6, 255, b'4', b'h']),
        ("binary: no 0xff", vec![1, 5, 5, 5]),
        ("binary: bad length digit", vec![1, 5, 10, 255, 4]),
        ("binary: overflowing length", binary_huge_length),
        ("binary: unknown packet type", vec![1, 2, 255, 9, 1]),
    ];
    for (what, body) in cases {
        let (sid, _) = http.open("").await;
        let query = format!("EIO=3&transport=polling&sid={sid}");
        // A poll held meanwhile is answered too (never left hanging).
        let held = http.get(&query);
        let bad = async {
            tokio::task::yield_now().await;
            http.post(&query, OCTET_STREAM, body).await
        };
        let (held, bad) = futures_util::join!(held, bad);
        assert_eq!((bad.status, bad.text()), (400, BAD_REQUEST), "{what}");
        assert!(
            (held.status, held.text()) == (200, "1:1") || held.status == 400,
            "{what}: held poll got {} {}",
            held.status,
            held.text()
        );
        assert_eq!(http.poll(&sid).await.status, 400, "{what}: session closed");
    }
    // A JSONP POST without its `d` field.
    let sid = http.open_jsonp("0").await;
    let query = format!("EIO=3&transport=polling&sid={sid}&j=0");
    let answer = http
        .post(&query, "application/x-www-form-urlencoded", "x=3%3A4hi")
        .await;
    assert_eq!((answer.status, answer.text()), (400, BAD_REQUEST));
    common::eventually("every refused session to close", || {
        server.hub().session_count() == 0
    })
    .await;
}

#[actix_web::test]
async fn an_eio3_upgrade_moves_the_session_to_the_websocket() {
    let server = start_echo(SLOW_PING, SLOW_PING);
    let http = Http::new(&server, "/engine.io/");
    let (sid, _) = http.open("").await;
    let mut ws = ws_connect(
        &server,
        "/engine.io/",
        &format!("EIO=3&transport=websocket&sid={sid}"),
    )
    .await;
    ws_send(&mut ws, "2probe").await;
    assert_eq!(ws_text(&mut ws).await, "3probe");
    assert_eq!(http.poll(&sid).await.text(), "1:6");
    ws_send(&mut ws, "5").await;
    ws_send(&mut ws, "4h\u{e9}\u{1f600}").await;
    assert_eq!(ws_text(&mut ws).await, "4h\u{e9}\u{1f600}");
    ws.send(WsMessage::binary(vec![4u8, 1, 2])).await.unwrap();
    assert_eq!(
        ws_next(&mut ws).await,
        Some(WsMessage::binary(vec![4u8, 1, 2]))
    );
    assert_eq!(http.poll(&sid).await.status, 400);

    // An upgrade request asking for b64: binary messages come back as base64 text.
    let (sid, _) = http.open("").await;
    let query = format!("EIO=3&transport=websocket&sid={sid}&b64=1");
    let mut ws = ws_connect(&server, "/engine.io/", &query).await;
    ws_send(&mut ws, "2probe").await;
    assert_eq!(ws_text(&mut ws).await, "3probe");
    ws_send(&mut ws, "5").await;
    ws.send(WsMessage::binary(vec![4u8, 1, 2])).await.unwrap();
    assert_eq!(ws_text(&mut ws).await, "b4AQI=");
}

/// An EIO3 WebSocket to the Socket.IO server, past the open packet.
async fn v2_socket(server: &RunningServer, extra: &str) -> Ws {
    let mut ws = ws_connect(
        server,
        "/socket.io/",
        &format!("EIO=3&transport=websocket{extra}"),
    )
    .await;
    let open = ws_text(&mut ws).await;
    assert!(open.starts_with("0{"), "{open}");
    ws
}

#[actix_web::test]
async fn v2_clients_are_connected_to_main_at_once_and_connect_namespaces_v4_style() {
    let server = start_conformance();
    // WebSocket: `40` right after the open packet, without asking; the v4 CONNECT has no sid.
    let mut ws = v2_socket(&server, "").await;
    assert_eq!(ws_text(&mut ws).await, "40");
    assert_eq!(ws_text(&mut ws).await, r#"42["auth",{}]"#);
    ws_send(&mut ws, "40/custom,").await;
    assert_eq!(ws_text(&mut ws).await, "40/custom,");
    assert_eq!(ws_text(&mut ws).await, r#"42/custom,["auth",{}]"#);
    ws_send(&mut ws, "40/custom,").await;
    assert_eq!(ws_text(&mut ws).await, "40/custom,", "connected already");
    // An unknown namespace: the v4 error packet, a bare string.
    ws_send(&mut ws, "40/nope,").await;
    assert_eq!(ws_text(&mut ws).await, r#"44/nope,"Invalid namespace""#);
    // The connection goes on in both namespaces.
    ws_send(&mut ws, r#"42/custom,["message","x"]"#).await;
    assert_eq!(ws_text(&mut ws).await, r#"42/custom,["message-back","x"]"#);
    ws_send(&mut ws, r#"42["message","y"]"#).await;
    assert_eq!(ws_text(&mut ws).await, r#"42["message-back","y"]"#);

    // A v2 client's namespace query is its auth, as in Node.
    let mut ws = v2_socket(&server, "").await;
    assert_eq!(ws_text(&mut ws).await, "40");
    assert_eq!(ws_text(&mut ws).await, r#"42["auth",{}]"#);
    ws_send(&mut ws, "40/custom?token=a%20b&x=1&x=2,").await;
    assert_eq!(ws_text(&mut ws).await, "40/custom,");
    assert_eq!(
        ws_text(&mut ws).await,
        r#"42/custom,["auth",{"token":"a b","x":["1","2"]}]"#
    );

    // The handshake query (less Engine.IO's own parameters) is the auth of the implicit `/`.
    let mut ws = v2_socket(&server, "&token=secret").await;
    assert_eq!(ws_text(&mut ws).await, "40");
    assert_eq!(ws_text(&mut ws).await, r#"42["auth",{"token":"secret"}]"#);

    // Polling: the implicit CONNECT comes in the handshake's payload.
    let http = Http::new(&server, "/socket.io/");
    let (sid, packets) = http.open("").await;
    assert_eq!(packets[1..], ["40", r#"42["auth",{}]"#]);
    assert_eq!(http.post_text(&sid, "10:40/custom,").await.text(), "ok");
    assert_eq!(
        split_v3(http.poll(&sid).await.text()),
        ["40/custom,", r#"42/custom,["auth",{}]"#]
    );
    assert_eq!(http.post_text(&sid, "8:40/nope,").await.text(), "ok");
    assert_eq!(
        http.poll(&sid).await.text(),
        r#"27:44/nope,"Invalid namespace""#
    );
}

#[actix_web::test]
async fn binary_events_and_acks_over_v3_websocket_and_polling() {
    let server = start_conformance();
    let placeholder = r#"{"_placeholder":true,"num":0}"#;
    let mut ws = v2_socket(&server, "").await;
    assert_eq!(ws_text(&mut ws).await, "40");
    assert_eq!(ws_text(&mut ws).await, r#"42["auth",{}]"#);
    // A binary event: attachments are binary frames led by the message type byte 4.
    ws_send(&mut ws, &format!(r#"451-["message",{placeholder}]"#)).await;
    ws.send(WsMessage::binary(vec![4u8, 1, 2, 3]))
        .await
        .unwrap();
    assert_eq!(
        ws_text(&mut ws).await,
        format!(r#"451-["message-back",{placeholder}]"#)
    );
    assert_eq!(
        ws_next(&mut ws).await,
        Some(WsMessage::binary(vec![4u8, 1, 2, 3]))
    );
    // A binary ack, and a plain one.
    ws_send(
        &mut ws,
        &format!(r#"451-7["message-with-ack",{placeholder}]"#),
    )
    .await;
    ws.send(WsMessage::binary(vec![4u8, 9, 9])).await.unwrap();
    assert_eq!(ws_text(&mut ws).await, format!("461-7[{placeholder}]"));
    assert_eq!(
        ws_next(&mut ws).await,
        Some(WsMessage::binary(vec![4u8, 9, 9]))
    );
    ws_send(&mut ws, r#"42456["message-with-ack",1,"2"]"#).await;
    assert_eq!(ws_text(&mut ws).await, r#"43456[1,"2"]"#);

    // b64=1 over WebSocket: attachments come back as `b4<base64>` text.
    let mut ws = v2_socket(&server, "&b64=1").await;
    assert_eq!(ws_text(&mut ws).await, "40");
    assert_eq!(ws_text(&mut ws).await, r#"42["auth",{}]"#);
    ws_send(&mut ws, &format!(r#"451-["message",{placeholder}]"#)).await;
    ws_send(&mut ws, "b4AQID").await;
    assert_eq!(
        ws_text(&mut ws).await,
        format!(r#"451-["message-back",{placeholder}]"#)
    );
    assert_eq!(ws_text(&mut ws).await, "b4AQID");

    // Polling in the binary form: the event and its attachment in one payload each way.
    let http = Http::new(&server, "/socket.io/");
    let (sid, _) = http.open("").await;
    let event = format!(r#"451-["message",{placeholder}]"#);
    let posted = [
        binary_entry(false, event.as_bytes()),
        binary_entry(true, &[4, 1, 2, 3]),
    ]
    .concat();
    assert_eq!(http.post_binary(&sid, posted).await.text(), "ok");
    let answer = http.poll(&sid).await;
    assert_eq!(answer.content_type, OCTET_STREAM);
    let back = format!(r#"451-["message-back",{placeholder}]"#);
    assert_eq!(
        answer.body.as_ref(),
        [
            binary_entry(false, back.as_bytes()),
            binary_entry(true, &[4, 1, 2, 3])
        ]
        .concat()
        .as_slice()
    );
    // And with b64=1, the same exchange in the string form.
    let (sid, _) = http.open("&b64=1").await;
    let payload = format!("{}:{event}6:b4AQID", event.encode_utf16().count());
    assert_eq!(http.post_text(&sid, &payload).await.text(), "ok");
    let answer = http.poll(&sid).await;
    assert_eq!(answer.content_type, TEXT_PLAIN);
    assert_eq!(split_v3(answer.text()), [back.as_str(), "b4AQID"]);
}

#[actix_web::test]
async fn v2_and_v4_sockets_share_a_room_and_each_format_is_encoded_once() {
    let server = common::start(common::config());
    // A v2 client over polling, a v2 client and a v4 client over WebSocket, all in `lobby`.
    let http = Http::new(&server, "/socket.io/");
    let (sid, packets) = http.open("").await;
    assert_eq!(packets[1..], ["40"]);
    let join = r#"420["join","lobby"]"#;
    let joined = r#"430[{"ok":true}]"#;
    let payload = format!("{}:{join}", join.len());
    assert_eq!(http.post_text(&sid, &payload).await.text(), "ok");
    assert_eq!(split_v3(http.poll(&sid).await.text()), [joined]);

    let mut v2 = v2_socket(&server, "").await;
    assert_eq!(ws_text(&mut v2).await, "40");
    ws_send(&mut v2, join).await;
    assert_eq!(ws_text(&mut v2).await, joined);

    let mut v4 = ws_connect(&server, "/socket.io/", "EIO=4&transport=websocket").await;
    assert!(ws_text(&mut v4).await.starts_with("0{"));
    ws_send(&mut v4, "40").await;
    assert!(ws_text(&mut v4).await.starts_with("40{\"sid\":"));
    ws_send(&mut v4, join).await;
    assert_eq!(ws_text(&mut v4).await, joined);
    assert_eq!(server.hub().room_size("lobby"), 3);

    let message = Message::new(
        Some("lobby".into()),
        "news",
        json!({"text": "h\u{e9} \u{1f600}"}),
    );
    assert_eq!(
        server
            .hub()
            .broadcast(&Target::room("lobby"), message.clone()),
        3
    );
    let expected = r#"42["news",{"text":"hé 😀"}]"#;
    let answer = http.poll(&sid).await;
    // 26 chars, 32 bytes, 27 UTF-16 units.
    assert_eq!(answer.text(), format!("27:{expected}"));
    assert_eq!(ws_text(&mut v2).await, expected);
    assert_eq!(ws_text(&mut v4).await, expected);
    // Both formats were encoded by the broadcast itself, once each: asking again encodes nothing.
    for format in [WireFormat::Eio3, WireFormat::Eio4] {
        // Relay mode's Socket.IO is the encoder that encoded them.
        let frame = message
            .encoded::<SocketIo<switchboard::socketio::RelaySockets>>(format, |_| {
                panic!("{format:?} encoded a second time")
            });
        assert_eq!(frame, Frame::Text(expected.into()), "{format:?}");
    }
}
