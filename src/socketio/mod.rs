//! Socket.IO (protocol v5 for socket.io-client 3.x/4.x, v4 for 2.x) on top of Engine.IO.
//!
//! [`SocketIo`] is an [`EngineHandler`]: it decodes Socket.IO packets from Engine.IO messages,
//! keeps one [`Socket`] per namespace a client connects to, and hands events to a
//! [`SocketHandler`]. Every socket is a member of the hub, so rooms and broadcasts reach Socket.IO
//! clients like any other. [`RelaySockets`] is relay mode for Socket.IO clients.

pub(crate) mod binary;
#[cfg(feature = "conformance")]
pub mod conformance;
pub(crate) mod packet;
mod reason;
mod relay;
mod socket;

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::{json, Value};

use crate::auth::{AuthError, AuthSlot, Authenticator, Credentials, User};
use crate::engineio::{message_frame_text, EngineConn, EngineHandler, EngineMessage};
use crate::hub::{DisconnectReason, Frame, Hub, Message, Protocol, Room, SessionId, WireFormat};
use packet::{encode, Decoder, Packet, PacketType, ProtocolVersion};
use socket::{client_may_send, event_name, packet_frames, protocol_of, SocketState};

pub use reason::CloseReason;
pub use relay::RelaySockets;
pub use socket::{room_key, AckError, AckReply, ConnectError, Socket, SocketHandler};

/// The sockets in a room of a namespace on this node (`io.of(nsp).in(room).fetchSockets()`).
pub fn fetch_sockets(hub: &Hub, nsp: &str, room: &str) -> Vec<SessionId> {
    hub.room_members(&room_key(nsp, room))
}

/// Makes every socket in `room` join `new_room` too (`io.in(room).socketsJoin(new_room)`);
/// returns how many joined.
pub fn sockets_join(hub: &Hub, nsp: &str, room: &str, new_room: &str) -> usize {
    let key = room_key(nsp, new_room);
    fetch_sockets(hub, nsp, room)
        .iter()
        .filter(|id| hub.join(id, key.clone()).is_ok())
        .count()
}

/// Makes every socket in `room` leave `old_room` (`io.in(room).socketsLeave(old_room)`).
pub fn sockets_leave(hub: &Hub, nsp: &str, room: &str, old_room: &str) -> usize {
    let key = room_key(nsp, old_room);
    fetch_sockets(hub, nsp, room)
        .iter()
        .filter(|id| hub.leave(id, &key))
        .count()
}

/// Disconnects every socket in `room` (`io.in(room).disconnectSockets(true)`: their whole
/// connections close); returns how many.
pub fn disconnect_sockets(hub: &Hub, nsp: &str, room: &str) -> usize {
    fetch_sockets(hub, nsp, room)
        .iter()
        .filter(|id| hub.disconnect(id, DisconnectReason::ServerDisconnect))
        .count()
}

/// Options of the Socket.IO layer, with Node's defaults.
#[derive(Debug, Clone)]
pub struct SocketIoConfig {
    /// How long a connection may stay without joining any namespace (connectTimeout).
    pub connect_timeout: Duration,
    /// Most binary attachments in one packet.
    pub max_attachments: usize,
    /// Recovered sockets skip the connect middleware (connection state recovery is on when the
    /// hub keeps sessions, with `--connection-state-recovery`).
    pub recovery_skip_middlewares: bool,
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        SocketIoConfig {
            connect_timeout: Duration::from_millis(crate::config::defaults::CONNECT_TIMEOUT_MS),
            max_attachments: packet::DEFAULT_MAX_ATTACHMENTS,
            recovery_skip_middlewares: true,
        }
    }
}

/// The Socket.IO layer: an Engine.IO application running a [`SocketHandler`].
pub struct SocketIo<A: SocketHandler> {
    app: A,
    config: SocketIoConfig,
    authenticator: AuthSlot,
}

impl<A: SocketHandler> SocketIo<A> {
    /// Socket.IO running `app`.
    pub fn new(app: A, config: SocketIoConfig) -> Self {
        SocketIo {
            app,
            config,
            authenticator: AuthSlot::default(),
        }
    }

    /// Every socket must be let in by `authenticator` first (before the middleware): a
    /// refused one gets CONNECT_ERROR with the reason as its message.
    pub fn authenticated_by(self, authenticator: Arc<dyn Authenticator>) -> Self {
        *self
            .authenticator
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(authenticator);
        self
    }

    /// Asks whatever authenticator `slot` holds when a socket connects.
    pub(crate) fn authenticated_through(mut self, slot: AuthSlot) -> Self {
        self.authenticator = slot;
        self
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.app
    }
}

/// One Engine.IO connection's Socket.IO state: its decoder and its sockets by namespace.
pub struct SocketIoConn {
    decoder: Decoder,
    sockets: Namespaces,
}

impl SocketIoConn {
    fn namespace_of(&self, id: &SessionId) -> Option<Arc<str>> {
        self.sockets
            .iter()
            .find(|s| s.id == *id)
            .map(|s| s.nsp.clone())
    }
}

/// A connection's sockets, one per namespace: a handful at most, so a `Vec` (a map would cost
/// most of a kilobyte per idle connection).
#[derive(Default)]
struct Namespaces(Vec<SocketState>);

impl Namespaces {
    fn get(&self, nsp: &str) -> Option<&SocketState> {
        self.0.iter().find(|s| &*s.nsp == nsp)
    }

    fn get_mut(&mut self, nsp: &str) -> Option<&mut SocketState> {
        self.0.iter_mut().find(|s| &*s.nsp == nsp)
    }

    /// Adds a socket, replacing any other of its namespace.
    fn insert(&mut self, socket: SocketState) {
        self.remove(&socket.nsp.clone());
        // One more slot, not the four a growing Vec would take: most connections use one.
        self.0.reserve_exact(1);
        self.0.push(socket);
    }

    fn remove(&mut self, nsp: &str) -> Option<SocketState> {
        let at = self.0.iter().position(|s| &*s.nsp == nsp)?;
        Some(self.0.swap_remove(at))
    }

    fn iter(&self) -> impl Iterator<Item = &SocketState> {
        self.0.iter()
    }

    fn drain(&mut self) -> impl Iterator<Item = SocketState> + '_ {
        self.0.drain(..)
    }
}

/// A query string as a JSON object of strings, as Node's `querystring.parse` builds it (a repeated
/// key becomes an array of its values).
pub(crate) fn query_object(query: &str) -> Value {
    let mut object = serde_json::Map::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let value = Value::String(value.into_owned());
        match object.get_mut(key.as_ref()) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                object.insert(key.into_owned(), value);
            }
        }
    }
    Value::Object(object)
}

impl<A: SocketHandler> SocketIo<A> {
    /// Sends a hub message to this connection: its encoding for the connection's wire format
    /// (shared with every other recipient), then its binary attachments.
    fn send_message(&self, conn: &mut EngineConn<'_>, message: &Message) {
        let format = crate::engineio::wire_format(conn.version());
        conn.send_frame(message.encoded::<Self>(format, |m| Self::encode(format, m)));
        let version = conn.version();
        for attachment in &message.attachments {
            conn.send_frame(crate::engineio::message_frame_binary(
                version,
                attachment.clone(),
            ));
        }
    }

    fn on_packet(&self, state: &mut SocketIoConn, conn: &mut EngineConn<'_>, packet: Packet) {
        if !client_may_send(packet.kind) {
            return conn.close(DisconnectReason::ParseError("unexpected packet".into()));
        }
        if packet.kind == PacketType::Connect {
            return self.connect(state, conn, packet);
        }
        let nsp: Arc<str> = packet.nsp.as_str().into();
        let Some(socket) = state.sockets.get_mut(&nsp) else {
            // A packet for a namespace the client has not joined: Node closes the connection.
            tracing::debug!(nsp = %nsp, "socket.io packet for an unjoined namespace");
            return conn.close(DisconnectReason::TransportError("invalid state".into()));
        };
        match packet.kind {
            PacketType::Disconnect => {
                self.remove_socket(state, conn, &nsp, CloseReason::ClientNamespaceDisconnect);
            }
            PacketType::Event | PacketType::BinaryEvent => {
                let data = packet.data.unwrap_or(Value::Null);
                let Some(event) = event_name(&data) else {
                    return conn.close(DisconnectReason::ParseError("bad event".into()));
                };
                let args = match data {
                    Value::Array(mut items) => items.split_off(1),
                    _ => Vec::new(),
                };
                let mut socket = Socket {
                    state: socket,
                    conn,
                };
                self.app
                    .on_event(&mut socket, &event, args, packet.attachments, packet.id);
                self.settle(state, conn, &nsp);
            }
            PacketType::Ack | PacketType::BinaryAck => {
                if let Some(id) = packet.id {
                    let args = match packet.data {
                        Some(Value::Array(items)) => items,
                        _ => Vec::new(),
                    };
                    socket.resolve_ack(
                        id,
                        AckReply {
                            args,
                            attachments: packet.attachments,
                        },
                    );
                }
            }
            PacketType::Connect | PacketType::ConnectError => {}
        }
    }

    fn connect(&self, state: &mut SocketIoConn, conn: &mut EngineConn<'_>, packet: Packet) {
        let version = protocol_of(conn);
        let nsp: Arc<str> = packet.nsp.as_str().into();
        if !self.app.namespace_allowed(&nsp) {
            let refusal = Packet::connect_error(version, nsp.to_string(), "Invalid namespace");
            return packet_frames(conn, &refusal);
        }
        if let Some(existing) = state.sockets.get(&nsp) {
            let sid = match version {
                ProtocolVersion::V5 => Some(json!({"sid": existing.id.as_ref()})),
                ProtocolVersion::V4 => None,
            };
            return packet_frames(conn, &Packet::connect(nsp.to_string(), sid));
        }
        let auth = match (version, packet.data) {
            // v2 clients have no auth payload; as in Node, the query of the namespace
            // (`0/custom?token=abc,`) stands in for it.
            (ProtocolVersion::V4, _) => query_object(packet.query.as_deref().unwrap_or("")),
            (ProtocolVersion::V5, Some(value @ Value::Object(_))) => value,
            (ProtocolVersion::V5, _) => json!({}),
        };
        let authenticator = self
            .authenticator
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(authenticator) = authenticator else {
            return self.connect_as(state, conn, nsp, version, auth, None);
        };
        let credentials = Credentials {
            protocol: Protocol::SocketIo,
            transport: conn.transport(),
            request: conn.handshake(),
            auth: &auth,
        };
        let mut pending = authenticator.authenticate(&credentials);
        match (&mut pending).now_or_never() {
            Some(answer) => self.authenticated(state, conn, nsp, version, auth, answer),
            None => conn.when_done::<Self, _>(pending, move |this, state, conn, answer| {
                this.authenticated(state, conn, nsp, version, auth, answer)
            }),
        }
    }

    /// Goes on with a socket its authenticator has answered for.
    fn authenticated(
        &self,
        state: &mut SocketIoConn,
        conn: &mut EngineConn<'_>,
        nsp: Arc<str>,
        version: ProtocolVersion,
        auth: Value,
        answer: Result<User, AuthError>,
    ) {
        match answer {
            Ok(user) => self.connect_as(state, conn, nsp, version, auth, Some(Arc::new(user))),
            Err(error) => {
                tracing::info!(%nsp, reason = %error, "socket.io connection refused");
                let refusal = Packet::connect_error(version, nsp.to_string(), error.message());
                packet_frames(conn, &refusal);
            }
        }
    }

    /// Connects a socket of `user` (recovering its session when `auth` names one).
    fn connect_as(
        &self,
        state: &mut SocketIoConn,
        conn: &mut EngineConn<'_>,
        nsp: Arc<str>,
        version: ProtocolVersion,
        auth: Value,
        user: Option<Arc<User>>,
    ) {
        // A streams cluster keeps sessions in Redis: the socket opens once Redis has answered.
        if let (Some(cluster), ProtocolVersion::V5, "/") =
            (conn.hub().shared_recovery(), version, nsp.as_ref())
        {
            if let (Some(pid), Some(offset)) = (auth["pid"].as_str(), auth["offset"].as_str()) {
                let pending = cluster.restore(pid, offset);
                let pid = pid.to_string();
                return conn.when_done::<Self, _>(pending, move |this, state, conn, restored| {
                    let resumption = match restored {
                        Ok(restored) => Some(Resumption::Cluster { pid, restored }),
                        Err(error) => {
                            tracing::debug!(%error, "socket.io session not recovered");
                            None
                        }
                    };
                    this.open_socket(state, conn, nsp, version, auth, resumption, user);
                });
            }
        }
        let resumption = self.recover(conn, &nsp, &auth);
        self.open_socket(state, conn, nsp, version, auth, resumption, user);
    }

    /// Opens the socket of namespace `nsp` (taking back a dropped one's id, rooms and missed
    /// broadcasts when `resumption` has it), unless the middleware refuses it.
    #[allow(clippy::too_many_arguments)]
    fn open_socket(
        &self,
        state: &mut SocketIoConn,
        conn: &mut EngineConn<'_>,
        nsp: Arc<str>,
        version: ProtocolVersion,
        auth: Value,
        resumption: Option<Resumption>,
        user: Option<Arc<User>>,
    ) {
        if state.sockets.get(&nsp).is_some() {
            return;
        }
        let recovering = self.recovery_on(conn, version);
        let (id, pid) = match &resumption {
            Some(resumption) => (resumption.id(), Some(resumption.pid().to_string())),
            None => (
                crate::hub::new_session_id(),
                recovering.then(|| crate::hub::new_session_id().to_string()),
            ),
        };
        let mut socket_state = SocketState::new(id.clone(), nsp.clone(), auth);
        socket_state.pid = pid.clone();
        socket_state.recovered = resumption.is_some();
        socket_state.user = user.clone();
        let skip_middleware = resumption.is_some() && self.config.recovery_skip_middlewares;
        let mut socket = Socket {
            state: &mut socket_state,
            conn,
        };
        if !skip_middleware {
            if let Err(refusal) = self.app.middleware(&mut socket) {
                let mut body = json!({"message": refusal.message});
                if let Some(data) = &refusal.data {
                    body["data"] = data.clone();
                }
                let mut packet = Packet::new(PacketType::ConnectError, nsp.to_string());
                packet.data = Some(match (version, refusal.data) {
                    (ProtocolVersion::V5, _) => body,
                    // As Node for v2 clients: the error's data if it has some, else its message.
                    (ProtocolVersion::V4, Some(data)) => data,
                    (ProtocolVersion::V4, None) => Value::String(refusal.message),
                });
                return packet_frames(conn, &packet);
            }
        }
        let hub = conn.hub().clone();
        hub.register_member(
            id.clone(),
            Protocol::SocketIo,
            conn.transport(),
            conn.mailbox(),
            &nsp,
            user.clone(),
        );
        if hub.in_cluster() {
            hub.set_handshake(&id, conn.handshake().node_json(&socket_state.auth));
        }
        let reply = match (version, &pid) {
            (ProtocolVersion::V5, Some(pid)) => Packet::connect(
                nsp.to_string(),
                Some(json!({"sid": id.as_ref(), "pid": pid})),
            ),
            (ProtocolVersion::V5, None) => {
                Packet::connect(nsp.to_string(), Some(json!({"sid": id.as_ref()})))
            }
            (ProtocolVersion::V4, _) => Packet::connect(nsp.to_string(), None),
        };
        packet_frames(conn, &reply);
        conn.clear_deadline();
        match resumption {
            Some(Resumption::Local {
                mut kept, offset, ..
            }) => {
                // Only rooms its token allows now: to rejoin, and to replay from.
                kept.rooms.retain(|r| may_rejoin(&user, r));
                for room in &kept.rooms {
                    let _ = hub.join(&id, room.clone());
                }
                let missed = hub.recovery().map(|r| r.missed(&kept, offset));
                if let Some(Ok((missed, through))) = missed {
                    self.replay(conn, &id, &missed, through);
                }
            }
            Some(Resumption::Cluster { mut restored, .. }) => {
                restored.rooms.retain(|r| may_rejoin(&user, r));
                restored
                    .missed
                    .retain(|m| m.room.as_deref().is_none_or(|r| may_rejoin(&user, r)));
                for room in &restored.rooms {
                    let _ = hub.join(&id, room.clone());
                }
                self.replay(conn, &id, &restored.missed, restored.through);
            }
            None => {}
        }
        state.sockets.insert(socket_state);
        if let Some(socket_state) = state.sockets.get_mut(&nsp) {
            let mut socket = Socket {
                state: socket_state,
                conn,
            };
            self.app.on_connection(&mut socket);
        }
        self.settle(state, conn, &nsp);
    }

    /// Sends a recovered socket what it missed, and drops live copies up to `through`.
    fn replay(
        &self,
        conn: &mut EngineConn<'_>,
        id: &SessionId,
        missed: &[Arc<Message>],
        through: crate::hub::Offset,
    ) {
        for message in missed {
            self.send_message(conn, message);
        }
        conn.set_replayed_through(id, through);
        tracing::debug!(socket = %id, missed = missed.len(), "socket.io session recovered");
    }

    /// Whether this connection's sockets get a private id for recovery (v5 clients, recovery on).
    fn recovery_on(&self, conn: &EngineConn<'_>, version: ProtocolVersion) -> bool {
        version == ProtocolVersion::V5 && conn.hub().recovery().is_some()
    }

    /// Takes back the session named by the CONNECT auth's `pid` and `offset` from this hub's
    /// log, if it can be.
    fn recover(&self, conn: &EngineConn<'_>, nsp: &Arc<str>, auth: &Value) -> Option<Resumption> {
        let recovery = conn.hub().recovery()?;
        let (Some(pid), Some(offset)) = (auth["pid"].as_str(), auth["offset"].as_str()) else {
            return None;
        };
        let offset = offset.parse::<crate::hub::Offset>().ok()?;
        // Take the session, and check now that nothing it missed is gone (a gap means a fresh
        // socket); what it missed is read once it is back in its rooms.
        let checked = recovery.take(pid).and_then(|kept| {
            recovery.missed(&kept, offset)?;
            Ok(kept)
        });
        match checked {
            Ok(kept) if kept.namespace.as_deref().unwrap_or("/") == nsp.as_ref() => {
                Some(Resumption::Local {
                    pid: pid.to_string(),
                    kept,
                    offset,
                })
            }
            Ok(_) => None,
            Err(error) => {
                tracing::debug!(%error, "socket.io session not recovered");
                None
            }
        }
    }

    /// Keeps a dropped socket for recovery (not one that left on purpose).
    fn keep_for_recovery(
        conn: &EngineConn<'_>,
        socket: &SocketState,
        reason: CloseReason,
        rooms: &[Room],
    ) {
        let (Some(recovery), Some(pid)) = (conn.hub().recovery(), &socket.pid) else {
            return;
        };
        if !reason.is_recoverable() {
            return;
        }
        if let Some(cluster) = conn.hub().shared_recovery() {
            // Any node may take it back (only `/` crosses nodes).
            if socket.nsp.as_ref() == "/" {
                cluster.persist_session(&socket.id, pid, rooms);
            }
            return;
        }
        let namespace = (socket.nsp.as_ref() != "/").then(|| socket.nsp.clone());
        recovery.keep(pid.clone(), socket.id.clone(), namespace, rooms.to_vec());
    }

    /// Removes a socket the application disconnected during a callback.
    fn settle(&self, state: &mut SocketIoConn, conn: &mut EngineConn<'_>, nsp: &Arc<str>) {
        if state.sockets.get(nsp).is_some_and(|s| s.left) {
            self.remove_socket(state, conn, nsp, CloseReason::ServerNamespaceDisconnect);
        }
    }

    fn remove_socket(
        &self,
        state: &mut SocketIoConn,
        conn: &mut EngineConn<'_>,
        nsp: &Arc<str>,
        reason: CloseReason,
    ) {
        if let Some(socket_state) = state.sockets.remove(nsp) {
            self.drop_socket(conn, socket_state, reason);
        }
    }

    /// A socket leaves the hub, is kept for recovery when the reason allows, and the application
    /// hears of it.
    fn drop_socket(
        &self,
        conn: &mut EngineConn<'_>,
        mut socket_state: SocketState,
        reason: CloseReason,
    ) {
        let gone = conn.hub().unregister_reporting(&socket_state.id);
        let rooms = gone.rooms;
        socket_state.last_of_user = gone.last_of_user;
        tracing::debug!(
            socket = %socket_state.id,
            nsp = %socket_state.nsp,
            user = socket_state.user.as_ref().map(|u| u.id()),
            ?reason,
            "socket.io socket left"
        );
        Self::keep_for_recovery(conn, &socket_state, reason, &rooms);
        let mut socket = Socket {
            state: &mut socket_state,
            conn,
        };
        self.app.on_disconnect(&mut socket, reason, rooms);
    }
}

/// Whether a recovered socket of `user` goes back into `room` (its token may allow less now).
fn may_rejoin(user: &Option<Arc<User>>, room: &str) -> bool {
    user.as_ref().is_none_or(|user| user.may_join(room))
}

/// A dropped socket being taken back.
enum Resumption {
    /// From this hub's log: the kept session, and the offset it had; what it missed is read
    /// once it is back in its rooms.
    Local {
        pid: String,
        kept: crate::hub::KeptSession,
        offset: crate::hub::Offset,
    },
    /// From a streams cluster: the session and what it missed, as Redis had them.
    Cluster {
        pid: String,
        restored: crate::cluster::Restored,
    },
}

impl Resumption {
    fn pid(&self) -> &str {
        match self {
            Resumption::Local { pid, .. } | Resumption::Cluster { pid, .. } => pid,
        }
    }

    fn id(&self) -> SessionId {
        match self {
            Resumption::Local { kept, .. } => kept.id.clone(),
            Resumption::Cluster { restored, .. } => restored.sid.as_str().into(),
        }
    }
}

impl<A: SocketHandler> EngineHandler for SocketIo<A> {
    type Conn = SocketIoConn;

    fn protocol(&self) -> Protocol {
        Protocol::SocketIo
    }

    fn open(&self, conn: &mut EngineConn<'_>) -> SocketIoConn {
        let version = protocol_of(conn);
        let mut state = SocketIoConn {
            decoder: Decoder::with_max_attachments(version, self.config.max_attachments),
            sockets: Namespaces::default(),
        };
        match version {
            ProtocolVersion::V5 => conn.set_deadline(
                self.config.connect_timeout,
                DisconnectReason::TransportError("connect timeout".into()),
            ),
            // v2 clients are connected to `/` at once; their handshake query (less Engine.IO's
            // own parameters) is what they authenticate with, as `socket.handshake.query` in Node.
            ProtocolVersion::V4 => {
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(conn.handshake().query.iter().filter(|(k, _)| {
                        !matches!(*k, "EIO" | "transport" | "t" | "b64" | "j" | "sid")
                    }))
                    .finish();
                let mut packet = Packet::connect("/", None);
                packet.query = Some(query);
                self.connect(&mut state, conn, packet)
            }
        }
        state
    }

    fn message(&self, state: &mut SocketIoConn, conn: &mut EngineConn<'_>, message: EngineMessage) {
        let decoded = match message {
            EngineMessage::Text(text) => state.decoder.feed_text(&text),
            EngineMessage::Binary(data) => state.decoder.feed_binary(data),
        };
        match decoded {
            Ok(Some(packet)) => self.on_packet(state, conn, packet),
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(%error, "invalid socket.io packet");
                conn.close(DisconnectReason::ParseError(error.to_string()));
            }
        }
    }

    fn encode(_format: WireFormat, message: &Message) -> Frame {
        let nsp = message.namespace.as_deref().unwrap_or("/");
        let mut args = message.args.clone();
        // A client's publish carries its sender's user as one more argument.
        if let Some(user) = message.sender() {
            args.push(json!({ "user": user }));
        }
        // With recovery on, every broadcast carries its offset as a last argument, as in Node.
        if let Some(offset) = message.offset() {
            args.push(Value::String(offset.to_string()));
        }
        let packet = Packet::event(nsp, socket::event_data(&message.event, args), None)
            .with_attachments(message.attachments.clone());
        let (text, _) = encode(&packet);
        message_frame_text(&text)
    }

    fn deliver(
        &self,
        state: &mut SocketIoConn,
        conn: &mut EngineConn<'_>,
        to: &SessionId,
        message: Arc<Message>,
    ) {
        let wanted = message.namespace.as_deref().unwrap_or("/");
        if state
            .namespace_of(to)
            .is_none_or(|nsp| nsp.as_ref() != wanted)
        {
            return;
        }
        match message.ack() {
            None => self.send_message(conn, &message),
            Some(ack) => {
                let Some(socket) = state.sockets.get_mut(wanted) else {
                    return;
                };
                // Each socket's packet has its own ack id: encoded for it alone.
                let (id, reply) = socket.expect_ack();
                let data = socket::event_data(&message.event, message.args.clone());
                let packet = Packet::event(wanted, data, Some(id))
                    .with_attachments(message.attachments.clone());
                packet_frames(conn, &packet);
                let ack = ack.clone();
                actix::spawn(async move {
                    if let Ok(Ok(reply)) = tokio::time::timeout(ack.timeout, reply).await {
                        (ack.sink)(reply.args);
                    }
                });
            }
        }
    }

    fn close(
        &self,
        state: &mut SocketIoConn,
        conn: &mut EngineConn<'_>,
        reason: &DisconnectReason,
        rooms: Vec<Room>,
    ) {
        let kicked = *reason == DisconnectReason::ServerDisconnect;
        let reason = CloseReason::of(reason);
        // The connection's own hub session holds no rooms: every socket is a member of its own.
        let _ = rooms;
        if kicked {
            // As Node's `disconnect(true)`: a DISCONNECT for every namespace before the close, so
            // the client knows not to reconnect ("io server disconnect").
            for socket in state.sockets.iter() {
                let (text, _) = encode(&Packet::disconnect(socket.nsp.to_string()));
                conn.send_final(message_frame_text(&text));
            }
        }
        let sockets: Vec<SocketState> = state.sockets.drain().collect();
        for socket_state in sockets {
            self.drop_socket(conn, socket_state, reason);
        }
    }
}
