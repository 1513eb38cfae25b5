//! The two protocols a cluster may speak behind one face: what this node publishes, on which
//! channel, and what a message on one of its channels means.

use bytes::Bytes;
use serde_json::Value;

use super::classic::{self, Channels};
use super::sharded::{self, ShardChannels};
use super::streams::{self, StreamChannels};
use super::wire::{Incoming, Malformed, Selection};
use super::Outgoing;
use crate::hub::Room;

/// The protocol of one cluster, with this node's channels.
#[derive(Debug, Clone)]
pub(super) enum Dialect {
    /// `createAdapter`: PUBLISH/PSUBSCRIBE.
    Classic(Channels),
    /// `createShardedAdapter`: SPUBLISH/SSUBSCRIBE.
    Sharded(ShardChannels),
    /// `@socket.io/redis-streams-adapter`: a stream for broadcasts, Pub/Sub for requests.
    Streams(StreamChannels),
}

/// An answer of this node to another node's request.
pub(super) enum Answer<'a> {
    /// `allRooms()`: the rooms here.
    AllRooms(&'a [Room]),
    /// `fetchSockets()`: the selected sockets' details.
    Sockets(Vec<Value>),
    /// `serverSideEmitWithAck`: the listener's answer.
    Emitted(Value),
    /// A broadcast with ack: how many clients here were asked.
    ClientCount(usize),
    /// A broadcast with ack: one client's acknowledgement (its arguments).
    Ack(&'a [Value]),
}

impl Dialect {
    /// Whether messages go out with SPUBLISH and the server count is `PUBSUB SHARDNUMSUB`.
    pub(super) fn sharded(&self) -> bool {
        matches!(self, Dialect::Sharded(_))
    }

    /// The name logs give the protocol.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Dialect::Classic(_) => "classic",
            Dialect::Sharded(_) => "sharded",
            Dialect::Streams(_) => "streams",
        }
    }

    /// A broadcast of this node to the other nodes.
    pub(super) fn broadcast(
        &self,
        uid: &str,
        event: &str,
        args: &[Value],
        attachments: &[Bytes],
        to: &Selection,
        volatile: bool,
    ) -> Outgoing {
        match self {
            Dialect::Classic(c) => Outgoing::publish(
                c.broadcast_to(&to.rooms),
                classic::encode_broadcast(uid, event, args, attachments, to, volatile),
            ),
            Dialect::Sharded(c) => Outgoing::publish(
                c.broadcast_to(&to.rooms),
                sharded::encode_broadcast(uid, event, args, attachments, to, volatile),
            ),
            Dialect::Streams(c) => Outgoing::Append {
                stream: c.stream().to_string(),
                fields: streams::broadcast_entry(uid, event, args, attachments, to, volatile),
                then: None,
            },
        }
    }

    /// This node's broadcast with ack, request `id`.
    pub(super) fn broadcast_with_ack(
        &self,
        uid: &str,
        id: &str,
        message: &crate::hub::Message,
        to: &Selection,
        timeout_ms: u64,
    ) -> Outgoing {
        type Encode = fn(&str, &str, &str, &[Value], &[Bytes], &Selection, u64) -> Vec<u8>;
        let (channel, encode): (&str, Encode) = match self {
            Dialect::Classic(c) => (c.request(), classic::broadcast_with_ack_request),
            Dialect::Sharded(c) => (c.main(), sharded::broadcast_with_ack_request),
            Dialect::Streams(c) => (c.public(), sharded::broadcast_with_ack_request),
        };
        let body = encode(
            uid,
            id,
            &message.event,
            &message.args,
            &message.attachments,
            to,
            timeout_ms,
        );
        Outgoing::request(channel.to_string(), self.packed(body), id)
    }

    /// A body as this protocol publishes it (the streams adapter's Pub/Sub is msgpack only).
    fn packed(&self, body: Vec<u8>) -> Vec<u8> {
        match self {
            Dialect::Streams(_) => streams::as_msgpack(body),
            _ => body,
        }
    }

    /// This node's `fetchSockets()` request `id`.
    pub(super) fn fetch_request(&self, uid: &str, id: &str, to: &Selection) -> Outgoing {
        let (channel, body) = match self {
            Dialect::Classic(c) => (c.request(), classic::fetch_request(uid, id, to)),
            Dialect::Sharded(c) => (c.main(), sharded::fetch_request(uid, id, to)),
            Dialect::Streams(c) => (c.public(), sharded::fetch_request(uid, id, to)),
        };
        Outgoing::request(channel.to_string(), self.packed(body), id)
    }

    /// This node's `serverSideEmit`, a request `id` when an answer is wanted.
    pub(super) fn server_side_emit(
        &self,
        uid: &str,
        id: Option<&str>,
        event: &str,
        args: &[Value],
    ) -> Outgoing {
        let (channel, body) = match self {
            Dialect::Classic(c) => (
                c.request(),
                classic::server_side_emit_request(uid, id, event, args),
            ),
            Dialect::Sharded(c) => (
                c.main(),
                sharded::server_side_emit_request(uid, id, event, args),
            ),
            Dialect::Streams(c) => (
                c.public(),
                sharded::server_side_emit_request(uid, id, event, args),
            ),
        };
        let body = self.packed(body);
        match id {
            Some(id) => Outgoing::request(channel.to_string(), body, id),
            None => Outgoing::publish(channel.to_string(), body),
        }
    }

    /// What a message on `channel` asks of this node (`uid`).
    pub(super) fn decode(
        &self,
        uid: &str,
        channel: &str,
        body: &[u8],
    ) -> Result<Incoming, Malformed> {
        match self {
            Dialect::Classic(c) => classic::decode(c, uid, channel, body),
            Dialect::Sharded(c) => sharded::decode(uid, body, channel == c.own_response()),
            Dialect::Streams(c) => sharded::decode(uid, body, channel == c.private()),
        }
    }

    /// This node's (`uid`) answer to request `request_id` of node `requester`; `None` for an
    /// answer this protocol has no form for.
    pub(super) fn answer(
        &self,
        uid: &str,
        requester: &str,
        request_id: &Value,
        answer: Answer<'_>,
    ) -> Option<Outgoing> {
        Some(match self {
            Dialect::Classic(c) => {
                let body = match answer {
                    Answer::AllRooms(rooms) => classic::all_rooms_response(request_id, rooms),
                    Answer::Sockets(sockets) => classic::fetch_response(request_id, sockets),
                    Answer::Emitted(value) => classic::server_side_emit_response(request_id, value),
                    Answer::ClientCount(n) => classic::client_count_response(request_id, n),
                    Answer::Ack(args) => classic::broadcast_ack_response(request_id, args),
                };
                Outgoing::publish(c.response().to_string(), body)
            }
            Dialect::Sharded(c) => Outgoing::publish(
                c.response_to(requester),
                envelope_answer(uid, request_id, answer)?,
            ),
            Dialect::Streams(c) => Outgoing::publish(
                c.response_to(requester),
                streams::as_msgpack(envelope_answer(uid, request_id, answer)?),
            ),
        })
    }
}

/// An answer in the cluster adapter's envelope (sharded and streams); `None` for `allRooms()`,
/// which neither protocol asks other nodes (it is local there).
fn envelope_answer(uid: &str, request_id: &Value, answer: Answer<'_>) -> Option<Vec<u8>> {
    Some(match answer {
        Answer::AllRooms(_) => return None,
        Answer::Sockets(sockets) => sharded::fetch_response(uid, request_id, sockets),
        Answer::Emitted(value) => sharded::server_side_emit_response(uid, request_id, value),
        Answer::ClientCount(n) => sharded::client_count_response(uid, request_id, n),
        Answer::Ack(args) => sharded::broadcast_ack_response(uid, request_id, args),
    })
}
