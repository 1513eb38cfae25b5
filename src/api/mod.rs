//! The HTTP API under `/api`: publish to rooms from a backend, read stats.

use actix_web::error::{InternalError, JsonPayloadError};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::hub::{Message, Room, SessionId, Target};
use crate::AppState;

/// The body of `POST /api/publish`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
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

fn error(status: actix_web::http::StatusCode, message: impl Into<String>) -> HttpResponse {
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
        actix_web::http::StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token",
    ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST /api/publish`: delivers an event to every member of a room, whatever its protocol.
pub async fn publish(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<PublishRequest>,
) -> HttpResponse {
    if let Some(refused) = refusal(&req, &state) {
        return refused;
    }
    let PublishRequest {
        room,
        event,
        data,
        except,
    } = body.into_inner();
    let bad = actix_web::http::StatusCode::BAD_REQUEST;
    if room.is_empty() || room.len() > state.config.max_room_name {
        return error(
            bad,
            format!("\"room\" must be 1 to {} bytes", state.config.max_room_name),
        );
    }
    if event.is_empty() {
        return error(bad, "\"event\" must not be empty");
    }
    let room: Room = room.into();
    let mut target = Target::room(room.clone());
    target.except = except.into_iter().map(SessionId::from).collect();
    let delivered = state
        .hub
        .broadcast(&target, Message::new(Some(room), event, data));
    HttpResponse::Ok().json(json!({"delivered": delivered}))
}

/// `GET /api/stats`: sessions per protocol and transport, rooms, traffic, drops.
pub async fn stats(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refused) = refusal(&req, &state) {
        return refused;
    }
    HttpResponse::Ok().json(state.hub.stats())
}

/// Turns a bad JSON body into a JSON error answer.
fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let status = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
        }
        JsonPayloadError::ContentType => actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => actix_web::http::StatusCode::BAD_REQUEST,
    };
    tracing::debug!(%err, "bad api request body");
    let response = error(status, err.to_string());
    InternalError::from_response(err, response).into()
}

/// Mounts `/api`, with bodies limited to `max_body` bytes.
pub fn configure(cfg: &mut web::ServiceConfig, max_body: usize) {
    cfg.service(
        web::scope("/api")
            .app_data(
                web::JsonConfig::default()
                    .limit(max_body)
                    .error_handler(json_error),
            )
            .route("/publish", web::post().to(publish))
            .route("/stats", web::get().to(stats)),
    );
}
