//! Relay mode, the binary's default application: clients join rooms and publish to them, over
//! every protocol, with the JSON envelope of protocols/relay.md.

pub(crate) mod envelope;

use bytes::Bytes;
use serde_json::Value;

use crate::handler::{Handler, Refusal, SessionRef};
use crate::hub::Room;

pub(crate) use envelope::{Command, EnvelopeError, Request};

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

    fn on_publish_binary(
        &self,
        session: &SessionRef,
        room: Room,
        event: &str,
        data: Value,
        attachments: Vec<Bytes>,
    ) -> Result<(), Refusal> {
        if self.server_only_publish {
            return Err("publishing is reserved to the server".into());
        }
        session.publish_binary_to_others(room, event, data, attachments);
        Ok(())
    }
}

/// Limits on what relay clients may ask for.
#[derive(Debug, Clone)]
pub(crate) struct RelayLimits {
    /// Longest room name, in bytes.
    pub max_room_name: usize,
}

impl Default for RelayLimits {
    fn default() -> Self {
        RelayLimits {
            max_room_name: crate::config::defaults::MAX_ROOM_NAME,
        }
    }
}

impl RelayLimits {
    /// `room` as a room, if it is a valid name: not empty, at most `max_room_name` bytes. Every
    /// way into a room (relay requests of every protocol, the HTTP API) checks it here.
    pub(crate) fn room_name(&self, room: String) -> Result<Room, Refusal> {
        if room.is_empty() {
            return Err("room name must not be empty".into());
        }
        if room.len() > self.max_room_name {
            return Err(format!(
                "room name longer than {} bytes",
                self.max_room_name
            ));
        }
        Ok(room.into())
    }
}

/// Carries out one relay command, whatever protocol it came over; `Ok` carries what an `emit`
/// handler answered.
pub(crate) fn execute(
    command: Command,
    session: &SessionRef,
    handler: &dyn Handler,
    limits: &RelayLimits,
) -> Result<Option<Value>, Refusal> {
    match command {
        Command::Join { room } => limits
            .room_name(room)
            .and_then(|room| handler.on_join(session, room))
            .map(|()| None),
        Command::Leave { room } => limits
            .room_name(room)
            .and_then(|room| handler.on_leave(session, room))
            .map(|()| None),
        Command::Publish {
            room,
            event,
            data,
            attachments,
        } => limits
            .room_name(room)
            .and_then(|room| {
                if attachments.is_empty() {
                    handler.on_publish(session, room, &event, data)
                } else {
                    handler.on_publish_binary(session, room, &event, data, attachments)
                }
            })
            .map(|()| None),
        Command::Emit { event, data } => handler.on_event(session, &event, data).map(Some),
        Command::Resume { .. } => {
            Err("resume is only valid as a relay session's own request".into())
        }
    }
}

/// Takes back a dropped relay session for `session`: rejoins its rooms and returns what it
/// missed (the caller queues those, then drops live copies up to `through`).
pub(crate) fn resume(
    session: &SessionRef,
    token: &str,
    offset: u64,
) -> Result<crate::hub::Recovered, Refusal> {
    let recovery = session
        .hub()
        .recovery()
        .ok_or_else(|| "connection state recovery is off".to_string())?;
    let kept = recovery.take(token).map_err(|e| e.to_string())?;
    // Check first (a gap means a fresh session), then rejoin, then read what was missed: a
    // broadcast in between is either in the list or delivered live (and dropped as a duplicate).
    recovery.missed(&kept, offset).map_err(|e| e.to_string())?;
    for room in &kept.rooms {
        session.join(room.clone()).map_err(|e| e.to_string())?;
    }
    let (missed, through) = recovery.missed(&kept, offset).map_err(|e| e.to_string())?;
    Ok(crate::hub::Recovered {
        session: kept,
        missed,
        through,
    })
}

/// Answers a relay `resume` request: `Ok` with the `resumed` answer and the recovered session
/// (whose missed messages the caller queues after the answer), or `Err` with the error answer.
pub(crate) fn answer_resume(
    session: &SessionRef,
    id: Option<&envelope::RequestId>,
    token: &str,
    offset: u64,
) -> Result<(String, crate::hub::Recovered), String> {
    match resume(session, token, offset) {
        Ok(recovered) => {
            let answer =
                envelope::encode_resumed(id, &recovered.session.rooms, recovered.missed.len());
            Ok((answer, recovered))
        }
        Err(message) => {
            tracing::debug!(session = %session.id(), %message, "relay resume refused");
            Err(envelope::encode_error(
                id,
                &format!("cannot resume: {message}"),
            ))
        }
    }
}

/// The welcome of a new relay session: with recovery on, its private token and the offset.
pub(crate) fn welcome(session: &SessionRef) -> String {
    let resume = session
        .hub()
        .recovery()
        .map(|r| (r.token_for(session.id()), r.head()));
    envelope::encode_welcome(session.id(), resume.as_ref().map(|(t, o)| (t.as_str(), *o)))
}

/// A relay session has ended: keep it for resume if it dropped.
pub(crate) fn park(session: &SessionRef, rooms: &[Room], reason: &crate::hub::DisconnectReason) {
    if let Some(recovery) = session.hub().recovery() {
        recovery.park(session.id(), rooms.to_vec(), reason.is_recoverable());
    }
}

/// Carries out one relay request; returns the answer to send back, if any.
pub(crate) fn dispatch(
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

/// What a relay session does with one text message from its client.
pub(crate) enum Response {
    /// Nothing to send.
    Nothing,
    /// Send this answer.
    Reply(String),
    /// A resume succeeded: send the answer, then the missed messages (in the session's own wire
    /// format), then drop live copies up to `recovered.through`.
    Resumed(String, crate::hub::Recovered),
}

/// Decodes and carries out one relay text message, `resume` included.
pub(crate) fn respond(
    text: &str,
    session: &SessionRef,
    handler: &dyn Handler,
    limits: &RelayLimits,
) -> Response {
    crate::hub::Counters::add(&session.hub().counters().messages_in, 1);
    let reply = match envelope::decode(text) {
        Ok(Request {
            id,
            command: Command::Resume { token, offset },
        }) => match answer_resume(session, id.as_ref(), &token, offset) {
            Ok((answer, recovered)) => return Response::Resumed(answer, recovered),
            Err(error) => Some(error),
        },
        Ok(request) => dispatch(request, session, handler, limits),
        Err(EnvelopeError { id, message }) => {
            tracing::debug!(session = %session.id(), %message, "bad relay message");
            Some(envelope::encode_error(id.as_ref(), &message))
        }
    };
    reply.map_or(Response::Nothing, Response::Reply)
}
