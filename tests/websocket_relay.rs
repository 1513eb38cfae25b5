//! Relay mode over plain WebSocket, through a real server and real WebSocket clients.

mod common;

use common::{config, start, Api, Client};
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[actix_web::test]
async fn publish_reaches_every_other_member_of_the_room() {
    let server = start(config());
    let mut alice = Client::connect(&server).await;
    let mut bob = Client::connect(&server).await;
    let mut carol = Client::connect(&server).await;
    let mut dave = Client::connect(&server).await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.join("lobby").await;
    }
    dave.join("elsewhere").await;

    let ack = alice
        .request(json!({"type":"publish","room":"lobby","event":"chat","data":{"text":"hi"}}))
        .await;
    assert_eq!(ack, json!({"type":"ack","id":ack["id"]}));

    let expected = json!({"type":"message","room":"lobby","event":"chat","data":{"text":"hi"}});
    assert_eq!(bob.recv().await, expected);
    assert_eq!(carol.recv().await, expected);
    // The sender and the non-member got nothing: their next frame is the answer to a request.
    alice.assert_nothing_pending().await;
    dave.assert_nothing_pending().await;
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn leave_stops_delivery_and_publish_needs_no_membership() {
    let server = start(config());
    let mut member = Client::connect(&server).await;
    let mut leaver = Client::connect(&server).await;
    let mut outsider = Client::connect(&server).await;
    member.join("r").await;
    leaver.join("r").await;
    let ack = leaver.request(json!({"type":"leave","room":"r"})).await;
    assert_eq!(ack["type"], "ack");

    outsider
        .request(json!({"type":"publish","room":"r","event":"e","data":[1,2]}))
        .await;
    assert_eq!(
        member.recv().await,
        json!({"type":"message","room":"r","event":"e","data":[1,2]})
    );
    leaver.assert_nothing_pending().await;
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn requests_without_id_get_no_ack_and_data_defaults_to_null() {
    let server = start(config());
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    b.join("r").await;
    a.send_text(r#"{"type":"join","room":"r"}"#).await;
    a.send_text(r#"{"type":"publish","room":"r","event":"ping"}"#)
        .await;
    assert_eq!(
        b.recv().await,
        json!({"type":"message","room":"r","event":"ping","data":null})
    );
    a.assert_nothing_pending().await;
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn bad_input_gets_an_error_and_the_connection_stays() {
    let server = start(config());
    let mut c = Client::connect(&server).await;

    c.send_text("{not json").await;
    let err = c.recv().await;
    assert_eq!(err["type"], "error");
    assert!(
        err["message"].as_str().unwrap().starts_with("invalid JSON"),
        "{err}"
    );

    let err = c.request(json!({"type":"dance"})).await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["message"], "unknown type \"dance\"");

    let err = c.request(json!({"type":"join"})).await;
    assert_eq!(err["message"], "missing field \"room\"");

    let err = c.request(json!({"type":"join","room":""})).await;
    assert_eq!(err["message"], "room name must not be empty");

    let err = c
        .request(json!({"type":"join","room":"x".repeat(257)}))
        .await;
    assert_eq!(err["message"], "room name longer than 256 bytes");

    let err = c.request(json!({"type":"emit","event":"time"})).await;
    assert_eq!(err["message"], "no handler for event \"time\"");

    c.ws.send(WsMessage::binary(vec![1u8, 2, 3])).await.unwrap();
    let err = c.recv().await;
    assert_eq!(
        err,
        json!({"type":"error","message":"binary frames are not supported: send JSON text"})
    );

    // Still alive and serving.
    c.join("after-errors").await;
    assert_eq!(server.hub().room_size("after-errors"), 1);
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_message_over_the_limit_closes_with_1009_and_harms_no_one_else() {
    let mut cfg = config();
    cfg.max_message_size = 1024;
    let server = start(cfg);
    let mut big = Client::connect(&server).await;
    let mut other = Client::connect(&server).await;
    other.join("r").await;

    let payload = json!({"type":"publish","room":"r","event":"e","data":"x".repeat(2000)});
    big.send_text(&payload.to_string()).await;
    let close = big.expect_close().await;
    assert_eq!(u16::from(close.code), 1009);
    assert_eq!(close.reason, "message too big");

    other.assert_nothing_pending().await;
    let api = Api::new(&server);
    assert_eq!(api.publish("r", "still", json!(true)).await, 1);
    assert_eq!(other.recv().await["event"], "still");
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn server_only_publish_refuses_client_publish() {
    let mut cfg = config();
    cfg.server_only_publish = true;
    let server = start(cfg);
    let mut c = Client::connect(&server).await;
    c.join("r").await;
    let err = c
        .request(json!({"type":"publish","room":"r","event":"e"}))
        .await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["message"], "publishing is reserved to the server");
    // The server still publishes.
    assert_eq!(Api::new(&server).publish("r", "news", json!(1)).await, 1);
    assert_eq!(c.recv().await["event"], "news");
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn session_ids_are_unique_and_the_limit_refuses_extra_sessions() {
    let mut cfg = config();
    cfg.max_sessions = 2;
    let server = start(cfg);
    let a = Client::connect(&server).await;
    let b = Client::connect(&server).await;
    assert_ne!(a.session, b.session);
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr())).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503)
        }
        other => panic!("expected a 503 refusal, got {other:?}"),
    }
    let (_, stats) = Api::new(&server).get("/api/stats").await;
    assert_eq!(stats["sessions_refused"], 1);
    // Every protocol's refusal is counted: Engine.IO (polling and WebSocket), SockJS (HTTP,
    // WebSocket and raw WebSocket).
    let base = server.addr();
    for path in [
        "/socket.io/?EIO=4&transport=websocket",
        "/sockjs/000/full0001/websocket",
        "/sockjs/websocket",
    ] {
        let refused = tokio_tungstenite::connect_async(format!("ws://{base}{path}")).await;
        assert!(
            matches!(&refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 503),
            "{path}: {refused:?}"
        );
    }
    let api = Api::new(&server);
    let (status, _) = api.get_bytes("/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(status, 503);
    // SockJS's HTTP transports say it with a close frame.
    let mut sockjs_xhr = awc::Client::default()
        .post(format!("http://{base}/sockjs/000/full0002/xhr"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        sockjs_xhr.body().await.unwrap(),
        "c[1013,\"session limit reached\"]\n"
    );
    let (_, stats) = api.get("/api/stats").await;
    assert_eq!(stats["sessions_refused"], 6, "{stats}");
    server.shutdown().await.unwrap();
}
