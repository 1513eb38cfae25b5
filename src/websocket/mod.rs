//! Plain WebSocket at `/ws`, speaking the JSON relay envelope (protocols/relay.md).

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use bytestring::ByteString;

use crate::auth::{self, request::authenticate_request};
use crate::handler::{DisconnectInfo, SessionRef, SharedHandler};
use crate::hub::{
    DisconnectReason, Frame, Message, Protocol, Room, SessionId, Transport, WireFormat,
};
use crate::relay::{self, envelope, RelayLimits};
use crate::session::{
    accept_websocket, CloseInfo, Keepalive, SessionActor, SessionCore, SessionLogic,
};
use crate::AppState;

/// The protocol logic of one plain WebSocket session.
pub(crate) struct WebSocketLogic {
    handler: SharedHandler,
    limits: RelayLimits,
    keepalive: Keepalive,
    session: Option<SessionRef>,
}

impl WebSocketLogic {
    /// Logic that hands requests to `handler`, pinging as `keepalive` says.
    pub(crate) fn new(handler: SharedHandler, limits: RelayLimits, keepalive: Keepalive) -> Self {
        WebSocketLogic {
            handler,
            limits,
            keepalive,
            session: None,
        }
    }
}

/// Sends what a relay request is answered with.
fn answer(response: relay::Response, core: &mut SessionCore) {
    match response {
        relay::Response::Nothing => {}
        relay::Response::Reply(reply) => core.send(Frame::Text(reply.into())),
        relay::Response::Resumed(answer, missed, through) => {
            core.send(Frame::Text(answer.into()));
            for message in &missed {
                core.send(
                    message.encoded::<WebSocketLogic>(WireFormat::RelayJson, |m| {
                        WebSocketLogic::encode(WireFormat::RelayJson, m)
                    }),
                );
            }
            let id = core.id().clone();
            core.set_replayed_through(&id, through);
        }
        relay::Response::Restoring { id, pending } => {
            core.when_done::<WebSocketLogic, _>(pending, move |logic, core, restored| {
                if let Some(session) = &logic.session {
                    answer(relay::finish_resume(session, id.as_ref(), restored), core);
                }
            });
        }
    }
}

/// The WebSocket close code and reason for each way a session ends.
pub(crate) fn close_info(reason: &DisconnectReason) -> CloseInfo {
    let code = match reason {
        DisconnectReason::ClientClosed
        | DisconnectReason::TransportClosed
        | DisconnectReason::ServerDisconnect => 1000,
        DisconnectReason::ServerShutdown | DisconnectReason::PingTimeout => 1001,
        DisconnectReason::TransportError(_) | DisconnectReason::ParseError(_) => 1002,
        DisconnectReason::Overflow => 1008,
        DisconnectReason::MessageTooBig => 1009,
    };
    CloseInfo {
        code,
        reason: reason.as_str().to_string(),
        by_client: *reason == DisconnectReason::ClientClosed,
        farewell: None,
    }
}

impl SessionLogic for WebSocketLogic {
    fn format(&self) -> WireFormat {
        WireFormat::RelayJson
    }

    fn encode(_format: WireFormat, message: &Message) -> Frame {
        Frame::Text(envelope::encode_message(message).into())
    }

    fn on_deliver(&mut self, _to: &SessionId, message: Arc<Message>, core: &mut SessionCore) {
        // Relay clients live in the default namespace only.
        if message.namespace.is_none() {
            core.send(message.encoded::<Self>(WireFormat::RelayJson, |m| {
                Self::encode(WireFormat::RelayJson, m)
            }));
        }
    }

    fn keepalive(&self) -> Option<Keepalive> {
        Some(self.keepalive.clone())
    }

    fn on_open(&mut self, core: &mut SessionCore) {
        let session = core.session_ref();
        core.send(Frame::Text(relay::welcome(&session).into()));
        self.handler.on_connect(&session);
        self.session = Some(session);
    }

    fn on_text(&mut self, text: ByteString, core: &mut SessionCore) {
        let Some(session) = &self.session else { return };
        let response = relay::respond(&text, session, &*self.handler, &self.limits);
        answer(response, core);
    }

    fn on_binary(&mut self, _data: Bytes, core: &mut SessionCore) {
        tracing::debug!(session = %core.id(), "binary frame refused");
        let error = envelope::encode_error(None, "binary frames are not supported: send JSON text");
        core.send(Frame::Text(error.into()));
    }

    fn close_info(&self, reason: &DisconnectReason) -> CloseInfo {
        close_info(reason)
    }

    fn on_close(&mut self, core: &mut SessionCore, reason: &DisconnectReason, rooms: Vec<Room>) {
        if let Some(session) = &self.session {
            relay::park(session, &rooms, reason);
        }
        self.handler.on_disconnect(&DisconnectInfo {
            id: core.id().clone(),
            protocol: Protocol::WebSocket,
            user: self.session.as_ref().and_then(|s| s.user().cloned()),
            transport: Transport::WebSocket,
            duration: core.age(),
            last_session_of_user: core.was_last_of_user(),
            rooms,
            reason: reason.clone(),
        });
    }
}

/// `GET /ws`: upgrades to a WebSocket and starts a session.
pub(crate) async fn websocket_route(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    if state.hub.refuses_new_session() {
        return Ok(session_limit_reached());
    }
    let authenticator = state.authenticator.as_ref();
    let user = match authenticate_request(
        authenticator,
        &req,
        Protocol::WebSocket,
        Transport::WebSocket,
    )
    .await
    {
        Ok(user) => user,
        Err(error) => return Ok(auth::request::refused(&error)),
    };
    let (response, connection) = accept_websocket(&req, body, &state.ws_limits())?;
    let logic = WebSocketLogic::new(
        state.handler.clone(),
        state.relay_limits(),
        Keepalive::Ping {
            frame: Frame::Ping,
            interval: state.config.ping_interval(),
            timeout: Some(state.config.ping_timeout()),
        },
    );
    let Ok(addr) = SessionActor::start(
        state.hub.clone(),
        Protocol::WebSocket,
        Transport::WebSocket,
        logic,
        &state.session_options(),
        crate::engineio::cluster_handshake(&state.hub, &req),
        user,
    ) else {
        // Filled up since the check above.
        return Ok(session_limit_reached());
    };
    connection.run(addr);
    Ok(response)
}

/// The answer to a WebSocket refused for the session limit.
fn session_limit_reached() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .json(serde_json::json!({ "error": crate::hub::SESSION_LIMIT_REACHED }))
}

/// Mounts `/ws`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(websocket_route));
}
