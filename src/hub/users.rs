//! Which sessions belong to which user, on this node.

use std::collections::{HashMap, HashSet};

use dashmap::DashMap;

use super::{Room, SessionId};

/// Every user with a session here, and those sessions (a user's tabs and devices); and per
/// room, how many sessions of each user are in it.
#[derive(Debug, Default)]
pub(super) struct UserIndex {
    sessions: DashMap<Box<str>, HashSet<SessionId>>,
    in_rooms: DashMap<Room, HashMap<Box<str>, usize>>,
}

impl UserIndex {
    /// Counts one more session of `user` in `room`; true when it is the user's first there.
    pub(super) fn entered(&self, room: &Room, user: &str) -> bool {
        let mut users = self.in_rooms.entry(room.clone()).or_default();
        let count = users.entry(user.into()).or_default();
        *count += 1;
        *count == 1
    }

    /// Counts one session of `user` fewer in `room`; true when it was the user's last there.
    pub(super) fn exited(&self, room: &str, user: &str) -> bool {
        let mut last = false;
        self.in_rooms.remove_if_mut(room, |_, users| {
            if let Some(count) = users.get_mut(user) {
                *count -= 1;
                if *count == 0 {
                    users.remove(user);
                    last = true;
                }
            }
            users.is_empty()
        });
        last
    }

    /// Records that session `id` belongs to `user`.
    pub(super) fn add(&self, user: &str, id: &SessionId) {
        self.sessions
            .entry(user.into())
            .or_default()
            .insert(id.clone());
    }

    /// Records that session `id` of `user` is gone; true when it was the user's last here
    /// (decided under the user's entry lock: two sessions going at once make one last).
    pub(super) fn remove(&self, user: &str, id: &str) -> bool {
        self.sessions
            .remove_if_mut(user, |_, sessions| {
                sessions.remove(id);
                sessions.is_empty()
            })
            .is_some()
    }

    /// The sessions of `user` on this node.
    pub(super) fn sessions_of(&self, user: &str) -> Vec<SessionId> {
        self.sessions
            .get(user)
            .map(|sessions| sessions.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_gone_with_its_last_session() {
        let index = UserIndex::default();
        let (a, b): (SessionId, SessionId) = ("a".into(), "b".into());
        index.add("u1", &a);
        index.add("u1", &b);
        index.add("u2", &a);
        assert_eq!(index.sessions_of("u1").len(), 2);
        assert!(!index.remove("u1", "a"));
        assert_eq!(index.sessions_of("u1"), vec![b.clone()]);
        assert!(index.remove("u1", "b"));
        assert!(index.sessions_of("u1").is_empty());
        assert_eq!(index.sessions_of("u2"), vec![a]);
    }

    #[test]
    fn a_user_enters_a_room_with_its_first_session_and_leaves_with_its_last() {
        let index = UserIndex::default();
        let room: Room = "lobby".into();
        assert!(index.entered(&room, "u1"));
        assert!(!index.entered(&room, "u1"));
        assert!(index.entered(&room, "u2"));
        assert!(!index.exited("lobby", "u1"));
        assert!(index.exited("lobby", "u1"));
        assert!(!index.exited("lobby", "u1"), "not in it any more");
        assert!(index.exited("lobby", "u2"));
        assert!(index.in_rooms.is_empty());
    }
}
