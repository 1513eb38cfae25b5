//! Protocol-neutral messages and their encode-once cache.

use std::any::TypeId;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use bytestring::ByteString;
use serde_json::Value;

use super::Offset;

/// A room name.
pub type Room = Arc<str>;

/// The wire formats a message can be encoded into; each is encoded at most once per message and
/// encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireFormat {
    /// The plain WebSocket relay envelope (`{"type":"message",...}`).
    RelayJson = 0,
    /// An Engine.IO v3 / Socket.IO v4 frame.
    Eio3 = 1,
    /// An Engine.IO v4 / Socket.IO v5 frame.
    Eio4 = 2,
    /// A SockJS frame.
    SockJs = 3,
}

const FORMATS: usize = 4;

/// One encoded frame, ready to be written by any transport; cloning it is cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(ByteString),
    /// A binary frame.
    Binary(Bytes),
    /// A transport-level keepalive ping (WebSocket ping frame).
    Ping,
}

impl Frame {
    /// Size of the frame's payload in bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
            Frame::Ping => 0,
        }
    }

    /// True when the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An application message: an event with its arguments, sent to a room or to one session.
///
/// It is shared (`Arc<Message>`) by every recipient of a broadcast; each wire format encodes it
/// once, on first use, and every later recipient gets a cheap clone of the same bytes.
/// Relay clients see the first argument as `data`; Socket.IO clients see every argument.
#[derive(Debug)]
pub struct Message {
    /// The Socket.IO namespace it belongs to; `None` is the default namespace `/`.
    pub namespace: Option<Arc<str>>,
    /// The room it was published to, if any.
    pub room: Option<Room>,
    /// The event name.
    pub event: String,
    /// The arguments (relay messages have exactly one, `data`).
    pub args: Vec<Value>,
    /// Binary arguments: each stands in `args` as a Socket.IO placeholder
    /// `{"_placeholder":true,"num":N}` for `attachments[N]`. Socket.IO clients receive them as
    /// binary; relay clients of the JSON protocols as Node's JSON of a Buffer
    /// (`{"type":"Buffer","data":[..]}`).
    pub attachments: Vec<Bytes>,
    /// The first encoding of each format, with the encoder that made it.
    encoded: [OnceLock<(TypeId, Frame)>; FORMATS],
    /// Encodings of a format by another encoder (two applications on one hub that encode the
    /// same format their own way): rare, so a short list behind a lock.
    others: Mutex<Vec<(WireFormat, TypeId, Frame)>>,
    offset: OnceLock<Offset>,
    /// Node's `volatile`: a recipient that is not ready to write (something still waits to go
    /// out to it, or a polling client has no request open) goes without.
    volatile: AtomicBool,
    /// Set when the sender waits for each recipient's acknowledgement (a cluster broadcast with
    /// ack): recipients that can answer (Socket.IO sockets) are asked to.
    ack: Option<BroadcastAck>,
    /// The user whose client published it (set by the server, never by a client).
    sender: Option<Arc<str>>,
}

/// Where the acknowledgements of a broadcast go, and how long they are waited for.
#[derive(Clone)]
pub(crate) struct BroadcastAck {
    /// Called with each recipient's acknowledgement arguments.
    pub(crate) sink: Arc<dyn Fn(Vec<Value>) + Send + Sync>,
    /// How long a recipient's acknowledgement is waited for.
    pub(crate) timeout: std::time::Duration,
}

impl std::fmt::Debug for BroadcastAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastAck")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

static NULL: Value = Value::Null;

impl Message {
    /// A new message for `event` carrying `data`, published to `room` (or to no room).
    pub fn new(room: Option<Room>, event: impl Into<String>, data: Value) -> Arc<Message> {
        Message::with_args(None, room, event, vec![data])
    }

    /// A new message with any number of arguments, in a Socket.IO namespace (`None` or `"/"`:
    /// the default namespace, which relay clients of every protocol share).
    pub fn with_args(
        namespace: Option<Arc<str>>,
        room: Option<Room>,
        event: impl Into<String>,
        args: Vec<Value>,
    ) -> Arc<Message> {
        Message::with_binary(namespace, room, event, args, Vec::new())
    }

    /// A new message with binary arguments: `args` hold a placeholder for each of
    /// `attachments` (see [`Message::attachments`]).
    pub fn with_binary(
        namespace: Option<Arc<str>>,
        room: Option<Room>,
        event: impl Into<String>,
        args: Vec<Value>,
        attachments: Vec<Bytes>,
    ) -> Arc<Message> {
        Arc::new(Message {
            namespace: namespace.filter(|n| n.as_ref() != "/"),
            room,
            event: event.into(),
            args,
            attachments,
            encoded: Default::default(),
            others: Mutex::new(Vec::new()),
            offset: OnceLock::new(),
            volatile: AtomicBool::new(false),
            ack: None,
            sender: None,
        })
    }

    /// `message` (just made) as published by a client of `user`.
    pub(crate) fn sent_by(mut message: Arc<Message>, user: &str) -> Arc<Message> {
        Arc::get_mut(&mut message).expect("just made").sender = Some(user.into());
        message
    }

    /// The user whose client published this message, when clients authenticate.
    pub fn sender(&self) -> Option<&str> {
        self.sender.as_deref()
    }

    /// A broadcast whose recipients that can acknowledge are asked to, each answer going to
    /// `ack`.
    pub(crate) fn with_ack(
        room: Option<Room>,
        event: impl Into<String>,
        args: Vec<Value>,
        attachments: Vec<Bytes>,
        ack: BroadcastAck,
    ) -> Arc<Message> {
        let mut message = Message::with_binary(None, room, event, args, attachments);
        Arc::get_mut(&mut message).expect("just made").ack = Some(ack);
        message
    }

    /// Where this broadcast's acknowledgements go, if its sender wants them.
    pub(crate) fn ack(&self) -> Option<&BroadcastAck> {
        self.ack.as_ref()
    }

    /// Its place in the hub's recovery log, when recovery is on (set once, before delivery).
    pub fn offset(&self) -> Option<Offset> {
        self.offset.get().copied()
    }

    pub(crate) fn set_offset(&self, offset: Offset) {
        let _ = self.offset.set(offset);
    }

    /// Whether recipients that are not ready to write go without it (Node's `volatile`).
    pub fn is_volatile(&self) -> bool {
        self.volatile.load(Ordering::Relaxed)
    }

    /// Makes it volatile (before it is delivered).
    pub(crate) fn mark_volatile(&self) {
        self.volatile.store(true, Ordering::Relaxed);
    }

    /// The first argument (`null` when there is none): what relay clients receive as `data`.
    pub fn data(&self) -> &Value {
        self.args.first().unwrap_or(&NULL)
    }

    /// The first argument as JSON protocols carry it: `data`, with each binary attachment in
    /// Node's JSON form of a Buffer.
    pub fn json_data(&self) -> Cow<'_, Value> {
        if self.attachments.is_empty() {
            Cow::Borrowed(self.data())
        } else {
            Cow::Owned(with_buffers(self.data(), &self.attachments))
        }
    }

    /// About how many bytes the message holds (its JSON size, without encoding it, and its
    /// attachments): what a log that keeps it is charged.
    pub fn size(&self) -> usize {
        let room = self.room.as_ref().map_or(0, |r| r.len());
        let namespace = self.namespace.as_ref().map_or(0, |n| n.len());
        let binary: usize = self.attachments.iter().map(Bytes::len).sum();
        room + namespace
            + self.event.len()
            + self.args.iter().map(json_size).sum::<usize>()
            + binary
    }

    /// This message in `format` as encoder `E` writes it (`encode`, called the first time it is
    /// asked for). The bytes are shared by every recipient that asks with the same format and
    /// encoder; another encoder of the same format gets its own.
    pub fn encoded<E: ?Sized + 'static>(
        &self,
        format: WireFormat,
        encode: impl FnOnce(&Message) -> Frame,
    ) -> Frame {
        let by = TypeId::of::<E>();
        let mut encode = Some(encode);
        let (first_by, frame) = self.encoded[format as usize]
            .get_or_init(|| (by, (encode.take().expect("not called yet"))(self)));
        if *first_by == by {
            return frame.clone();
        }
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, frame)) = others.iter().find(|(f, b, _)| *f == format && *b == by) {
            return frame.clone();
        }
        let frame = (encode.take().expect("not called yet"))(self);
        others.push((format, by, frame.clone()));
        frame
    }
}

/// Node's JSON form of a Buffer (`buffer.toJSON()`): `{"type":"Buffer","data":[..bytes]}`.
pub(crate) fn buffer_json(bytes: &[u8]) -> Value {
    let mut object = serde_json::Map::with_capacity(2);
    object.insert("type".into(), Value::from("Buffer"));
    object.insert(
        "data".into(),
        Value::Array(bytes.iter().map(|&b| Value::from(b)).collect()),
    );
    Value::Object(object)
}

/// `value` with each placeholder of `attachments` replaced by the Buffer's JSON (a placeholder
/// past the attachments stays as it is).
fn with_buffers(value: &Value, attachments: &[Bytes]) -> Value {
    if let Some(bytes) = crate::socketio::binary::placeholder_num(value)
        .and_then(|n| usize::try_from(n).ok())
        .and_then(|n| attachments.get(n))
    {
        return buffer_json(bytes);
    }
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| with_buffers(item, attachments))
                .collect(),
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), with_buffers(v, attachments)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// About the length of `value` as JSON text (exact for strings without escapes, numbers
/// counted at their widest).
fn json_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 24,
        Value::String(s) => s.len() + 2,
        Value::Array(items) => 2 + items.iter().map(|v| json_size(v) + 1).sum::<usize>(),
        Value::Object(fields) => {
            2 + fields
                .iter()
                .map(|(k, v)| k.len() + 4 + json_size(v))
                .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn the_size_follows_the_payload() {
        let small = Message::new(Some("r".into()), "e", Value::from("x"));
        let big = Message::new(Some("r".into()), "e", Value::from("x".repeat(900_000)));
        assert!(small.size() < 16, "{}", small.size());
        assert!((900_000..900_100).contains(&big.size()), "{}", big.size());
        let nested = Message::new(None, "e", serde_json::json!({"a": ["bb", {"c": "ddd"}]}));
        let text = nested.data().to_string().len();
        assert!(nested.size() >= text && nested.size() < text + 40);
    }

    #[test]
    fn two_encoders_of_one_format_each_get_their_own_bytes() {
        struct Relay;
        struct Echo;
        let msg = Message::new(Some("r".into()), "chat", Value::from(1));
        let relay = |_: &Message| Frame::Text("relay".into());
        let echo = |_: &Message| Frame::Text("echo".into());
        assert_eq!(
            msg.encoded::<Relay>(WireFormat::Eio4, relay),
            Frame::Text("relay".into())
        );
        assert_eq!(
            msg.encoded::<Echo>(WireFormat::Eio4, echo),
            Frame::Text("echo".into())
        );
        // Each is still encoded once.
        let again = |_: &Message| panic!("encoded twice");
        assert_eq!(
            msg.encoded::<Relay>(WireFormat::Eio4, again),
            Frame::Text("relay".into())
        );
        assert_eq!(
            msg.encoded::<Echo>(WireFormat::Eio4, again),
            Frame::Text("echo".into())
        );
    }

    #[test]
    fn each_format_is_encoded_once() {
        let msg = Message::new(Some("lobby".into()), "chat", Value::from(1));
        let calls = Cell::new(0);
        let encode = |m: &Message| {
            calls.set(calls.get() + 1);
            Frame::Text(ByteString::from(format!("{}:{}", m.event, m.data())))
        };
        let a = msg.encoded::<()>(WireFormat::RelayJson, encode);
        let b = msg.encoded::<()>(WireFormat::RelayJson, encode);
        assert_eq!(a, Frame::Text("chat:1".into()));
        assert_eq!(a, b);
        assert_eq!(calls.get(), 1);
        msg.encoded::<()>(WireFormat::SockJs, encode);
        assert_eq!(calls.get(), 2);
    }
}
