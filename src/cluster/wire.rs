//! What both Redis adapter protocols share: who a message is for, a broadcast, a request of
//! another node, and how their JSON (or msgpack read as JSON) is read. Pure.

use bytes::Bytes;
use serde_json::Value;

use super::msgpack;
use crate::hub::{Offset, Room};

/// The namespace the cluster carries (relay mode's rooms are the rooms of `/`).
pub(crate) const NAMESPACE: &str = "/";

/// Why a message from Redis was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed cluster message: {0}")]
pub(crate) struct Malformed(pub(crate) &'static str);

/// Who a broadcast or an operation is for: Node's `{rooms, except}` (socket ids are rooms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    /// Sockets in any of these rooms (every socket when empty).
    pub(crate) rooms: Vec<Room>,
    /// Less the sockets in any of these.
    pub(crate) except: Vec<Room>,
}

/// A broadcast from another node or the emitter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Broadcast {
    /// The sender's uid (`"emitter"` for the emitter).
    pub(crate) uid: String,
    /// The event name.
    pub(crate) event: String,
    /// Its arguments.
    pub(crate) args: Vec<Value>,
    /// Who it is for.
    pub(crate) to: Selection,
    /// Node's `volatile` flag.
    pub(crate) volatile: bool,
    /// How long the sender waits for acks, in milliseconds (`flags.timeout`).
    pub(crate) timeout_ms: Option<u64>,
    /// Its binary arguments, each a placeholder in `args`.
    pub(crate) attachments: Vec<Bytes>,
    /// Its stream entry id, when it came through a streams cluster's stream.
    pub(crate) offset: Option<Offset>,
}

/// A request on the requests channel.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    /// `allRooms()`: answer with every local room.
    AllRooms { uid: String, request_id: Value },
    /// `fetchSockets()`: answer with the selected sockets.
    Fetch {
        uid: String,
        request_id: Value,
        to: Selection,
    },
    /// `socketsJoin(rooms)`.
    Join { to: Selection, rooms: Vec<Room> },
    /// `socketsLeave(rooms)`.
    Leave { to: Selection, rooms: Vec<Room> },
    /// `disconnectSockets(close)`.
    Disconnect { to: Selection, close: bool },
    /// `serverSideEmit(event, ...args)`, with an ack wanted when `request_id` is set.
    ServerSideEmit {
        uid: String,
        request_id: Option<Value>,
        event: String,
        args: Vec<Value>,
    },
    /// A broadcast whose sender waits for acks (`io.timeout(t).emit(..., cb)`).
    BroadcastWithAck {
        request_id: Value,
        broadcast: Broadcast,
    },
    /// A type this node does not act on (legacy `SOCKETS`, responses sent to the wrong channel).
    Ignored(u64),
}

/// What a message on one of this node's channels asks of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Incoming {
    /// Deliver to the local sockets it selects.
    Broadcast(Broadcast),
    /// Act on it, and answer the node that asked when it wants an answer.
    Request(Request),
    /// An answer to one of this node's requests: its id, and `{sockets}` or `{data}` as the
    /// classic answers read.
    Response { request_id: String, answer: Value },
    /// Another node's count of the clients it asked to acknowledge this node's broadcast.
    ClientCount { request_id: String, count: usize },
    /// A client's acknowledgement (its first argument) of this node's broadcast, from another
    /// node.
    Ack { request_id: String, value: Value },
    /// Not for this node: its own, another namespace's, or a type it does not act on.
    Nothing,
}

/// Reads a message body: JSON when it starts with `{` (or `[`), msgpack otherwise (`ra:257`).
pub(crate) fn read_body(bytes: &[u8]) -> Result<Value, Malformed> {
    match bytes.first() {
        None => Err(Malformed("empty")),
        Some(b'{' | b'[') => serde_json::from_slice(bytes).map_err(|_| Malformed("bad JSON")),
        Some(_) => msgpack::decode(bytes)
            .map(|value| msgpack::to_json(&value))
            .ok_or(Malformed("bad msgpack")),
    }
}

/// Reads a message body whose binary values are arguments: each becomes an attachment and a
/// placeholder where it was (JSON bodies have none).
pub(crate) fn read_body_with_attachments(bytes: &[u8]) -> Result<(Value, Vec<Bytes>), Malformed> {
    match bytes.first() {
        None => Err(Malformed("empty")),
        Some(b'{' | b'[') => serde_json::from_slice(bytes)
            .map(|value| (value, Vec::new()))
            .map_err(|_| Malformed("bad JSON")),
        Some(_) => {
            let value = msgpack::decode(bytes).ok_or(Malformed("bad msgpack"))?;
            let mut attachments = Vec::new();
            let json = msgpack::to_json_with_attachments(&value, &mut attachments);
            Ok((json, attachments))
        }
    }
}

/// A room name: a string, or a number as its decimal text (a JS number passed to `join`).
pub(crate) fn room_name(value: &Value) -> Option<Room> {
    match value {
        Value::String(s) => Some(Room::from(s.as_str())),
        Value::Number(n) => Some(Room::from(n.to_string())),
        _ => None,
    }
}

/// Room names from a JSON list (what is not a name is skipped).
pub(crate) fn rooms(value: Option<&Value>) -> Vec<Room> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(room_name).collect())
        .unwrap_or_default()
}

/// `{rooms, except}` of an `opts` object.
pub(crate) fn selection(opts: Option<&Value>) -> Selection {
    Selection {
        rooms: rooms(opts.and_then(|o| o.get("rooms"))),
        except: rooms(opts.and_then(|o| o.get("except"))),
    }
}

/// A string, or a number as its text; empty for anything else.
pub(crate) fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other @ Value::Number(_)) => other.to_string(),
        _ => String::new(),
    }
}

/// An event packet's `data`: `[event, ...args]`.
pub(crate) fn event_and_args(data: Option<&Value>) -> Result<(String, Vec<Value>), Malformed> {
    let items = data
        .and_then(Value::as_array)
        .ok_or(Malformed("no event data"))?;
    let (event, args) = items.split_first().ok_or(Malformed("no event name"))?;
    let event = room_name(event).ok_or(Malformed("event name not a string"))?;
    Ok((event.to_string(), args.to_vec()))
}

/// `[uid, packet, opts]` (or the BROADCAST request's fields) as a broadcast for `/`; `None` when
/// it is for another namespace.
pub(crate) fn broadcast_from(
    uid: String,
    packet: &Value,
    opts: Option<&Value>,
    attachments: Vec<Bytes>,
) -> Result<Option<Broadcast>, Malformed> {
    let nsp = packet.get("nsp").and_then(Value::as_str).unwrap_or("/");
    if nsp != NAMESPACE {
        return Ok(None);
    }
    if packet.get("type").and_then(Value::as_u64) != Some(2) {
        return Err(Malformed("broadcast packet is not an EVENT"));
    }
    let (event, args) = event_and_args(packet.get("data"))?;
    // Placeholders a Socket.IO client would choke on (an index past the attachments) are refused.
    if !attachments.is_empty() {
        for arg in &args {
            crate::socketio::binary::validate_placeholders(arg, attachments.len())
                .map_err(|_| Malformed("placeholder without its attachment"))?;
        }
    }
    let flags = opts.and_then(|o| o.get("flags"));
    let flag = |name: &str| flags.and_then(|f| f.get(name));
    Ok(Some(Broadcast {
        uid,
        event,
        args,
        to: selection(opts),
        volatile: flag("volatile").and_then(Value::as_bool).unwrap_or(false),
        timeout_ms: flag("timeout").and_then(Value::as_u64),
        attachments,
        offset: None,
    }))
}

/// A broadcast's `flags` as Node writes them: `{}`, or `{"volatile": true}`.
pub(crate) fn broadcast_flags(volatile: bool) -> Value {
    if volatile {
        serde_json::json!({"volatile": true})
    } else {
        serde_json::json!({})
    }
}

/// An event packet's `data`, `[event, ...args]`.
pub(crate) fn event_packet(event: &str, args: &[Value]) -> Vec<Value> {
    let mut data = Vec::with_capacity(args.len() + 1);
    data.push(Value::from(event));
    data.extend_from_slice(args);
    data
}

/// Room names as text, for JSON.
pub(crate) fn names(rooms: &[Room]) -> Vec<&str> {
    rooms.iter().map(|r| r.as_ref()).collect()
}
