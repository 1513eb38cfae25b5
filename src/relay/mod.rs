//! Relay mode, the binary's default application: clients join rooms and publish to them, over
//! every protocol, with the JSON envelope of protocols/relay.md.

pub mod envelope;

use serde_json::Value;

use crate::handler::{Handler, Refusal, SessionRef};
use crate::hub::Room;

pub use envelope::{Command, EnvelopeError, Request};

/// The relay application: the [`Handler`] defaults, with client publishing optionally switched off.
#[derive(Debug, Clone, Default)]
pub struct RelayHandler {
    /// Refuse `publish` from clients (only the server publishes).
    pub server_only_publish: bool,
}

impl Handler for RelayHandler {
    fn on_publish(
        &self,
        session: &SessionRef,
        room: Room,
        event: &str,
        data: Value,
    ) -> Result<(), Refusal> {
        if self.server_only_publish {
            return Err("publishing is reserved to the server".into());
        }
        session.publish_to_others(room, event, data);
        Ok(())
    }
}

/// Limits on what relay clients may ask for.
#[derive(Debug, Clone)]
pub struct RelayLimits {
    /// Longest room name, in bytes.
    pub max_room_name: usize,
}

impl Default for RelayLimits {
    fn default() -> Self {
        RelayLimits { max_room_name: 256 }
    }
}

fn room_name(room: String, limits: &RelayLimits) -> Result<Room, Refusal> {
    if room.is_empty() {
        return Err("room name must not be empty".into());
    }
    if room.len() > limits.max_room_name {
        return Err(format!(
            "room name longer than {} bytes",
            limits.max_room_name
        ));
    }
    Ok(room.into())
}

/// Carries out one relay command, whatever protocol it came over; `Ok` carries what an `emit`
/// handler answered.
pub fn execute(
    command: Command,
    session: &SessionRef,
    handler: &dyn Handler,
    limits: &RelayLimits,
) -> Result<Option<Value>, Refusal> {
    match command {
        Command::Join { room } => room_name(room, limits)
            .and_then(|room| handler.on_join(session, room))
            .map(|()| None),
        Command::Leave { room } => room_name(room, limits)
            .and_then(|room| handler.on_leave(session, room))
            .map(|()| None),
        Command::Publish { room, event, data } => room_name(room, limits)
            .and_then(|room| handler.on_publish(session, room, &event, data))
            .map(|()| None),
        Command::Emit { event, data } => handler.on_event(session, &event, data).map(Some),
    }
}

/// Carries out one relay request; returns the answer to send back, if any.
pub fn dispatch(
    request: Request,
    session: &SessionRef,
    handler: &dyn Handler,
    limits: &RelayLimits,
) -> Option<String> {
    let Request { id, command } = request;
    match (execute(command, session, handler, limits), id) {
        (Ok(data), Some(id)) => Some(envelope::encode_ack(&id, data.as_ref())),
        (Ok(_), None) => None,
        (Err(message), id) => {
            tracing::debug!(session = %session.id(), %message, "relay request refused");
            Some(envelope::encode_error(id.as_ref(), &message))
        }
    }
}

/// Decodes and carries out one relay text message; returns the answer, if any.
pub fn handle_text(
    text: &str,
    session: &SessionRef,
    handler: &dyn Handler,
    limits: &RelayLimits,
) -> Option<String> {
    match envelope::decode(text) {
        Ok(request) => dispatch(request, session, handler, limits),
        Err(EnvelopeError { id, message }) => {
            tracing::debug!(session = %session.id(), %message, "bad relay message");
            Some(envelope::encode_error(id.as_ref(), &message))
        }
    }
}
