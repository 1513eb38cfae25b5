//! `GET /metrics`: Prometheus's text format (checked by `promtool check metrics`, Debian's
//! `prometheus` package, which tests/run installs), and the numbers move as real clients connect,
//! publish and leave.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{config, start, Api, Client};
use futures_util::SinkExt;
use serde_json::json;
use switchboard::RunningServer;
use tokio_tungstenite::tungstenite::Message as WsMessage;

async fn scrape(server: &RunningServer) -> String {
    let (status, body) = Api::new(server).get_bytes("/metrics").await;
    assert_eq!(status, 200);
    String::from_utf8(body.to_vec()).unwrap()
}

/// The value of the sample `name` (with its labels, as written), if exported.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[actix_web::test]
async fn the_numbers_move_as_clients_connect_publish_and_leave() {
    let server = start(config());
    let before = scrape(&server).await;
    assert_eq!(
        sample(&before, "switchboard_connections_opened_total"),
        Some(0.0)
    );
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.join("lobby").await;
    b.join("lobby").await;
    let ack = a
        .request(json!({"type": "publish", "room": "lobby", "event": "e"}))
        .await;
    assert_eq!(ack["type"], "ack");
    b.recv().await;
    Api::new(&server).publish("lobby", "news", json!(1)).await;
    a.recv().await;
    b.recv().await;

    let during = scrape(&server).await;
    let connected = r#"switchboard_connections{protocol="websocket",transport="websocket"}"#;
    assert_eq!(sample(&during, connected), Some(2.0), "{during}");
    assert_eq!(
        sample(&during, "switchboard_connections_opened_total"),
        Some(2.0)
    );
    assert_eq!(sample(&during, "switchboard_rooms"), Some(1.0));
    // Two joins, a publish from a client and one from the API.
    assert_eq!(sample(&during, "switchboard_messages_in_total"), Some(4.0));
    assert_eq!(sample(&during, "switchboard_messages_out_total"), Some(3.0));
    // Two broadcasts: one reached one member (the sender is left out), the other two.
    assert_eq!(
        sample(&during, "switchboard_broadcast_recipients_count"),
        Some(2.0)
    );
    assert_eq!(
        sample(&during, "switchboard_broadcast_recipients_sum"),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &during,
            r#"switchboard_broadcast_recipients_bucket{le="1"}"#
        ),
        Some(1.0)
    );

    a.ws.send(WsMessage::Close(None)).await.unwrap();
    let after_close = server.hub().clone();
    common::eventually("a's session to end", move || {
        after_close.session_count() == 1
    })
    .await;
    let after = scrape(&server).await;
    assert_eq!(sample(&after, connected), Some(1.0));
    assert_eq!(
        sample(
            &after,
            r#"switchboard_disconnects_total{reason="client disconnect"}"#
        ),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            r#"switchboard_disconnects_total{reason="ping timeout"}"#
        ),
        Some(0.0)
    );
    drop(b);
}

#[actix_web::test]
async fn promtool_finds_nothing_wrong_with_the_exposition() {
    let server = start(config());
    let mut client = Client::connect(&server).await;
    client.join("lobby").await;
    Api::new(&server).publish("lobby", "e", json!(1)).await;
    client.recv().await;
    let text = scrape(&server).await;
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; tests/run installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
