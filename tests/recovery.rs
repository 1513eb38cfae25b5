//! Reconnect handling: Socket.IO connection state recovery and relay resume over WebSocket and
//! SockJS, through the real server, with clients whose connections are cut.

mod common;

use common::{config, eio_text, eventually, start, Api, Client, Ws};
use futures_util::SinkExt;
use serde_json::{json, Value};
use switchboard::{Config, RunningServer};
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn recovering(window_ms: u64, max_messages: usize) -> RunningServer {
    start(Config {
        connection_state_recovery: true,
        recovery_window_ms: window_ms,
        recovery_max_messages: max_messages,
        ..config()
    })
}

/// Connects, reads the welcome, joins `room`; returns the client, its token and offset.
async fn relay_client(server: &RunningServer, room: &str) -> (Client, String, String) {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr()))
        .await
        .unwrap();
    let mut client = Client::from_ws(ws);
    let welcome = client.recv().await;
    assert_eq!(welcome["type"], "welcome");
    client.session = welcome["session"].as_str().unwrap().to_string();
    client.join(room).await;
    let token = welcome["token"]
        .as_str()
        .expect("a resume token")
        .to_string();
    let offset = welcome["offset"].as_str().expect("an offset").to_string();
    (client, token, offset)
}

#[actix_web::test]
async fn a_dropped_websocket_client_resumes_its_rooms_and_missed_messages_once_in_order() {
    let server = recovering(60_000, 100);
    let api = Api::new(&server);
    let (mut client, token, _) = relay_client(&server, "news").await;
    api.publish("news", "seen", json!(0)).await;
    let seen = client.recv().await;
    let offset = seen["offset"].as_str().unwrap().to_string();
    drop(client); // the TCP connection is cut, no close frame
    eventually("the dropped session to be kept", || {
        server.hub().stats().recovery_kept == 1
    })
    .await;

    for n in 1..=3 {
        assert_eq!(api.publish("news", "missed", json!(n)).await, 0);
    }
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr()))
        .await
        .unwrap();
    let mut back = Client::from_ws(ws);
    assert_eq!(back.recv().await["type"], "welcome");
    let resumed = back
        .request(json!({"type":"resume","token":token,"offset":offset}))
        .await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(resumed["rooms"], json!(["news"]));
    assert_eq!(resumed["missed"], 3);
    let mut last = offset.parse::<u64>().unwrap();
    for n in 1..=3 {
        let message = back.recv().await;
        assert_eq!(
            (message["event"].as_str(), message["data"].as_i64()),
            (Some("missed"), Some(n))
        );
        let offset = message["offset"].as_str().unwrap().parse::<u64>().unwrap();
        assert!(offset > last, "in order");
        last = offset;
    }
    // Live again, exactly once.
    assert_eq!(api.publish("news", "live", json!(4)).await, 1);
    assert_eq!(back.recv().await["event"], "live");
    back.assert_nothing_pending().await;
    // The token is used up.
    let again = back
        .request(json!({"type":"resume","token":token,"offset":offset}))
        .await;
    assert_eq!(
        again["message"],
        "cannot resume: unknown or expired session"
    );
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn resume_fails_cleanly_on_a_wrong_token_an_overflow_or_a_clean_close() {
    let server = recovering(60_000, 2);
    let api = Api::new(&server);
    let (client, token, offset) = relay_client(&server, "r").await;
    drop(client);
    eventually("the dropped session to be kept", || {
        server.hub().stats().recovery_kept == 1
    })
    .await;
    for n in 0..5 {
        api.publish("r", "e", json!(n)).await;
    }
    assert_eq!(server.hub().stats().recovery_log, 2, "the log is bounded");
    let (mut back, _, _) = relay_client(&server, "elsewhere").await;
    let wrong = back
        .request(json!({"type":"resume","token":"nope","offset":offset}))
        .await;
    assert_eq!(
        wrong["message"],
        "cannot resume: unknown or expired session"
    );
    let overflow = back
        .request(json!({"type":"resume","token":token,"offset":offset}))
        .await;
    assert_eq!(
        overflow["message"],
        "cannot resume: missed messages are no longer available"
    );
    // Still a working fresh session.
    assert_eq!(api.publish("elsewhere", "e", json!(1)).await, 1);
    assert_eq!(back.recv().await["event"], "e");

    // A client that closes on purpose is not kept.
    back.ws.close(None).await.unwrap();
    eventually("the session to end", || server.hub().session_count() == 0).await;
    assert_eq!(server.hub().stats().recovery_kept, 0);
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_storm_of_dropped_clients_is_forgotten_once_the_window_has_passed() {
    let server = recovering(300, 100);
    let mut clients = Vec::new();
    for _ in 0..200 {
        clients.push(relay_client(&server, "storm").await.0);
    }
    assert_eq!(server.hub().session_count(), 200);
    drop(clients);
    eventually("every dropped session to be kept", || {
        server.hub().session_count() == 0
    })
    .await;
    assert!(server.hub().stats().recovery_kept > 0);
    eventually("the kept sessions to expire", || {
        server.hub().stats().recovery_kept == 0
    })
    .await;
    assert_eq!(server.hub().stats().rooms, 0);
    server.shutdown().await.unwrap();
}

async fn socketio(server: &RunningServer, connect: &str) -> (Ws, Value) {
    let url = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket",
        server.addr()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert!(eio_text(&mut ws).await.starts_with("0{"));
    ws.send(WsMessage::text(connect)).await.unwrap();
    let answer = eio_text(&mut ws).await;
    let body: Value =
        serde_json::from_str(answer.strip_prefix("40").expect("a CONNECT answer")).unwrap();
    (ws, body)
}

#[actix_web::test]
async fn socketio_connection_state_recovery_gives_back_the_id_rooms_and_missed_packets() {
    let server = recovering(60_000, 100);
    let api = Api::new(&server);
    let (mut ws, hello) = socketio(&server, "40").await;
    let (sid, pid) = (
        hello["sid"].as_str().unwrap().to_string(),
        hello["pid"].as_str().unwrap().to_string(),
    );
    assert_ne!(sid, pid);
    ws.send(WsMessage::text(r#"421["join","r"]"#))
        .await
        .unwrap();
    assert_eq!(eio_text(&mut ws).await, r#"431[{"ok":true}]"#);
    api.publish("r", "chat", json!("a")).await;
    let packet = eio_text(&mut ws).await;
    let args: Value = serde_json::from_str(packet.strip_prefix("42").unwrap()).unwrap();
    assert_eq!((&args[0], &args[1]), (&json!("chat"), &json!("a")));
    let offset = args[2]
        .as_str()
        .expect("the offset as a last argument")
        .to_string();
    drop(ws);
    eventually("the socket to be kept", || {
        server.hub().stats().recovery_kept == 1
    })
    .await;
    api.publish("r", "chat", json!("b")).await;
    api.publish("r", "chat", json!("c")).await;

    let connect = format!("40{}", json!({"pid": pid, "offset": offset}));
    let (mut ws, again) = socketio(&server, &connect).await;
    assert_eq!(
        again,
        json!({"sid": sid, "pid": pid}),
        "same id, same pid: recovered"
    );
    for expected in ["b", "c"] {
        let packet = eio_text(&mut ws).await;
        let args: Value = serde_json::from_str(packet.strip_prefix("42").unwrap()).unwrap();
        assert_eq!(args[1], expected);
    }
    assert_eq!(server.hub().room_size("r"), 1, "the room is back");
    api.publish("r", "chat", json!("d")).await;
    let packet = eio_text(&mut ws).await;
    assert!(packet.starts_with(r#"42["chat","d""#), "{packet}");

    // An unknown pid is a fresh connection, with a new id.
    let (_ws, fresh) = socketio(&server, r#"40{"pid":"nope","offset":"1"}"#).await;
    assert_ne!(fresh["sid"], json!(sid));
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_sockjs_session_resumes_too() {
    let server = recovering(60_000, 100);
    let api = Api::new(&server);
    let http = awc::Client::default();
    let base = format!("http://{}/sockjs/000", server.addr());
    let poll = |sid: &str| {
        let url = format!("{base}/{sid}/xhr");
        let http = http.clone();
        async move {
            String::from_utf8(
                http.post(url)
                    .send()
                    .await
                    .unwrap()
                    .body()
                    .await
                    .unwrap()
                    .to_vec(),
            )
            .unwrap()
        }
    };
    let send = |sid: &str, message: Value| {
        let url = format!("{base}/{sid}/xhr_send");
        let http = http.clone();
        async move {
            let body = json!([message.to_string()]).to_string();
            assert_eq!(
                http.post(url)
                    .send_body(body)
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
                204
            );
        }
    };
    let messages = |frame: String| -> Vec<Value> {
        let list: Vec<String> =
            serde_json::from_str(frame.trim_end().strip_prefix('a').unwrap()).unwrap();
        list.iter()
            .map(|m| serde_json::from_str(m).unwrap())
            .collect()
    };
    assert_eq!(poll("one").await, "o\n");
    let welcome = messages(poll("one").await).remove(0);
    send("one", json!({"type":"join","room":"r","id":1})).await;
    assert_eq!(messages(poll("one").await)[0]["type"], "ack");
    // The client goes away: the session ends after the disconnect delay (5 s by default) or,
    // here, at once through the API of the hub.
    let token = welcome["token"].as_str().unwrap().to_string();
    let offset = welcome["offset"].as_str().unwrap().to_string();
    let one = server.hub().room_members("r").remove(0);
    server
        .hub()
        .disconnect(&one, switchboard::hub::DisconnectReason::TransportClosed);
    eventually("the session to be kept", || {
        server.hub().stats().recovery_kept == 1
    })
    .await;
    api.publish("r", "missed", json!(1)).await;

    assert_eq!(poll("two").await, "o\n");
    messages(poll("two").await);
    send(
        "two",
        json!({"type":"resume","token":token,"offset":offset,"id":2}),
    )
    .await;
    let got = messages(poll("two").await);
    assert_eq!(got[0]["type"], "resumed");
    assert_eq!(got[0]["missed"], 1);
    assert_eq!(got[1]["event"], "missed");
    server.shutdown().await.unwrap();
}
