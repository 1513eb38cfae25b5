//! A connection's identity and what it may do.

use serde_json::Value;

/// Who a session belongs to: the user id (a JWT's `sub`), public information about the user,
/// and what the connection may do. Several sessions (tabs, devices) may share one user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    id: String,
    info: Value,
    rooms: Option<Vec<String>>,
    publish: bool,
}

impl User {
    /// A user that may join any room and publish.
    pub fn new(id: impl Into<String>) -> User {
        User {
            id: id.into(),
            info: Value::Null,
            rooms: None,
            publish: true,
        }
    }

    /// With public information (a JWT's `info`), shown to others in presence.
    pub fn with_info(mut self, info: Value) -> User {
        self.info = info;
        self
    }

    /// Only these rooms may be joined (and published to); an entry ending in `*` is a prefix.
    pub fn with_rooms(mut self, rooms: Vec<String>) -> User {
        self.rooms = Some(rooms);
        self
    }

    /// Read-only: the connection may not publish.
    pub fn read_only(mut self) -> User {
        self.publish = false;
        self
    }

    /// The user id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Public information about the user (`null` when none was given).
    pub fn info(&self) -> &Value {
        &self.info
    }

    /// The rooms this connection may use, if it is limited to some.
    pub fn rooms(&self) -> Option<&[String]> {
        self.rooms.as_deref()
    }

    /// Whether the connection may join `room`.
    pub fn may_join(&self, room: &str) -> bool {
        let Some(rooms) = &self.rooms else {
            return true;
        };
        rooms.iter().any(|allowed| match allowed.strip_suffix('*') {
            Some(prefix) => room.starts_with(prefix),
            None => allowed == room,
        })
    }

    /// Whether the connection may publish to `room`.
    pub fn may_publish(&self, room: &str) -> bool {
        self.publish && self.may_join(room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_limit_joining_exactly_or_by_prefix() {
        let user = User::new("u1").with_rooms(vec!["lobby".into(), "team:7:*".into()]);
        assert!(user.may_join("lobby"));
        assert!(user.may_join("team:7:chat"));
        assert!(user.may_join("team:7:"));
        assert!(!user.may_join("lobby2"));
        assert!(!user.may_join("team:8:chat"));
        assert!(User::new("u2").may_join("anything"));
        assert!(User::new("u3").with_rooms(vec!["*".into()]).may_join("x"));
        assert!(!User::new("u4").with_rooms(Vec::new()).may_join("x"));
    }

    #[test]
    fn a_read_only_user_publishes_nowhere() {
        let user = User::new("u1").read_only();
        assert!(user.may_join("lobby"));
        assert!(!user.may_publish("lobby"));
        let limited = User::new("u2").with_rooms(vec!["a".into()]);
        assert!(limited.may_publish("a"));
        assert!(!limited.may_publish("b"));
    }
}
