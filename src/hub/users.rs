//! Which sessions belong to which user, on this node.

use std::collections::HashSet;

use dashmap::DashMap;

use super::SessionId;

/// Every user with a session here, and those sessions (a user's tabs and devices).
#[derive(Debug, Default)]
pub(super) struct UserIndex {
    sessions: DashMap<Box<str>, HashSet<SessionId>>,
}

impl UserIndex {
    /// Records that session `id` belongs to `user`.
    pub(super) fn add(&self, user: &str, id: &SessionId) {
        self.sessions
            .entry(user.into())
            .or_default()
            .insert(id.clone());
    }

    /// Records that session `id` of `user` is gone; true when it was the user's last here.
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
}
