//! One room, every protocol: a plain WebSocket client, a Socket.IO client and a SockJS client in
//! the same relay room receive one publish, each in its own wire format.

mod common;

use common::{config, eio_text, start, Api, Client};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The relay envelope inside a SockJS `a[...]` frame.
fn sockjs_message(frame: &str) -> Value {
    let messages: Vec<String> =
        serde_json::from_str(frame.strip_prefix('a').expect("a message frame")).unwrap();
    assert_eq!(messages.len(), 1);
    serde_json::from_str(&messages[0]).unwrap()
}

#[actix_web::test]
async fn one_publish_reaches_websocket_socketio_and_sockjs_members() {
    let server = start(config());
    let addr = server.addr();

    let mut plain = Client::connect(&server).await;
    plain.join("lobby").await;

    let (mut sio, _) = tokio_tungstenite::connect_async(format!(
        "ws://{addr}/socket.io/?EIO=4&transport=websocket"
    ))
    .await
    .unwrap();
    assert!(eio_text(&mut sio).await.starts_with("0{"));
    sio.send(WsMessage::text("40")).await.unwrap();
    assert!(eio_text(&mut sio).await.starts_with("40{\"sid\":"));
    sio.send(WsMessage::text(r#"421["join","lobby"]"#))
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
    let join = json!([json!({"type":"join","room":"lobby","id":1}).to_string()]);
    sockjs
        .send(WsMessage::text(join.to_string()))
        .await
        .unwrap();
    assert_eq!(
        sockjs_message(&eio_text(&mut sockjs).await),
        json!({"type":"ack","id":1})
    );

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
