//! Clients must present a JWT when `--auth-jwt-secret` is set: every protocol refuses a missing,
//! bad or expired token with its own refusal and the same reason, and a session carries its
//! user (`SessionRef::user`, `DisconnectInfo`), whose `rooms` and `publish` claims bound what the
//! client may do. Tokens are signed with the `jsonwebtoken` crate.

mod common;

use std::sync::{Arc, Mutex};

use common::{config, start, ws_text, Client};
use futures_util::SinkExt;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use switchboard::{Config, DisconnectInfo, Handler, RunningServer, SessionRef, Switchboard};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

const SECRET: &str = "the test secret";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token for `claims`, signed with `secret` (HS256).
fn token_with(secret: &str, claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn token(claims: Value) -> String {
    token_with(SECRET, claims)
}

fn good(user: &str) -> String {
    token(json!({"sub": user, "exp": now() + 600}))
}

fn authenticating() -> Config {
    Config {
        auth_jwt_secret: Some(SECRET.into()),
        ..config()
    }
}

/// The refusal a `/ws` upgrade gets: its status and `{"error": ...}` body.
async fn ws_refusal(server: &RunningServer, query: &str) -> (u16, Value) {
    common::upgrade_refusal(server, &format!("/ws{query}")).await
}

async fn ws_client(server: &RunningServer, token: &str) -> Client {
    let url = format!("ws://{}/ws?token={token}", server.addr());
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut client = Client::from_ws(ws);
    let welcome = client.recv().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    client
}

#[actix_web::test]
async fn a_websocket_without_a_good_token_is_refused_before_the_upgrade() {
    let server = start(authenticating());
    let expired = token(json!({"sub": "u1", "exp": now() - 60}));
    let foreign = token_with("another secret", json!({"sub": "u1"}));
    let anonymous = token(json!({"name": "nobody"}));
    for (query, reason) in [
        (String::new(), "token required"),
        ("?token=garbage".to_string(), "invalid token"),
        (format!("?token={expired}"), "token expired"),
        (format!("?token={foreign}"), "invalid token"),
        (format!("?token={anonymous}"), "invalid token"),
    ] {
        assert_eq!(
            ws_refusal(&server, &query).await,
            (401, json!({"error": reason})),
            "{query}"
        );
    }
    assert_eq!(server.hub().session_count(), 0);
}

#[actix_web::test]
async fn a_bearer_header_is_a_token_too() {
    let server = start(authenticating());
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{}/ws",
        server.addr()
    ))
    .unwrap();
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", good("u1")).parse().unwrap(),
    );
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut client = Client::from_ws(ws);
    assert_eq!(client.recv().await["type"], "welcome");
}

#[actix_web::test]
async fn the_rooms_and_publish_claims_bound_what_a_client_may_do() {
    let server = start(authenticating());
    let limited = token(json!({"sub": "u1", "rooms": ["lobby", "team:7:*"]}));
    let mut client = ws_client(&server, &limited).await;
    client.join("lobby").await;
    client.join("team:7:chat").await;
    let refused = client
        .request(json!({"type": "join", "room": "team:8:chat"}))
        .await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["message"], "not allowed");
    let refused = client
        .request(json!({"type": "publish", "room": "elsewhere", "event": "e"}))
        .await;
    assert_eq!(refused["message"], "not allowed");
    assert_eq!(
        server.hub().rooms_of(&client_session(&server, "u1")).len(),
        2
    );

    let reader = token(json!({"sub": "u2", "publish": false}));
    let mut reader = ws_client(&server, &reader).await;
    reader.join("lobby").await;
    let refused = reader
        .request(json!({"type": "publish", "room": "lobby", "event": "e"}))
        .await;
    assert_eq!(refused["message"], "not allowed");
    // The member allowed to publish still can.
    let ack = client
        .request(json!({"type": "publish", "room": "lobby", "event": "hello"}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(reader.recv().await["event"], "hello");
}

/// The only session of `user`.
fn client_session(server: &RunningServer, user: &str) -> String {
    let sessions = server.hub().sessions_of_user(user);
    assert_eq!(sessions.len(), 1, "{user}: {sessions:?}");
    sessions[0].to_string()
}

#[actix_web::test]
async fn a_socketio_connect_with_a_bad_token_gets_connect_error() {
    let server = start(authenticating());
    let base = format!("http://{}", server.addr());
    let http = awc::Client::default();
    for (auth, answer) in [
        (json!({}), r#"44{"message":"token required"}"#.to_string()),
        (
            json!({"token": "garbage"}),
            r#"44{"message":"invalid token"}"#.to_string(),
        ),
        (json!({"token": good("u1")}), "40{\"sid\":".to_string()),
    ] {
        let sid = common::eio_polling_open(&http, &base).await;
        let session = format!("{base}/socket.io/?EIO=4&transport=polling&sid={sid}");
        let res = http
            .post(&session)
            .send_body(format!("40{auth}"))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let mut res = http.get(&session).send().await.unwrap();
        let body = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
        assert!(body.starts_with(&answer), "{auth}: {body}");
    }
    assert_eq!(server.hub().sessions_of_user("u1").len(), 1);
}

#[actix_web::test]
async fn sockjs_refuses_with_a_close_frame_in_place_of_the_open_frame() {
    let server = start(authenticating());
    let base = format!("http://{}/sockjs/000", server.addr());
    let http = awc::Client::default();
    let expired = token(json!({"sub": "u1", "exp": now() - 60}));
    for (query, frame) in [
        (String::new(), "c[4401,\"token required\"]\n"),
        (format!("?token={expired}"), "c[4401,\"token expired\"]\n"),
        (format!("?token={}", good("u1")), "o\n"),
    ] {
        let sid = uuid::Uuid::new_v4().simple().to_string();
        let mut res = http
            .post(format!("{base}/{sid}/xhr{query}"))
            .send()
            .await
            .unwrap();
        let body = res.body().await.unwrap();
        assert_eq!(std::str::from_utf8(&body).unwrap(), frame, "{query}");
    }
    // A refused session does not exist: nothing can be sent to it.
    assert_eq!(server.hub().sessions_of_user("u1").len(), 1);

    let url = format!("ws://{}/sockjs/000/refused1/websocket", server.addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(ws_text(&mut ws).await, "c[4401,\"token required\"]");
    let raw = format!("ws://{}/sockjs/websocket?token=garbage", server.addr());
    match tokio_tungstenite::connect_async(raw).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("raw SockJS WebSocket with a bad token: {other:?}"),
    }
    let _ = ws.close(None).await;
}

/// Records the user of every session that connects and leaves.
#[derive(Clone, Default)]
struct Seen {
    connected: Arc<Mutex<Vec<Option<String>>>>,
    left: Arc<Mutex<Vec<Option<String>>>>,
}

impl Handler for Seen {
    fn on_connect(&self, session: &SessionRef) {
        let user = session.user().map(|u| u.id().to_string());
        self.connected.lock().unwrap().push(user);
    }

    fn on_disconnect(&self, info: &DisconnectInfo) {
        let user = info.user.as_ref().map(|u| u.id().to_string());
        self.left.lock().unwrap().push(user);
    }
}

#[actix_web::test]
async fn the_handler_sees_the_user_on_connect_and_on_disconnect() {
    let seen = Seen::default();
    let server = Switchboard::new(authenticating())
        .with_handler(seen.clone())
        .start()
        .unwrap();
    let info = json!({"name": "Ann"});
    let token = token(json!({"sub": "ann", "info": info}));
    let mut client = ws_client(&server, &token).await;
    let session = client_session(&server, "ann");
    assert_eq!(
        server.hub().user_of(&session).unwrap().info(),
        &json!({"name": "Ann"})
    );
    client.ws.send(WsMessage::Close(None)).await.unwrap();
    let left = seen.left.clone();
    common::eventually("the disconnect", || !left.lock().unwrap().is_empty()).await;
    assert_eq!(
        *seen.connected.lock().unwrap(),
        vec![Some("ann".to_string())]
    );
    assert_eq!(*seen.left.lock().unwrap(), vec![Some("ann".to_string())]);
    assert!(server.hub().sessions_of_user("ann").is_empty());
}

#[actix_web::test]
async fn a_resumed_session_goes_back_only_into_rooms_its_token_allows() {
    let server = start(Config {
        connection_state_recovery: true,
        ..authenticating()
    });
    let wide = token(json!({"sub": "u1", "rooms": ["a", "b"]}));
    let url = format!("ws://{}/ws?token={wide}", server.addr());
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut first = Client::from_ws(ws);
    let welcome = first.recv().await;
    let resume_token = welcome["token"].as_str().unwrap().to_string();
    let offset = welcome["offset"].clone();
    first.join("a").await;
    first.join("b").await;
    drop(first); // cut, no close: kept for recovery
    common::eventually("the dropped session to be kept", || {
        server.hub().stats().recovery_kept == 1
    })
    .await;

    let narrow = token(json!({"sub": "u1", "rooms": ["a"]}));
    let mut back = ws_client(&server, &narrow).await;
    let resumed = back
        .request(json!({"type": "resume", "token": resume_token, "offset": offset}))
        .await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(resumed["rooms"], json!(["a"]));
    let session = client_session(&server, "u1");
    assert_eq!(
        server.hub().rooms_of(&session),
        vec![switchboard::Room::from("a")]
    );
}

/// A Socket.IO application that ignores events.
struct PlainApp;

impl switchboard::socketio::SocketHandler for PlainApp {
    fn on_event(
        &self,
        _socket: &mut switchboard::socketio::Socket<'_, '_>,
        _event: &str,
        _args: Vec<Value>,
        _attachments: Vec<bytes::Bytes>,
        _ack: Option<u64>,
    ) {
    }
}

#[actix_web::test]
async fn an_authenticator_given_after_a_socketio_app_guards_it_too() {
    let authenticator = switchboard::auth::JwtAuthenticator::hs256(SECRET.as_bytes()).unwrap();
    let server = Switchboard::new(config())
        .with_socketio(PlainApp)
        .with_authenticator(authenticator)
        .start()
        .unwrap();
    let base = format!("http://{}", server.addr());
    let http = awc::Client::default();
    let sid = common::eio_polling_open(&http, &base).await;
    let session = format!("{base}/socket.io/?EIO=4&transport=polling&sid={sid}");
    http.post(&session).send_body("40").await.unwrap();
    let mut res = http.get(&session).send().await.unwrap();
    let body = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    assert_eq!(body, r#"44{"message":"token required"}"#);
}
