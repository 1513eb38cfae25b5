//! The HTTP side of a SockJS service: routing, the static answers, and every transport.

use std::collections::VecDeque;
use std::sync::Arc;

use actix::Addr;
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use bytes::Bytes;
use tokio::sync::oneshot;

use super::app::SockJsApp;
use super::frame::{self, CallbackTransport, FrameError};
use super::headers;
use super::logic::{Attach, Receiver, SockJsLogic};
use super::{Entry, SockJsShared};
use crate::auth::request::{authenticate, authenticate_request};
use crate::auth::{AuthError, User};
use crate::engineio::Handshake;
use crate::hub::{Frame, Protocol, Transport, SESSION_LIMIT_REACHED};
use crate::session::http::{read_body, BodyError};
use crate::session::peer::PeerWatch;
use crate::session::{
    accept_websocket, is_websocket_upgrade, Invoke, Pulled, SessionActor, SessionCore,
};

type SessionAddr<A> = Addr<SessionActor<SockJsLogic<A>>>;

/// Mounts a service under its prefix.
pub(super) fn configure<A: SockJsApp>(service: Arc<SockJsShared<A>>, cfg: &mut web::ServiceConfig) {
    let prefix = service.config.prefix.clone();
    let handler = move |req: HttpRequest, body: web::Payload| {
        let service = service.clone();
        async move { handle(service, req, body).await }
    };
    cfg.service(web::scope(&prefix).default_service(web::to(handler)));
}

fn not_found(mut res: HttpResponseBuilder) -> HttpResponse {
    res.status(StatusCode::NOT_FOUND)
        .content_type(frame::CONTENT_TYPE_PLAIN)
        .body(frame::NOT_FOUND_BODY)
}

fn method_not_allowed(allow: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .finish()
}

fn error_500(mut res: HttpResponseBuilder, error: FrameError) -> HttpResponse {
    res.status(StatusCode::INTERNAL_SERVER_ERROR)
        .body(error.to_string())
}

/// The `/iframe*.html` pattern of sockjs-node (the dot before `html` is any character).
fn is_iframe(rest: &str) -> bool {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let Some(middle) = rest.strip_prefix("/iframe") else {
        return false;
    };
    let Some(middle) = middle.strip_suffix("html") else {
        return false;
    };
    let mut chars = middle.chars();
    chars.next_back().is_some()
        && chars.as_str().bytes().all(|b| {
            b.is_ascii_digit() || b.is_ascii_lowercase() || matches!(b, b'-' | b'.' | b'_')
        })
}

/// `/<server>/<session>/<transport>`, ids without `/` or `.`.
fn session_url(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.strip_prefix('/')?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut parts = rest.split('/');
    let (server, session, transport) = (parts.next()?, parts.next()?, parts.next()?);
    let valid = |id: &str| !id.is_empty() && !id.contains('.');
    (parts.next().is_none() && valid(server) && valid(session)).then_some((session, transport))
}

async fn handle<A: SockJsApp>(
    service: Arc<SockJsShared<A>>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let mut response = route(service, &req, body).await;
    if req.version() == actix_web::http::Version::HTTP_10 {
        // HTTP/1.0 has no chunked encoding: a stream is sent as is and ends with the connection.
        let head = response.head_mut();
        head.no_chunking(true);
        head.set_connection_type(actix_web::http::ConnectionType::Close);
    }
    response
}

async fn route<A: SockJsApp>(
    service: Arc<SockJsShared<A>>,
    req: &HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let path = req.uri().path();
    let rest = path.get(service.config.prefix.len()..).unwrap_or("");
    let method = req.method().clone();
    match rest {
        "" | "/" => match method {
            Method::GET => HttpResponse::Ok()
                .content_type(frame::CONTENT_TYPE_PLAIN)
                .body(frame::WELCOME_BODY),
            _ => method_not_allowed("GET"),
        },
        "/info" | "/info/" => match method {
            Method::GET => info(&service, req),
            Method::OPTIONS => options(&service, req, frame::ALLOW_METHODS_INFO),
            _ => method_not_allowed("OPTIONS, GET"),
        },
        "/websocket" | "/websocket/" => match method {
            Method::GET => websocket(&service, req, body, None).await,
            _ => method_not_allowed("GET"),
        },
        _ if is_iframe(rest) => match method {
            Method::GET => iframe(&service, req),
            _ => method_not_allowed("GET"),
        },
        _ => match session_url(rest) {
            Some((sid, transport)) => {
                session_request(service.clone(), req, body, sid.to_string(), transport).await
            }
            None => not_found(HttpResponse::build(StatusCode::NOT_FOUND)),
        },
    }
}

fn info<A: SockJsApp>(service: &SockJsShared<A>, req: &HttpRequest) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    headers::xhr_cors(req, &mut res);
    headers::no_cache(&mut res);
    let body = frame::Info {
        websocket: service.config.websocket,
        cors: true,
        cookie_needed: service.config.jsessionid,
        entropy: rand::random::<u32>(),
        base_url: None,
    };
    res.content_type(frame::CONTENT_TYPE_JSON)
        .body(body.to_json())
}

fn options<A: SockJsApp>(
    service: &SockJsShared<A>,
    req: &HttpRequest,
    methods: &'static str,
) -> HttpResponse {
    let mut res = HttpResponse::NoContent();
    headers::jsessionid(req, service.config.jsessionid, &mut res);
    headers::xhr_cors(req, &mut res);
    headers::cache_for(&mut res);
    res.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, methods))
        .insert_header((
            header::ACCESS_CONTROL_MAX_AGE,
            frame::CACHE_FOR_SECS.to_string(),
        ))
        .finish()
}

fn iframe<A: SockJsApp>(service: &SockJsShared<A>, req: &HttpRequest) -> HttpResponse {
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let mut res = HttpResponse::Ok();
    headers::cache_for(&mut res);
    if frame::iframe_not_modified(if_none_match, &service.iframe_etag) {
        return res.status(StatusCode::NOT_MODIFIED).finish();
    }
    res.content_type(frame::CONTENT_TYPE_HTML)
        .insert_header((header::ETAG, service.iframe_etag.clone()))
        .body(service.iframe.clone())
}

async fn websocket<A: SockJsApp>(
    service: &Arc<SockJsShared<A>>,
    req: &HttpRequest,
    body: web::Payload,
    framed: Option<()>,
) -> HttpResponse {
    if !service.config.websocket {
        let mut res = HttpResponse::NotFound();
        headers::cache_for(&mut res);
        return not_found(res);
    }
    if !is_websocket_upgrade(req) {
        return HttpResponse::BadRequest().body(frame::WEBSOCKET_NOT_VALID_BODY);
    }
    if service.hub.refuses_new_session() {
        return HttpResponse::ServiceUnavailable().body(SESSION_LIMIT_REACHED);
    }
    let authenticator = service.authenticator();
    let user = match authenticate_request(
        authenticator,
        req,
        Protocol::SockJs,
        Transport::WebSocket,
    )
    .await
    {
        Ok(user) => user,
        Err(error) => {
            return match framed {
                Some(()) => refuse_framed(service, req, body, &error),
                None => crate::auth::request::refused(&error),
            }
        }
    };
    let (response, connection) = match accept_websocket(req, body, &service.ws_limits) {
        Ok(parts) => parts,
        Err(_) => return HttpResponse::BadRequest().body(frame::RAW_WEBSOCKET_VERSION_BODY),
    };
    let receiver = match framed {
        Some(()) => Receiver::WebSocket,
        None => Receiver::RawWebSocket,
    };
    let logic = SockJsLogic::new(service.clone(), None, receiver);
    let handshake = ReceiverRequest::of(service, req).handshake;
    let Ok(addr) = SessionActor::start(
        service.hub.clone(),
        Protocol::SockJs,
        Transport::WebSocket,
        logic,
        &service.session_options,
        handshake,
        user,
    ) else {
        return HttpResponse::ServiceUnavailable().body(SESSION_LIMIT_REACHED);
    };
    connection.run(addr);
    response
}

/// The SockJS close frame of a refused connection: 4000 plus the refusal's HTTP status.
fn refusal_frame(error: &AuthError) -> String {
    frame::encode_close(4000 + error.status(), error.message())
}

/// A framed SockJS WebSocket refused by its authenticator: upgraded, then `c[4401,"..."]` in
/// place of the open frame and a normal close, as a session that closed at once.
fn refuse_framed<A: SockJsApp>(
    service: &SockJsShared<A>,
    req: &HttpRequest,
    body: web::Payload,
    error: &AuthError,
) -> HttpResponse {
    match accept_websocket(req, body, &service.ws_limits) {
        Ok((response, connection)) => {
            let output = connection.output();
            let _ = output.send(&[Frame::Text(refusal_frame(error).into())]);
            output.close(frame::CLOSE_NORMAL.0, frame::CLOSE_NORMAL.1);
            response
        }
        Err(_) => HttpResponse::BadRequest().body(frame::RAW_WEBSOCKET_VERSION_BODY),
    }
}

/// How one HTTP transport wraps SockJS frames.
#[derive(Clone)]
enum Wrap {
    Xhr,
    EventSource,
    HtmlFile,
    Jsonp(String),
}

impl Wrap {
    fn frame(&self, frame: &str) -> String {
        match self {
            Wrap::Xhr => frame::xhr_frame(frame),
            Wrap::EventSource => frame::eventsource_frame(frame),
            Wrap::HtmlFile => frame::htmlfile_frame(frame),
            Wrap::Jsonp(callback) => frame::jsonp_frame(callback, frame),
        }
    }
}

fn content_type_of(content_type: Option<&header::HeaderValue>) -> Option<&str> {
    content_type.and_then(|v| v.to_str().ok())
}

async fn session_request<A: SockJsApp>(
    service: Arc<SockJsShared<A>>,
    req: &HttpRequest,
    body: web::Payload,
    sid: String,
    transport: &str,
) -> HttpResponse {
    let method = req.method().clone();
    let jsessionid = service.config.jsessionid;
    let mut res = HttpResponse::Ok();
    match (transport, method) {
        ("websocket", Method::GET) => websocket(&service, req, body, Some(())).await,
        ("websocket", _) => method_not_allowed("GET"),
        ("xhr" | "xhr_send" | "xhr_streaming", Method::OPTIONS) => {
            options(&service, req, frame::ALLOW_METHODS_XHR)
        }
        ("xhr", Method::POST) => {
            headers::jsessionid(req, jsessionid, &mut res);
            headers::no_cache(&mut res);
            headers::xhr_cors(req, &mut res);
            res.content_type(frame::CONTENT_TYPE_JAVASCRIPT);
            polling(
                &service,
                sid,
                Transport::Polling,
                Wrap::Xhr,
                res,
                ReceiverRequest::of(&service, req),
            )
            .await
        }
        ("xhr_streaming", Method::POST) => {
            headers::jsessionid(req, jsessionid, &mut res);
            headers::no_cache(&mut res);
            headers::xhr_cors(req, &mut res);
            res.content_type(frame::CONTENT_TYPE_JAVASCRIPT);
            let prelude = frame::XHR_STREAMING_PRELUDE.to_string();
            let client = ReceiverRequest::of(&service, req);
            streaming(
                service,
                sid,
                Transport::XhrStreaming,
                Wrap::Xhr,
                prelude,
                res,
                client,
            )
        }
        ("eventsource", Method::GET) => {
            headers::jsessionid(req, jsessionid, &mut res);
            headers::no_cache(&mut res);
            headers::eventsource_cors(req, &mut res);
            res.content_type(frame::CONTENT_TYPE_EVENT_STREAM);
            let prelude = frame::EVENTSOURCE_PRELUDE.to_string();
            let client = ReceiverRequest::of(&service, req);
            streaming(
                service,
                sid,
                Transport::EventSource,
                Wrap::EventSource,
                prelude,
                res,
                client,
            )
        }
        ("htmlfile", Method::GET) => {
            headers::jsessionid(req, jsessionid, &mut res);
            headers::no_cache(&mut res);
            let callback = match frame::callback_from_query(
                Some(req.query_string()),
                CallbackTransport::Htmlfile,
            ) {
                Ok(callback) => callback,
                Err(error) => return error_500(res, error),
            };
            res.content_type(frame::CONTENT_TYPE_HTML);
            let prelude = frame::htmlfile_prelude(&callback);
            let client = ReceiverRequest::of(&service, req);
            streaming(
                service,
                sid,
                Transport::HtmlFile,
                Wrap::HtmlFile,
                prelude,
                res,
                client,
            )
        }
        ("jsonp", Method::GET) => {
            headers::jsessionid(req, jsessionid, &mut res);
            headers::no_cache(&mut res);
            let callback = match frame::callback_from_query(
                Some(req.query_string()),
                CallbackTransport::Jsonp,
            ) {
                Ok(callback) => callback,
                Err(error) => return error_500(res, error),
            };
            res.content_type(frame::CONTENT_TYPE_JAVASCRIPT)
                .insert_header(("X-Content-Type-Options", "nosniff"));
            polling(
                &service,
                sid,
                Transport::Jsonp,
                Wrap::Jsonp(callback),
                res,
                ReceiverRequest::of(&service, req),
            )
            .await
        }
        ("xhr_send", Method::POST) => {
            headers::jsessionid(req, jsessionid, &mut res);
            headers::no_cache(&mut res);
            headers::xhr_cors(req, &mut res);
            let content_type = content_type_of(req.headers().get(header::CONTENT_TYPE));
            let body = match posted_body(&service, &sid, body).await {
                Ok(body) => body,
                Err(Refused::TooBig) => {
                    return res
                        .status(StatusCode::NO_CONTENT)
                        .content_type(frame::CONTENT_TYPE_PLAIN)
                        .finish()
                }
                Err(Refused::NoSession) => return not_found(res),
                Err(Refused::Status(status)) => return res.status(status).finish(),
            };
            match frame::decode_xhr_send(content_type, &body) {
                Ok(messages) => match deliver(&service, &sid, messages).await {
                    true => res
                        .status(StatusCode::NO_CONTENT)
                        .content_type(frame::CONTENT_TYPE_PLAIN)
                        .finish(),
                    false => not_found(res),
                },
                Err(error) => error_500(res, error),
            }
        }
        ("jsonp_send", Method::POST) => {
            headers::jsessionid(req, jsessionid, &mut res);
            headers::no_cache(&mut res);
            let content_type = content_type_of(req.headers().get(header::CONTENT_TYPE));
            let body = match posted_body(&service, &sid, body).await {
                Ok(body) => body,
                Err(Refused::TooBig) => {
                    return res
                        .content_type(frame::CONTENT_TYPE_PLAIN)
                        .body(frame::JSONP_SEND_OK_BODY)
                }
                Err(Refused::NoSession) => return not_found(res),
                Err(Refused::Status(status)) => return res.status(status).finish(),
            };
            match frame::decode_jsonp_send(content_type, &body) {
                Ok(messages) => match deliver(&service, &sid, messages).await {
                    true => res
                        .content_type(frame::CONTENT_TYPE_PLAIN)
                        .body(frame::JSONP_SEND_OK_BODY),
                    false => not_found(res),
                },
                Err(error) => error_500(res, error),
            }
        }
        ("xhr" | "xhr_send" | "xhr_streaming", _) => method_not_allowed("POST, OPTIONS"),
        ("jsonp_send", _) => method_not_allowed("POST"),
        ("eventsource" | "htmlfile" | "jsonp", _) => method_not_allowed("GET"),
        _ => not_found(HttpResponse::build(StatusCode::NOT_FOUND)),
    }
}

/// Why a posted body was not taken.
enum Refused {
    /// Over the limit: the session is closed with 1009 (the post itself is answered as usual).
    TooBig,
    /// There is no such session.
    NoSession,
    /// The body broke off or did not arrive in time: answered with this, the session kept (as
    /// sockjs-node keeps it).
    Status(StatusCode),
}

/// Reads a posted body within the size limit and the body timeout.
async fn posted_body<A: SockJsApp>(
    service: &SockJsShared<A>,
    sid: &str,
    body: web::Payload,
) -> Result<web::BytesMut, Refused> {
    let config = &service.config;
    match read_body(body, config.max_message_size, config.body_timeout).await {
        Ok(body) => Ok(body),
        Err(BodyError::TooBig) => match too_big(service, sid).await {
            true => Err(Refused::TooBig),
            false => Err(Refused::NoSession),
        },
        Err(error) => {
            tracing::debug!(session = sid, %error, "sockjs post refused");
            Err(Refused::Status(error.status()))
        }
    }
}

/// A posted body over the limit closes the session with 1009, as a too big WebSocket message
/// does; false when there is no such session.
async fn too_big<A: SockJsApp>(service: &SockJsShared<A>, sid: &str) -> bool {
    let Some(Entry::Live(addr)) = service.sessions.get(sid).map(|e| e.clone()) else {
        return false;
    };
    let close: Invoke<SockJsLogic<A>, ()> = Invoke(Box::new(
        |logic: &mut SockJsLogic<A>, core: &mut SessionCore| logic.too_big(core),
    ));
    addr.send(close).await.is_ok()
}

/// Hands posted messages to a live session; false when there is none.
async fn deliver<A: SockJsApp>(
    service: &SockJsShared<A>,
    sid: &str,
    messages: Vec<String>,
) -> bool {
    let Some(Entry::Live(addr)) = service.sessions.get(sid).map(|e| e.clone()) else {
        return false;
    };
    let invoke: Invoke<SockJsLogic<A>, ()> = Invoke(Box::new(
        move |logic: &mut SockJsLogic<A>, core: &mut SessionCore| logic.receive(core, messages),
    ));
    addr.send(invoke).await.is_ok()
}

/// The live session for a receiver (created if new), or the close frame of a closed one.
fn session_for<A: SockJsApp>(
    service: &Arc<SockJsShared<A>>,
    sid: &str,
    transport: Transport,
    handshake: Option<serde_json::Value>,
    user: Option<Arc<User>>,
) -> Result<SessionAddr<A>, String> {
    let entry = service
        .sessions
        .entry(sid.to_string())
        .or_try_insert_with(|| {
            // The session was there when the receiver looked (so it was not authenticated)
            // and is gone now: it is not created without a user.
            if service.authenticator().is_some() && user.is_none() {
                return Err(refusal_frame(&AuthError::Missing));
            }
            let logic = SockJsLogic::new(service.clone(), Some(sid.to_string()), Receiver::None);
            SessionActor::start(
                service.hub.clone(),
                Protocol::SockJs,
                transport,
                logic,
                &service.session_options,
                handshake,
                user,
            )
            .map(Entry::Live)
            .map_err(|_| frame::encode_close(1013, SESSION_LIMIT_REACHED))
        })?;
    match entry.value() {
        Entry::Live(addr) => Ok(addr.clone()),
        Entry::Closed(close) => Err(close.clone()),
    }
}

/// What one pull gave a receiver: SockJS frames, and whether the response must end after them.
struct Got {
    frames: Vec<String>,
    ended: bool,
}

/// SockJS frames from what the session pulled: consecutive message frames merged into one.
fn sockjs_frames(pulled: Pulled) -> Got {
    let mut frames: Vec<String> = Vec::new();
    for frame in pulled.frames {
        let text = match frame {
            Frame::Text(text) => text.to_string(),
            Frame::Binary(_) => continue,
            Frame::Ping => frame::HEARTBEAT_FRAME.to_string(),
        };
        match (frames.last_mut(), text.strip_prefix("a[")) {
            (Some(last), Some(more)) if last.starts_with("a[") => {
                last.pop();
                last.push(',');
                last.push_str(more);
            }
            _ => frames.push(text),
        }
    }
    let ended = match pulled.close {
        Some(close) => {
            frames.push(frame::encode_close(close.code, &close.reason));
            true
        }
        None => false,
    };
    Got { frames, ended }
}

/// What a receiving request brings of its client: a watch on its connection, and (in cluster
/// mode) the handshake a session it creates keeps for other nodes' `fetchSockets()`.
struct ReceiverRequest {
    peer: Option<PeerWatch>,
    handshake: Option<serde_json::Value>,
    /// What a new session is authenticated with, when clients must authenticate.
    credentials: Option<Handshake>,
}

impl ReceiverRequest {
    fn of<A: SockJsApp>(service: &SockJsShared<A>, req: &HttpRequest) -> ReceiverRequest {
        ReceiverRequest {
            peer: PeerWatch::of(req),
            handshake: crate::engineio::cluster_handshake(&service.hub, req),
            credentials: service
                .authenticator()
                .map(|_| Handshake::of_request_query(req)),
        }
    }
}

/// What a receiver brings for the session it may create.
struct NewSession<'a> {
    /// The handshake the session keeps (cluster mode).
    handshake: Option<serde_json::Value>,
    /// What it is authenticated with, when clients must authenticate.
    credentials: Option<&'a Handshake>,
}

/// The user of a session a receiver creates (`Ok(None)` when the session exists already or
/// clients do not authenticate), or the close frame of a refused one.
async fn new_session_user<A: SockJsApp>(
    service: &SockJsShared<A>,
    sid: &str,
    transport: Transport,
    credentials: Option<&Handshake>,
) -> Result<Option<Arc<User>>, String> {
    let Some(authenticator) = service.authenticator() else {
        return Ok(None);
    };
    if service.sessions.contains_key(sid) {
        return Ok(None);
    }
    let Some(credentials) = credentials else {
        return Err(refusal_frame(&AuthError::Missing));
    };
    authenticate(
        Some(authenticator),
        credentials,
        Protocol::SockJs,
        transport,
    )
    .await
    .map_err(|error| refusal_frame(&error))
}

/// Attaches a receiver to a session and waits for its next frames.
async fn pull<A: SockJsApp>(
    service: &Arc<SockJsShared<A>>,
    sid: &str,
    transport: Transport,
    kind: Receiver,
    peer: Option<&PeerWatch>,
    request: u64,
    new_session: NewSession<'_>,
) -> (Got, Option<SessionAddr<A>>) {
    let closed = |frame: String| Got {
        frames: vec![frame],
        ended: true,
    };
    let NewSession {
        handshake,
        credentials,
    } = new_session;
    let user = match new_session_user(service, sid, transport, credentials).await {
        Ok(user) => user,
        Err(close) => return (closed(close), None),
    };
    let addr = match session_for(service, sid, transport, handshake, user) {
        Ok(addr) => addr,
        Err(close) => return (closed(close), None),
    };
    let (tx, rx) = oneshot::channel();
    let invoke: Invoke<SockJsLogic<A>, Attach> = Invoke(Box::new(
        move |logic: &mut SockJsLogic<A>, core: &mut SessionCore| {
            core.set_transport(transport);
            logic.attach(core, kind, tx, request)
        },
    ));
    match addr.send(invoke).await {
        Ok(Attach::Attached) => {}
        Ok(Attach::AnotherConnection) => {
            let (code, reason) = frame::CLOSE_ANOTHER_CONNECTION;
            return (closed(frame::encode_close(code, reason)), Some(addr));
        }
        Err(_) => return (closed(closed_frame(service, sid)), None),
    }
    let pulled = match peer {
        Some(peer) => tokio::select! {
            biased;
            pulled = rx => pulled,
            () = peer.closed() => {
                // The client went away mid-request: sockjs-node ends the session at once.
                let gone: Invoke<SockJsLogic<A>, ()> = Invoke(Box::new(|logic: &mut SockJsLogic<A>, core: &mut SessionCore| {
                    logic.receiver_gone(core)
                }));
                addr.do_send(gone);
                return (Got { frames: Vec::new(), ended: true }, Some(addr));
            }
        },
        None => rx.await,
    };
    match pulled {
        Ok(pulled) => (sockjs_frames(pulled), Some(addr)),
        Err(_) => (closed(closed_frame(service, sid)), Some(addr)),
    }
}

fn closed_frame<A: SockJsApp>(service: &SockJsShared<A>, sid: &str) -> String {
    match service.sessions.get(sid).map(|e| e.clone()) {
        Some(Entry::Closed(close)) => close,
        _ => frame::encode_close(frame::CLOSE_NORMAL.0, frame::CLOSE_NORMAL.1),
    }
}

/// `xhr` and `jsonp`: one frame, then the response ends.
async fn polling<A: SockJsApp>(
    service: &Arc<SockJsShared<A>>,
    sid: String,
    transport: Transport,
    wrap: Wrap,
    mut res: HttpResponseBuilder,
    client: ReceiverRequest,
) -> HttpResponse {
    let ReceiverRequest {
        peer,
        handshake,
        credentials,
    } = client;
    let (got, _) = pull(
        service,
        &sid,
        transport,
        Receiver::Polling,
        peer.as_ref(),
        next_request(),
        NewSession {
            handshake,
            credentials: credentials.as_ref(),
        },
    )
    .await;
    // One frame per poll: a close that came with other frames waits for the next poll (closed
    // sessions keep their close frame for late receivers).
    let body = got
        .frames
        .first()
        .map(|f| wrap.frame(f))
        .unwrap_or_default();
    res.body(body)
}

static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A new id for a receiving request.
fn next_request() -> u64 {
    REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Gives a session back when its streaming response ends, however it ends.
struct Release<A: SockJsApp> {
    addr: SessionAddr<A>,
    request: u64,
    finished: bool,
}

impl<A: SockJsApp> Drop for Release<A> {
    fn drop(&mut self) {
        let (request, finished) = (self.request, self.finished);
        let release: Invoke<SockJsLogic<A>, ()> = Invoke(Box::new(
            move |logic: &mut SockJsLogic<A>, core: &mut SessionCore| {
                logic.release(core, request, finished)
            },
        ));
        self.addr.do_send(release);
    }
}

/// `xhr_streaming`, `eventsource`, `htmlfile`: a prelude, then each frame as its own chunk, until
/// the close or `response_limit` bytes.
fn streaming<A: SockJsApp>(
    service: Arc<SockJsShared<A>>,
    sid: String,
    transport: Transport,
    wrap: Wrap,
    prelude: String,
    mut res: HttpResponseBuilder,
    client: ReceiverRequest,
) -> HttpResponse {
    let ReceiverRequest {
        peer,
        handshake,
        credentials,
    } = client;
    struct State<A: SockJsApp> {
        service: Arc<SockJsShared<A>>,
        /// The handshake a new session keeps (taken by the first pull).
        handshake: Option<serde_json::Value>,
        /// What a new session is authenticated with.
        credentials: Option<Handshake>,
        peer: Option<PeerWatch>,
        sid: String,
        transport: Transport,
        wrap: Wrap,
        pending: VecDeque<Bytes>,
        sent: usize,
        done: bool,
        request: u64,
        release: Option<Release<A>>,
    }
    let state = State {
        service,
        handshake,
        credentials,
        peer,
        sid,
        transport,
        wrap,
        pending: VecDeque::from([Bytes::from(prelude)]),
        sent: 0,
        done: false,
        request: next_request(),
        release: None,
    };
    let body = futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(chunk) = state.pending.pop_front() {
                return Some((Ok::<_, actix_web::Error>(chunk), state));
            }
            if state.done {
                if let Some(release) = state.release.as_mut() {
                    release.finished = true;
                }
                return None;
            }
            let (got, addr) = pull(
                &state.service,
                &state.sid,
                state.transport,
                Receiver::Streaming,
                state.peer.as_ref(),
                state.request,
                NewSession {
                    handshake: state.handshake.take(),
                    credentials: state.credentials.as_ref(),
                },
            )
            .await;
            if let (None, Some(addr)) = (&state.release, addr) {
                state.release = Some(Release {
                    addr,
                    request: state.request,
                    finished: false,
                });
            }
            for frame in &got.frames {
                let wrapped = state.wrap.frame(frame);
                state.sent += frame::utf16_len(&wrapped);
                state.pending.push_back(Bytes::from(wrapped));
            }
            state.done = got.ended || state.sent >= state.service.config.response_limit;
        }
    });
    res.streaming(body)
}
