//! Every accepted connection has Nagle's algorithm off (TCP_NODELAY), as Node's sockets do: a
//! small write (a join's answer, a message after another) leaves at once instead of waiting up
//! to 40 ms for the client's delayed ACK. Checked on the server's own socket, found by its peer
//! address, for each protocol's endpoint, in the relay server and in an application's own
//! actix-web server with `switchboard::on_connect`.

mod common;

use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};

use common::{config, start, WAIT};
use switchboard::Switchboard;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request per kind of endpoint: WebSocket upgrades and long-polling requests.
const REQUESTS: &[(&str, &str)] = &[
    ("relay", "/ws"),
    (
        "engine.io v4 websocket",
        "/socket.io/?EIO=4&transport=websocket",
    ),
    (
        "engine.io v3 websocket",
        "/socket.io/?EIO=3&transport=websocket",
    ),
    (
        "engine.io v4 polling",
        "/socket.io/?EIO=4&transport=polling",
    ),
    ("sockjs websocket", "/sockjs/000/nodelay1/websocket"),
    ("sockjs info", "/sockjs/info"),
];

/// Sends `path` as a GET (a WebSocket upgrade for the WebSocket endpoints) and waits for the
/// head of the answer; the connection stays open.
async fn request(addr: SocketAddr, path: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let upgrade = if path.contains("websocket") || path == "/ws" {
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n"
    } else {
        ""
    };
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{upgrade}\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout(WAIT, tcp.read(&mut chunk))
            .await
            .expect("answered in time")
            .unwrap();
        assert!(n > 0, "{path}: closed before answering");
        answer.extend_from_slice(&chunk[..n]);
    }
    let status = String::from_utf8_lossy(&answer[..12]).to_string();
    assert!(
        status.ends_with("101") || status.ends_with("200"),
        "{path}: {status}"
    );
    tcp
}

/// The descriptors of this process (the server runs in it).
fn open_descriptors() -> Vec<RawFd> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Whether the server's end of `client` has TCP_NODELAY set.
fn server_end_has_nodelay(client: &TcpStream) -> bool {
    let client_addr = client.local_addr().unwrap();
    let server_addr = client.peer_addr().unwrap();
    let mut found = None;
    for fd in open_descriptors() {
        // SAFETY: the descriptor is only borrowed for these two calls. The server keeps its
        // connection (and so its descriptor) open while the test holds the client's end; any
        // other descriptor that closes meanwhile only makes a call fail.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&borrowed);
        let is_server_end = socket.peer_addr().ok().and_then(|a| a.as_socket())
            == Some(client_addr)
            && socket.local_addr().ok().and_then(|a| a.as_socket()) == Some(server_addr);
        if is_server_end {
            found = Some(socket.tcp_nodelay().unwrap());
        }
    }
    found.expect("the server's end of the connection is open")
}

async fn check_every_endpoint(addr: SocketAddr, server: &str) {
    for (name, path) in REQUESTS {
        let client = request(addr, path).await;
        assert!(
            server_end_has_nodelay(&client),
            "{server}, {name}: Nagle's algorithm is on"
        );
    }
}

#[actix_web::test]
async fn the_relay_server_turns_nagle_off_on_every_connection() {
    let server = start(config());
    check_every_endpoint(server.addr(), "relay server").await;
}

#[actix_web::test]
async fn an_application_server_with_the_on_connect_hook_turns_it_off_too() {
    let mount = Switchboard::new(config()).configure();
    let server = actix_web::HttpServer::new(move || actix_web::App::new().configure(mount.clone()))
        .on_connect(switchboard::on_connect)
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    check_every_endpoint(addr, "application server").await;
    handle.stop(false).await;
}
