//! Users, once clients authenticate: the API publishes to every session of a user and
//! disconnects a user or one session; presence lists a room's users with their info and
//! sessions (over the API and as a relay request); with `--presence-events` a room hears when a
//! user's first session joins and its last leaves.

mod common;

use common::{config, start, Api, Client};
use futures_util::SinkExt;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use switchboard::{Config, RunningServer};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const SECRET: &str = "users secret";

fn token(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn authenticating(presence_events: bool) -> Config {
    Config {
        auth_jwt_secret: Some(SECRET.into()),
        presence_events,
        ..config()
    }
}

/// A relay client of `user` (with `info`), past its welcome.
async fn client_of(server: &RunningServer, user: &str, info: Value) -> Client {
    let token = token(json!({"sub": user, "info": info}));
    let url = format!("ws://{}/ws?token={token}", server.addr());
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut client = Client::from_ws(ws);
    let welcome = client.recv().await;
    client.session = welcome["session"].as_str().unwrap().to_string();
    client
}

#[actix_web::test]
async fn the_api_publishes_to_every_session_of_a_user_and_no_one_else() {
    let server = start(authenticating(false));
    let api = Api::new(&server);
    let mut tab1 = client_of(&server, "ann", json!(null)).await;
    let mut tab2 = client_of(&server, "ann", json!(null)).await;
    let mut other = client_of(&server, "bob", json!(null)).await;
    let (status, body) = api
        .post(
            "/api/publish",
            json!({"user": "ann", "event": "note", "data": {"n": 1}}),
        )
        .await;
    assert_eq!((status, body), (200, json!({"delivered": 2})));
    for tab in [&mut tab1, &mut tab2] {
        assert_eq!(
            tab.recv().await,
            json!({"type": "message", "event": "note", "data": {"n": 1}})
        );
    }
    other.assert_nothing_pending().await;
    let (_, body) = api
        .post("/api/publish", json!({"user": "nobody", "event": "note"}))
        .await;
    assert_eq!(body, json!({"delivered": 0}));
}

#[actix_web::test]
async fn the_api_disconnects_a_user_or_one_session() {
    let server = start(authenticating(false));
    let api = Api::new(&server);
    let mut tab1 = client_of(&server, "ann", json!(null)).await;
    let mut tab2 = client_of(&server, "ann", json!(null)).await;
    let mut bob = client_of(&server, "bob", json!(null)).await;
    let (_, body) = api
        .post("/api/disconnect", json!({"session": bob.session}))
        .await;
    assert_eq!(body, json!({"disconnected": 1}));
    assert_eq!(
        bob.expect_close().await.reason.as_str(),
        "server disconnect"
    );
    let (_, body) = api.post("/api/disconnect", json!({"user": "ann"})).await;
    assert_eq!(body, json!({"disconnected": 2}));
    for tab in [&mut tab1, &mut tab2] {
        assert_eq!(
            tab.expect_close().await.reason.as_str(),
            "server disconnect"
        );
    }
    let (status, _) = api.post("/api/disconnect", json!({})).await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn presence_lists_each_user_once_with_its_info_and_sessions() {
    let server = start(authenticating(false));
    let api = Api::new(&server);
    let mut tab1 = client_of(&server, "ann", json!({"name": "Ann"})).await;
    let mut tab2 = client_of(&server, "ann", json!({"name": "Ann"})).await;
    let mut bob = client_of(&server, "bob", json!({"name": "Bob"})).await;
    for client in [&mut tab1, &mut tab2, &mut bob] {
        client.join("lobby").await;
    }
    let mut ann_sessions = [tab1.session.clone(), tab2.session.clone()];
    ann_sessions.sort();
    let session =
        |id: &String| json!({"id": id, "protocol": "websocket", "transport": "websocket"});
    let expected = json!({
        "room": "lobby",
        "users": [
            {"user": "ann", "info": {"name": "Ann"}, "sessions": ann_sessions.iter().map(session).collect::<Vec<_>>()},
            {"user": "bob", "info": {"name": "Bob"}, "sessions": [session(&bob.session)]},
        ],
        "anonymous": 0,
    });
    assert_eq!(
        api.get("/api/rooms/lobby/presence").await,
        (200, expected.clone())
    );
    // The same as a relay request, for a client allowed in the room.
    let answer = bob
        .request(json!({"type": "presence", "room": "lobby"}))
        .await;
    assert_eq!(answer["type"], "ack", "{answer}");
    assert_eq!(answer["data"], expected);
    let (_, empty) = api.get("/api/rooms/nowhere/presence").await;
    assert_eq!(
        empty,
        json!({"room": "nowhere", "users": [], "anonymous": 0})
    );
}

#[actix_web::test]
async fn a_room_hears_a_user_come_with_its_first_session_and_go_with_its_last() {
    let server = start(authenticating(true));
    let mut watcher = client_of(&server, "watcher", json!(null)).await;
    watcher.join("lobby").await;
    let mut tab1 = client_of(&server, "ann", json!({"name": "Ann"})).await;
    let mut tab2 = client_of(&server, "ann", json!({"name": "Ann"})).await;
    tab1.join("lobby").await;
    tab2.join("lobby").await;
    let joined = json!({"type": "message", "room": "lobby", "event": "joined",
                        "data": {"user": "ann", "info": {"name": "Ann"}}});
    assert_eq!(watcher.recv().await, joined);
    // The first tab hears nothing of the second: it is the same user.
    tab1.assert_nothing_pending().await;
    watcher.assert_nothing_pending().await;

    let answer = tab1
        .request(json!({"type": "leave", "room": "lobby"}))
        .await;
    assert_eq!(answer["type"], "ack");
    watcher.assert_nothing_pending().await;
    tab2.ws.send(WsMessage::Close(None)).await.unwrap();
    let left = json!({"type": "message", "room": "lobby", "event": "left",
                      "data": {"user": "ann", "info": {"name": "Ann"}}});
    assert_eq!(watcher.recv().await, left);
}
