//! Who is in a room: its users with their public information and sessions, and the events that
//! tell a room's members when a user comes and goes.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use super::{Hub, Member, Message, Protocol, Room, Target, Transport};
use crate::auth::User;

/// The event a room's members get when a user's first session joins it.
pub(super) const JOINED: &str = "joined";
/// The event a room's members get when a user's last session leaves it.
pub(super) const LEFT: &str = "left";

/// One session of a user present in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresenceSession {
    /// The session's id.
    pub id: String,
    /// Its protocol.
    pub protocol: &'static str,
    /// The transport it is attached through now.
    pub transport: &'static str,
}

/// A user present in a room, with its sessions there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresentUser {
    /// The user id.
    pub user: String,
    /// The user's public information.
    pub info: Value,
    /// Its sessions in the room (tabs, devices).
    pub sessions: Vec<PresenceSession>,
}

/// The users in a room on this node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Presence {
    /// The room.
    pub room: String,
    /// Its users, by user id.
    pub users: Vec<PresentUser>,
    /// Its members that belong to no user (clients that did not authenticate).
    pub anonymous: usize,
}

impl Hub {
    /// Who is in `room` on this node: its users (each once, with all its sessions there), and
    /// how many members are anonymous.
    pub fn presence(&self, room: &str) -> Presence {
        let mut users: Vec<PresentUser> = Vec::new();
        let mut anonymous = 0;
        self.for_each_member_of(room, |member| {
            let Some(user) = &member.user else {
                anonymous += 1;
                return;
            };
            let session = PresenceSession {
                id: member.id.to_string(),
                protocol: member.protocol.as_str(),
                transport: Transport::from_u8(
                    member.transport.load(std::sync::atomic::Ordering::Relaxed),
                )
                .as_str(),
            };
            match users.iter_mut().find(|u| u.user == user.id()) {
                Some(present) => present.sessions.push(session),
                None => users.push(PresentUser {
                    user: user.id().to_string(),
                    info: user.info().clone(),
                    sessions: vec![session],
                }),
            }
        });
        users.sort_by(|a, b| a.user.cmp(&b.user));
        for user in &mut users {
            user.sessions.sort_by(|a, b| a.id.cmp(&b.id));
        }
        Presence {
            room: room.into(),
            users,
            anonymous,
        }
    }

    /// Tells `room`'s other members that `user` came (its first session, `member`, joined) or
    /// went (its last left), when presence events are on.
    pub(super) fn presence_changed(
        &self,
        room: &str,
        member: &Arc<Member>,
        user: &User,
        event: &str,
    ) {
        if !self.inner.limits.presence_events
            || (member.protocol == Protocol::SocketIo && member.namespace.is_some())
        {
            return;
        }
        let room: Room = room.into();
        let data = json!({"user": user.id(), "info": user.info()});
        // Each node tells its own members: another node's sessions of the user are its own.
        let target = Target::room(room.clone()).except(member.id.clone()).local();
        self.broadcast(&target, Message::new(Some(room), event, data));
    }
}
