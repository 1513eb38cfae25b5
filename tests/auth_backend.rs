//! `--auth-url`: a backend of the test's own decides who connects. It is told the protocol,
//! transport, headers, query, Socket.IO auth and address; its 200 names the user, a 4xx refuses
//! with its message on every protocol, and a slow or missing backend refuses with
//! `authentication unavailable`.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use common::{config, start, Client};
use serde_json::{json, Value};
use switchboard::{Config, RunningServer};

/// Every request the backend was sent.
#[derive(Clone, Default)]
struct Asked(Arc<Mutex<Vec<Value>>>);

async fn decide(body: web::Json<Value>, asked: web::Data<Asked>) -> HttpResponse {
    asked.0.lock().unwrap().push(body.0.clone());
    let token = body["auth"]["token"]
        .as_str()
        .or(body["query"]["token"].as_str())
        .unwrap_or_default()
        .to_string();
    match token.as_str() {
        "good" => HttpResponse::Ok().json(json!({"user": "u1", "info": {"from": "backend"}})),
        "reader" => HttpResponse::Ok().json(json!({"user": "u2", "publish": false})),
        "banned" => HttpResponse::Forbidden().json(json!({"message": "banned"})),
        "slow" => {
            actix_web::rt::time::sleep(Duration::from_secs(3)).await;
            HttpResponse::Ok().json(json!({"user": "late"}))
        }
        "broken" => HttpResponse::InternalServerError().finish(),
        _ => HttpResponse::Unauthorized().body("who are you"),
    }
}

/// A backend at `/auth`; its address and what it was asked.
fn backend() -> (SocketAddr, Asked) {
    let asked = Asked::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let data = asked.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(data.clone()))
            .route("/auth", web::post().to(decide))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (addr, asked)
}

fn asking(addr: SocketAddr) -> Config {
    Config {
        auth_url: Some(format!("http://{addr}/auth")),
        auth_timeout_ms: 300,
        ..config()
    }
}

/// The refusal of a `/ws` upgrade with `token`: its status and body.
async fn ws_refusal(server: &RunningServer, token: &str) -> (u16, Value) {
    common::upgrade_refusal(server, &format!("/ws?token={token}")).await
}

/// A `/ws` client let in with `token` (and a cookie), past its welcome.
async fn ws_client(server: &RunningServer, token: &str) -> Client {
    let url = format!("ws://{}/ws?token={token}", server.addr());
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    request
        .headers_mut()
        .insert("Cookie", "session=abc".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut client = Client::from_ws(ws);
    client.session = client.recv().await["session"].as_str().unwrap().to_string();
    client
}

#[actix_web::test]
async fn the_backend_names_the_user_or_refuses_with_its_message() {
    let (addr, asked) = backend();
    let server = start(asking(addr));
    let client = ws_client(&server, "good").await;
    let user = server.hub().user_of(&client.session).unwrap();
    assert_eq!(user.id(), "u1");
    assert_eq!(user.info(), &json!({"from": "backend"}));

    for (token, refusal) in [
        ("banned", (403, json!({"error": "banned"}))),
        ("nobody", (403, json!({"error": "who are you"}))),
        (
            "broken",
            (503, json!({"error": "authentication unavailable"})),
        ),
        (
            "slow",
            (503, json!({"error": "authentication unavailable"})),
        ),
    ] {
        assert_eq!(ws_refusal(&server, token).await, refusal, "{token}");
    }
    let first = asked.0.lock().unwrap()[0].clone();
    assert_eq!(first["protocol"], "websocket");
    assert_eq!(first["transport"], "websocket");
    assert_eq!(first["query"], json!({"token": "good"}));
    assert_eq!(first["headers"]["cookie"], "session=abc");
    assert_eq!(first["auth"], Value::Null);
    assert_eq!(first["remote_addr"], "127.0.0.1");
}

#[actix_web::test]
async fn a_backend_that_is_down_refuses_as_unavailable() {
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = start(asking(free));
    assert_eq!(
        ws_refusal(&server, "good").await,
        (503, json!({"error": "authentication unavailable"}))
    );
}

#[actix_web::test]
async fn socketio_and_sockjs_wait_for_the_backend_and_carry_its_answer() {
    let (addr, asked) = backend();
    let server = start(asking(addr));
    let base = format!("http://{}", server.addr());
    let http = awc::Client::default();
    for (auth, answer) in [
        (json!({"token": "banned"}), r#"44{"message":"banned"}"#),
        (json!({"token": "reader"}), "40{\"sid\":"),
    ] {
        let sid = common::eio_polling_open(&http, &base).await;
        let session = format!("{base}/socket.io/?EIO=4&transport=polling&sid={sid}");
        http.post(&session)
            .send_body(format!("40{auth}"))
            .await
            .unwrap();
        let mut res = http.get(&session).send().await.unwrap();
        let body = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
        assert!(body.starts_with(answer), "{auth}: {body}");
    }
    let reader = server.hub().sessions_of_user("u2");
    assert_eq!(reader.len(), 1);
    assert!(!server
        .hub()
        .user_of(&reader[0])
        .unwrap()
        .may_publish("lobby"));
    let sio = asked.0.lock().unwrap()[0].clone();
    assert_eq!(sio["protocol"], "socketio");
    assert_eq!(sio["transport"], "polling");
    assert_eq!(sio["auth"], json!({"token": "banned"}));

    let mut res = http
        .post(format!("{base}/sockjs/000/backend1/xhr?token=banned"))
        .send()
        .await
        .unwrap();
    let body = res.body().await.unwrap();
    assert_eq!(std::str::from_utf8(&body).unwrap(), "c[4403,\"banned\"]\n");
}
