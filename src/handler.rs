//! What an application plugs into switchboard: a [`Handler`] that sees every session, whatever
//! its protocol. The binary's relay mode is one such handler; every method has the relay
//! behaviour as its default, so an application overrides only what it changes.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::auth::User;
use crate::hub::{
    DisconnectReason, Hub, JoinError, Message, Protocol, Room, SessionId, Target, Transport,
};

/// A session, as application code sees it.
#[derive(Debug, Clone)]
pub struct SessionRef {
    id: SessionId,
    protocol: Protocol,
    hub: Hub,
    user: Option<Arc<User>>,
}

impl SessionRef {
    /// A reference to session `id` of `protocol` in `hub`, belonging to `user`.
    pub(crate) fn new(
        id: SessionId,
        protocol: Protocol,
        hub: Hub,
        user: Option<Arc<User>>,
    ) -> SessionRef {
        SessionRef {
            id,
            protocol,
            hub,
            user,
        }
    }

    /// The session's id.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The user the session belongs to (`None` when clients do not authenticate).
    pub fn user(&self) -> Option<&Arc<User>> {
        self.user.as_ref()
    }

    /// The transport the session is attached through now (`None` once it has left the hub).
    pub fn transport(&self) -> Option<Transport> {
        self.hub.transport_of(&self.id)
    }

    /// The session's protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The hub, to publish or look around.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Puts the session in a room.
    pub fn join(&self, room: Room) -> Result<(), JoinError> {
        self.hub.join(&self.id, room)
    }

    /// Takes the session out of a room; returns whether it was in it.
    pub fn leave(&self, room: &str) -> bool {
        self.hub.leave(&self.id, room)
    }

    /// The rooms the session is in.
    pub fn rooms(&self) -> Vec<Room> {
        self.hub.rooms_of(&self.id)
    }

    /// Sends an event to this session only.
    pub fn emit(&self, event: &str, data: Value) -> bool {
        self.hub.send_to(&self.id, Message::new(None, event, data))
    }

    /// Publishes to a room's other members (the sender is left out); returns local deliveries.
    /// The message carries this session's user as its sender.
    pub fn publish_to_others(&self, room: Room, event: &str, data: Value) -> usize {
        let target = Target::room(room.clone()).except(self.id.clone());
        let message = self.signed(Message::new(Some(room), event, data));
        self.hub.broadcast(&target, message)
    }

    /// `message` with this session's user as its sender.
    fn signed(&self, message: Arc<Message>) -> Arc<Message> {
        match &self.user {
            Some(user) => Message::sent_by(message, user.id()),
            None => message,
        }
    }

    /// Publishes binary to a room's other members (`data` holds a placeholder for each of
    /// `attachments`); returns local deliveries.
    pub fn publish_binary_to_others(
        &self,
        room: Room,
        event: &str,
        data: Value,
        attachments: Vec<Bytes>,
    ) -> usize {
        let target = Target::room(room.clone()).except(self.id.clone());
        let message = Message::with_binary(None, Some(room), event, vec![data], attachments);
        self.hub.broadcast(&target, self.signed(message))
    }

    /// Closes the session.
    pub fn disconnect(&self) {
        self.hub
            .disconnect(&self.id, DisconnectReason::ServerDisconnect);
    }
}

/// Everything known of a session when it ends: who left, and why.
#[derive(Debug, Clone)]
pub struct DisconnectInfo {
    /// The session's id.
    pub id: SessionId,
    /// Its protocol.
    pub protocol: Protocol,
    /// The user it belonged to (`None` when clients do not authenticate).
    pub user: Option<Arc<User>>,
    /// The transport it was attached through last.
    pub transport: Transport,
    /// How long it was connected.
    pub duration: std::time::Duration,
    /// It was its user's last session on this node: the user is offline here now.
    pub last_session_of_user: bool,
    /// The rooms it was in.
    pub rooms: Vec<Room>,
    /// Why it ended.
    pub reason: DisconnectReason,
}

/// A refusal, sent back to the client as an error.
pub type Refusal = String;

/// Application callbacks, called by every protocol. The defaults are relay mode.
pub trait Handler: Send + Sync + 'static {
    /// A session has connected.
    fn on_connect(&self, session: &SessionRef) {
        let _ = session;
    }

    /// The client asks to join a room.
    fn on_join(&self, session: &SessionRef, room: Room) -> Result<(), Refusal> {
        session.join(room).map_err(|e| e.to_string())
    }

    /// The client asks to leave a room.
    fn on_leave(&self, session: &SessionRef, room: Room) -> Result<(), Refusal> {
        session.leave(&room);
        Ok(())
    }

    /// The client publishes to a room; by default every other member receives it.
    fn on_publish(
        &self,
        session: &SessionRef,
        room: Room,
        event: &str,
        data: Value,
    ) -> Result<(), Refusal> {
        session.publish_to_others(room, event, data);
        Ok(())
    }

    /// The client publishes binary (a Socket.IO client's Buffers: `data` holds a placeholder for
    /// each of `attachments`); by default every other member receives it, Socket.IO clients as
    /// binary and the others as Node's JSON of a Buffer.
    fn on_publish_binary(
        &self,
        session: &SessionRef,
        room: Room,
        event: &str,
        data: Value,
        attachments: Vec<Bytes>,
    ) -> Result<(), Refusal> {
        session.publish_binary_to_others(room, event, data, attachments);
        Ok(())
    }

    /// The client sends an event to the server; the answer goes back as the ack's data.
    fn on_event(&self, session: &SessionRef, event: &str, data: Value) -> Result<Value, Refusal> {
        let _ = (session, data);
        Err(format!("no handler for event \"{event}\""))
    }

    /// A session has ended.
    fn on_disconnect(&self, info: &DisconnectInfo) {
        let _ = info;
    }
}

/// A shared handler.
pub(crate) type SharedHandler = Arc<dyn Handler>;
