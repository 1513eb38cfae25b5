//! The events: a [`Handler`] around the application's that tells the webhook queue what
//! happened to each session, then lets the application's handler do what it does.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{json, Value};

use super::Webhooks;
use crate::handler::{DisconnectInfo, Handler, Refusal, SessionRef, SharedHandler};
use crate::hub::Room;

/// The application's handler, with every connect, join, leave and disconnect (and a user's
/// last disconnect, `user_offline`) queued as a webhook event.
pub(crate) struct WebhookHandler {
    inner: SharedHandler,
    hooks: Webhooks,
}

impl WebhookHandler {
    /// `inner`, reporting to `hooks`.
    pub(crate) fn new(inner: SharedHandler, hooks: Webhooks) -> WebhookHandler {
        WebhookHandler { inner, hooks }
    }

    fn emit(&self, kind: &str, fields: Value) {
        let mut event = json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "type": kind,
            "time": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        });
        if let (Value::Object(event), Value::Object(fields)) = (&mut event, fields) {
            event.extend(fields);
        }
        self.hooks.send(event);
    }
}

fn user_of(session: &SessionRef) -> Value {
    session.user().map_or(Value::Null, |u| Value::from(u.id()))
}

impl Handler for WebhookHandler {
    fn on_connect(&self, session: &SessionRef) {
        self.emit(
            "connect",
            json!({
                "session": session.id().as_ref(),
                "user": user_of(session),
                "protocol": session.protocol().as_str(),
                "transport": session.transport().map(|t| t.as_str()),
            }),
        );
        self.inner.on_connect(session);
    }

    fn on_join(&self, session: &SessionRef, room: Room) -> Result<(), Refusal> {
        let already_in = session.rooms().contains(&room);
        self.inner.on_join(session, room.clone())?;
        if already_in {
            return Ok(());
        }
        self.emit(
            "join",
            json!({"session": session.id().as_ref(), "user": user_of(session), "room": room.as_ref()}),
        );
        Ok(())
    }

    fn on_leave(&self, session: &SessionRef, room: Room) -> Result<(), Refusal> {
        self.inner.on_leave(session, room.clone())?;
        self.emit(
            "leave",
            json!({"session": session.id().as_ref(), "user": user_of(session), "room": room.as_ref()}),
        );
        Ok(())
    }

    fn on_publish(
        &self,
        session: &SessionRef,
        room: Room,
        event: &str,
        data: Value,
    ) -> Result<(), Refusal> {
        self.inner.on_publish(session, room, event, data)
    }

    fn on_publish_binary(
        &self,
        session: &SessionRef,
        room: Room,
        event: &str,
        data: Value,
        attachments: Vec<Bytes>,
    ) -> Result<(), Refusal> {
        self.inner
            .on_publish_binary(session, room, event, data, attachments)
    }

    fn on_event(&self, session: &SessionRef, event: &str, data: Value) -> Result<Value, Refusal> {
        self.inner.on_event(session, event, data)
    }

    fn on_disconnect(&self, info: &DisconnectInfo) {
        let user = info.user.as_ref().map(|u| u.id().to_string());
        let mut rooms: Vec<&str> = info.rooms.iter().map(|r| r.as_ref()).collect();
        rooms.sort_unstable();
        self.emit(
            "disconnect",
            json!({
                "session": info.id.as_ref(),
                "user": user,
                "protocol": info.protocol.as_str(),
                "transport": info.transport.as_str(),
                "rooms": rooms,
                "reason": info.reason.to_string(),
                "duration_ms": info.duration.as_millis() as u64,
            }),
        );
        if let (Some(user), true) = (&user, info.last_session_of_user) {
            self.emit("user_offline", json!({ "user": user }));
        }
        self.inner.on_disconnect(info);
    }
}
