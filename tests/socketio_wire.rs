//! Socket.IO v5 at the wire level, following the official socket.io-protocol v5 test suite:
//! the suite's application (`ConformanceApp`) behind a real server, a real WebSocket client.

mod common;

use common::{eio_next, eio_text, Ws};

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard::engineio::{Engine, EngineConfig};
use switchboard::socketio::conformance::ConformanceApp;
use switchboard::socketio::{SocketIo, SocketIoConfig};
use switchboard::SessionOptions;
use switchboard::{Config, RunningServer, Switchboard};
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn start() -> RunningServer {
    let switchboard = Switchboard::new(Config {
        socketio_path: "/relay.io/".into(),
        ..common::config()
    });
    let engine = Engine::new(
        EngineConfig {
            path: "/socket.io/".into(),
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
            ..EngineConfig::default()
        },
        SocketIo::new(
            ConformanceApp,
            SocketIoConfig {
                connect_timeout: Duration::from_millis(1000),
                ..SocketIoConfig::default()
            },
        ),
        switchboard.hub().clone(),
        SessionOptions::default(),
    );
    switchboard
        .mount(move |cfg| engine.configure(cfg))
        .start()
        .unwrap()
}

async fn open(server: &RunningServer) -> Ws {
    let url = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket",
        server.addr()
    );
    let mut ws = tokio_tungstenite::connect_async(url).await.unwrap().0;
    assert!(eio_text(&mut ws).await.starts_with("0{"));
    ws
}

/// Connects to `/` and reads the CONNECT answer and the `auth` event.
async fn connected(server: &RunningServer) -> Ws {
    let mut ws = open(server).await;
    ws.send(WsMessage::text("40")).await.unwrap();
    assert!(eio_text(&mut ws).await.starts_with("40{"));
    assert_eq!(eio_text(&mut ws).await, r#"42["auth",{}]"#);
    ws
}

fn sid_of(packet: &str, prefix: &str) -> String {
    let body: Value = serde_json::from_str(&packet[prefix.len()..]).unwrap();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["sid"],
        "exactly the sid key (no pid without recovery)"
    );
    body["sid"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn connect_to_main_and_custom_namespaces_with_and_without_auth() {
    let server = start();
    let cases = [
        ("40", "40", r#"42["auth",{}]"#),
        (
            r#"40{"token":"123"}"#,
            "40",
            r#"42["auth",{"token":"123"}]"#,
        ),
        ("40/custom,", "40/custom,", r#"42/custom,["auth",{}]"#),
        (
            r#"40/custom,{"token":"abc"}"#,
            "40/custom,",
            r#"42/custom,["auth",{"token":"abc"}]"#,
        ),
    ];
    for (connect, prefix, auth) in cases {
        let mut ws = open(&server).await;
        ws.send(WsMessage::text(connect)).await.unwrap();
        let answer = eio_text(&mut ws).await;
        assert!(answer.starts_with(prefix), "{answer}");
        assert!(sid_of(&answer, prefix).len() >= 20);
        assert_eq!(eio_text(&mut ws).await, auth);
    }
}

#[actix_web::test]
async fn unknown_namespace_bad_handshake_and_no_handshake() {
    let server = start();
    let mut ws = open(&server).await;
    ws.send(WsMessage::text("40/random")).await.unwrap();
    assert_eq!(
        eio_text(&mut ws).await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );

    let mut ws = open(&server).await;
    ws.send(WsMessage::text("4abc")).await.unwrap();
    assert_eq!(
        eio_next(&mut ws).await,
        None,
        "closed on an invalid handshake"
    );

    // No CONNECT at all: closed after connectTimeout (1 s here).
    let mut ws = open(&server).await;
    assert_eq!(eio_next(&mut ws).await, None, "closed without a handshake");
}

#[actix_web::test]
async fn disconnect_from_main_keeps_the_connection_and_custom_can_come_and_go() {
    let server = start();
    let mut ws = connected(&server).await;
    ws.send(WsMessage::text("41")).await.unwrap();
    // The connection stays: the next thing is a ping, which we answer.
    let frame = tokio::time::timeout(common::WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(frame, WsMessage::text("2"));

    let mut ws = connected(&server).await;
    ws.send(WsMessage::text("40/custom")).await.unwrap();
    assert!(eio_text(&mut ws).await.starts_with("40/custom,"));
    assert_eq!(eio_text(&mut ws).await, r#"42/custom,["auth",{}]"#);
    ws.send(WsMessage::text("41/custom")).await.unwrap();
    ws.send(WsMessage::text(
        r#"42["message","message to main namespace"]"#,
    ))
    .await
    .unwrap();
    assert_eq!(
        eio_text(&mut ws).await,
        r#"42["message-back","message to main namespace"]"#
    );
}

#[actix_web::test]
async fn events_and_acks_plain_and_binary() {
    let server = start();
    let mut ws = connected(&server).await;
    ws.send(WsMessage::text(r#"42["message",1,"2",{"3":[true]}]"#))
        .await
        .unwrap();
    assert_eq!(
        eio_text(&mut ws).await,
        r#"42["message-back",1,"2",{"3":[true]}]"#
    );

    ws.send(WsMessage::text(
        r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    ))
    .await
    .unwrap();
    ws.send(WsMessage::binary(vec![1u8, 2, 3])).await.unwrap();
    ws.send(WsMessage::binary(vec![4u8, 5, 6])).await.unwrap();
    assert_eq!(
        eio_text(&mut ws).await,
        r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(
        eio_next(&mut ws).await,
        Some(WsMessage::binary(vec![1u8, 2, 3]))
    );
    assert_eq!(
        eio_next(&mut ws).await,
        Some(WsMessage::binary(vec![4u8, 5, 6]))
    );

    ws.send(WsMessage::text(
        r#"42456["message-with-ack",1,"2",{"3":[false]}]"#,
    ))
    .await
    .unwrap();
    assert_eq!(eio_text(&mut ws).await, r#"43456[1,"2",{"3":[false]}]"#);

    ws.send(WsMessage::text(r#"452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)).await.unwrap();
    ws.send(WsMessage::binary(vec![1u8, 2, 3])).await.unwrap();
    ws.send(WsMessage::binary(vec![4u8, 5, 6])).await.unwrap();
    assert_eq!(
        eio_text(&mut ws).await,
        r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(
        eio_next(&mut ws).await,
        Some(WsMessage::binary(vec![1u8, 2, 3]))
    );
    assert_eq!(
        eio_next(&mut ws).await,
        Some(WsMessage::binary(vec![4u8, 5, 6]))
    );
}

#[actix_web::test]
async fn invalid_packets_close_the_connection() {
    let server = start();
    for bad in [
        "4abc",
        "42{}",
        r#"42abc["message-with-ack",1,"2",{"3":[false]}]"#,
        r#"42/custom,["message"]"#,
    ] {
        let mut ws = connected(&server).await;
        ws.send(WsMessage::text(bad)).await.unwrap();
        assert_eq!(eio_next(&mut ws).await, None, "closed after {bad}");
    }
}

#[actix_web::test]
async fn socketio_over_polling_connects_and_echoes() {
    let server = start();
    let client = awc::Client::default();
    let base = format!(
        "http://{}/socket.io/?EIO=4&transport=polling",
        server.addr()
    );
    let body = client
        .get(&base)
        .send()
        .await
        .unwrap()
        .body()
        .await
        .unwrap();
    let open: Value = serde_json::from_slice(&body[1..]).unwrap();
    let url = format!("{base}&sid={}", open["sid"].as_str().unwrap());
    let ok = client
        .post(&url)
        .send_body("40")
        .await
        .unwrap()
        .body()
        .await
        .unwrap();
    assert_eq!(&ok[..], b"ok");
    let body = client.get(&url).send().await.unwrap().body().await.unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    let (connect, auth) = body.split_once('\x1e').expect("two packets in one payload");
    sid_of(connect, "40");
    assert_eq!(auth, r#"42["auth",{}]"#);
    client
        .post(&url)
        .send_body(r#"42["message","hi"]"#)
        .await
        .unwrap();
    let body = client.get(&url).send().await.unwrap().body().await.unwrap();
    assert_eq!(&body[..], br#"42["message-back","hi"]"#);
}

#[actix_web::test]
async fn a_server_disconnect_sends_disconnect_packets_before_closing() {
    let server = start();
    let mut ws = connected(&server).await;
    ws.send(WsMessage::text("40/custom,")).await.unwrap();
    let answer = eio_text(&mut ws).await;
    assert!(answer.starts_with("40/custom,"), "{answer}");
    assert_eq!(eio_text(&mut ws).await, r#"42/custom,["auth",{}]"#);
    let custom_id = sid_of(&answer, "40/custom,");
    assert!(server.hub().disconnect(
        &custom_id,
        switchboard::hub::DisconnectReason::ServerDisconnect
    ));
    // Node's disconnect(true): DISCONNECT for every namespace ("io server disconnect", so the
    // client does not reconnect), then the connection closes.
    let mut goodbyes = vec![eio_text(&mut ws).await, eio_text(&mut ws).await];
    goodbyes.sort();
    assert_eq!(goodbyes, ["41", "41/custom,"]);
    assert_eq!(eio_next(&mut ws).await, None);
}
