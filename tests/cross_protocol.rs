//! One room, every protocol: a plain WebSocket client, a Socket.IO client and a SockJS client in
//! the same relay room receive one publish, each in its own wire format.

mod common;

use common::{config, eio_text, start, Api, Client, Ws};
use futures_util::SinkExt;
use serde_json::{json, Value};
use switchboard::RunningServer;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The relay envelope inside a SockJS `a[...]` frame.
fn sockjs_message(frame: &str) -> Value {
    let messages: Vec<String> =
        serde_json::from_str(frame.strip_prefix('a').expect("a message frame")).unwrap();
    assert_eq!(messages.len(), 1);
    serde_json::from_str(&messages[0]).unwrap()
}

/// A member of `room` on each protocol: plain WebSocket, Socket.IO over WebSocket, SockJS over
/// WebSocket.
async fn members_of_every_protocol(server: &RunningServer, room: &str) -> (Client, Ws, Ws) {
    let addr = server.addr();
    let mut plain = Client::connect(server).await;
    plain.join(room).await;

    let (mut sio, _) = tokio_tungstenite::connect_async(format!(
        "ws://{addr}/socket.io/?EIO=4&transport=websocket"
    ))
    .await
    .unwrap();
    assert!(eio_text(&mut sio).await.starts_with("0{"));
    sio.send(WsMessage::text("40")).await.unwrap();
    assert!(eio_text(&mut sio).await.starts_with("40{\"sid\":"));
    sio.send(WsMessage::text(format!(r#"421["join","{room}"]"#)))
        .await
        .unwrap();
    assert_eq!(eio_text(&mut sio).await, r#"431[{"ok":true}]"#);

    let (mut sockjs, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/sockjs/000/abc/websocket"))
            .await
            .unwrap();
    assert_eq!(eio_text(&mut sockjs).await, "o");
    assert_eq!(
        sockjs_message(&eio_text(&mut sockjs).await)["type"],
        "welcome"
    );
    let join = json!([json!({"type":"join","room":room,"id":1}).to_string()]);
    sockjs
        .send(WsMessage::text(join.to_string()))
        .await
        .unwrap();
    assert_eq!(
        sockjs_message(&eio_text(&mut sockjs).await),
        json!({"type":"ack","id":1})
    );

    (plain, sio, sockjs)
}

#[actix_web::test]
async fn one_publish_reaches_websocket_socketio_and_sockjs_members() {
    let server = start(config());
    let (mut plain, mut sio, mut sockjs) = members_of_every_protocol(&server, "lobby").await;
    let stats = server.hub().stats();
    let protocols: Vec<&str> = stats.by_transport.iter().map(|c| c.protocol).collect();
    assert_eq!(protocols, ["socketio", "sockjs", "websocket"]);
    assert_eq!(server.hub().room_size("lobby"), 3);

    assert_eq!(
        Api::new(&server)
            .publish("lobby", "chat", json!({"text":"hi"}))
            .await,
        3
    );
    let envelope = json!({"type":"message","room":"lobby","event":"chat","data":{"text":"hi"}});
    assert_eq!(plain.recv().await, envelope);
    assert_eq!(eio_text(&mut sio).await, r#"42["chat",{"text":"hi"}]"#);
    assert_eq!(sockjs_message(&eio_text(&mut sockjs).await), envelope);

    // A Socket.IO publish reaches the others, not itself.
    sio.send(WsMessage::text(
        r#"422["publish",{"room":"lobby","event":"from-sio","data":1}]"#,
    ))
    .await
    .unwrap();
    assert_eq!(eio_text(&mut sio).await, r#"432[{"ok":true}]"#);
    assert_eq!(plain.recv().await["event"], "from-sio");
    assert_eq!(
        sockjs_message(&eio_text(&mut sockjs).await)["event"],
        "from-sio"
    );
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn binary_reaches_socketio_as_attachments_and_json_protocols_as_a_buffers_json() {
    let server = start(config());
    let (mut plain, mut sio, mut sockjs) = members_of_every_protocol(&server, "lobby").await;
    // What a cluster broadcast with a Buffer, or a Rust application, hands the hub.
    let message = switchboard::Message::with_binary(
        None,
        Some("lobby".into()),
        "file",
        vec![json!({"name": "f", "bytes": {"_placeholder": true, "num": 0}})],
        vec![bytes::Bytes::from_static(&[0, 1, 255])],
    );
    assert_eq!(
        server
            .hub()
            .broadcast(&switchboard::Target::room("lobby"), message),
        3
    );
    assert_eq!(
        eio_text(&mut sio).await,
        r#"451-["file",{"name":"f","bytes":{"_placeholder":true,"num":0}}]"#
    );
    assert_eq!(
        common::eio_next(&mut sio).await,
        Some(WsMessage::binary(vec![0u8, 1, 255]))
    );
    let envelope = json!({"type": "message", "room": "lobby", "event": "file",
        "data": {"name": "f", "bytes": {"type": "Buffer", "data": [0, 1, 255]}}});
    assert_eq!(plain.recv().await, envelope);
    assert_eq!(sockjs_message(&eio_text(&mut sockjs).await), envelope);

    // A Socket.IO client's binary publish: the others get it, the plain member as JSON.
    sio.send(WsMessage::text(
        r#"451-2["publish",{"room":"lobby","event":"up","data":{"_placeholder":true,"num":0}}]"#,
    ))
    .await
    .unwrap();
    sio.send(WsMessage::binary(vec![7u8, 7])).await.unwrap();
    assert_eq!(eio_text(&mut sio).await, r#"432[{"ok":true}]"#);
    assert_eq!(
        plain.recv().await["data"],
        json!({"type": "Buffer", "data": [7, 7]})
    );
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_broadcast_with_ack_on_one_node_waits_for_its_socketio_members_only() {
    let server = start(config());
    let (mut plain, mut sio, mut sockjs) = members_of_every_protocol(&server, "lobby").await;
    let hub = server.hub().clone();
    let asked = actix_web::rt::spawn(async move {
        hub.broadcast_with_ack(
            &switchboard::Target::room("lobby"),
            "ask",
            vec![json!(1)],
            std::time::Duration::from_secs(5),
        )
        .await
    });
    // Each Socket.IO socket is asked with an ack id of its own; the others just get the event.
    let packet = eio_text(&mut sio).await;
    let id = packet
        .strip_prefix("42")
        .and_then(|rest| rest.strip_suffix(r#"["ask",1]"#))
        .expect("an event with an ack id");
    assert!(!id.is_empty(), "{packet}");
    sio.send(WsMessage::text(format!(r#"43{id}["yes"]"#)))
        .await
        .unwrap();
    assert_eq!(asked.await.unwrap(), Ok(vec![json!("yes")]));
    assert_eq!(plain.recv().await["event"], "ask");
    assert_eq!(sockjs_message(&eio_text(&mut sockjs).await)["event"], "ask");
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_volatile_broadcast_skips_a_client_that_is_not_ready_to_write() {
    let server = start(config());
    let mut plain = Client::connect(&server).await;
    plain.join("lobby").await;
    // A Socket.IO polling client in the lobby, with no request open afterwards.
    let http = awc::Client::default();
    let base = format!(
        "http://{}/socket.io/?EIO=4&transport=polling",
        server.addr()
    );
    let get = |url: String| {
        let http = http.clone();
        async move {
            let body = http.get(&url).send().await.unwrap().body().await.unwrap();
            String::from_utf8(body.to_vec()).unwrap()
        }
    };
    let open: Value = serde_json::from_str(&get(base.clone()).await[1..]).unwrap();
    let url = format!("{base}&sid={}", open["sid"].as_str().unwrap());
    http.post(&url).send_body("40").await.unwrap();
    assert!(get(url.clone()).await.starts_with("40{"));
    http.post(&url)
        .send_body(r#"421["join","lobby"]"#)
        .await
        .unwrap();
    assert_eq!(get(url.clone()).await, r#"431[{"ok":true}]"#);

    let hub = server.hub();
    let volatile = switchboard::Target::room("lobby").volatile();
    hub.broadcast(
        &volatile,
        switchboard::Message::new(Some("lobby".into()), "v", json!(1)),
    );
    hub.broadcast(
        &switchboard::Target::room("lobby"),
        switchboard::Message::new(Some("lobby".into()), "n", json!(2)),
    );
    // The polling client had no request open: only the plain message waited for it.
    assert_eq!(get(url.clone()).await, r#"42["n",2]"#);
    // The idle WebSocket member was ready for both.
    assert_eq!(plain.recv().await["event"], "v");
    assert_eq!(plain.recv().await["event"], "n");
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_burst_larger_than_max_outbox_frames_reaches_fast_readers_of_every_protocol_whole() {
    // 1030 messages in one batch: more than --max-outbox (1024) frames once were, so fast readers
    // were closed with "outbox overflow" while the API said they got it. A burst is judged by
    // whether the client drains it, not by its length.
    let mut cfg = config();
    cfg.max_outbox = 2000;
    let server = start(cfg);
    let (mut plain, mut sio, mut sockjs) = members_of_every_protocol(&server, "burst").await;
    let batch: Vec<Value> = (0..1030)
        .map(|i| json!({"room":"burst","event":"tick","data":i}))
        .collect();
    let (status, answer) = Api::new(&server)
        .post("/api/publish", Value::Array(batch))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["delivered"], json!(vec![3; 1030]));
    let mut sockjs_seen = 0;
    for i in 0..1030 {
        assert_eq!(plain.recv().await["data"], i);
        assert_eq!(eio_text(&mut sio).await, format!(r#"42["tick",{i}]"#));
        while sockjs_seen <= i {
            let frame = eio_text(&mut sockjs).await;
            let messages: Vec<String> = serde_json::from_str(&frame[1..]).unwrap();
            for message in messages {
                let envelope: Value = serde_json::from_str(&message).unwrap();
                assert_eq!(envelope["data"], sockjs_seen);
                sockjs_seen += 1;
            }
        }
    }
    assert_eq!(server.hub().stats().overflow_disconnects, 0);
    assert_eq!(server.hub().room_size("burst"), 3);
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn more_frames_than_max_outbox_at_once_never_drop_a_fast_reader() {
    // Far more broadcasts than --max-outbox in a tight loop: each drain of the actor's inbox
    // hands the socket hundreds of frames at once. A client that reads is never dropped.
    let mut cfg = config();
    cfg.max_outbox = 100;
    let server = start(cfg);
    let (mut plain, mut sio, _sockjs) = members_of_every_protocol(&server, "loop").await;
    for i in 0..1000 {
        let message = switchboard::Message::new(Some("loop".into()), "n", json!(i));
        server
            .hub()
            .broadcast(&switchboard::Target::room("loop"), message);
    }
    for i in 0..1000 {
        assert_eq!(plain.recv().await["data"], i);
        assert_eq!(eio_text(&mut sio).await, format!(r#"42["n",{i}]"#));
    }
    assert_eq!(server.hub().stats().overflow_disconnects, 0);
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_batch_over_max_outbox_is_refused_before_anything_is_sent() {
    let mut cfg = config();
    cfg.max_outbox = 10;
    let server = start(cfg);
    let mut plain = Client::connect(&server).await;
    plain.join("r").await;
    let batch: Vec<Value> = (0..11)
        .map(|i| json!({"room":"r","event":"e","data":i}))
        .collect();
    let api = Api::new(&server);
    let (status, answer) = api.post("/api/publish", Value::Array(batch)).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(
        answer["error"],
        "a batch of 11 messages is over the limit of 10 (--max-outbox): nothing was published"
    );
    plain.assert_nothing_pending().await;
    let batch: Vec<Value> = (0..10)
        .map(|i| json!({"room":"r","event":"e","data":i}))
        .collect();
    let (status, answer) = api.post("/api/publish", Value::Array(batch)).await;
    assert_eq!(
        (status, answer["delivered"].clone()),
        (200, json!(vec![1; 10]))
    );
    for i in 0..10 {
        assert_eq!(plain.recv().await["data"], i);
    }
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn two_applications_encoding_one_format_each_send_their_own_bytes() {
    // Relay mode's Socket.IO and a bare Engine.IO echo on one hub both speak Engine.IO v4; one
    // broadcast to everyone must reach each in its own application's encoding.
    use switchboard::engineio::{Echo, Engine, EngineConfig};
    let switchboard = switchboard::Switchboard::new(config());
    let echo = Engine::new(
        EngineConfig {
            path: "/engine.io/".into(),
            ..EngineConfig::default()
        },
        Echo,
        switchboard.hub().clone(),
        switchboard::SessionOptions::default(),
    );
    let server = switchboard
        .mount(move |cfg| echo.configure(cfg))
        .start()
        .unwrap();
    let addr = server.addr();
    let (mut sio, _) = tokio_tungstenite::connect_async(format!(
        "ws://{addr}/socket.io/?EIO=4&transport=websocket"
    ))
    .await
    .unwrap();
    assert!(eio_text(&mut sio).await.starts_with("0{"));
    sio.send(WsMessage::text("40")).await.unwrap();
    assert!(eio_text(&mut sio).await.starts_with("40{"));
    let (mut bare, _) = tokio_tungstenite::connect_async(format!(
        "ws://{addr}/engine.io/?EIO=4&transport=websocket"
    ))
    .await
    .unwrap();
    assert!(eio_text(&mut bare).await.starts_with("0{"));
    for n in 1..=3 {
        let message = switchboard::Message::new(None, "e", json!(n));
        server.hub().broadcast(&switchboard::Target::all(), message);
        assert_eq!(eio_text(&mut sio).await, format!(r#"42["e",{n}]"#));
        assert_eq!(eio_text(&mut bare).await, format!("4{n}"));
    }
    server.shutdown().await.unwrap();
}

/// A Socket.IO application of its own: everyone joins "lobby", and `hello` is acknowledged.
struct Lobby;

impl switchboard::socketio::SocketHandler for Lobby {
    fn on_connection(&self, socket: &mut switchboard::socketio::Socket<'_, '_>) {
        socket.join("lobby").unwrap();
    }

    fn on_event(
        &self,
        socket: &mut switchboard::socketio::Socket<'_, '_>,
        event: &str,
        args: Vec<Value>,
        _attachments: Vec<bytes::Bytes>,
        ack: Option<u64>,
    ) {
        if let (Some(id), "hello") = (ack, event) {
            socket.ack(id, vec![json!({"hi": args})], Vec::new());
        }
    }
}

#[actix_web::test]
async fn a_socketio_application_of_its_own_serves_the_configured_path_beside_relay_mode() {
    let mut cfg = config();
    cfg.ping_interval_ms = 1234;
    let server = switchboard::Switchboard::new(cfg)
        .with_socketio(Lobby)
        .start()
        .unwrap();
    let addr = server.addr();
    let (mut sio, _) = tokio_tungstenite::connect_async(format!(
        "ws://{addr}/socket.io/?EIO=4&transport=websocket"
    ))
    .await
    .unwrap();
    // The configuration's options apply: no re-typing.
    let open = eio_text(&mut sio).await;
    assert!(open.contains("\"pingInterval\":1234"), "{open}");
    sio.send(WsMessage::text("40")).await.unwrap();
    assert!(eio_text(&mut sio).await.starts_with("40{"));
    sio.send(WsMessage::text(r#"421["hello","you"]"#))
        .await
        .unwrap();
    assert_eq!(eio_text(&mut sio).await, r#"431[{"hi":["you"]}]"#);
    // Relay mode's /ws shares the hub: one publish reaches both.
    let mut plain = Client::connect(&server).await;
    plain.join("lobby").await;
    assert_eq!(
        Api::new(&server).publish("lobby", "news", json!(1)).await,
        2
    );
    assert_eq!(eio_text(&mut sio).await, r#"42["news",1]"#);
    assert_eq!(plain.recv().await["event"], "news");
    server.shutdown().await.unwrap();
}
