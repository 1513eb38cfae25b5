//! The HTTP API under `/api`: publish to rooms from a backend, read stats.

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::hub::{Counters, DisconnectReason, Message, Room, SessionId, Target};
use crate::session::http::read_body;
use crate::AppState;

/// The body of `POST /api/publish`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishRequest {
    /// The room to publish to.
    #[serde(default)]
    pub room: Option<String>,
    /// Or the user: every session of that user (on this node) gets it.
    #[serde(default)]
    pub user: Option<String>,
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
pub(crate) fn refusal(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
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
    match (&request.room, &request.user) {
        (Some(room), None) if limits.room_name(room.clone()).is_err() => {
            // The API's own wording, one check for every way into a room.
            return Some(format!(
                "\"room\" must be 1 to {} bytes",
                limits.max_room_name
            ));
        }
        (None, Some(user)) if user.is_empty() => return Some("\"user\" must not be empty".into()),
        (None, Some(_)) if !request.except.is_empty() => {
            return Some("\"except\" applies to a room, not a user".into())
        }
        (Some(_), None) | (None, Some(_)) => {}
        _ => return Some("give either \"room\" or \"user\"".into()),
    }
    if request.event.is_empty() {
        return Some("\"event\" must not be empty".into());
    }
    None
}

/// One (valid) message to a room as the hub broadcasts it.
fn to_broadcast(request: PublishRequest) -> (Target, Arc<Message>) {
    let PublishRequest {
        room,
        event,
        data,
        except,
        ..
    } = request;
    let room: Room = room.unwrap_or_default().into();
    let mut target = Target::room(room.clone());
    target.except = except.into_iter().map(SessionId::from).collect();
    (target, Message::new(Some(room), event, data))
}

/// Publishes one (valid) message; returns how many sessions here took it.
fn publish_one(state: &AppState, request: PublishRequest) -> usize {
    match request.user.clone() {
        Some(user) => {
            let message = Message::new(None, request.event, request.data);
            state.hub.send_to_user(&user, message)
        }
        None => {
            let (target, message) = to_broadcast(request);
            state.hub.broadcast(&target, message)
        }
    }
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
                let delivered = publish_one(&state, request);
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
            let delivered: Vec<usize> = if requests.iter().any(|r| r.user.is_some()) {
                // In order, one at a time: messages to users do not go through the batch path.
                requests
                    .into_iter()
                    .map(|r| publish_one(&state, r))
                    .collect()
            } else {
                let batch = requests.into_iter().map(to_broadcast).collect();
                state.hub.broadcast_batch(batch)
            };
            HttpResponse::Ok().json(json!({"delivered": delivered}))
        }
    }
}

/// `GET /api/stats`: sessions per protocol and transport, rooms, traffic, drops.
pub(crate) async fn stats(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refused) = refusal(&req, &state) {
        return refused;
    }
    let mut stats = serde_json::to_value(state.hub.stats()).unwrap_or_default();
    if let (Some(webhooks), Value::Object(fields)) = (&state.webhooks, &mut stats) {
        let webhooks = serde_json::to_value(webhooks.stats()).unwrap_or_default();
        fields.insert("webhooks".into(), webhooks);
    }
    HttpResponse::Ok().json(stats)
}

/// The body of `POST /api/disconnect`: a user (every session of it) or one session.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisconnectRequest {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    session: Option<String>,
}

/// `POST /api/disconnect`: closes every session of a user on this node, or one session; the
/// clients see a server disconnect. Answered with `{"disconnected": N}`.
pub(crate) async fn disconnect(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    if let Some(refused) = refusal(&req, &state) {
        return refused;
    }
    let request: DisconnectRequest = match json_body(&req, body, &state).await {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    let reason = DisconnectReason::ServerDisconnect;
    let disconnected = match (request.user, request.session) {
        (Some(user), None) => state.hub.disconnect_user(&user, reason),
        (None, Some(session)) => usize::from(state.hub.disconnect(&session, reason)),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "give either \"user\" or \"session\"",
            )
        }
    };
    tracing::info!(disconnected, "sessions disconnected through the API");
    HttpResponse::Ok().json(json!({ "disconnected": disconnected }))
}

/// `GET /api/rooms/{room}/presence`: the users in a room on this node, with their `info` and
/// sessions.
pub(crate) async fn presence(
    req: HttpRequest,
    state: web::Data<AppState>,
    room: web::Path<String>,
) -> HttpResponse {
    if let Some(refused) = refusal(&req, &state) {
        return refused;
    }
    HttpResponse::Ok().json(state.hub.presence(&room))
}

/// Mounts `/api` (bodies within `--max-message-size` and `--body-timeout-ms`).
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .route("/publish", web::post().to(publish))
            .route("/disconnect", web::post().to(disconnect))
            .route("/rooms/{room}/presence", web::get().to(presence))
            .route("/stats", web::get().to(stats)),
    );
}
