//! One Socket.IO socket (a client's connection to one namespace), as applications see it.

use super::CloseReason;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::oneshot;

use super::packet::{encode, Packet, PacketType, ProtocolVersion};
use crate::engineio::{message_frame_binary, message_frame_text, EngineConn, Handshake};
use crate::handler::SessionRef;
use crate::hub::{Message, Protocol, Room, SessionId, Target};

/// Most acknowledgements a socket waits for at once.
const MAX_PENDING_ACKS: usize = 1024;

/// What an acknowledgement carries: its arguments and binary attachments.
#[derive(Debug, Clone, PartialEq)]
pub struct AckReply {
    /// The arguments.
    pub args: Vec<Value>,
    /// Binary attachments referenced by placeholders in `args`.
    pub attachments: Vec<Bytes>,
}

/// Why an acknowledgement never came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// The client did not answer in time.
    #[error("operation has timed out")]
    Timeout,
    /// The socket disconnected first.
    #[error("socket has been disconnected")]
    Disconnected,
}

/// A refusal from connect middleware, sent to the client as CONNECT_ERROR.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// The message (`err.message` on the client).
    pub message: String,
    /// Extra data (`err.data` on the client).
    pub data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message and no data.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }
}

/// The state of one socket, kept by its connection.
#[derive(Debug)]
pub(super) struct SocketState {
    pub(super) id: SessionId,
    pub(super) nsp: Arc<str>,
    pub(super) auth: Value,
    next_ack: u64,
    /// Pending acks by id (a `BTreeMap`: no allocation while none is pending, and ids grow).
    acks: BTreeMap<u64, oneshot::Sender<AckReply>>,
    /// Set when the server disconnected the socket during a callback.
    pub(super) left: bool,
    /// The private id for connection state recovery, when it is on.
    pub(super) pid: Option<String>,
    /// True when this socket is a recovered one.
    pub(super) recovered: bool,
    /// Who the socket belongs to, when clients authenticate.
    pub(super) user: Option<Arc<crate::auth::User>>,
    /// When it connected.
    connected_at: std::time::Instant,
    /// It was its user's last session here (set when it leaves the hub).
    pub(super) last_of_user: bool,
}

impl SocketState {
    pub(super) fn new(id: SessionId, nsp: Arc<str>, auth: Value) -> Self {
        SocketState {
            id,
            nsp,
            auth,
            next_ack: 0,
            acks: BTreeMap::new(),
            left: false,
            pid: None,
            recovered: false,
            user: None,
            connected_at: std::time::Instant::now(),
            last_of_user: false,
        }
    }

    /// A new ack id for a packet to the client, and where its acknowledgement will come.
    pub(super) fn expect_ack(&mut self) -> (u64, oneshot::Receiver<AckReply>) {
        let id = self.next_ack;
        self.next_ack += 1;
        let (tx, rx) = oneshot::channel();
        // Acks the client never sends would pile up: waiters already gone are dropped, and past
        // the bound the oldest waiter is given up (it sees `Disconnected`).
        self.acks.retain(|_, waiter| !waiter.is_closed());
        if self.acks.len() >= MAX_PENDING_ACKS {
            if let Some((&oldest, _)) = self.acks.first_key_value() {
                self.acks.remove(&oldest);
            }
        }
        self.acks.insert(id, tx);
        (id, rx)
    }

    /// Hands an acknowledgement from the client to whoever waits for it.
    pub(super) fn resolve_ack(&mut self, id: u64, reply: AckReply) {
        if let Some(waiter) = self.acks.remove(&id) {
            let _ = waiter.send(reply);
        }
    }
}

/// The hub room that holds a namespace's room: the room itself in `/` (shared with relay clients
/// of every protocol), `<nsp>#<room>` elsewhere.
pub fn room_key(nsp: &str, room: &str) -> Room {
    if nsp == "/" {
        room.into()
    } else {
        format!("{nsp}#{room}").into()
    }
}

/// Encodes a packet into the Engine.IO frames that carry it (text, then attachments).
pub(super) fn packet_frames(conn: &mut EngineConn<'_>, packet: &Packet) {
    let (text, attachments) = encode(packet);
    conn.send_frame(message_frame_text(&text));
    let version = conn.version();
    for attachment in attachments {
        conn.send_frame(message_frame_binary(version, attachment));
    }
}

/// The Socket.IO protocol revision a connection speaks.
pub(super) fn protocol_of(conn: &EngineConn<'_>) -> ProtocolVersion {
    match conn.version() {
        crate::engineio::packet::EioVersion::V3 => ProtocolVersion::V4,
        crate::engineio::packet::EioVersion::V4 => ProtocolVersion::V5,
    }
}

/// A socket while the application handles one of its events.
pub struct Socket<'a, 'c> {
    pub(super) state: &'a mut SocketState,
    pub(super) conn: &'a mut EngineConn<'c>,
}

impl Socket<'_, '_> {
    /// The socket's id (as `socket.id` on the client).
    pub fn id(&self) -> &SessionId {
        &self.state.id
    }

    /// True when this socket was recovered after a temporary disconnection (same id, rooms
    /// back, missed broadcasts replayed), as `socket.recovered` in Node.
    pub fn recovered(&self) -> bool {
        self.state.recovered
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.state.nsp
    }

    /// The auth payload of the CONNECT packet. v2 clients send none: theirs is the query of the
    /// namespace they connect to (`0/admin?token=abc,` → `{"token":"abc"}`, `{}` for `/`), as in
    /// Node; the Engine.IO handshake query is in [`handshake`](Self::handshake).
    pub fn auth(&self) -> &Value {
        &self.state.auth
    }

    /// The Engine.IO handshake request (query, headers, address).
    pub fn handshake(&self) -> &Arc<Handshake> {
        self.conn.handshake()
    }

    /// The transport of its connection now.
    pub fn transport(&self) -> crate::hub::Transport {
        self.conn.transport()
    }

    /// How long the socket has been connected.
    pub fn age(&self) -> std::time::Duration {
        self.state.connected_at.elapsed()
    }

    /// Whether, once it has left, it was its user's last session on this node.
    pub fn was_last_of_user(&self) -> bool {
        self.state.last_of_user
    }

    /// This socket as a protocol-neutral session, for [`crate::Handler`]s.
    pub fn session(&self) -> SessionRef {
        SessionRef::new(
            self.state.id.clone(),
            Protocol::SocketIo,
            self.conn.hub().clone(),
            self.state.user.clone(),
        )
    }

    fn nsp(&self) -> String {
        self.state.nsp.to_string()
    }

    /// Sends an event to this client.
    pub fn emit(&mut self, event: &str, args: Vec<Value>) {
        self.emit_binary(event, args, Vec::new());
    }

    /// Sends an event whose arguments hold placeholders for `attachments`.
    pub fn emit_binary(&mut self, event: &str, args: Vec<Value>, attachments: Vec<Bytes>) {
        let packet =
            Packet::event(self.nsp(), event_data(event, args), None).with_attachments(attachments);
        packet_frames(self.conn, &packet);
    }

    /// Sends an event and waits (at most `timeout`) for the client's acknowledgement.
    pub fn emit_with_ack(
        &mut self,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<AckReply, AckError>> + 'static {
        let (id, rx) = self.state.expect_ack();
        let packet = Packet::event(self.nsp(), event_data(event, args), Some(id));
        packet_frames(self.conn, &packet);
        async move {
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(_)) => Err(AckError::Disconnected),
                Err(_) => Err(AckError::Timeout),
            }
        }
    }

    /// Acknowledges the client's event `id` with these arguments.
    pub fn ack(&mut self, id: u64, args: Vec<Value>, attachments: Vec<Bytes>) {
        let packet = Packet::ack(self.nsp(), Value::Array(args), id).with_attachments(attachments);
        packet_frames(self.conn, &packet);
    }

    /// Joins a room of this namespace.
    pub fn join(&mut self, room: &str) -> Result<(), crate::hub::JoinError> {
        self.conn
            .hub()
            .join(&self.state.id, room_key(&self.state.nsp, room))
    }

    /// Leaves a room of this namespace.
    pub fn leave(&mut self, room: &str) -> bool {
        self.conn
            .hub()
            .leave(&self.state.id, &room_key(&self.state.nsp, room))
    }

    /// Sends an event to every other socket in a room of this namespace (`socket.to(room).emit`);
    /// returns local deliveries.
    pub fn to_room(&mut self, room: &str, event: &str, args: Vec<Value>) -> usize {
        let target = Target::room(room_key(&self.state.nsp, room)).except(self.state.id.clone());
        let message =
            Message::with_args(Some(self.state.nsp.clone()), Some(room.into()), event, args);
        self.conn.hub().broadcast(&target, message)
    }

    /// Sends an event to every other socket of this namespace (`socket.broadcast.emit`).
    pub fn broadcast(&mut self, event: &str, args: Vec<Value>) -> usize {
        let target = Target::all().except(self.state.id.clone());
        let message = Message::with_args(Some(self.state.nsp.clone()), None, event, args);
        self.conn.hub().broadcast(&target, message)
    }

    /// Disconnects this socket from its namespace (the connection stays for other namespaces).
    pub fn disconnect(&mut self) {
        let packet = Packet::disconnect(self.nsp());
        packet_frames(self.conn, &packet);
        self.state.acks.clear();
        self.state.left = true;
    }
}

/// `["event", ...args]`.
pub(super) fn event_data(event: &str, args: Vec<Value>) -> Value {
    let mut data = Vec::with_capacity(args.len() + 1);
    data.push(Value::String(event.to_string()));
    data.extend(args);
    Value::Array(data)
}

/// The first element of an event's data, as an event name (a number is allowed, as in Node).
pub(super) fn event_name(data: &Value) -> Option<String> {
    match data.as_array()?.first()? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What an application does with sockets: the Socket.IO side of a server.
pub trait SocketHandler: Send + Sync + 'static {
    /// Whether a namespace exists (static list or pattern); by default only `/`.
    fn namespace_allowed(&self, nsp: &str) -> bool {
        nsp == "/"
    }

    /// Connect middleware: refuse with a [`ConnectError`], or let the socket in.
    fn middleware(&self, socket: &mut Socket<'_, '_>) -> Result<(), ConnectError> {
        let _ = socket;
        Ok(())
    }

    /// The socket is connected (its CONNECT answer is sent).
    fn on_connection(&self, socket: &mut Socket<'_, '_>) {
        let _ = socket;
    }

    /// An event from the client; `ack` is the id to acknowledge, if the client asked for one.
    fn on_event(
        &self,
        socket: &mut Socket<'_, '_>,
        event: &str,
        args: Vec<Value>,
        attachments: Vec<Bytes>,
        ack: Option<u64>,
    );

    /// The socket has disconnected, for `reason` (`reason.as_str()` is socket.io's wording).
    fn on_disconnect(&self, socket: &mut Socket<'_, '_>, reason: CloseReason, rooms: Vec<Room>) {
        let _ = (socket, reason, rooms);
    }
}

/// Packet kinds the server never accepts from a client.
pub(super) fn client_may_send(kind: PacketType) -> bool {
    !matches!(kind, PacketType::ConnectError)
}
