//! Request bodies against slow, broken and unauthorised clients, with raw sockets: a body that
//! never comes is answered 408 after the body timeout, a body that breaks off is an abort (not
//! "too big"), and the API checks its token before it reads anything.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{config, WAIT};
use switchboard::{Config, DisconnectInfo, Handler, RunningServer, Switchboard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Relay mode, remembering why each session ended.
#[derive(Clone, Default)]
struct Reasons(Arc<Mutex<Vec<String>>>);

impl Handler for Reasons {
    fn on_disconnect(&self, info: &DisconnectInfo) {
        self.0.lock().unwrap().push(info.reason.to_string());
    }
}

impl Reasons {
    async fn wait_for_one(&self) -> String {
        let reasons = self.0.clone();
        common::eventually("a session to end", || !reasons.lock().unwrap().is_empty()).await;
        let first = self.0.lock().unwrap()[0].clone();
        first
    }
}

fn start_with(cfg: Config) -> (RunningServer, Reasons) {
    let reasons = Reasons::default();
    let server = Switchboard::new(cfg)
        .with_handler(reasons.clone())
        .start()
        .unwrap();
    (server, reasons)
}

fn short_body_timeout() -> Config {
    let mut cfg = config();
    cfg.body_timeout_ms = 300;
    cfg
}

/// Sends `head` and `body_start` and reads the whole answer (the server closes or answers).
async fn send_partial(server: &RunningServer, head: &str, body_start: &[u8]) -> String {
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body_start).await.unwrap();
    read_answer(&mut tcp).await
}

/// Reads until the head of an answer and its content-length body are in, or the server closes.
async fn read_answer(tcp: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(WAIT, tcp.read(&mut chunk))
            .await
            .expect("an answer within the wait")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&answer).to_string()
}

fn post_head(path: &str, content_type: &str, length: usize, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n\
         Content-Length: {length}\r\n{extra}\r\n"
    )
}

/// One whole request on its own connection: the status and the body of the answer.
async fn request(server: &RunningServer, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let answer = read_answer(&mut tcp).await;
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// A Socket.IO session over polling, connected to the main namespace: its sid.
async fn socketio_session(server: &RunningServer) -> String {
    let (status, body) = request(server, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    assert_eq!(status, 200, "{body}");
    let open: serde_json::Value = serde_json::from_str(&body[1..]).unwrap();
    let sid = open["sid"].as_str().unwrap().to_string();
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(request(server, "POST", &path, "40").await.0, 200);
    let (status, connected) = request(server, "GET", &path, "").await;
    assert!(status == 200 && connected.starts_with("40"), "{connected}");
    sid
}

async fn sockjs_session(server: &RunningServer, sid: &str) {
    let (status, body) = request(server, "POST", &format!("/sockjs/000/{sid}/xhr"), "").await;
    assert_eq!((status, body.as_str()), (200, "o\n"));
}

#[actix_web::test]
async fn a_body_that_never_comes_is_answered_408_on_every_post() {
    let (server, _) = start_with(short_body_timeout());
    let api = send_partial(
        &server,
        &post_head("/api/publish", "application/json", 100, ""),
        b"{\"room\"",
    )
    .await;
    assert!(api.starts_with("HTTP/1.1 408"), "{api}");

    let sid = socketio_session(&server).await;
    let eio = send_partial(
        &server,
        &post_head(
            &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
            "text/plain",
            100,
            "",
        ),
        b"4hel",
    )
    .await;
    assert!(eio.starts_with("HTTP/1.1 408"), "{eio}");

    sockjs_session(&server, "slowpost").await;
    let sockjs = send_partial(
        &server,
        &post_head("/sockjs/000/slowpost/xhr_send", "text/plain", 100, ""),
        b"[\"a",
    )
    .await;
    assert!(sockjs.starts_with("HTTP/1.1 408"), "{sockjs}");
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_dripping_body_is_cut_off_at_the_timeout_too() {
    let (server, _) = start_with(short_body_timeout());
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(post_head("/api/publish", "application/json", 1000, "").as_bytes())
        .await
        .unwrap();
    // A byte every 50 ms: each read comes well within any per-read timeout.
    let mut answer = String::new();
    for _ in 0..40 {
        if tcp.write_all(b" ").await.is_err() {
            break;
        }
        let mut chunk = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(50), tcp.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                answer = String::from_utf8_lossy(&chunk[..n]).to_string();
                break;
            }
            Ok(_) => break,
            Err(_) => {}
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn an_aborted_sockjs_post_keeps_the_session() {
    let (server, reasons) = start_with(config());
    sockjs_session(&server, "aborted").await;
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(post_head("/sockjs/000/aborted/xhr_send", "text/plain", 100, "").as_bytes())
        .await
        .unwrap();
    tcp.write_all(b"[\"a").await.unwrap();
    drop(tcp);
    // The session still takes posts and polls (sockjs-node keeps it), and nothing ended.
    let send = request(&server, "POST", "/sockjs/000/aborted/xhr_send", "[\"{}\"]").await;
    assert_eq!(send.0, 204, "{send:?}");
    let (status, body) = request(&server, "POST", "/sockjs/000/aborted/xhr", "").await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body, "c[1009,\"Message too big\"]\n");
    assert!(reasons.0.lock().unwrap().is_empty());
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn an_aborted_engineio_post_is_a_transport_error_not_too_big() {
    let (server, reasons) = start_with(config());
    let sid = socketio_session(&server).await;
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let head = post_head(
        &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
        "text/plain",
        100,
        "",
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(b"4hel").await.unwrap();
    drop(tcp);
    // Socket.IO reports the engine's transport error in its own words.
    assert_eq!(
        reasons.wait_for_one().await,
        "transport error: transport error"
    );
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn the_api_checks_its_token_before_reading_the_body() {
    let mut cfg = config();
    cfg.api_token = Some("secret".into());
    let (server, _) = start_with(cfg);
    // A broken body without the token: 401, not the parser's 400.
    let answer = send_partial(
        &server,
        &post_head("/api/publish", "application/json", 5, ""),
        b"{nope",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("missing or wrong bearer token"), "{answer}");
    // Nor does it wait for a body that never comes.
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(post_head("/api/publish", "application/json", 100, "").as_bytes())
        .await
        .unwrap();
    let answer = read_answer(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // With the token, the body is read and judged.
    let answer = send_partial(
        &server,
        &post_head(
            "/api/publish",
            "application/json",
            5,
            "Authorization: Bearer secret\r\n",
        ),
        b"{nope",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_head_over_16_kib_is_answered_431_and_one_within_is_served() {
    let (server, _) = start_with(config());
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(17 * 1024)
    );
    let answer = send_partial(&server, &big, b"").await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // Unterminated: refused as soon as it passes the cap, without waiting for its end.
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nX-Big: ")
        .await
        .unwrap();
    tcp.write_all(&[b'a'; 17 * 1024]).await.unwrap();
    let answer = read_answer(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // 15 KiB of headers is fine, and so is each request on a kept-alive connection.
    let fine = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(15 * 1024)
    );
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    for _ in 0..3 {
        tcp.write_all(fine.as_bytes()).await.unwrap();
        let answer = read_answer(&mut tcp).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn bodies_and_upgraded_connections_are_not_heads() {
    let mut cfg = config();
    cfg.max_message_size = 200_000;
    let (server, _) = start_with(cfg);
    // A 100 kB body after `Expect: 100-continue` (curl sends it for large bodies).
    let batch = serde_json::to_string(&serde_json::json!({
        "room": "r", "event": "e", "data": "x".repeat(100_000)
    }))
    .unwrap();
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let head = post_head(
        "/api/publish",
        "application/json",
        batch.len(),
        "Expect: 100-continue\r\n",
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut interim = [0u8; 25];
    tcp.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    tcp.write_all(batch.as_bytes()).await.unwrap();
    let answer = read_answer(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A WebSocket carries far more than a head without a blank line.
    let mut client = common::Client::connect(&server).await;
    client.join("r").await;
    let text = serde_json::json!({"type":"emit","event":"e","data":"y".repeat(150_000),"id":"big"});
    client.send_text(&text.to_string()).await;
    assert_eq!(client.recv().await["id"], "big");
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_large_body_answered_before_it_is_read_gets_a_clean_answer() {
    // A 401 goes out before the 40 kB body is read: the rest of the body is no request head.
    let mut cfg = config();
    cfg.api_token = Some("secret".into());
    let (server, _) = start_with(cfg);
    let body = format!(
        "{{\"room\":\"r\",\"event\":\"e\",\"data\":\"{}\"}}",
        "x".repeat(40_000)
    );
    let head = post_head(
        "/api/publish",
        "application/json",
        body.len(),
        "Authorization: Bearer wrong\r\n",
    );
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let answer = read_answer(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // The body comes after the answer; whatever the server does with it, it is not a head.
    let _ = tcp.write_all(body.as_bytes()).await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut rest)).await;
    let rest = String::from_utf8_lossy(&rest);
    assert!(!rest.contains("431"), "{rest}");
    server.shutdown().await.unwrap();
}
