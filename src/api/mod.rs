//! The HTTP API under `/api`: publish to rooms from a backend, read stats.

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::hub::{Counters, Message, Room, SessionId, Target};
use crate::session::http::read_body;
use crate::AppState;

/// The body of `POST /api/publish`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishRequest {
    /// The room to publish to.
    pub room: String,
    /// The event name.
    pub event: String,
    /// The payload.
    #[serde(default)]
    pub data: Value,
    /// Sessions left out.
    #[serde(default)]
    pub except: Vec<String>,
}

/// The body of `POST /api/publish`: one message, or a batch published in order.
#[derive(Debug)]
pub(crate) enum PublishBody {
    /// One message; answered with `{"delivered":N}`.
    One(PublishRequest),
    /// Several messages, published one after the other; answered with `{"delivered":[N,...]}`.
    Batch(Vec<PublishRequest>),
}

impl<'de> Deserialize<'de> for PublishBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // Told apart by the JSON type, so that a bad message keeps serde's precise error.
        match Value::deserialize(deserializer)? {
            batch @ Value::Array(_) => serde_json::from_value(batch)
                .map(PublishBody::Batch)
                .map_err(D::Error::custom),
            one => serde_json::from_value(one)
                .map(PublishBody::One)
                .map_err(D::Error::custom),
        }
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": message.into()}))
}

/// Checks the bearer token, when one is configured; returns the refusal to send otherwise.
fn refusal(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    let token = state.config.api_token.as_ref()?;
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
        return None;
    }
    tracing::warn!(peer = ?req.peer_addr(), "api request with a missing or wrong token");
    Some(error(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token",
    ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What is wrong with one message to publish, if anything.
fn invalid(request: &PublishRequest, state: &AppState) -> Option<String> {
    let limits = state.relay_limits();
    if limits.room_name(request.room.clone()).is_err() {
        // The API's own wording, one check for every way into a room.
        return Some(format!(
            "\"room\" must be 1 to {} bytes",
            limits.max_room_name
        ));
    }
    if request.event.is_empty() {
        return Some("\"event\" must not be empty".into());
    }
    None
}

/// One (valid) message as the hub broadcasts it.
fn to_broadcast(request: PublishRequest) -> (Target, Arc<Message>) {
    let PublishRequest {
        room,
        event,
        data,
        except,
    } = request;
    let room: Room = room.into();
    let mut target = Target::room(room.clone());
    target.except = except.into_iter().map(SessionId::from).collect();
    (target, Message::new(Some(room), event, data))
}

fn is_json(req: &HttpRequest) -> bool {
    req.mime_type()
        .ok()
        .flatten()
        .is_some_and(|mime| mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
}

/// The body of a request, read after the token was checked: within the size limit and the body
/// timeout, JSON, and of the expected shape.
async fn json_body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
) -> Result<T, HttpResponse> {
    if !is_json(req) {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content type error: expected application/json",
        ));
    }
    let config = &state.config;
    let bytes = read_body(body, config.max_message_size, config.body_timeout())
        .await
        .map_err(|e| {
            tracing::debug!(error = %e, "api request body refused");
            error(e.status(), e.to_string())
        })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        tracing::debug!(error = %e, "bad api request body");
        error(
            StatusCode::BAD_REQUEST,
            format!("Json deserialize error: {e}"),
        )
    })
}

/// `POST /api/publish`: delivers an event (or a batch of them, in order) to every member of a
/// room, whatever its protocol. A batch is checked whole before anything is published. The
/// token is checked before the body is read.
pub(crate) async fn publish(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    if let Some(refused) = refusal(&req, &state) {
        return refused;
    }
    let body: PublishBody = match json_body(&req, body, &state).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let bad = StatusCode::BAD_REQUEST;
    let counted = |n: usize| Counters::add(&state.hub.counters().messages_in, n as u64);
    match body {
        PublishBody::One(request) => match invalid(&request, &state) {
            Some(message) => error(bad, message),
            None => {
                counted(1);
                let (target, message) = to_broadcast(request);
                let delivered = state.hub.broadcast(&target, message);
                HttpResponse::Ok().json(json!({ "delivered": delivered }))
            }
        },
        PublishBody::Batch(requests) => {
            let limit = state.config.max_outbox;
            if requests.len() > limit {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "a batch of {} messages is over the limit of {limit} (--max-outbox): nothing was published",
                        requests.len()
                    ),
                );
            }
            if let Some((i, message)) = requests
                .iter()
                .enumerate()
                .find_map(|(i, r)| invalid(r, &state).map(|m| (i, m)))
            {
                return error(bad, format!("message {i}: {message}"));
            }
            counted(requests.len());
            let batch = requests.into_iter().map(to_broadcast).collect();
            let delivered = state.hub.broadcast_batch(batch);
            HttpResponse::Ok().json(json!({"delivered": delivered}))
        }
    }
}

/// `GET /api/stats`: sessions per protocol and transport, rooms, traffic, drops.
pub(crate) async fn stats(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refused) = refusal(&req, &state) {
        return refused;
    }
    HttpResponse::Ok().json(state.hub.stats())
}

/// Mounts `/api` (bodies within `--max-message-size` and `--body-timeout-ms`).
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .route("/publish", web::post().to(publish))
            .route("/stats", web::get().to(stats)),
    );
}
