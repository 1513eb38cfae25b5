//! Session lifecycle: keepalive, timeouts, overflow, disconnect reports, graceful shutdown,
//! and a custom application handler in place of relay mode.

mod common;

use std::sync::{Arc, Mutex};

use common::{config, eventually, Api, Client, WAIT};
use futures_util::StreamExt;
use serde_json::{json, Value};
use switchboard::Refusal;
use switchboard::{DisconnectInfo, Handler, SessionRef, Switchboard};
use switchboard::{DisconnectReason, Protocol};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A relay handler that reports every disconnect, and answers `emit` of `echo`.
struct Recorder {
    disconnects: mpsc::UnboundedSender<DisconnectInfo>,
    connects: Arc<Mutex<Vec<String>>>,
}

impl Handler for Recorder {
    fn on_connect(&self, session: &SessionRef) {
        self.connects.lock().unwrap().push(session.id().to_string());
    }

    fn on_event(&self, session: &SessionRef, event: &str, data: Value) -> Result<Value, Refusal> {
        match event {
            "echo" => Ok(json!({"from": session.id().as_ref(), "data": data})),
            "kick-me" => {
                session.disconnect();
                Ok(Value::Null)
            }
            other => Err(format!("no {other} here")),
        }
    }

    fn on_disconnect(&self, info: &DisconnectInfo) {
        let _ = self.disconnects.send(info.clone());
    }
}

fn recording_server(
    cfg: switchboard::Config,
) -> (
    switchboard::RunningServer,
    mpsc::UnboundedReceiver<DisconnectInfo>,
    Arc<Mutex<Vec<String>>>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let connects = Arc::new(Mutex::new(Vec::new()));
    let handler = Recorder {
        disconnects: tx,
        connects: connects.clone(),
    };
    let server = Switchboard::new(cfg).with_handler(handler).start().unwrap();
    (server, rx, connects)
}

async fn next_disconnect(rx: &mut mpsc::UnboundedReceiver<DisconnectInfo>) -> DisconnectInfo {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a disconnect within the wait")
        .expect("channel open")
}

#[actix_web::test]
async fn every_disconnect_is_reported_with_id_protocol_rooms_and_reason() {
    let (server, mut disconnects, connects) = recording_server(config());
    let mut c = Client::connect(&server).await;
    assert_eq!(*connects.lock().unwrap(), vec![c.session.clone()]);
    c.join("a").await;
    c.join("b").await;
    c.ws.close(None).await.unwrap();
    let info = next_disconnect(&mut disconnects).await;
    assert_eq!(info.id.as_ref(), c.session);
    assert_eq!(info.protocol, Protocol::WebSocket);
    let mut rooms: Vec<String> = info.rooms.iter().map(|r| r.to_string()).collect();
    rooms.sort();
    assert_eq!(rooms, ["a", "b"]);
    assert_eq!(info.reason, DisconnectReason::ClientClosed);
    eventually("the session to leave the hub", || {
        server.hub().session_count() == 0
    })
    .await;
    assert_eq!(server.hub().room_size("a"), 0);

    // A dropped TCP connection, without a close frame.
    let c = Client::connect(&server).await;
    let id = c.session.clone();
    drop(c);
    let info = next_disconnect(&mut disconnects).await;
    assert_eq!(
        (info.id.as_ref(), info.reason),
        (id.as_str(), DisconnectReason::TransportClosed)
    );

    // The application disconnects a session.
    let mut c = Client::connect(&server).await;
    let ack = c.request(json!({"type":"emit","event":"kick-me"})).await;
    assert_eq!(ack["type"], "ack");
    let close = c.expect_close().await;
    assert_eq!(
        (u16::from(close.code), close.reason.as_str()),
        (1000, "server disconnect")
    );
    let info = next_disconnect(&mut disconnects).await;
    assert_eq!(info.reason, DisconnectReason::ServerDisconnect);
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_custom_handler_answers_events_with_acks() {
    let (server, _disconnects, _) = recording_server(config());
    let mut c = Client::connect(&server).await;
    let ack = c
        .request(json!({"type":"emit","event":"echo","data":[1,"two"]}))
        .await;
    assert_eq!(
        ack,
        json!({"type":"ack","id":ack["id"],"data":{"from":c.session,"data":[1,"two"]}})
    );
    let err = c.request(json!({"type":"emit","event":"other"})).await;
    assert_eq!(err["message"], "no other here");
    // Relay defaults still apply to what the handler does not override.
    c.join("r").await;
    assert_eq!(server.hub().room_size("r"), 1);
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_silent_client_is_closed_after_the_ping_timeout() {
    let mut cfg = config();
    cfg.ping_interval_ms = 100;
    cfg.ping_timeout_ms = 100;
    let (server, mut disconnects, _) = recording_server(cfg);
    // This client reads nothing, so it never answers a ping.
    let silent = Client::connect(&server).await;
    let info = next_disconnect(&mut disconnects).await;
    assert_eq!(info.id.as_ref(), silent.session);
    assert_eq!(info.reason, DisconnectReason::PingTimeout);
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_client_that_answers_pings_stays_connected() {
    let mut cfg = config();
    cfg.ping_interval_ms = 50;
    cfg.ping_timeout_ms = 50;
    let (server, mut disconnects, _) = recording_server(cfg);
    let mut c = Client::connect(&server).await;
    // Read frames (tungstenite answers each ping with a pong) until five pings have come.
    let mut pings = 0;
    while pings < 5 {
        let frame = tokio::time::timeout(WAIT, c.ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if matches!(frame, WsMessage::Ping(_)) {
            pings += 1;
        }
    }
    c.join("still-here").await;
    assert!(disconnects.try_recv().is_err(), "no session was closed");
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn graceful_shutdown_closes_every_connection_with_1001() {
    let (server, mut disconnects, _) = recording_server(config());
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.join("r").await;
    let addr = server.addr();
    server.shutdown().await.unwrap();
    for c in [&mut a, &mut b] {
        let close = c.expect_close().await;
        assert_eq!(u16::from(close.code), 1001);
        assert_eq!(close.reason, "server shutting down");
    }
    for _ in 0..2 {
        let info = next_disconnect(&mut disconnects).await;
        assert_eq!(info.reason, DisconnectReason::ServerShutdown);
    }
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}

#[actix_web::test]
async fn a_stalled_client_overflows_alone_and_the_others_get_everything() {
    let mut cfg = config();
    cfg.max_outbox = 16;
    let (server, mut disconnects, _) = recording_server(cfg);
    let api = Api::new(&server);
    let mut slow = Client::connect(&server).await;
    let mut fast = Client::connect(&server).await;
    slow.join("firehose").await;
    fast.join("firehose").await;

    // 64 KiB messages: the stalled client's socket buffers fill, then its outbox.
    let data = Value::String("x".repeat(64 * 1024));
    let mut sent = 0;
    while server.hub().stats().overflow_disconnects == 0 {
        assert!(sent < 5000, "the stalled client never overflowed");
        let delivered = api.publish("firehose", "tick", data.clone()).await;
        assert!(delivered >= 1);
        // Pace by the fast client: it must receive each message in turn.
        let got = fast.recv().await;
        assert_eq!(got["event"], "tick");
        sent += 1;
    }
    let info = next_disconnect(&mut disconnects).await;
    assert_eq!(info.id.as_ref(), slow.session);
    assert_eq!(info.reason, DisconnectReason::Overflow);
    let stats = server.hub().stats();
    assert_eq!(stats.overflow_disconnects, 1);
    assert!(stats.overflow_drops >= 1);
    assert_eq!(server.hub().room_size("firehose"), 1);
    fast.assert_nothing_pending().await;
    drop(slow);
    server.shutdown().await.unwrap();
}
