//! The HTTP side of Engine.IO: handshake, long-polling GET/POST, WebSocket and the upgrade.

use std::collections::HashMap;
use std::sync::Arc;

use actix::Addr;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use bytestring::ByteString;
use serde_json::json;
use tokio::sync::oneshot;

use super::error::EngineError;
use super::handler::{EngineHandler, Handshake};
use super::jsonp::validate_jsonp_index;
use super::logic::{wants_base64, EngineLogic};
use super::packet::EioVersion;
use super::pairs::Pairs;
use super::payload::decode_payload_v4;
use super::polling::{answer_poll, decode_post_jsonp, decode_post_v3, PollFlavor};
use super::EngineShared;
use crate::hub::{DisconnectReason, Frame, Transport};
use crate::session::http::{read_body, BodyError};
use crate::session::peer::PeerWatch;
use crate::session::{
    accept_websocket, is_websocket_upgrade, Incoming, Invoke, SessionActor, SessionCore,
    WsConnection,
};

type EngineAddr<H> = Addr<SessionActor<EngineLogic<H>>>;

/// Mounts the engine's path.
pub(super) fn configure<H: EngineHandler>(
    engine: Arc<EngineShared<H>>,
    cfg: &mut web::ServiceConfig,
) {
    let path = engine.config.path.clone();
    let bare = path.trim_end_matches('/').to_string();
    let handler = move |req: HttpRequest, body: web::Payload| {
        let engine = engine.clone();
        async move { handle(engine, req, body).await }
    };
    cfg.service(web::resource([path, bare]).route(web::route().to(handler)));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TransportName {
    Polling,
    WebSocket,
}

pub(crate) fn parse_query(query: &str) -> Pairs {
    // A repeated parameter keeps its last value, as Node's URL parsing does for these.
    let last: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    last.into_iter().collect()
}

async fn handle<H: EngineHandler>(
    engine: Arc<EngineShared<H>>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    if req.method() == Method::OPTIONS && engine.config.cors.is_some() {
        return with_cors(&engine, &req, preflight(&req));
    }
    let response = match route(&engine, &req, body).await {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(path = %req.path(), query = req.query_string(), %error, "engine.io request refused");
            error.response()
        }
    };
    if response.status() == actix_web::http::StatusCode::SWITCHING_PROTOCOLS {
        return response;
    }
    with_cors(&engine, &req, response)
}

/// The answer to a CORS preflight.
fn preflight(req: &HttpRequest) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    response.insert_header((
        "Access-Control-Allow-Methods",
        "GET,HEAD,PUT,PATCH,POST,DELETE",
    ));
    if let Some(headers) = req.headers().get("Access-Control-Request-Headers") {
        response.insert_header(("Access-Control-Allow-Headers", headers.clone()));
    }
    response.finish()
}

/// Adds the CORS headers the configuration calls for.
fn with_cors<H: EngineHandler>(
    engine: &EngineShared<H>,
    req: &HttpRequest,
    mut response: HttpResponse,
) -> HttpResponse {
    let Some(cors) = &engine.config.cors else {
        return response;
    };
    let origin = req
        .headers()
        .get(actix_web::http::header::ORIGIN)
        .and_then(|o| o.to_str().ok());
    if let Some(allowed) = cors.allow_origin(origin) {
        let headers = response.headers_mut();
        if let Ok(value) = allowed.parse() {
            headers.insert(actix_web::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        }
        if allowed != "*" {
            headers.insert(
                actix_web::http::header::VARY,
                actix_web::http::header::HeaderValue::from_static("Origin"),
            );
        }
        if cors.credentials {
            headers.insert(
                actix_web::http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                actix_web::http::header::HeaderValue::from_static("true"),
            );
        }
    }
    response
}

async fn route<H: EngineHandler>(
    engine: &Arc<EngineShared<H>>,
    req: &HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, EngineError> {
    let query = parse_query(req.query_string());
    let config = &engine.config;
    let transport = match query.get("transport") {
        Some("polling") if config.polling => TransportName::Polling,
        Some("websocket") if config.websocket => TransportName::WebSocket,
        _ => return Err(EngineError::UnknownTransport),
    };
    let version = match query.get("EIO").and_then(EioVersion::from_query) {
        Some(EioVersion::V3) if !config.allow_eio3 => {
            return Err(EngineError::UnsupportedProtocolVersion)
        }
        Some(version) => version,
        None => return Err(EngineError::UnsupportedProtocolVersion),
    };
    let upgrade = is_websocket_upgrade(req);
    let jsonp = match transport {
        TransportName::Polling => jsonp_index(version, &query)?,
        TransportName::WebSocket => None,
    };

    if let Some(sid) = query.get("sid") {
        let addr = engine
            .sessions
            .get(sid)
            .map(|a| a.clone())
            .ok_or(EngineError::UnknownSid)?;
        return match (transport, upgrade) {
            (TransportName::WebSocket, true) => {
                let base64 = wants_base64(version, &query);
                upgrade_to_websocket(engine, addr, base64, req, body).await
            }
            (TransportName::Polling, false) if req.method() == Method::GET => {
                poll(addr, version, jsonp, req).await
            }
            (TransportName::Polling, false) if req.method() == Method::POST => {
                post(engine, addr, version, jsonp.is_some(), body).await
            }
            _ => Err(EngineError::BadRequest),
        };
    }

    if req.method() != Method::GET {
        return Err(EngineError::BadHandshakeMethod);
    }
    if transport == TransportName::WebSocket && !upgrade {
        return Err(EngineError::BadRequest);
    }
    if let Some(allow) = &config.allow_request {
        if let Err(reason) = allow(req) {
            tracing::info!(%reason, "engine.io handshake refused by allow_request");
            return Err(EngineError::Forbidden);
        }
    }
    if engine.hub.refuses_new_session() {
        return Err(EngineError::SessionLimit);
    }
    let handshake = Arc::new(Handshake::of_request(req, query));
    match transport {
        TransportName::Polling => {
            let (sid, addr) = open_session(engine, version, handshake, Transport::Polling)?;
            let mut response = poll(addr, version, jsonp, req).await?;
            if let Some(name) = &config.cookie {
                let cookie = format!("{name}={sid}; Path=/; HttpOnly; SameSite=Lax");
                if let Ok(value) = cookie.parse() {
                    response
                        .headers_mut()
                        .append(actix_web::http::header::SET_COOKIE, value);
                }
            }
            Ok(response)
        }
        TransportName::WebSocket => {
            let (response, connection) = accept_websocket(req, body, &engine.ws_limits)
                .map_err(|_| EngineError::BadRequest)?;
            let (_, addr) = open_session(engine, version, handshake, Transport::WebSocket)?;
            let _ = addr
                .send(invoke(|logic: &mut EngineLogic<H>, _| {
                    logic.started_on_websocket()
                }))
                .await;
            connection.run(addr);
            Ok(response)
        }
    }
}

/// The JSONP callback index of an EIO3 polling request (`j`), if it is one. An index that is not
/// a plain decimal number is refused (and never echoed). EIO4 has no JSONP: `j` is ignored.
fn jsonp_index(version: EioVersion, query: &Pairs) -> Result<Option<String>, EngineError> {
    match (version, query.get("j")) {
        (EioVersion::V3, Some(index)) => validate_jsonp_index(index)
            .map(|index| Some(index.to_string()))
            .map_err(|_| EngineError::BadRequest),
        _ => Ok(None),
    }
}

fn invoke<H: EngineHandler, R: 'static>(
    f: impl FnOnce(&mut EngineLogic<H>, &mut SessionCore) -> R + Send + 'static,
) -> Invoke<EngineLogic<H>, R> {
    Invoke(Box::new(f))
}

fn open_session<H: EngineHandler>(
    engine: &Arc<EngineShared<H>>,
    version: EioVersion,
    handshake: Arc<Handshake>,
    transport: Transport,
) -> Result<(Arc<str>, EngineAddr<H>), EngineError> {
    let sid: Arc<str> = crate::hub::new_session_id();
    let config = &engine.config;
    let upgrades = if transport == Transport::Polling && config.websocket {
        json!(["websocket"])
    } else {
        json!([])
    };
    let open = match version {
        EioVersion::V4 => json!({
            "sid": sid.as_ref(),
            "upgrades": upgrades,
            "pingInterval": config.ping_interval.as_millis() as u64,
            "pingTimeout": config.ping_timeout.as_millis() as u64,
            "maxPayload": config.max_payload,
        }),
        EioVersion::V3 => json!({
            "sid": sid.as_ref(),
            "upgrades": upgrades,
            "pingInterval": config.ping_interval.as_millis() as u64,
            "pingTimeout": config.ping_timeout.as_millis() as u64,
        }),
    };
    let logic = EngineLogic::new(
        engine.clone(),
        sid.clone(),
        version,
        handshake,
        format!("0{open}"),
    );
    let addr = SessionActor::start(
        engine.hub.clone(),
        engine.handler.protocol(),
        transport,
        logic,
        &engine.session_options,
        // A Socket.IO socket keeps the handshake Node shows once it connects (with its auth).
        None,
        // and its user, once its authenticator has answered.
        None,
    )
    .map_err(|_| EngineError::SessionLimit)?;
    engine.sessions.insert(sid.to_string(), addr.clone());
    Ok((sid, addr))
}

/// A long-poll GET: waits for the session's next frames (a ping is due within pingInterval) and
/// answers them in the form the client reads (`jsonp`: the callback index of a JSONP request).
/// Only a poll that has to wait watches its connection for an abort.
async fn poll<H: EngineHandler>(
    addr: EngineAddr<H>,
    version: EioVersion,
    jsonp: Option<String>,
    req: &HttpRequest,
) -> Result<HttpResponse, EngineError> {
    let (tx, mut rx) = oneshot::channel();
    let binary = addr
        .send(invoke(move |logic: &mut EngineLogic<H>, core| {
            logic
                .attach_poll(core, tx)
                .map(|()| logic.supports_binary())
        }))
        .await
        .map_err(|_| EngineError::UnknownSid)??;
    // Answered at once (queued packets, a handshake): no need to watch the connection.
    let ready = match rx.try_recv() {
        Ok(pulled) => Some(Ok(pulled)),
        Err(oneshot::error::TryRecvError::Closed) => Some(Err(EngineError::UnknownSid)),
        Err(oneshot::error::TryRecvError::Empty) => None,
    };
    let pulled = match ready {
        Some(pulled) => pulled,
        None => match PeerWatch::of(req) {
            Some(peer) => tokio::select! {
                biased;
                pulled = &mut rx => pulled.map_err(|_| EngineError::UnknownSid),
                () = peer.closed() => {
                    // The client gave up on the poll: Node closes the session.
                    addr.do_send(invoke(|_: &mut EngineLogic<H>, core: &mut SessionCore| {
                        if core.puller_abandoned() {
                            core.close(DisconnectReason::TransportError(
                                "poll connection closed prematurely".into(),
                            ));
                        }
                    }));
                    return Err(EngineError::BadRequest);
                }
            },
            None => rx.await.map_err(|_| EngineError::UnknownSid),
        },
    };
    let pulled = pulled?;
    let flavor = match (version, jsonp) {
        (EioVersion::V4, _) => PollFlavor::V4,
        (EioVersion::V3, Some(index)) => PollFlavor::V3Jsonp { index },
        (EioVersion::V3, None) => PollFlavor::V3 { binary },
    };
    let answer = answer_poll(&pulled, &flavor);
    Ok(HttpResponse::Ok()
        .content_type(answer.content_type)
        .body(answer.body))
}

/// A POST: the client's packets (`jsonp`: a form with the payload in `d`).
async fn post<H: EngineHandler>(
    engine: &Arc<EngineShared<H>>,
    addr: EngineAddr<H>,
    version: EioVersion,
    jsonp: bool,
    body: web::Payload,
) -> Result<HttpResponse, EngineError> {
    let config = &engine.config;
    let body = match read_body(body, config.max_payload, config.body_timeout).await {
        Ok(body) => body,
        Err(error) => {
            // Node closes the session when a POST breaks off: its packets are lost.
            tracing::debug!(%error, "engine.io POST refused");
            let reason = match error {
                BodyError::TooBig => DisconnectReason::MessageTooBig,
                BodyError::TimedOut => DisconnectReason::TransportError(error.to_string()),
                BodyError::Aborted => DisconnectReason::TransportError(
                    "data request connection closed prematurely".into(),
                ),
            };
            addr.do_send(invoke(|_: &mut EngineLogic<H>, core: &mut SessionCore| {
                core.close(reason)
            }));
            return Ok(HttpResponse::build(error.status()).finish());
        }
    };
    let packets = match version {
        EioVersion::V4 => std::str::from_utf8(&body)
            .map_err(|e| e.to_string())
            .and_then(|text| decode_payload_v4(text).map_err(|e| e.to_string())),
        EioVersion::V3 if jsonp => decode_post_jsonp(&body),
        EioVersion::V3 => decode_post_v3(&body),
    };
    let packets = match packets {
        Ok(packets) => packets,
        Err(error) => {
            addr.do_send(invoke(
                move |_: &mut EngineLogic<H>, core: &mut SessionCore| {
                    core.close(DisconnectReason::ParseError(error.to_string()))
                },
            ));
            return Err(EngineError::BadRequest);
        }
    };
    addr.send(invoke(move |logic: &mut EngineLogic<H>, core| {
        logic.receive_posted(core, packets)
    }))
    .await
    .map_err(|_| EngineError::UnknownSid)??;
    Ok(HttpResponse::Ok().content_type("text/html").body("ok"))
}

/// A WebSocket with the sid of a polling session: probe, then take over.
async fn upgrade_to_websocket<H: EngineHandler>(
    engine: &Arc<EngineShared<H>>,
    addr: EngineAddr<H>,
    base64: bool,
    req: &HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, EngineError> {
    let began = addr
        .send(invoke(move |logic: &mut EngineLogic<H>, _| {
            logic.begin_upgrade(base64)
        }))
        .await;
    if !matches!(began, Ok(Ok(()))) {
        // Already upgraded, being upgraded, or just gone: as Node, the handshake completes and
        // the socket is closed at once (an empty close frame); the session is not touched.
        tracing::debug!("engine.io upgrade refused: the session is upgraded or upgrading");
        let (response, connection) =
            accept_websocket(req, body, &engine.ws_limits).map_err(|_| EngineError::BadRequest)?;
        connection.output().end();
        return Ok(response);
    }
    let (response, mut connection) = match accept_websocket(req, body, &engine.ws_limits) {
        Ok(parts) => parts,
        Err(_) => {
            addr.do_send(invoke(|logic: &mut EngineLogic<H>, _| {
                logic.abort_upgrade()
            }));
            return Err(EngineError::BadRequest);
        }
    };
    let timeout = engine.config.upgrade_timeout;
    actix_web::rt::spawn(async move {
        let probed = tokio::time::timeout(timeout, probe::<H>(&mut connection, &addr)).await;
        let upgraded = match probed {
            Ok(true) => addr
                .send(invoke(|logic: &mut EngineLogic<H>, core| {
                    logic.finish_upgrade(core)
                }))
                .await
                .unwrap_or(false),
            _ => false,
        };
        if upgraded {
            connection.run(addr);
        } else {
            tracing::debug!("engine.io upgrade abandoned");
            addr.do_send(invoke(|logic: &mut EngineLogic<H>, _| {
                logic.abort_upgrade()
            }));
            connection.output().end();
        }
    });
    Ok(response)
}

/// The probe exchange: `2probe` → `3probe`, then the client's `5`. False if anything else comes.
async fn probe<H: EngineHandler>(connection: &mut WsConnection, addr: &EngineAddr<H>) -> bool {
    let mut probed = false;
    while let Some(message) = connection.recv().await {
        match message {
            Incoming::Text(text) if &*text == "2probe" && !probed => {
                let answer = Frame::Text(ByteString::from_static("3probe"));
                if connection.output().send(&[answer]).is_err() {
                    return false;
                }
                probed = true;
                if addr
                    .send(invoke(|logic: &mut EngineLogic<H>, core| {
                        logic.probe_answered(core)
                    }))
                    .await
                    .is_err()
                {
                    return false;
                }
            }
            Incoming::Text(text) if &*text == "5" && probed => return true,
            Incoming::Ping(data) => {
                if connection.output().pong(&data).is_err() {
                    return false;
                }
            }
            Incoming::Pong => {}
            _ => return false,
        }
    }
    false
}
