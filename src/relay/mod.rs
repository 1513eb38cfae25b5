//! Relay mode, the binary's default application: clients join rooms and publish to them, over
//! every protocol, with the JSON envelope of protocols/relay.md.

pub(crate) mod envelope;

use bytes::Bytes;
use serde_json::Value;

use crate::auth::User;
use crate::handler::{Handler, Refusal, SessionRef};
use std::sync::Arc;

use crate::hub::{Message, Room};

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

/// `room`, if the session's user (when clients authenticate) may use it as `may` says.
fn permitted(
    session: &SessionRef,
    room: Room,
    may: impl Fn(&User, &str) -> bool,
) -> Result<Room, Refusal> {
    match session.user() {
        Some(user) if !may(user, &room) => {
            tracing::debug!(session = %session.id(), user = user.id(), %room, "not allowed");
            Err(crate::auth::reasons::NOT_ALLOWED.into())
        }
        _ => Ok(room),
    }
}

/// Whether a resumed session goes back into `room`: not when its user (whose token may say less
/// now, or be another's) may not join it.
fn may_rejoin(session: &SessionRef, room: &str) -> bool {
    session.user().is_none_or(|user| user.may_join(room))
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
            .and_then(|room| permitted(session, room, User::may_join))
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
            .and_then(|room| permitted(session, room, User::may_publish))
            .and_then(|room| {
                if attachments.is_empty() {
                    handler.on_publish(session, room, &event, data)
                } else {
                    handler.on_publish_binary(session, room, &event, data, attachments)
                }
            })
            .map(|()| None),
        Command::Presence { room } => limits
            .room_name(room)
            .and_then(|room| permitted(session, room, User::may_join))
            .and_then(|room| {
                serde_json::to_value(session.hub().presence(&room))
                    .map(Some)
                    .map_err(|e| e.to_string())
            }),
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
    offset: crate::hub::Offset,
) -> Result<crate::hub::Recovered, Refusal> {
    let recovery = session
        .hub()
        .recovery()
        .ok_or_else(|| "connection state recovery is off".to_string())?;
    let mut kept = recovery.take(token).map_err(|e| e.to_string())?;
    kept.rooms.retain(|room| may_rejoin(session, room));
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

/// Answers a relay `resume` request: the `resumed` answer and what the session missed (the
/// caller queues those after the answer), or the error answer.
fn answer_resume(
    session: &SessionRef,
    id: Option<&envelope::RequestId>,
    token: &str,
    offset: crate::hub::Offset,
) -> Response {
    match resume(session, token, offset) {
        Ok(recovered) => {
            let answer =
                envelope::encode_resumed(id, &recovered.session.rooms, recovered.missed.len());
            Response::Resumed(answer, recovered.missed, recovered.through)
        }
        Err(message) => refuse_resume(session, id, &message),
    }
}

fn refuse_resume(
    session: &SessionRef,
    id: Option<&envelope::RequestId>,
    message: &str,
) -> Response {
    tracing::debug!(session = %session.id(), %message, "relay resume refused");
    Response::Reply(envelope::encode_error(
        id,
        &format!("cannot resume: {message}"),
    ))
}

/// Finishes a resume the cluster answered ([`Response::Restoring`]), inside the session: back
/// in its rooms, then the answer and what it missed.
pub(crate) fn finish_resume(
    session: &SessionRef,
    id: Option<&envelope::RequestId>,
    restored: Result<crate::cluster::Restored, crate::cluster::RestoreError>,
) -> Response {
    let mut restored = match restored {
        Ok(restored) => restored,
        Err(error) => return refuse_resume(session, id, &error.to_string()),
    };
    restored.rooms.retain(|room| may_rejoin(session, room));
    restored.missed.retain(|m| {
        m.room
            .as_deref()
            .is_none_or(|room| may_rejoin(session, room))
    });
    for room in &restored.rooms {
        if let Err(error) = session.join(room.clone()) {
            return refuse_resume(session, id, &error.to_string());
        }
    }
    let answer = envelope::encode_resumed(id, &restored.rooms, restored.missed.len());
    Response::Resumed(answer, restored.missed, restored.through)
}

/// The welcome of a new relay session: with recovery on, its private token and the offset
/// (in a streams cluster, the newest stream id this node knows).
pub(crate) fn welcome(session: &SessionRef) -> String {
    let hub = session.hub();
    let resume = hub.recovery().map(|r| {
        let head = match hub.shared_recovery() {
            Some(cluster) => cluster.head(),
            None => r.head(),
        };
        (r.token_for(session.id()), head)
    });
    envelope::encode_welcome(session.id(), resume.as_ref().map(|(t, o)| (t.as_str(), *o)))
}

/// A relay session has ended: keep it for resume if it dropped (in Redis, in a streams
/// cluster: any node may take it back).
pub(crate) fn park(session: &SessionRef, rooms: &[Room], reason: &crate::hub::DisconnectReason) {
    let hub = session.hub();
    let Some(recovery) = hub.recovery() else {
        return;
    };
    match hub.shared_recovery() {
        Some(cluster) => {
            if let Some(token) = recovery.forget_token(session.id()) {
                if reason.is_recoverable() {
                    cluster.persist_session(session.id(), &token, rooms);
                }
            }
        }
        None => recovery.park(session.id(), rooms.to_vec(), reason.is_recoverable()),
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
    /// format), then drop live copies up to the offset.
    Resumed(String, Vec<Arc<Message>>, crate::hub::Offset),
    /// A resume the cluster answers (streams): once `pending` completes, [`finish_resume`]
    /// gives the response, inside the session.
    Restoring {
        /// The request's id, for the answer.
        id: Option<envelope::RequestId>,
        /// Redis's answer.
        pending: Restoring,
    },
}

/// A session being taken back from Redis.
pub(crate) type Restoring = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<crate::cluster::Restored, crate::cluster::RestoreError>,
            > + Send,
    >,
>;

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
        }) => {
            return match session.hub().shared_recovery() {
                Some(cluster) => Response::Restoring {
                    id,
                    pending: Box::pin(cluster.restore(&token, &offset.to_string())),
                },
                None => answer_resume(session, id.as_ref(), &token, offset),
            };
        }
        Ok(request) => dispatch(request, session, handler, limits),
        Err(EnvelopeError { id, message }) => {
            tracing::debug!(session = %session.id(), %message, "bad relay message");
            Some(envelope::encode_error(id.as_ref(), &message))
        }
    };
    reply.map_or(Response::Nothing, Response::Reply)
}
