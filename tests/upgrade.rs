//! Upgrade requests on the server's own listener, which takes WebSocket connections out of the
//! HTTP/1 dispatcher: exact bytes on a raw TCP connection.

mod common;

use common::{config, start, Client, WAIT};
use serde_json::json;
use switchboard::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

fn handshake(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

/// A masked client text frame (RFC 6455 §5.3), short payloads only.
fn client_text(payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Reads until `needle` has arrived; returns everything read.
async fn read_until(tcp: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    timeout(WAIT, async {
        while !got.windows(needle.len()).any(|w| w == needle) {
            let n = tcp.read(&mut buf).await.expect("read");
            assert!(
                n > 0,
                "closed before {:?}: {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("in time");
    got
}

/// Reads until the server closes the connection; returns everything read.
async fn read_to_close(tcp: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    timeout(WAIT, tcp.read_to_end(&mut got))
        .await
        .expect("server closes the connection")
        .expect("read");
    got
}

#[actix_web::test]
async fn bytes_sent_right_behind_the_handshake_reach_the_session() {
    let server = start(config());
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    // The handshake and a first message in one write: the message sits in the dispatcher's read
    // buffer when the connection is handed over.
    let mut bytes = handshake("/ws").into_bytes();
    bytes.extend(client_text(br#"{"type":"join","room":"r","id":7}"#));
    tcp.write_all(&bytes).await.unwrap();
    let got = read_until(&mut tcp, br#"{"type":"ack","id":7}"#).await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    assert!(
        text.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{text}"
    );
    // The welcome, unmasked and unfragmented, comes first.
    let body = &got[got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    assert_eq!(body[0], 0x81);
    assert!(body[2..].starts_with(br#"{"type":"welcome""#));
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_refused_upgrade_gets_the_whole_answer_then_the_connection_closes() {
    let server = start(config());
    // No such route: 404, whole, then the close.
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(handshake("/nowhere").as_bytes())
        .await
        .unwrap();
    let text = String::from_utf8(read_to_close(&mut tcp).await).unwrap();
    assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");

    // A broken handshake (no key): actix-http's 400 (its own reason phrase), then the close.
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(
        b"GET /ws HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let text = String::from_utf8(read_to_close(&mut tcp).await).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 400 Handshake error\r\n"),
        "{text}"
    );
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_full_server_refuses_with_its_json_answer() {
    let server = start(Config {
        max_sessions: 1,
        ..config()
    });
    let _first = Client::connect(&server).await;
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(handshake("/ws").as_bytes()).await.unwrap();
    let got = read_to_close(&mut tcp).await;
    let text = String::from_utf8(got).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{text}"
    );
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(body).unwrap(),
        json!({"error":"session limit reached"})
    );
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn more_than_the_read_window_in_one_go_is_all_delivered() {
    let server = start(config());
    let mut reader = Client::connect(&server).await;
    reader.join("big").await;
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(handshake("/ws").as_bytes()).await.unwrap();
    read_until(&mut tcp, br#""type":"welcome""#).await;
    // 40 messages of ~1.5 KB, written at once: more than the 32 KiB the connection reads ahead.
    let data = "x".repeat(1500);
    let mut bytes = Vec::new();
    for i in 0..40 {
        let message =
            json!({"type":"publish","room":"big","event":"e","data":format!("{i}{data}")});
        bytes.extend(client_text(message.to_string().as_bytes()));
    }
    tcp.write_all(&bytes).await.unwrap();
    for i in 0..40 {
        let got = reader.recv().await;
        assert_eq!(got["data"], format!("{i}{data}"));
    }
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_streaming_answer_to_an_upgrade_request_streams() {
    let server = start(config());
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    // A SockJS xhr_streaming request that also asks to upgrade: it is answered as usual, as a
    // stream, and what the stream sends arrives while it is still open.
    tcp.write_all(
        b"POST /sockjs/000/upgrade1/xhr_streaming HTTP/1.1\r\nHost: test\r\n\
          Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n",
    )
    .await
    .unwrap();
    let got = read_until(&mut tcp, b"\no\n").await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains(&format!("{}\n", "h".repeat(2048))), "{text}");
    server.shutdown().await.unwrap();
}

/// `Connection: Upgrade` to another protocol than WebSocket (h2c, as `curl --http2` asks), with
/// no length: actix-http hands such a request to the upgrade service, where it has no body (as
/// HTTP says of a request without a length), so it is answered at once, not left waiting for the
/// rest of the connection until the 60 s body timeout.
#[actix_web::test]
async fn an_upgrade_to_another_protocol_is_answered_as_a_plain_request() {
    let server = start(config());
    for (request, status) in [
        ("POST /api/publish", "HTTP/1.1 400 Bad Request\r\n"),
        ("GET /healthz", "HTTP/1.1 200 OK\r\n"),
    ] {
        let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
        let head = format!(
            "{request} HTTP/1.1\r\nHost: test\r\nConnection: Upgrade, HTTP2-Settings\r\n\
             Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\
             Content-Type: application/json\r\n\r\n"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let answer = String::from_utf8(read_to_close(&mut tcp).await).unwrap();
        assert!(answer.starts_with(status), "{request}: {answer}");
    }
}
