//! The hub: every session of every protocol, the rooms, and broadcast.
//!
//! Protocols register their sessions here and never talk to each other. A room holds sessions of
//! any protocol; one broadcast reaches them all, encoded once per wire format (see
//! [`Message::encoded`]). The hub owns indexes only: each session's state lives in its actor, which
//! the hub reaches through a `Mailbox`: broadcasts go to its bounded `Inbox`, commands to its
//! actor address (`SessionCommand`). No hub lock is held while sending.

mod adapter;
mod broadcast_ack;
mod cluster_view;
mod held;
mod inbox;
mod message;
mod offset;
mod presence;
mod recovery;
mod session_info;
mod stats;
mod users;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix::dev::SendError;
use actix::Recipient;
use dashmap::DashMap;

use crate::auth::User;
pub use crate::cluster::ClusterError;
pub(crate) use adapter::{Adapter, LocalAdapter};
pub(crate) use broadcast_ack::AckCollector;
pub use broadcast_ack::BroadcastAckTimeout;
pub use cluster_view::SocketInfo;
pub(crate) use cluster_view::WeakHub;
pub(crate) use inbox::{Inbox, InboxFull};
pub(crate) use message::buffer_json;
pub(crate) use message::BroadcastAck;
pub use message::{Frame, Message, Room, WireFormat};
pub use offset::{InvalidOffset, Offset};
pub use presence::{Presence, PresenceSession, PresentUser};
pub(crate) use recovery::{KeptSession, Recovered, Recovery, RecoveryConfig};
pub use session_info::{DisconnectReason, Protocol, Transport};
pub(crate) use stats::Counters;
pub use stats::{ClusterStats, StatsSnapshot, TransportCount};

/// A session's id: 114 random bits in base64url, 20 characters, the length of a Node socket id
/// (Node's sharded Redis adapter routes by that length).
pub type SessionId = Arc<str>;

/// A new unguessable session id: the first 15 bytes of a UUID v4 (114 random bits; Node's ids
/// have 96), in base64url.
pub(crate) fn new_session_id() -> SessionId {
    let uuid = uuid::Uuid::new_v4();
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &uuid.as_bytes()[..15],
    )
    .into()
}

/// What the hub asks of a session actor.
#[derive(Debug, actix::Message)]
#[rtype(result = "()")]
pub(crate) enum SessionCommand {
    /// Broadcasts are waiting in the inbox: take them all (each is for one of the members the
    /// actor registered, e.g. one Socket.IO socket per namespace).
    Drain,
    /// Close the session for this reason.
    Close(DisconnectReason),
    /// Finish work that had to wait (a restore from Redis) inside the actor.
    Later(Later),
}

/// Work for a session actor, run on its logic (as `&mut dyn Any`, for the protocol that queued
/// it to downcast) and its core, unless the session is closing.
pub(crate) struct Later(pub LaterWork);

/// What a [`Later`] runs.
pub(crate) type LaterWork =
    Box<dyn FnOnce(&mut dyn std::any::Any, &mut crate::session::SessionCore) + Send>;

impl std::fmt::Debug for Later {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Later")
    }
}

/// How the hub reaches one session actor: its inbox for broadcasts, its address for commands.
#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    /// The actor's address (shared: a connection's members hold one between them).
    pub addr: Arc<Recipient<SessionCommand>>,
    /// Where broadcasts wait for it.
    pub inbox: Arc<Inbox>,
}

/// Who a broadcast goes to: the members of some rooms (or everyone), less some sessions.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The rooms; empty means every session.
    pub rooms: Vec<Room>,
    /// Sessions left out, typically the sender.
    pub except: Vec<SessionId>,
    /// Node's `volatile`: a session that is not ready to write goes without (and it is not kept
    /// for recovery).
    pub volatile: bool,
    /// Node's `local`: this node's sessions only, not the other nodes of the cluster.
    pub local: bool,
}

impl Target {
    /// Every session.
    pub fn all() -> Target {
        Target::default()
    }

    /// The members of one room.
    pub fn room(room: impl Into<Room>) -> Target {
        Target {
            rooms: vec![room.into()],
            ..Target::default()
        }
    }

    /// The members of any of these rooms, each reached once.
    pub fn rooms<I: IntoIterator<Item = R>, R: Into<Room>>(rooms: I) -> Target {
        Target {
            rooms: rooms.into_iter().map(Into::into).collect(),
            ..Target::default()
        }
    }

    /// The same target, leaving out `id`.
    pub fn except(mut self, id: SessionId) -> Target {
        self.except.push(id);
        self
    }

    /// The same target, volatile: sessions not ready to write go without (Node's `volatile`).
    pub fn volatile(mut self) -> Target {
        self.volatile = true;
        self
    }

    /// The same target on this node only (Node's `local`).
    pub fn local(mut self) -> Target {
        self.local = true;
        self
    }
}

/// Why a join was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The session is not (or no longer) registered.
    #[error("unknown session")]
    UnknownSession,
    /// The session is in as many rooms as it may be.
    #[error("too many rooms (limit {0})")]
    TooManyRooms(usize),
}

/// What a client refused for the session limit is told, in its protocol's form (Engine.IO's
/// JSON error, `/ws`'s JSON error, SockJS's close frame or 503 body).
pub(crate) const SESSION_LIMIT_REACHED: &str = "session limit reached";

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RegisterError {
    /// The node holds as many sessions as it may.
    #[error("{SESSION_LIMIT_REACHED} ({0})")]
    Full(usize),
}

/// Limits the hub enforces, and what it keeps for recovery.
#[derive(Debug, Clone)]
pub(crate) struct HubLimits {
    /// Most live sessions.
    pub max_sessions: usize,
    /// Most rooms per session.
    pub max_rooms_per_session: usize,
    /// Keep recent broadcasts and dropped sessions for recovery; `None`: recovery off.
    pub recovery: Option<RecoveryConfig>,
    /// Tell a room's members when a user's first session enters it and its last leaves.
    pub presence_events: bool,
}

impl Default for HubLimits {
    fn default() -> Self {
        HubLimits {
            max_sessions: 100_000,
            max_rooms_per_session: 1024,
            recovery: None,
            presence_events: false,
        }
    }
}

/// One registered session, as the indexes see it.
#[derive(Debug)]
struct Member {
    id: SessionId,
    protocol: Protocol,
    transport: AtomicU8,
    addr: Arc<Recipient<SessionCommand>>,
    inbox: Arc<Inbox>,
    /// False for extra registrations of one connection (they are not counted as sessions).
    counted: bool,
    /// The Socket.IO namespace of a socket outside `/` (`None`: `/`, or another protocol).
    namespace: Option<Arc<str>>,
    /// Its handshake as Node's `fetchSockets()` shows it, kept only in cluster mode.
    handshake: std::sync::OnceLock<Arc<serde_json::Value>>,
    /// The session's rooms; `None` once it has left the hub.
    rooms: Mutex<Option<HashSet<Room>>>,
    overflowed: AtomicBool,
    /// Who the session belongs to, when clients must authenticate.
    user: Option<Arc<User>>,
}

struct HubInner {
    sessions: DashMap<SessionId, Arc<Member>>,
    /// Counted sessions (connections), as opposed to extra members.
    live: AtomicUsize,
    /// Sessions that have left the hub but whose actors still deliver their last frames.
    closing: AtomicUsize,
    rooms: DashMap<Room, HashMap<SessionId, Arc<Member>>>,
    users: users::UserIndex,
    counters: Counters,
    limits: HubLimits,
    adapter: Arc<dyn Adapter>,
    recovery: Option<Recovery>,
}

/// A cheap, cloneable handle to the hub.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("sessions", &self.inner.sessions.len())
            .field("rooms", &self.inner.rooms.len())
            .finish()
    }
}

impl Hub {
    /// A hub with these limits, connected to other nodes through `adapter`.
    pub(crate) fn new(limits: HubLimits, adapter: Arc<dyn Adapter>) -> Hub {
        let hub = Hub {
            inner: Arc::new(HubInner {
                sessions: DashMap::new(),
                live: AtomicUsize::new(0),
                closing: AtomicUsize::new(0),
                rooms: DashMap::new(),
                users: users::UserIndex::default(),
                counters: Counters::default(),
                recovery: limits.recovery.clone().map(Recovery::new),
                limits,
                adapter,
            }),
        };
        hub.inner.adapter.start(hub.clone());
        hub
    }

    /// The recovery state, when recovery is on.
    pub(crate) fn recovery(&self) -> Option<&Recovery> {
        self.inner.recovery.as_ref()
    }

    /// The hub's counters, for protocols to record traffic.
    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// Registers a session; refused when the node is full.
    pub(crate) fn register(
        &self,
        id: SessionId,
        protocol: Protocol,
        transport: Transport,
        mailbox: Mailbox,
        user: Option<Arc<User>>,
    ) -> Result<(), RegisterError> {
        let limit = self.inner.limits.max_sessions;
        if self.is_full() {
            Counters::add(&self.inner.counters.sessions_refused, 1);
            return Err(RegisterError::Full(limit));
        }
        self.inner.live.fetch_add(1, Ordering::Relaxed);
        self.insert(id, protocol, transport, mailbox, true, None, user);
        Counters::add(&self.inner.counters.sessions_opened, 1);
        Ok(())
    }

    /// Registers one more addressable member for an already registered connection (a Socket.IO
    /// socket in another namespace): it has rooms and receives messages, but is not counted as a
    /// session.
    pub(crate) fn register_member(
        &self,
        id: SessionId,
        protocol: Protocol,
        transport: Transport,
        mailbox: Mailbox,
        namespace: &str,
        user: Option<Arc<User>>,
    ) {
        let namespace = (namespace != "/").then(|| Arc::from(namespace));
        self.insert(id, protocol, transport, mailbox, false, namespace, user);
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &self,
        id: SessionId,
        protocol: Protocol,
        transport: Transport,
        Mailbox { addr, inbox }: Mailbox,
        counted: bool,
        namespace: Option<Arc<str>>,
        user: Option<Arc<User>>,
    ) {
        // A user's sessions are its connections: Socket.IO sockets in other namespaces are not
        // counted again.
        if let (Some(user), None) = (&user, &namespace) {
            self.inner.users.add(user.id(), &id);
        }
        let member = Arc::new(Member {
            id: id.clone(),
            protocol,
            transport: AtomicU8::new(transport as u8),
            addr,
            inbox,
            counted,
            namespace,
            handshake: std::sync::OnceLock::new(),
            rooms: Mutex::new(Some(HashSet::new())),
            overflowed: AtomicBool::new(false),
            user,
        });
        let root = Self::is_root_socket(&member);
        self.inner.sessions.insert(id.clone(), member);
        if root {
            self.inner.adapter.socket_changed(&id);
        }
    }

    /// True when the node is at its session limit.
    pub(crate) fn is_full(&self) -> bool {
        self.session_count() >= self.inner.limits.max_sessions
    }

    /// True when the node is at its session limit, counting the connection it refuses (for a
    /// transport that answers before a session exists, such as a WebSocket handshake).
    pub(crate) fn refuses_new_session(&self) -> bool {
        let full = self.is_full();
        if full {
            tracing::info!(
                limit = self.inner.limits.max_sessions,
                "connection refused: session limit reached"
            );
            Counters::add(&self.inner.counters.sessions_refused, 1);
        }
        full
    }

    /// Removes a session and its room memberships; returns the rooms it was in.
    pub fn unregister(&self, id: &str) -> Vec<Room> {
        self.unregister_reporting(id).rooms
    }

    /// [`Hub::unregister`], also saying whether it was its user's last session here.
    pub(crate) fn unregister_reporting(&self, id: &str) -> Unregistered {
        self.release_held();
        let Some((_, member)) = self.inner.sessions.remove(id) else {
            return Unregistered::default();
        };
        let rooms = lock(&member.rooms).take().unwrap_or_default();
        let mut user_left = Vec::new();
        for room in &rooms {
            if self.remove_from_room(room, &member) {
                user_left.push(room);
            }
        }
        let last_of_user = match (&member.user, &member.namespace) {
            (Some(user), None) => self.inner.users.remove(user.id(), id),
            _ => false,
        };
        if Self::is_root_socket(&member) {
            self.inner.adapter.socket_changed(id);
        }
        if member.counted {
            self.inner.live.fetch_sub(1, Ordering::Relaxed);
            Counters::add(&self.inner.counters.sessions_closed, 1);
        }
        if let Some(user) = &member.user {
            for room in user_left {
                self.presence_changed(room, &member, user, presence::LEFT);
            }
        }
        Unregistered {
            rooms: rooms.into_iter().collect(),
            last_of_user,
        }
    }

    /// Records that a session moved to another transport (e.g. an upgrade).
    pub(crate) fn set_transport(&self, id: &str, transport: Transport) {
        if let Some(member) = self.inner.sessions.get(id) {
            member.transport.store(transport as u8, Ordering::Relaxed);
        }
    }

    /// Puts a session in a room. Joining a room twice is not an error.
    pub fn join(&self, id: &str, room: Room) -> Result<(), JoinError> {
        self.release_held();
        let member = self.member(id).ok_or(JoinError::UnknownSession)?;
        let mut rooms_guard = lock(&member.rooms);
        let rooms = rooms_guard.as_mut().ok_or(JoinError::UnknownSession)?;
        if rooms.contains(&room) {
            return Ok(());
        }
        let limit = self.inner.limits.max_rooms_per_session;
        if rooms.len() >= limit {
            return Err(JoinError::TooManyRooms(limit));
        }
        rooms.insert(room.clone());
        // Lock order is always: a member's rooms, then a room shard.
        let created = match self.inner.rooms.entry(room.clone()) {
            dashmap::mapref::entry::Entry::Occupied(mut members) => {
                members.get_mut().insert(member.id.clone(), member.clone());
                false
            }
            dashmap::mapref::entry::Entry::Vacant(slot) => {
                slot.insert(HashMap::from([(member.id.clone(), member.clone())]));
                true
            }
        };
        let first_of_user = member
            .user
            .as_ref()
            .filter(|user| self.inner.users.entered(&room, user.id()));
        drop(rooms_guard);
        if created && member.namespace.is_none() {
            self.inner.adapter.room_changed(&room);
        }
        if let Some(user) = first_of_user {
            self.presence_changed(&room, &member, user, presence::JOINED);
        }
        Ok(())
    }

    /// Takes a session out of a room; returns whether it was in it.
    pub fn leave(&self, id: &str, room: &str) -> bool {
        self.release_held();
        let Some(member) = self.member(id) else {
            return false;
        };
        // Lock order is always: a member's rooms, then a room shard (then the user counts).
        let mut rooms = lock(&member.rooms);
        let was_in = rooms.as_mut().is_some_and(|r| r.remove(room));
        let last_of_user = was_in && self.remove_from_room(room, &member);
        drop(rooms);
        if let (true, Some(user)) = (last_of_user, &member.user) {
            self.presence_changed(room, &member, user, presence::LEFT);
        }
        was_in
    }

    /// The rooms a session is in.
    pub fn rooms_of(&self, id: &str) -> Vec<Room> {
        self.member(id)
            .and_then(|m| lock(&m.rooms).as_ref().map(|r| r.iter().cloned().collect()))
            .unwrap_or_default()
    }

    /// The user a session belongs to (`None`: anonymous, or no such session).
    pub fn user_of(&self, id: &str) -> Option<Arc<User>> {
        self.member(id)?.user.clone()
    }

    /// The sessions of a user on this node (a Socket.IO connection's socket in `/`).
    pub fn sessions_of_user(&self, user: &str) -> Vec<SessionId> {
        self.inner.users.sessions_of(user)
    }

    /// The transport a session is attached through now.
    pub fn transport_of(&self, id: &str) -> Option<Transport> {
        let member = self.member(id)?;
        Some(Transport::from_u8(member.transport.load(Ordering::Relaxed)))
    }

    /// Sends a message to every session of `user` on this node; returns how many took it.
    pub fn send_to_user(&self, user: &str, message: Arc<Message>) -> usize {
        self.sessions_of_user(user)
            .iter()
            .filter(|id| self.send_to(id, message.clone()))
            .count()
    }

    /// Disconnects every session of `user` on this node; returns how many there were.
    pub fn disconnect_user(&self, user: &str, reason: DisconnectReason) -> usize {
        self.sessions_of_user(user)
            .iter()
            .filter(|id| self.disconnect(id, reason.clone()))
            .count()
    }

    /// The members of a room on this node.
    pub fn room_members(&self, room: &str) -> Vec<SessionId> {
        self.inner
            .rooms
            .get(room)
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Number of members of a room on this node.
    pub fn room_size(&self, room: &str) -> usize {
        self.inner.rooms.get(room).map_or(0, |r| r.len())
    }

    /// True when the session is registered.
    pub fn contains(&self, id: &str) -> bool {
        self.inner.sessions.contains_key(id)
    }

    /// Records that a session's actor is delivering its last frames (until [`Hub::closed`]).
    pub(crate) fn closing(&self) {
        self.inner.closing.fetch_add(1, Ordering::Relaxed);
    }

    /// Records that a closing session's actor is gone.
    pub(crate) fn closed(&self) {
        self.inner.closing.fetch_sub(1, Ordering::Relaxed);
    }

    /// Sessions that have left the hub but still deliver their close (graceful shutdown waits
    /// for them).
    pub fn closing_count(&self) -> usize {
        self.inner.closing.load(Ordering::Relaxed)
    }

    /// Number of live sessions (connections) on this node.
    pub fn session_count(&self) -> usize {
        self.inner.live.load(Ordering::Relaxed)
    }

    /// Sends a message to every session of `target`, here and on other nodes; returns how many
    /// local sessions accepted it.
    pub fn broadcast(&self, target: &Target, message: Arc<Message>) -> usize {
        if self.forwarded_for_offset(target, &message) {
            self.release_held();
            // Delivered once the stream answers: the sessions it is for, counted now.
            return self.recipient_count(target);
        }
        self.record(target, &message);
        let delivered = match self.hold(target, &message) {
            Some(recipients) => recipients,
            None => self.deliver_local(target, &message),
        };
        if !target.local {
            self.inner.adapter.forward(target, &message);
        }
        self.inner.counters.fanout.observe(delivered as f64);
        delivered
    }

    /// A streams cluster with recovery on gives a broadcast its offset (its stream id): it is
    /// delivered here once it has it, by the adapter. True when it went that way.
    fn forwarded_for_offset(&self, target: &Target, message: &Arc<Message>) -> bool {
        if target.volatile {
            message.mark_volatile();
        }
        !target.local
            && !message.is_volatile()
            && self.inner.recovery.is_some()
            && self.inner.adapter.forward_for_offset(target, message)
    }

    /// The cluster that keeps dropped sessions and the recovery log (a streams cluster with
    /// recovery on): sessions recover on any node through it, not through this hub's log.
    pub(crate) fn shared_recovery(&self) -> Option<&crate::cluster::RedisAdapter> {
        self.inner.recovery.as_ref()?;
        self.inner
            .adapter
            .cluster()
            .filter(|cluster| cluster.keeps_sessions())
    }

    /// Applies a target's flags to its message, and keeps it for recovery unless volatile (as
    /// Node keeps only plain events), or the cluster keeps the log.
    fn record(&self, target: &Target, message: &Arc<Message>) {
        if target.volatile {
            message.mark_volatile();
        }
        if self.shared_recovery().is_some() {
            return;
        }
        if let Some(recovery) = self
            .inner
            .recovery
            .as_ref()
            .filter(|_| !message.is_volatile())
        {
            recovery.record(target, message);
        }
    }

    /// Broadcasts several messages in order, each to its target; returns how many sessions took
    /// each. Every recipient takes its share of the batch whole or not at all (a session that
    /// cannot take it all is overflowed and gets none of it), so the counts say what went out.
    pub(crate) fn broadcast_batch(&self, batch: Vec<(Target, Arc<Message>)>) -> Vec<usize> {
        self.release_held();
        if self.shared_recovery().is_some() {
            // Each waits for its stream id before it is delivered here: one at a time, in order.
            return batch
                .into_iter()
                .map(|(target, message)| self.broadcast(&target, message))
                .collect();
        }
        let mut shares: HashMap<SessionId, Share> = HashMap::new();
        for (i, (target, message)) in batch.iter().enumerate() {
            self.record(target, message);
            let excluded = self.excluded(target);
            for member in self.recipients(target) {
                if excluded.iter().any(|e| Arc::ptr_eq(e, &member)) {
                    continue;
                }
                let share = shares.entry(member.id.clone()).or_insert_with(|| Share {
                    member: member.clone(),
                    places: Vec::new(),
                    messages: Vec::new(),
                });
                share.places.push(i);
                share.messages.push(message.clone());
            }
            if !target.local {
                self.inner.adapter.forward(target, message);
            }
        }
        let mut delivered = vec![0; batch.len()];
        for share in shares.into_values() {
            if self.deliver_all(&share.member, &share.messages) {
                for i in share.places {
                    delivered[i] += 1;
                }
            }
        }
        for &n in &delivered {
            self.inner.counters.fanout.observe(n as f64);
        }
        delivered
    }

    /// Delivers a broadcast to this node's sessions only (adapters call this for what other
    /// nodes send); returns how many accepted it.
    pub(crate) fn deliver_local(&self, target: &Target, message: &Arc<Message>) -> usize {
        self.release_held();
        self.deliver_together(target, std::slice::from_ref(message))
    }

    /// Delivers several messages to one target's sessions: each takes all of them in one push
    /// (all or none), woken once. Returns how many sessions took them.
    fn deliver_together(&self, target: &Target, messages: &[Arc<Message>]) -> usize {
        let excluded = self.excluded(target);
        let mut delivered = 0;
        self.for_each_recipient(target, |m| {
            if !excluded.iter().any(|e| Arc::ptr_eq(e, m))
                && self.settle_push(m, m.inbox.push_all(&m.id, messages))
            {
                delivered += 1;
            }
        });
        Counters::add(
            &self.inner.counters.messages_out,
            (delivered * messages.len()) as u64,
        );
        delivered
    }

    /// How many sessions a target reaches.
    fn recipient_count(&self, target: &Target) -> usize {
        match target.rooms.as_slice() {
            [room] => self.inner.rooms.get(room).map_or(0, |members| {
                let mut left_out: Vec<&SessionId> = target
                    .except
                    .iter()
                    .filter(|id| members.contains_key(*id))
                    .collect();
                left_out.sort();
                left_out.dedup();
                members.len() - left_out.len()
            }),
            _ => {
                let excluded = self.excluded(target);
                self.recipients(target)
                    .iter()
                    .filter(|m| !excluded.iter().any(|e| Arc::ptr_eq(e, m)))
                    .count()
            }
        }
    }

    /// Runs `f` on every member a target's rooms hold. One room is walked in place, under its
    /// shard's read lock (`f` only pushes to inboxes and sends to actors: it takes no hub lock),
    /// so a big room costs no copy of its member list.
    fn for_each_recipient(&self, target: &Target, f: impl FnMut(&Arc<Member>)) {
        match target.rooms.as_slice() {
            [room] => {
                if let Some(members) = self.inner.rooms.get(room) {
                    members.values().for_each(f);
                }
            }
            _ => self.recipients(target).iter().for_each(f),
        }
    }

    /// Calls `f` on every member of `room` on this node, under the room's read lock.
    fn for_each_member_of(&self, room: &str, f: impl FnMut(&Arc<Member>)) {
        if let Some(members) = self.inner.rooms.get(room) {
            members.values().for_each(f);
        }
    }

    /// Sends a message to one session; false when it is unknown or could not take it.
    pub fn send_to(&self, id: &str, message: Arc<Message>) -> bool {
        self.release_held();
        self.member(id).is_some_and(|m| self.deliver(&m, message))
    }

    /// Whether two handles are the same hub.
    pub(crate) fn same_as(&self, other: &Hub) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Asks a session to close; false when it is unknown.
    pub fn disconnect(&self, id: &str, reason: DisconnectReason) -> bool {
        self.release_held();
        match self.member(id) {
            Some(m) => {
                m.addr.do_send(SessionCommand::Close(reason));
                true
            }
            None => false,
        }
    }

    /// Asks every session to close (graceful shutdown).
    pub fn disconnect_all(&self, reason: DisconnectReason) {
        let members: Vec<Arc<Member>> = self
            .inner
            .sessions
            .iter()
            .filter(|e| e.counted)
            .map(|e| e.clone())
            .collect();
        for m in members {
            m.addr.do_send(SessionCommand::Close(reason.clone()));
        }
    }

    /// Live counts and counters.
    pub fn stats(&self) -> StatsSnapshot {
        let mut counts: HashMap<(Protocol, u8), usize> = HashMap::new();
        for entry in self.inner.sessions.iter().filter(|e| e.counted) {
            let key = (entry.protocol, entry.transport.load(Ordering::Relaxed));
            *counts.entry(key).or_default() += 1;
        }
        let mut by_transport: Vec<TransportCount> = counts
            .into_iter()
            .map(|((protocol, transport), sessions)| TransportCount {
                protocol: protocol.as_str(),
                transport: Transport::from_u8(transport).as_str(),
                sessions,
            })
            .collect();
        by_transport.sort_by_key(|c| (c.protocol, c.transport));
        let mut snapshot = self.inner.counters.snapshot(
            self.session_count(),
            by_transport,
            self.inner.rooms.len(),
            self.inner.adapter.name(),
        );
        snapshot.cluster = self.inner.adapter.stats();
        if let Some(recovery) = &self.inner.recovery {
            snapshot.recovery_kept = recovery.kept_count();
            snapshot.recovery_log = recovery.log_len();
            snapshot.recovery_log_bytes = recovery.log_bytes();
        }
        snapshot
    }

    fn member(&self, id: &str) -> Option<Arc<Member>> {
        self.inner.sessions.get(id).map(|m| m.clone())
    }

    /// The members a target leaves out. Recipients are compared with them by pointer: comparing
    /// ids would read every recipient's id from memory, a cache miss each in a big room.
    fn excluded(&self, target: &Target) -> Vec<Arc<Member>> {
        target
            .except
            .iter()
            .filter_map(|id| self.member(id))
            .collect()
    }

    fn recipients(&self, target: &Target) -> Vec<Arc<Member>> {
        match target.rooms.as_slice() {
            [] => self.inner.sessions.iter().map(|e| e.clone()).collect(),
            [room] => self
                .inner
                .rooms
                .get(room)
                .map(|r| r.values().cloned().collect())
                .unwrap_or_default(),
            rooms => {
                let mut seen: HashMap<SessionId, Arc<Member>> = HashMap::new();
                for room in rooms {
                    if let Some(members) = self.inner.rooms.get(room) {
                        for (id, m) in members.iter() {
                            seen.entry(id.clone()).or_insert_with(|| m.clone());
                        }
                    }
                }
                seen.into_values().collect()
            }
        }
    }

    /// Leaves a message in a session's bounded inbox (waking the actor if it was empty); a full
    /// inbox closes the session.
    fn deliver(&self, member: &Member, message: Arc<Message>) -> bool {
        let pushed = member.inbox.push(&member.id, message);
        let taken = self.settle_push(member, pushed);
        if taken {
            Counters::add(&self.inner.counters.messages_out, 1);
        }
        taken
    }

    /// Leaves several messages in a session's inbox, all or none (a full inbox closes the
    /// session).
    fn deliver_all(&self, member: &Member, messages: &[Arc<Message>]) -> bool {
        let pushed = member.inbox.push_all(&member.id, messages);
        let taken = self.settle_push(member, pushed);
        if taken {
            Counters::add(&self.inner.counters.messages_out, messages.len() as u64);
        }
        taken
    }

    /// After messages were offered to a member's inbox: wakes its actor when the inbox was
    /// empty, overflows it when the inbox was full; true when they were taken (the caller
    /// counts them).
    fn settle_push(&self, member: &Member, pushed: Result<bool, InboxFull>) -> bool {
        match pushed {
            Ok(false) => {}
            Ok(true) => match member.addr.try_send(SessionCommand::Drain) {
                Ok(()) => {}
                // A mailbox full of other commands: the wake-up must not be lost.
                Err(SendError::Full(wake)) => member.addr.do_send(wake),
                Err(SendError::Closed(_)) => return false,
            },
            Err(InboxFull) => {
                self.overflow(member);
                return false;
            }
        }
        true
    }

    /// Records an overflow and closes the session, once.
    pub(crate) fn overflow_of(&self, id: &str) {
        if let Some(m) = self.member(id) {
            self.overflow(&m);
        }
    }

    fn overflow(&self, member: &Member) {
        let counters = &self.inner.counters;
        Counters::add(&counters.overflow_drops, 1);
        if !member.overflowed.swap(true, Ordering::Relaxed) {
            Counters::add(&counters.overflow_disconnects, 1);
            tracing::warn!(session = %member.id, protocol = %member.protocol, "outbox overflow: closing slow session");
            member
                .addr
                .do_send(SessionCommand::Close(DisconnectReason::Overflow));
        }
    }

    /// Takes `member` out of the index of `room`; true when it was its user's last session
    /// there (the caller tells the room, once it holds no lock).
    fn remove_from_room(&self, room: &str, member: &Arc<Member>) -> bool {
        let now_empty = match self.inner.rooms.get_mut(room) {
            Some(mut members) => {
                members.remove(&member.id);
                members.is_empty()
            }
            None => false,
        };
        if now_empty
            && self
                .inner
                .rooms
                .remove_if(room, |_, members| members.is_empty())
                .is_some()
        {
            self.inner.adapter.room_changed(room);
        }
        member
            .user
            .as_ref()
            .is_some_and(|user| self.inner.users.exited(room, user.id()))
    }
}

/// What [`Hub::unregister_reporting`] did.
#[derive(Debug, Default)]
pub(crate) struct Unregistered {
    /// The rooms the session was in.
    pub rooms: Vec<Room>,
    /// It was its user's last session on this node.
    pub last_of_user: bool,
}

/// One recipient's part of a batch: its messages in batch order, and their places in the batch.
struct Share {
    member: Arc<Member>,
    places: Vec<usize>,
    messages: Vec<Arc<Message>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
