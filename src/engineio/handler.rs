//! What runs on top of Engine.IO (Socket.IO, or a bare application such as an echo).

use super::pairs::Pairs;
use std::sync::Arc;

use bytes::Bytes;

use super::packet::{decode_binary_packet, encode_text_packet, EioVersion};
use crate::hub::{
    DisconnectReason, Frame, Hub, Mailbox, Message, Protocol, Room, SessionId, WireFormat,
};
use crate::session::SessionCore;

/// What the application sees of the handshake request.
#[derive(Debug, Clone, Default)]
pub struct Handshake {
    /// The query parameters (`EIO`, `transport`, and anything the client added).
    pub query: Pairs,
    /// The request headers, lower-case names.
    pub headers: Pairs,
    /// The peer's address.
    pub address: Option<String>,
    /// The request's path (e.g. `/socket.io/`).
    pub path: String,
}

impl Handshake {
    /// The handshake of an HTTP request, its query parsed here.
    pub(crate) fn of_request_query(req: &actix_web::HttpRequest) -> Handshake {
        let query: Pairs = form_urlencoded::parse(req.query_string().as_bytes()).collect();
        Handshake::of_request(req, query)
    }

    /// The handshake of an HTTP request (its query parsed as `query`).
    pub(crate) fn of_request(req: &actix_web::HttpRequest, query: Pairs) -> Handshake {
        Handshake {
            query,
            headers: req
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
                .collect(),
            address: req.peer_addr().map(|a| a.ip().to_string()),
            path: req.path().to_string(),
        }
    }

    /// The handshake as Node's `socket.handshake` shows it (what `fetchSockets()` lists):
    /// headers, time, address, xdomain, secure, issued, url, query, and `auth`.
    pub(crate) fn node_json(&self, auth: &serde_json::Value) -> serde_json::Value {
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
            .collect();
        let query: serde_json::Map<String, serde_json::Value> = self
            .query
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
            .collect();
        let url = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.query.iter())
            .finish();
        let now = std::time::SystemTime::now();
        serde_json::json!({
            "headers": headers,
            "time": crate::cluster::js_date::to_js_string(now),
            "address": self.address.clone().unwrap_or_default(),
            "xdomain": self.headers.get("origin").is_some(),
            "secure": false,
            "issued": crate::cluster::js_date::epoch_millis(now),
            "url": if url.is_empty() { self.path.clone() } else { format!("{}?{url}", self.path) },
            "query": query,
            "auth": auth,
        })
    }
}

/// A request's handshake as Node shows a socket's (`auth` empty), when other nodes may ask for
/// it (cluster mode): what the relay sessions of `/ws` and SockJS keep.
pub(crate) fn cluster_handshake(
    hub: &crate::hub::Hub,
    req: &actix_web::HttpRequest,
) -> Option<serde_json::Value> {
    hub.in_cluster()
        .then(|| Handshake::of_request_query(req).node_json(&serde_json::json!({})))
}

/// A data message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineMessage {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

/// One Engine.IO connection, as the application on top sees it while handling an event.
pub struct EngineConn<'a> {
    pub(super) core: &'a mut SessionCore,
    pub(super) version: EioVersion,
    pub(super) handshake: &'a Arc<Handshake>,
    /// EIO3 client without binary support (`b64`): binary messages go out as `b4<base64>` text.
    pub(super) base64: bool,
}

impl EngineConn<'_> {
    /// The connection's hub session id (not the Engine.IO sid, which stays secret).
    pub fn id(&self) -> &SessionId {
        self.core.id()
    }

    /// The Engine.IO protocol revision of the client.
    pub fn version(&self) -> EioVersion {
        self.version
    }

    /// The handshake request.
    pub fn handshake(&self) -> &Arc<Handshake> {
        self.handshake
    }

    /// The hub.
    pub fn hub(&self) -> &Hub {
        self.core.hub()
    }

    /// How the hub reaches this connection's actor, to register more hub members for it.
    pub(crate) fn mailbox(&self) -> Mailbox {
        self.core.mailbox()
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) {
        self.core.send(message_frame_text(text));
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: Bytes) {
        self.send_frame(message_frame_binary(self.version, data));
    }

    /// Sends an already encoded message frame (see [`message_frame_text`] and
    /// [`message_frame_binary`]); to an EIO3 client without binary support (`b64`) a binary
    /// frame goes as `b4<base64>` text.
    pub fn send_frame(&mut self, frame: Frame) {
        let frame = match frame {
            Frame::Binary(data) if self.base64 => {
                match decode_binary_packet(data.clone(), self.version) {
                    Ok(packet) => Frame::Text(encode_text_packet(&packet, self.version).into()),
                    Err(_) => Frame::Binary(data),
                }
            }
            frame => frame,
        };
        self.core.send(frame);
    }

    /// Closes the connection.
    pub fn close(&mut self, reason: DisconnectReason) {
        self.core.close(reason);
    }

    /// Closes the connection for `reason` unless [`clear_deadline`](Self::clear_deadline) is
    /// called within `after`.
    pub fn set_deadline(&mut self, after: std::time::Duration, reason: DisconnectReason) {
        self.core.set_deadline(after, reason);
    }

    /// Cancels the deadline.
    pub fn clear_deadline(&mut self) {
        self.core.clear_deadline();
    }

    /// Runs `work` on this connection (its application `H`) once `pending` completes, unless
    /// the connection is closing by then.
    pub(crate) fn when_done<H: EngineHandler, T: Send + 'static>(
        &self,
        pending: impl std::future::Future<Output = T> + 'static,
        work: impl FnOnce(&H, &mut H::Conn, &mut EngineConn<'_>, T) + Send + 'static,
    ) {
        self.core.when_done::<super::logic::EngineLogic<H>, T>(
            pending,
            move |logic, core, value| {
                logic.with_conn(core, |handler, state, conn| {
                    work(handler, state, conn, value)
                });
            },
        );
    }

    /// Broadcasts up to `offset` were replayed to recovered member `id`: drop their live copies.
    pub fn set_replayed_through(&mut self, id: &SessionId, offset: crate::hub::Offset) {
        self.core.set_replayed_through(id, offset);
    }

    /// Queues a last frame while the connection closes (sent before the close itself).
    pub fn send_final(&mut self, frame: Frame) {
        self.core.send_final(frame);
    }

    /// The transport the connection runs over now.
    pub fn transport(&self) -> crate::hub::Transport {
        self.core.transport()
    }
}

/// A text message as the frame every transport writes: `4<text>`.
pub fn message_frame_text(text: &str) -> Frame {
    let mut out = String::with_capacity(text.len() + 1);
    out.push('4');
    out.push_str(text);
    Frame::Text(out.into())
}

/// A binary message as the frame every transport writes (EIO3 prefixes the type byte 4).
pub fn message_frame_binary(version: EioVersion, data: Bytes) -> Frame {
    match version {
        EioVersion::V4 => Frame::Binary(data),
        EioVersion::V3 => {
            let mut out = Vec::with_capacity(data.len() + 1);
            out.push(4u8);
            out.extend_from_slice(&data);
            Frame::Binary(out.into())
        }
    }
}

/// The application that runs on an Engine.IO server.
pub trait EngineHandler: Send + Sync + 'static {
    /// Per-connection state, owned by the connection's actor.
    type Conn: Unpin + 'static;

    /// The protocol its sessions are counted as in the hub.
    fn protocol(&self) -> Protocol;

    /// A connection has opened (its open packet is already queued).
    fn open(&self, conn: &mut EngineConn<'_>) -> Self::Conn;

    /// A message arrived.
    fn message(&self, state: &mut Self::Conn, conn: &mut EngineConn<'_>, message: EngineMessage);

    /// Encodes a hub broadcast into an Engine.IO message frame in `format`.
    fn encode(format: WireFormat, message: &Message) -> Frame;

    /// A hub message for member `to` of this connection; by default it is encoded and sent.
    fn deliver(
        &self,
        state: &mut Self::Conn,
        conn: &mut EngineConn<'_>,
        to: &SessionId,
        message: Arc<Message>,
    ) {
        let _ = (state, to);
        let format = wire_format(conn.version());
        conn.send_frame(message.encoded::<Self>(format, |m| Self::encode(format, m)));
    }

    /// The connection has ended; `rooms` are the rooms its hub session was in.
    fn close(
        &self,
        state: &mut Self::Conn,
        conn: &mut EngineConn<'_>,
        reason: &DisconnectReason,
        rooms: Vec<Room>,
    );
}

/// The hub wire format of an Engine.IO revision.
pub fn wire_format(version: EioVersion) -> WireFormat {
    match version {
        EioVersion::V3 => WireFormat::Eio3,
        EioVersion::V4 => WireFormat::Eio4,
    }
}
