//! The WebSocket read path against broken and hostile clients, on every WebSocket endpoint, with
//! raw sockets: each bad frame gets its close code at once, the connection is dropped, and the
//! worker it ran on keeps serving everyone else.

mod common;

use std::time::Duration;

use common::{config, start, Client, WAIT};
use switchboard::RunningServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every WebSocket endpoint of the relay server, with the path a client opens.
const ENDPOINTS: &[(&str, &str)] = &[
    ("relay", "/ws"),
    ("engine.io v4", "/socket.io/?EIO=4&transport=websocket"),
    ("engine.io v3", "/socket.io/?EIO=3&transport=websocket"),
    ("sockjs", "/sockjs/000/abcdefgh/websocket"),
    ("sockjs raw", "/sockjs/websocket"),
];

const MASK: [u8; 4] = [1, 2, 3, 4];

/// A masked client frame with the given first byte.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// A raw WebSocket connection past its handshake.
struct Raw {
    tcp: TcpStream,
    buf: Vec<u8>,
}

/// A server frame: opcode and payload.
type ServerFrame = (u8, Vec<u8>);

impl Raw {
    async fn open(server: &RunningServer, path: &str) -> Raw {
        let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Raw {
            tcp,
            buf: Vec::new(),
        };
        let head = loop {
            if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw.buf[..end]).to_string();
                raw.buf.drain(..end + 4);
                break head;
            }
            assert!(
                raw.fill().await > 0,
                "connection closed during the handshake"
            );
        };
        assert!(head.starts_with("HTTP/1.1 101"), "{path}: {head}");
        raw
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, self.tcp.read(&mut chunk))
            .await
            .expect("the server answers within the wait")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// The next server frame; `None` once the server closed the connection.
    async fn next(&mut self) -> Option<ServerFrame> {
        loop {
            if self.buf.len() >= 2 {
                assert_eq!(self.buf[1] & 0x80, 0, "server frames are not masked");
                let (len, at) = match self.buf[1] & 0x7F {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    short => (short as usize, 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let opcode = self.buf[0] & 0x0F;
                    let payload = self.buf[at..at + len].to_vec();
                    self.buf.drain(..at + len);
                    return Some((opcode, payload));
                }
            }
            if self.fill().await == 0 {
                return None;
            }
        }
    }

    /// Reads past whatever the protocol sent first until the close frame: its code and reason.
    async fn close(&mut self) -> (u16, String) {
        while let Some((opcode, payload)) = self.next().await {
            if opcode == 0x8 {
                assert!(payload.len() >= 2, "a close frame with a code");
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return (code, String::from_utf8(payload[2..].to_vec()).unwrap());
            }
        }
        panic!("the connection ended without a close frame");
    }

    /// After the close: the server drops the connection (reads reach the end).
    async fn expect_dropped(&mut self) {
        while self.next().await.is_some() {}
    }

    async fn send(&mut self, bytes: &[u8]) {
        // The server may already have closed: a failed write is fine, the close is what counts.
        let _ = self.tcp.write_all(bytes).await;
    }
}

/// A relay client on the same (single) worker still gets answers, and so does HTTP.
async fn assert_server_serves(server: &RunningServer, client: &mut Client) {
    client.assert_nothing_pending().await;
    let (status, _) = common::Api::new(server).get("/healthz").await;
    assert_eq!(status, 200);
}

fn one_worker_server() -> RunningServer {
    let mut cfg = config();
    cfg.workers = 1;
    cfg.max_message_size = 1000;
    start(cfg)
}

async fn probe(server: &RunningServer, bytes: &[u8]) -> Vec<(&'static str, u16, String)> {
    let mut answers = Vec::new();
    for (name, path) in ENDPOINTS {
        let mut raw = Raw::open(server, path).await;
        raw.send(bytes).await;
        let (code, reason) = raw.close().await;
        raw.expect_dropped().await;
        answers.push((*name, code, reason));
    }
    answers
}

#[actix_web::test]
async fn broken_frames_close_1002_on_every_endpoint_and_the_worker_keeps_serving() {
    let server = one_worker_server();
    let mut bystander = Client::connect(&server).await;
    bystander.join("r").await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"\x81\x02hi".to_vec(), "MASK must be set"),
        (frame(0xC1, b"hi"), "RSV1 must be clear"),
        (frame(0x83, b"hi"), "invalid opcode 3"),
        (frame(0x8B, b""), "invalid opcode 11"),
        (
            b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01\x01\x02\x03\x04".to_vec(),
            "the most significant bit of a 64-bit length must be clear",
        ),
        (frame(0x80, b"x"), "invalid opcode 0"),
        (frame(0x09, b""), "FIN must be set"),
    ];
    for (bytes, why) in &cases {
        for (name, code, reason) in probe(&server, bytes).await {
            assert_eq!(code, 1002, "{name}, {why}: {reason}");
            assert_eq!(reason, format!("Invalid WebSocket frame: {why}"), "{name}");
        }
        assert_server_serves(&server, &mut bystander).await;
    }
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_lying_length_closes_1009_at_once_without_buffering() {
    let server = one_worker_server();
    let mut bystander = Client::connect(&server).await;
    // 10 GiB declared in the header, and nothing after it: the close cannot wait for the payload.
    let mut header = b"\x82\xff\x00\x00\x00\x02\x80\x00\x00\x00".to_vec();
    header.extend_from_slice(&MASK);
    for (name, code, reason) in probe(&server, &header).await {
        assert_eq!((code, reason.as_str()), (1009, "message too big"), "{name}");
    }
    // Fragments adding up past the limit (1000): refused on the second header.
    let mut fragments = frame(0x01, &[b'a'; 600]);
    fragments.extend_from_slice(&frame(0x80, &[b'a'; 600])[..8]);
    for (name, code, _) in probe(&server, &fragments).await {
        assert_eq!(code, 1009, "{name}");
    }
    assert_server_serves(&server, &mut bystander).await;
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn invalid_utf8_closes_1007() {
    let server = one_worker_server();
    for (name, code, reason) in probe(&server, &frame(0x81, b"\xff\xfe")).await {
        assert_eq!(code, 1007, "{name}: {reason}");
    }
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn random_frames_never_stall_the_worker() {
    let server = one_worker_server();
    let mut bystander = Client::connect(&server).await;
    // A small xorshift: the same cases every run.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..60 {
        let (_, path) = ENDPOINTS[round % ENDPOINTS.len()];
        let mut raw = Raw::open(&server, path).await;
        let mut bytes = Vec::new();
        for _ in 0..(1 + next() % 4) {
            let first = next() as u8;
            let payload: Vec<u8> = (0..next() % 200).map(|_| next() as u8).collect();
            let mut f = frame(first, &payload);
            match next() % 4 {
                // a lying length: the header says more (or less) than follows
                0 => f[1] = 0x80 | 127,
                1 => f[1] &= 0x7F,
                2 => f.truncate((next() as usize) % f.len().max(1)),
                _ => {}
            }
            bytes.extend(f);
        }
        raw.send(&bytes).await;
        // Whatever the server answers, the bystander on the same worker is served at once.
        tokio::time::timeout(Duration::from_secs(2), bystander.assert_nothing_pending())
            .await
            .unwrap_or_else(|_| panic!("round {round} on {path}: the worker stalled"));
        drop(raw);
    }
    assert_server_serves(&server, &mut bystander).await;
    server.shutdown().await.unwrap();
}
