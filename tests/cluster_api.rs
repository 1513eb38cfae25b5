//! The Rust API's cluster-wide requests against a real Node socket.io node: a real redis-server on
//! a free port, `protocols/cluster/lib/node-node.mjs` (socket.io 4.8 with the classic
//! `@socket.io/redis-adapter`, its packages installed by the test command), a Socket.IO client
//! on it speaking the wire protocol, and switchboard in this process with `redis_url` set.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard::config::RedisAdapterKind;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's redis-server on a free port, once it answers PING.
async fn start_redis() -> (Killed, String) {
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server runs (tests/run installs Debian's redis-server)");
    let url = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(url.as_str()).unwrap();
    common::eventually("redis-server to answer", || {
        client
            .get_connection()
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    })
    .await;
    (Killed(child), url)
}

/// The Node node of protocols/cluster, on a free port; its ready line says which.
fn start_node_node(redis_url: &str, adapter: RedisAdapterKind) -> (Killed, u16) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocols/cluster");
    assert!(
        dir.join("node_modules").is_dir(),
        "run `npm ci` in protocols/cluster first (tests/run does)"
    );
    let mut child = Command::new("node")
        .arg("lib/node-node.mjs")
        .current_dir(&dir)
        .env("PORT", "0")
        .env("REDIS_URL", redis_url)
        .env("NODE_NAME", "N")
        .env("ADAPTER", adapter_name(adapter))
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let ready: Value = serde_json::from_str(&line).expect("the Node node's ready line");
    (Killed(child), ready["port"].as_u64().unwrap() as u16)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next Socket.IO text packet from the Node node, answering its pings.
async fn next_packet(ws: &mut Ws) -> String {
    loop {
        let frame = tokio::time::timeout(common::WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("the connection is open")
            .unwrap();
        if let WsMessage::Text(text) = frame {
            if text.as_str() == "2" {
                ws.send(WsMessage::Text("3".into())).await.unwrap();
                continue;
            }
            return text.to_string();
        }
    }
}

/// A Socket.IO v5 client of the Node node in room `r`: its socket id.
async fn node_socket_in_room(port: u16, room: &str) -> (Ws, String) {
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert!(
        next_packet(&mut ws).await.starts_with('0'),
        "engine.io open"
    );
    ws.send(WsMessage::Text("40".into())).await.unwrap();
    let connect = next_packet(&mut ws).await;
    let sid: Value = serde_json::from_str(connect.strip_prefix("40").unwrap()).unwrap();
    let sid = sid["sid"].as_str().unwrap().to_string();
    ws.send(WsMessage::Text(
        format!("421{}", json!(["join", room])).into(),
    ))
    .await
    .unwrap();
    let ack = next_packet(&mut ws).await;
    assert!(ack.starts_with("431"), "join acknowledged: {ack}");
    (ws, sid)
}

/// The Node adapter's name for a protocol (lib/node-node.mjs's `ADAPTER`).
fn adapter_name(adapter: RedisAdapterKind) -> &'static str {
    match adapter {
        RedisAdapterKind::Classic => "classic",
        RedisAdapterKind::Sharded => "sharded",
        RedisAdapterKind::Streams => "streams",
    }
}

/// A switchboard node in this process in cluster mode, once it holds its subscriptions.
async fn start_cluster_node(
    redis_url: &str,
    adapter: RedisAdapterKind,
) -> switchboard::RunningServer {
    start_node_with(switchboard::Config {
        redis_url: Some(redis_url.to_string()),
        redis_adapter: adapter,
        ..common::config()
    })
    .await
}

/// A switchboard node in this process running `config`, once it holds its subscriptions (and
/// reads the stream, in a streams cluster).
async fn start_node_with(config: switchboard::Config) -> switchboard::RunningServer {
    let server = common::start(config);
    let hub = server.hub().clone();
    common::eventually("switchboard to subscribe", || {
        hub.stats().cluster.is_some_and(|c| c.connected)
    })
    .await;
    server
}

#[actix_web::test]
async fn fetch_sockets_and_server_side_emit_reach_a_classic_node_node() {
    fetch_sockets_and_server_side_emit_reach_a_node_node(RedisAdapterKind::Classic).await;
}

#[actix_web::test]
async fn fetch_sockets_and_server_side_emit_reach_a_sharded_node_node() {
    fetch_sockets_and_server_side_emit_reach_a_node_node(RedisAdapterKind::Sharded).await;
}

#[actix_web::test]
async fn fetch_sockets_and_server_side_emit_reach_a_streams_node_node() {
    fetch_sockets_and_server_side_emit_reach_a_node_node(RedisAdapterKind::Streams).await;
}

async fn fetch_sockets_and_server_side_emit_reach_a_node_node(adapter: RedisAdapterKind) {
    let (_redis, redis_url) = start_redis().await;
    let (_node, node_port) = start_node_node(&redis_url, adapter);
    let server = start_cluster_node(&redis_url, adapter).await;
    let hub = server.hub().clone();
    let (_node_client, node_sid) = node_socket_in_room(node_port, "r").await;
    let mut local = common::Client::connect(&server).await;
    local.join("r").await;

    // io.in("r").fetchSockets(): this node's socket and the Node node's, each once.
    let sockets = hub
        .fetch_sockets(&["r".into()])
        .await
        .expect("every node answers");
    let mut found: Vec<(String, bool)> = sockets.iter().map(|s| (s.id.clone(), s.local)).collect();
    found.sort();
    let mut expected = vec![(local.session.clone(), true), (node_sid.clone(), false)];
    expected.sort();
    assert_eq!(found, expected);
    let remote = sockets.iter().find(|s| !s.local).unwrap();
    assert_eq!(remote.rooms, vec![node_sid.clone(), "r".to_string()]);
    assert_eq!(remote.handshake["query"]["EIO"], "4");
    let everyone = hub.fetch_sockets(&[]).await.unwrap();
    assert_eq!(everyone.len(), 2);

    // serverSideEmitWithAck: the Node node's listener answers (lib/node-node.mjs).
    let answers = hub
        .server_side_emit_with_ack("hello", vec![json!(42)])
        .await
        .expect("the Node node answers");
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["from"], "node");
    assert_eq!(answers[0]["event"], "hello");
    assert_eq!(answers[0]["args"], json!([42]));
}

#[actix_web::test]
async fn a_node_that_does_not_answer_times_out_as_node_does() {
    let (_redis, redis_url) = start_redis().await;
    let server = start_cluster_node(&redis_url, RedisAdapterKind::Classic).await;
    let hub = server.hub().clone();
    // Alone, every request completes at once with no other answer.
    assert_eq!(hub.server_side_emit_with_ack("x", vec![]).await, Ok(vec![]));
    assert!(hub.fetch_sockets(&[]).await.unwrap().is_empty());

    // A "node" that subscribes to the requests channel and never answers.
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut silent = client.get_async_pubsub().await.unwrap();
    silent.subscribe("socket.io-request#/#").await.unwrap();
    let started = std::time::Instant::now();
    let error = hub.fetch_sockets(&[]).await.unwrap_err();
    // Node's classic adapter's words for each.
    assert_eq!(
        error.to_string(),
        "timeout reached while waiting for fetchSockets response"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let error = hub
        .server_side_emit_with_ack("x", vec![])
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "timeout reached: only 0 responses received out of 1"
    );
}

#[actix_web::test]
async fn two_classic_switchboard_nodes_share_rooms_and_answer_each_other() {
    two_switchboard_nodes_share_rooms_and_answer_each_other(RedisAdapterKind::Classic).await;
}

#[actix_web::test]
async fn two_sharded_switchboard_nodes_share_rooms_and_answer_each_other() {
    two_switchboard_nodes_share_rooms_and_answer_each_other(RedisAdapterKind::Sharded).await;
}

#[actix_web::test]
async fn two_streams_switchboard_nodes_share_rooms_and_answer_each_other() {
    two_switchboard_nodes_share_rooms_and_answer_each_other(RedisAdapterKind::Streams).await;
}

async fn two_switchboard_nodes_share_rooms_and_answer_each_other(adapter: RedisAdapterKind) {
    let (_redis, redis_url) = start_redis().await;
    let (a, b) = (
        start_cluster_node(&redis_url, adapter).await,
        start_cluster_node(&redis_url, adapter).await,
    );
    b.hub().on_server_side_emit(|event, args| {
        Some(json!({"from": "B", "event": event, "args": args}))
    });
    let answers = a
        .hub()
        .server_side_emit_with_ack("hello", vec![json!(1)])
        .await
        .expect("B answers");
    assert_eq!(
        answers,
        vec![json!({"from": "B", "event": "hello", "args": [1]})]
    );

    // A publish on A reaches B's member of the room, and not the sender.
    let (mut sender, mut member) = (
        common::Client::connect(&a).await,
        common::Client::connect(&b).await,
    );
    sender.join("r").await;
    member.join("r").await;
    if adapter == RedisAdapterKind::Sharded {
        // Subscribing to a room's channel is not awaited by a join (nor in Node): wait for it.
        let client = redis::Client::open(redis_url.as_str()).unwrap();
        let redis = client.get_multiplexed_async_connection().await.unwrap();
        common::eventually_async("both nodes on r's shard channel", || {
            let mut redis = redis.clone();
            async move {
                let counts: Vec<(String, usize)> = redis::cmd("PUBSUB")
                    .arg("SHARDNUMSUB")
                    .arg("socket.io#/#r#")
                    .query_async(&mut redis)
                    .await
                    .unwrap();
                counts.first().is_some_and(|(_, n)| *n == 2)
            }
        })
        .await;
    }
    let ack = sender
        .request(json!({"type": "publish", "room": "r", "event": "chat", "data": "hi"}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let got = member.recv().await;
    assert_eq!(
        (
            got["type"].as_str(),
            got["room"].as_str(),
            got["data"].as_str()
        ),
        (Some("message"), Some("r"), Some("hi"))
    );
    sender.assert_nothing_pending().await;

    // Node's `local`: A's own members only. The next broadcast fences it: B gets that one first.
    let local = switchboard::Target::room("r").local();
    a.hub().broadcast(
        &local,
        switchboard::Message::new(Some("r".into()), "chat", json!("here only")),
    );
    a.hub().broadcast(
        &switchboard::Target::room("r"),
        switchboard::Message::new(Some("r".into()), "chat", json!("everywhere")),
    );
    assert_eq!(member.recv().await["data"], "everywhere");
    assert_eq!(sender.recv().await["data"], "here only");
    assert_eq!(sender.recv().await["data"], "everywhere");
    let fetched = a.hub().fetch_sockets(&["r".into()]).await.unwrap();
    assert_eq!(fetched.len(), 2);
    assert_eq!(fetched.iter().filter(|s| s.local).count(), 1);
}

/// Redis frozen (SIGSTOP: its connections stay open and say nothing, as across a partition): the
/// node notices within two keepalive periods, not when TCP gives up, and is back once Redis
/// answers again.
#[actix_web::test]
async fn a_silent_redis_is_noticed_and_a_classic_node_comes_back() {
    a_silent_redis_is_noticed_and_the_node_comes_back(RedisAdapterKind::Classic).await;
}

#[actix_web::test]
async fn a_silent_redis_is_noticed_and_a_sharded_node_comes_back() {
    a_silent_redis_is_noticed_and_the_node_comes_back(RedisAdapterKind::Sharded).await;
}

#[actix_web::test]
async fn a_silent_redis_is_noticed_and_a_streams_node_comes_back() {
    a_silent_redis_is_noticed_and_the_node_comes_back(RedisAdapterKind::Streams).await;
}

async fn a_silent_redis_is_noticed_and_the_node_comes_back(adapter: RedisAdapterKind) {
    let (redis, redis_url) = start_redis().await;
    let server = start_cluster_node(&redis_url, adapter).await;
    let hub = server.hub().clone();
    let pid = redis.0.id().to_string();
    let signal = |sig: &str| {
        let status = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(status.success());
    };
    let cluster = |hub: &switchboard::Hub| hub.stats().cluster.unwrap();
    signal("-STOP");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while cluster(&hub).connected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a frozen Redis went unnoticed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal("-CONT");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !(cluster(&hub).connected && cluster(&hub).reconnects >= 1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Answers the next event the socket gets, which must ask for an ack, with `answer`.
async fn answer_next_event(ws: &mut Ws, event: &str, answer: Value) {
    let packet = next_packet(ws).await;
    let rest = packet.strip_prefix("42").expect("an EVENT");
    let id_len = rest.find('[').expect("a payload");
    let (id, payload) = rest.split_at(id_len);
    assert!(!id.is_empty(), "the event asks for an ack: {packet}");
    let payload: Value = serde_json::from_str(payload).unwrap();
    assert_eq!(payload[0], event, "{packet}");
    ws.send(WsMessage::Text(format!("43{id}{}", json!([answer])).into()))
        .await
        .unwrap();
}

#[actix_web::test]
async fn broadcast_with_ack_from_rust_collects_every_classic_nodes_acks() {
    broadcast_with_ack_from_rust_collects_every_nodes_acks(RedisAdapterKind::Classic).await;
}

#[actix_web::test]
async fn broadcast_with_ack_from_rust_collects_every_sharded_nodes_acks() {
    broadcast_with_ack_from_rust_collects_every_nodes_acks(RedisAdapterKind::Sharded).await;
}

#[actix_web::test]
async fn broadcast_with_ack_from_rust_collects_every_streams_nodes_acks() {
    broadcast_with_ack_from_rust_collects_every_nodes_acks(RedisAdapterKind::Streams).await;
}

async fn broadcast_with_ack_from_rust_collects_every_nodes_acks(adapter: RedisAdapterKind) {
    let (_redis, redis_url) = start_redis().await;
    let (_node, node_port) = start_node_node(&redis_url, adapter);
    let server = start_cluster_node(&redis_url, adapter).await;
    let (mut remote, _) = node_socket_in_room(node_port, "r").await;
    let (mut local, _) = node_socket_in_room(server.addr().port(), "r").await;
    // A relay client of another protocol in r gets the event, and is not waited for.
    let mut plain = common::Client::connect(&server).await;
    plain.join("r").await;

    let ask = |hub: switchboard::Hub, timeout: Duration| async move {
        hub.broadcast_with_ack(
            &switchboard::Target::room("r"),
            "ask",
            vec![json!("x")],
            timeout,
        )
        .await
    };
    let asked = actix_web::rt::spawn(ask(server.hub().clone(), Duration::from_secs(5)));
    answer_next_event(&mut remote, "ask", json!("from node")).await;
    answer_next_event(&mut local, "ask", json!("from switchboard")).await;
    let mut acks = asked.await.unwrap().expect("every socket answers in time");
    acks.sort_by_key(|v| v.to_string());
    assert_eq!(acks, vec![json!("from node"), json!("from switchboard")]);
    assert_eq!(plain.recv().await["event"], "ask");

    // `local`: only this node's socket is asked, and it alone is waited for.
    let hub = server.hub().clone();
    let asked = actix_web::rt::spawn(async move {
        hub.broadcast_with_ack(
            &switchboard::Target::room("r").local(),
            "ask",
            vec![json!("x")],
            Duration::from_secs(5),
        )
        .await
    });
    answer_next_event(&mut local, "ask", json!("local only")).await;
    assert_eq!(asked.await.unwrap(), Ok(vec![json!("local only")]));
    assert_eq!(plain.recv().await["event"], "ask");

    // One socket silent: Node's error, with the ack that came.
    let asked = actix_web::rt::spawn(ask(server.hub().clone(), Duration::from_millis(500)));
    answer_next_event(&mut remote, "ask", json!("again")).await;
    let error = asked.await.unwrap().unwrap_err();
    assert_eq!(error.to_string(), "operation has timed out");
    assert_eq!(error.acks, vec![json!("again")]);
}

/// A relay session over plain WebSocket that drops on one node of a streams cluster resumes on
/// another: the broadcast entry and the kept session are in Redis in Node's format
/// (`@socket.io/redis-streams-adapter`: fields uid, nsp, type, data; `sio:session:<pid>` as
/// base64 msgpack, with a PX expiry), the resumed session gets its rooms and what it missed
/// with stream ids as offsets, and the session is used up.
#[actix_web::test]
async fn a_relay_session_resumes_on_another_streams_node_from_nodes_format_in_redis() {
    let (_redis, redis_url) = start_redis().await;
    let streams = || switchboard::Config {
        redis_url: Some(redis_url.clone()),
        redis_adapter: RedisAdapterKind::Streams,
        connection_state_recovery: true,
        recovery_window_ms: 60_000,
        ..common::config()
    };
    let (a, b) = (
        start_node_with(streams()).await,
        start_node_with(streams()).await,
    );
    let redis = redis::Client::open(redis_url.as_str()).unwrap();
    let mut redis = redis.get_multiplexed_async_connection().await.unwrap();

    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", a.addr()))
        .await
        .unwrap();
    let mut client = common::Client::from_ws(ws);
    let welcome = client.recv().await;
    let session = welcome["session"].as_str().unwrap().to_string();
    let token = welcome["token"].as_str().unwrap().to_string();
    assert!(
        welcome["offset"].as_str().unwrap().contains('-'),
        "a stream id: {welcome}"
    );
    client.join("r").await;
    common::Api::new(&b)
        .publish("r", "chat", json!("one"))
        .await;
    let one = client.recv().await;
    assert_eq!(one["data"], "one");
    let offset = one["offset"].as_str().unwrap().to_string();

    // The entry B wrote, field by field.
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("socket.io")
        .arg(&offset)
        .arg(&offset)
        .query_async(&mut redis)
        .await
        .unwrap();
    let b_uid = b.hub().stats().cluster.unwrap().node_id;
    assert_eq!(
        entries[0].1,
        [
            ("uid".to_string(), b_uid),
            ("nsp".to_string(), "/".to_string()),
            ("type".to_string(), "3".to_string()),
            (
                "data".to_string(),
                r#"{"packet":{"type":2,"data":["chat","one"]},"opts":{"rooms":["r"],"except":[],"flags":{}}}"#
                    .to_string()
            ),
        ]
    );

    // The connection drops (no close frame): the session waits in Redis.
    drop(client);
    let key = format!("sio:session:{token}");
    common::eventually_async("the session in Redis", || {
        let (mut redis, key) = (redis.clone(), key.clone());
        async move {
            let exists: bool = redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .unwrap();
            exists
        }
    })
    .await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!((1..=60_000).contains(&ttl), "PX expiry {ttl}");
    let stored: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let packed =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, stored).unwrap();
    let value = rmpv::decode::read_value(&mut packed.as_slice()).unwrap();
    assert_eq!(
        value.to_string(),
        format!(
            r#"{{"sid": "{session}", "pid": "{token}", "rooms": ["{session}", "r"], "data": {{}}}}"#
        )
    );

    // Missed meanwhile, published on the node it dropped from.
    common::Api::new(&a)
        .publish("r", "chat", json!("two"))
        .await;
    common::Api::new(&a)
        .publish("r", "chat", json!("three"))
        .await;
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", b.addr()))
        .await
        .unwrap();
    let mut client = common::Client::from_ws(ws);
    assert_eq!(client.recv().await["type"], "welcome");
    let resumed = client
        .request(json!({"type": "resume", "token": token, "offset": offset}))
        .await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(
        (resumed["rooms"].clone(), resumed["missed"].clone()),
        (json!(["r"]), json!(2))
    );
    let (two, three) = (client.recv().await, client.recv().await);
    assert_eq!(
        (two["data"].as_str(), three["data"].as_str()),
        (Some("two"), Some("three"))
    );
    let parse = |m: &Value| {
        let (ms, seq) = m["offset"].as_str().unwrap().split_once('-').unwrap();
        (ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap())
    };
    assert!(parse(&one) < parse(&two) && parse(&two) < parse(&three));
    // Live again, and the session is used up: a second resume finds nothing.
    common::Api::new(&a)
        .publish("r", "chat", json!("four"))
        .await;
    assert_eq!(client.recv().await["data"], "four");
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!exists, "GET and DEL took it");
    let again = client
        .request(json!({"type": "resume", "token": token, "offset": offset}))
        .await;
    assert_eq!(again["type"], "error");
    assert_eq!(
        again["message"],
        "cannot resume: unknown or expired session"
    );
}
