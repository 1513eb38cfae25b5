//! The hub as the other nodes of a Node socket.io cluster see it: the sockets of namespace `/`
//! (every relay session of any protocol, and each Socket.IO socket in `/`), chosen by rooms and
//! except-rooms the way socket.io-adapter chooses them, where a socket's own id is a room too.

use std::collections::HashSet;
use std::sync::{Arc, Weak};

use super::{lock, Hub, HubInner, Member, Message, Protocol, Room, SessionId};
use crate::cluster::ClusterError;

/// A socket somewhere in the cluster, as [`Hub::fetch_sockets`] finds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SocketInfo {
    /// Its id (20 characters, for this node's and Node's sockets alike).
    pub id: String,
    /// Its rooms, its own id first.
    pub rooms: Vec<String>,
    /// Its handshake as Node's `socket.handshake` (`headers`, `address`, `query`, `auth`...).
    pub handshake: serde_json::Value,
    /// Whether it is on this node.
    pub local: bool,
}

impl SocketInfo {
    fn from_details(details: serde_json::Value, local: bool) -> Option<SocketInfo> {
        let id = details.get("id")?.as_str()?.to_string();
        let rooms = details
            .get("rooms")
            .and_then(|r| r.as_array())
            .map(|rooms| {
                rooms
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let handshake = details.get("handshake").cloned().unwrap_or_default();
        Some(SocketInfo {
            id,
            rooms,
            handshake,
            local,
        })
    }
}

/// How many sockets took a broadcast from another node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Delivered {
    /// Sockets of any protocol.
    pub(crate) sessions: usize,
    /// Of those, Socket.IO sockets.
    pub(crate) socketio: usize,
}

/// A handle to the hub that does not keep it alive (what a cluster adapter's background task
/// holds, so that a dropped server ends it).
#[derive(Clone)]
pub(crate) struct WeakHub(Weak<HubInner>);

impl WeakHub {
    /// The hub, while it lives.
    pub(crate) fn upgrade(&self) -> Option<Hub> {
        self.0.upgrade().map(|inner| Hub { inner })
    }
}

impl Hub {
    /// A handle that does not keep the hub alive.
    pub(crate) fn downgrade(&self) -> WeakHub {
        WeakHub(Arc::downgrade(&self.inner))
    }

    /// Whether a member is a socket of namespace `/` as Node counts sockets: not an Engine.IO
    /// connection itself, not a Socket.IO socket of another namespace.
    pub(super) fn is_root_socket(member: &Member) -> bool {
        member.namespace.is_none() && !(member.protocol == Protocol::SocketIo && member.counted)
    }

    /// The sockets of `/` in any of `rooms` (all of them when `rooms` is empty) and in none of
    /// `except`; a socket id counts as a room holding that socket. Each socket once.
    pub(crate) fn select_sockets(&self, rooms: &[Room], except: &[Room]) -> Vec<SessionId> {
        self.select(rooms, except)
            .into_iter()
            .map(|m| m.id.clone())
            .collect()
    }

    fn select(&self, rooms: &[Room], except: &[Room]) -> Vec<Arc<Member>> {
        let excluded: HashSet<SessionId> = except
            .iter()
            .flat_map(|room| self.in_room_or_socket(room))
            .map(|m| m.id.clone())
            .collect();
        let keep = |m: &Arc<Member>| Self::is_root_socket(m) && !excluded.contains(&m.id);
        if rooms.is_empty() {
            return self
                .inner
                .sessions
                .iter()
                .map(|e| e.value().clone())
                .filter(keep)
                .collect();
        }
        let mut seen: HashSet<SessionId> = HashSet::new();
        rooms
            .iter()
            .flat_map(|room| self.in_room_or_socket(room))
            .filter(|m| keep(m) && seen.insert(m.id.clone()))
            .collect()
    }

    /// The members of a room, or the session whose id it is.
    fn in_room_or_socket(&self, room: &str) -> Vec<Arc<Member>> {
        let mut members: Vec<Arc<Member>> = self
            .inner
            .rooms
            .get(room)
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default();
        if let Some(member) = self.member(room) {
            members.push(member);
        }
        members
    }

    /// Delivers a broadcast another node sent to the sockets it selects here; says how many
    /// took it, and how many of those are Socket.IO sockets (the ones that can acknowledge).
    /// Encoded once per wire format, as a local broadcast is.
    pub(crate) fn deliver_selected(
        &self,
        rooms: &[Room],
        except: &[Room],
        message: &Arc<Message>,
    ) -> Delivered {
        let mut delivered = Delivered::default();
        for member in self.select(rooms, except) {
            if self.deliver(&member, message.clone()) {
                delivered.sessions += 1;
                if member.protocol == Protocol::SocketIo {
                    delivered.socketio += 1;
                }
            }
        }
        delivered
    }

    /// Whether a broadcast to this room could reach anyone here (a room with members, or a
    /// socket's id).
    pub(crate) fn has_room_or_socket(&self, room: &str) -> bool {
        self.room_size(room) > 0 || self.contains(room)
    }

    /// The rooms of `/` that have a channel of their own in a sharded cluster: every room with
    /// a member here, and with `sockets` the ids of the sockets of `/` too.
    pub(crate) fn shard_rooms(&self, sockets: bool) -> Vec<Room> {
        let mut rooms = self.rooms_with(|m| m.namespace.is_none());
        if sockets {
            rooms.extend(self.root_socket_ids());
        }
        rooms
    }

    /// Whether `room` (or, with `sockets`, a socket of `/` by that id) is here: what
    /// [`Hub::shard_rooms`] would list.
    pub(crate) fn has_shard_room(&self, room: &str, sockets: bool) -> bool {
        self.room_size(room) > 0
            || (sockets && self.member(room).is_some_and(|m| Self::is_root_socket(&m)))
    }

    /// Every room of `/` with a socket in it, the sockets' own ids included (Node's
    /// `adapter.rooms.keys()`).
    pub(crate) fn root_rooms(&self) -> Vec<Room> {
        let mut rooms = self.rooms_with(Self::is_root_socket);
        rooms.extend(self.root_socket_ids());
        rooms
    }

    /// The rooms with a member that `keep` says yes to.
    fn rooms_with(&self, keep: impl Fn(&Member) -> bool) -> Vec<Room> {
        self.inner
            .rooms
            .iter()
            .filter(|r| r.value().values().any(|m| keep(m.as_ref())))
            .map(|r| r.key().clone())
            .collect()
    }

    /// The ids of the sockets of `/` (each is a room holding that socket).
    fn root_socket_ids(&self) -> impl Iterator<Item = Room> + '_ {
        self.inner
            .sessions
            .iter()
            .filter(|m| Self::is_root_socket(m.value()))
            .map(|m| Room::from(m.key().as_ref()))
    }

    /// Whether other nodes may ask about this node's sockets (so their handshakes are worth
    /// keeping).
    pub(crate) fn in_cluster(&self) -> bool {
        self.inner.adapter.cluster().is_some()
    }

    /// Keeps a socket's handshake, as Node's `fetchSockets()` shows it (once).
    pub(crate) fn set_handshake(&self, id: &str, handshake: serde_json::Value) {
        if let Some(member) = self.member(id) {
            let _ = member.handshake.set(Arc::new(handshake));
        }
    }

    /// A socket's handshake, if one was kept.
    pub(crate) fn handshake(&self, id: &str) -> Option<Arc<serde_json::Value>> {
        self.member(id).and_then(|m| m.handshake.get().cloned())
    }

    /// A socket as Node's `fetchSockets()` describes it: Socket.IO sockets with the handshake
    /// they came with; relay sessions of other protocols (no Socket.IO handshake) with Node's
    /// fields, empty.
    pub(crate) fn socket_details(&self, id: &str) -> serde_json::Value {
        let rooms: Vec<String> = self
            .socket_rooms(id)
            .iter()
            .map(|r| r.to_string())
            .collect();
        let handshake = self.handshake(id).map_or_else(
            || {
                serde_json::json!({"headers": {}, "time": "", "address": "", "xdomain": false,
                    "secure": false, "issued": 0, "url": "", "query": {}, "auth": {}})
            },
            |h| (*h).clone(),
        );
        serde_json::json!({"id": id, "handshake": handshake, "rooms": rooms})
    }

    /// The sockets of namespace `/` in any of `rooms` (all of them when `rooms` is empty), here
    /// and, in cluster mode, on every other node (Node's `io.in(rooms).fetchSockets()`). Fails
    /// like Node's when a node does not answer within 5 s.
    pub async fn fetch_sockets(&self, rooms: &[Room]) -> Result<Vec<SocketInfo>, ClusterError> {
        let mut sockets: Vec<SocketInfo> = self
            .select_sockets(rooms, &[])
            .iter()
            .filter_map(|id| SocketInfo::from_details(self.socket_details(id), true))
            .collect();
        if let Some(cluster) = self.inner.adapter.cluster() {
            let to = crate::cluster::Selection {
                rooms: rooms.to_vec(),
                except: Vec::new(),
            };
            let remote = cluster.fetch_remote_sockets(to).await?;
            sockets.extend(
                remote
                    .into_iter()
                    .filter_map(|details| SocketInfo::from_details(details, false)),
            );
        }
        Ok(sockets)
    }

    /// Node's `io.serverSideEmit(event, ...args)`: the other nodes' listeners hear it (nothing
    /// happens alone).
    pub fn server_side_emit(&self, event: &str, args: Vec<serde_json::Value>) {
        if let Some(cluster) = self.inner.adapter.cluster() {
            cluster.server_side_emit(event, &args);
        }
    }

    /// Node's `io.on(event, listener)` for server-side events: `listener` hears every
    /// `serverSideEmit` of the other nodes (Node or switchboard), with its event and arguments,
    /// and what it returns answers a `serverSideEmitWithAck` (`None`: no answer). Replaces the
    /// listener before; does nothing alone.
    pub fn on_server_side_emit(
        &self,
        listener: impl Fn(&str, Vec<serde_json::Value>) -> Option<serde_json::Value>
            + Send
            + Sync
            + 'static,
    ) {
        if let Some(cluster) = self.inner.adapter.cluster() {
            cluster.set_listener(Arc::new(listener));
        }
    }

    /// Node's `io.serverSideEmitWithAck(event, ...args)`: one answer per other node (none
    /// alone). Fails like Node's, with what came, when a node does not answer within 5 s.
    pub async fn server_side_emit_with_ack(
        &self,
        event: &str,
        args: Vec<serde_json::Value>,
    ) -> Result<Vec<serde_json::Value>, ClusterError> {
        match self.inner.adapter.cluster() {
            Some(cluster) => cluster.server_side_emit_with_ack(event, &args).await,
            None => Ok(Vec::new()),
        }
    }

    /// A socket's rooms as Node lists them: its own id first, then the rooms it joined.
    pub(crate) fn socket_rooms(&self, id: &str) -> Vec<Room> {
        let mut rooms = vec![Room::from(id)];
        if let Some(member) = self.member(id) {
            if let Some(joined) = lock(&member.rooms).as_ref() {
                rooms.extend(joined.iter().cloned());
            }
        }
        rooms
    }
}
