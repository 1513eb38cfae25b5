//! The hub as the other nodes of a Node socket.io cluster see it: the sockets of namespace `/`
//! (every relay session of any protocol, and each Socket.IO socket in `/`), chosen by rooms and
//! except-rooms the way socket.io-adapter chooses them, where a socket's own id is a room too.

use std::collections::HashSet;
use std::sync::{Arc, Weak};

use super::{lock, Hub, HubInner, Member, Message, Protocol, Room, SessionId};

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
    fn is_root_socket(member: &Member) -> bool {
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

    /// Every room of `/` with a socket in it, the sockets' own ids included (Node's
    /// `adapter.rooms.keys()`).
    pub(crate) fn root_rooms(&self) -> Vec<Room> {
        let mut rooms: Vec<Room> = self
            .inner
            .rooms
            .iter()
            .filter(|r| r.value().values().any(|m| Self::is_root_socket(m)))
            .map(|r| r.key().clone())
            .collect();
        rooms.extend(
            self.inner
                .sessions
                .iter()
                .filter(|m| Self::is_root_socket(m.value()))
                .map(|m| Room::from(m.key().as_ref())),
        );
        rooms
    }

    /// Whether other nodes may ask about this node's sockets (so their handshakes are worth
    /// keeping).
    pub(crate) fn in_cluster(&self) -> bool {
        self.inner.adapter.stats().is_some()
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
