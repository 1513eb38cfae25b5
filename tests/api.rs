//! The HTTP API: publish to rooms across clients, stats, tokens, and bad requests.

mod common;

use common::{config, start, Api, Client};
use serde_json::json;

/// Asserts a `400` whose JSON error mentions `expected`.
fn assert_bad_request((status, body): (u16, serde_json::Value), expected: &str) {
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains(expected), "{body}");
}

#[actix_web::test]
async fn api_publish_reaches_websocket_members_and_counts_them() {
    let server = start(config());
    let api = Api::new(&server);
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    let mut c = Client::connect(&server).await;
    a.join("news").await;
    b.join("news").await;

    let delivered = api
        .publish("news", "headline", json!({"title":"hello"}))
        .await;
    assert_eq!(delivered, 2);
    let expected =
        json!({"type":"message","room":"news","event":"headline","data":{"title":"hello"}});
    assert_eq!(a.recv().await, expected);
    assert_eq!(b.recv().await, expected);
    c.assert_nothing_pending().await;

    // `except` leaves sessions out.
    let (status, body) = api
        .post(
            "/api/publish",
            json!({"room":"news","event":"e","data":1,"except":[a.session]}),
        )
        .await;
    assert_eq!((status, body), (200, json!({"delivered":1})));
    assert_eq!(b.recv().await["event"], "e");
    a.assert_nothing_pending().await;

    assert_eq!(api.publish("empty-room", "e", json!(null)).await, 0);
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn stats_count_sessions_rooms_and_traffic() {
    let server = start(config());
    let api = Api::new(&server);
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.join("one").await;
    b.join("one").await;
    b.join("two").await;
    api.publish("one", "e", json!(1)).await;
    a.recv().await;
    b.recv().await;

    let (status, stats) = api.get("/api/stats").await;
    assert_eq!(status, 200);
    assert_eq!(stats["sessions"], 2);
    assert_eq!(
        stats["by_transport"],
        json!([{"protocol":"websocket","transport":"websocket","sessions":2}])
    );
    assert_eq!(stats["rooms"], 2);
    assert_eq!(stats["adapter"], "local");
    // 3 joins and 1 publish came in; 2 deliveries went out through the hub.
    assert_eq!(stats["messages_in"], 4);
    assert_eq!(stats["messages_out"], 2);
    assert_eq!(stats["overflow_drops"], 0);
    assert_eq!(stats["sessions_opened"], 2);
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn bad_requests_get_a_json_error() {
    let server = start(config());
    let api = Api::new(&server);

    assert_bad_request(
        api.post_raw("/api/publish", "{oops").await,
        "Json deserialize error",
    );

    assert_bad_request(
        api.post("/api/publish", json!({"event":"e"})).await,
        "give either \"room\" or \"user\"",
    );
    assert_bad_request(
        api.post("/api/publish", json!({"room":"r","user":"u","event":"e"}))
            .await,
        "give either \"room\" or \"user\"",
    );

    assert_bad_request(
        api.post("/api/publish", json!({"room":"r"})).await,
        "missing field `event`",
    );

    let (status, body) = api
        .post("/api/publish", json!({"room":"","event":"e"}))
        .await;
    assert_eq!(
        (status, body),
        (400, json!({"error":"\"room\" must be 1 to 256 bytes"}))
    );

    assert_bad_request(
        api.post(
            "/api/publish",
            json!({"room":"r","event":"e","colour":"blue"}),
        )
        .await,
        "unknown field `colour`",
    );
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn an_oversized_body_is_refused_with_413() {
    let mut cfg = config();
    cfg.max_message_size = 512;
    let server = start(cfg);
    let (status, body) = Api::new(&server)
        .post(
            "/api/publish",
            json!({"room":"r","event":"e","data":"x".repeat(1000)}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].is_string());
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn the_token_protects_the_api() {
    let mut cfg = config();
    cfg.api_token = Some("s3cret".into());
    let server = start(cfg);
    let open = Api::new(&server);
    let wrong = Api::new(&server).with_token("guess");
    let right = Api::new(&server).with_token("s3cret");
    let publish = json!({"room":"r","event":"e"});

    for api in [&open, &wrong] {
        let (status, body) = api.post("/api/publish", publish.clone()).await;
        assert_eq!(
            (status, body),
            (401, json!({"error":"missing or wrong bearer token"}))
        );
        let (status, _) = api.get("/api/stats").await;
        assert_eq!(status, 401);
    }
    let (status, body) = right.post("/api/publish", publish).await;
    assert_eq!((status, body), (200, json!({"delivered":0})));
    assert_eq!(right.get("/api/stats").await.0, 200);
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn health_and_the_demo_page_are_served() {
    let server = start(config());
    let api = Api::new(&server);
    assert_eq!(api.get("/healthz").await, (200, json!({"status":"ok"})));
    let (status, page) = api.get_bytes("/").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("<title>switchboard</title>"));
    let (status, _) = api.get_bytes("/no-such-page").await;
    assert_eq!(status, 404);
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn a_batch_is_published_in_order_or_not_at_all() {
    let server = start(config());
    let api = Api::new(&server);
    let mut client = Client::connect(&server).await;
    client.join("r").await;

    // One bad message refuses the whole batch: nothing is published.
    let (status, body) = api
        .post(
            "/api/publish",
            json!([{"room":"r","event":"e","data":0},{"room":"","event":"e"}]),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error":"message 1: \"room\" must be 1 to 256 bytes"})
        )
    );
    assert_bad_request(
        api.post("/api/publish", json!([{"room":"r","event":"e","oops":1}]))
            .await,
        "unknown field `oops`",
    );

    let (status, body) = api
        .post(
            "/api/publish",
            json!([{"room":"r","event":"e","data":1},{"room":"nobody","event":"e"},{"room":"r","event":"e","data":2}]),
        )
        .await;
    assert_eq!((status, body), (200, json!({"delivered":[1, 0, 1]})));
    for expected in [1, 2] {
        assert_eq!(
            client.recv().await,
            json!({"type":"message","room":"r","event":"e","data":expected})
        );
    }
    client.assert_nothing_pending().await;
    server.shutdown().await.unwrap();
}

#[actix_web::test]
async fn every_message_in_is_counted_once_whatever_its_path() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    let server = start(config());
    let api = Api::new(&server);
    let messages_in = || server.hub().stats().messages_in;
    let mut member = Client::connect(&server).await;
    member.join("r").await;
    assert_eq!(messages_in(), 1, "a join is one message in");

    // A plain WebSocket client's publish.
    let mut plain = Client::connect(&server).await;
    let before = messages_in();
    let ack = plain
        .request(json!({"type":"publish","room":"r","event":"e","data":1}))
        .await;
    assert_eq!(ack["type"], "ack");
    member.recv().await;
    assert_eq!(messages_in() - before, 1, "plain WebSocket publish");

    // A Socket.IO client's publish.
    let addr = server.addr();
    let (mut sio, _) = tokio_tungstenite::connect_async(format!(
        "ws://{addr}/socket.io/?EIO=4&transport=websocket"
    ))
    .await
    .unwrap();
    common::eio_text(&mut sio).await;
    sio.send(WsMessage::text("40")).await.unwrap();
    common::eio_text(&mut sio).await;
    let before = messages_in();
    sio.send(WsMessage::text(
        r#"421["publish",{"room":"r","event":"e","data":2}]"#,
    ))
    .await
    .unwrap();
    assert_eq!(common::eio_text(&mut sio).await, r#"431[{"ok":true}]"#);
    member.recv().await;
    assert_eq!(messages_in() - before, 1, "Socket.IO publish");

    // A SockJS client's publish.
    let (mut sockjs, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/sockjs/000/count/websocket"))
            .await
            .unwrap();
    common::eio_text(&mut sockjs).await; // o
    common::eio_text(&mut sockjs).await; // welcome
    let before = messages_in();
    let publish = json!({"type":"publish","room":"r","event":"e","data":3,"id":1}).to_string();
    sockjs
        .send(WsMessage::text(json!([publish]).to_string()))
        .await
        .unwrap();
    common::eio_text(&mut sockjs).await; // ack
    member.recv().await;
    assert_eq!(messages_in() - before, 1, "SockJS publish");

    // The API: one message, then a batch of three.
    let before = messages_in();
    api.publish("r", "e", json!(4)).await;
    member.recv().await;
    assert_eq!(messages_in() - before, 1, "API publish");
    let before = messages_in();
    let batch: Vec<serde_json::Value> = (0..3)
        .map(|i| json!({"room":"r","event":"e","data":i}))
        .collect();
    let (status, _) = api
        .post("/api/publish", serde_json::Value::Array(batch))
        .await;
    assert_eq!(status, 200);
    for _ in 0..3 {
        member.recv().await;
    }
    assert_eq!(messages_in() - before, 3, "API batch");
    server.shutdown().await.unwrap();
}
