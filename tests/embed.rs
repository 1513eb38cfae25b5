//! switchboard mounted into an application's own actix-web `HttpServer`, with the
//! `switchboard::on_connect` hook: every feature works there too.

mod common;

use std::sync::{Arc, Mutex};

use switchboard::{DisconnectInfo, Handler, Switchboard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Default)]
struct Reasons(Arc<Mutex<Vec<String>>>);

impl Handler for Reasons {
    fn on_disconnect(&self, info: &DisconnectInfo) {
        self.0.lock().unwrap().push(info.reason.to_string());
    }
}

async fn send(addr: std::net::SocketAddr, request: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    tcp
}

async fn answer(mut tcp: TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(common::WAIT, tcp.read_to_end(&mut out))
        .await
        .expect("answered within the wait")
        .unwrap();
    String::from_utf8_lossy(&out).to_string()
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
}

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[actix_web::test]
async fn an_abandoned_long_poll_ends_the_session_at_once_in_your_own_http_server() {
    let reasons = Reasons::default();
    let switchboard = Switchboard::new(common::config()).with_handler(reasons.clone());
    let mount = switchboard.configure();
    let server = actix_web::HttpServer::new(move || actix_web::App::new().configure(mount.clone()))
        .on_connect(switchboard::on_connect)
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let open = answer(send(addr, &get("/socket.io/?EIO=4&transport=polling")).await).await;
    let body = open.split("\r\n\r\n").nth(1).unwrap();
    let sid = serde_json::from_str::<serde_json::Value>(&body[1..]).unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert!(answer(send(addr, &post(&path, "40")).await)
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(answer(send(addr, &get(&path)).await).await.contains("40{"));
    // A poll that waits (nothing is queued), then the client goes away.
    drop(send(addr, &get(&path)).await);
    // Node ends the session at once; pingInterval (25 s) is far away.
    let seen = reasons.0.clone();
    common::eventually("the session to end", || !seen.lock().unwrap().is_empty()).await;
    assert_eq!(
        reasons.0.lock().unwrap()[0],
        "transport error: transport error"
    );
    handle.stop(true).await;
}
