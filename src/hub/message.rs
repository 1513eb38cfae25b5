//! Protocol-neutral messages and their encode-once cache.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use bytestring::ByteString;
use serde_json::Value;

/// A room name.
pub type Room = Arc<str>;

/// The wire formats a message can be encoded into; each is encoded at most once per message.
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
    encoded: [OnceLock<Frame>; FORMATS],
    offset: OnceLock<u64>,
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
        Arc::new(Message {
            namespace: namespace.filter(|n| n.as_ref() != "/"),
            room,
            event: event.into(),
            args,
            encoded: Default::default(),
            offset: OnceLock::new(),
        })
    }

    /// Its place in the hub's recovery log, when recovery is on (set once, before delivery).
    pub fn offset(&self) -> Option<u64> {
        self.offset.get().copied()
    }

    pub(super) fn set_offset(&self, offset: u64) {
        let _ = self.offset.set(offset);
    }

    /// The first argument (`null` when there is none): what relay clients receive as `data`.
    pub fn data(&self) -> &Value {
        self.args.first().unwrap_or(&NULL)
    }

    /// About how many bytes the message holds (its JSON size, without encoding it): what a log
    /// that keeps it is charged.
    pub fn size(&self) -> usize {
        let room = self.room.as_ref().map_or(0, |r| r.len());
        let namespace = self.namespace.as_ref().map_or(0, |n| n.len());
        room + namespace + self.event.len() + self.args.iter().map(json_size).sum::<usize>()
    }

    /// This message in `format`, encoded by `encode` the first time it is asked for.
    pub fn encoded(&self, format: WireFormat, encode: impl FnOnce(&Message) -> Frame) -> Frame {
        self.encoded[format as usize]
            .get_or_init(|| encode(self))
            .clone()
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
    fn each_format_is_encoded_once() {
        let msg = Message::new(Some("lobby".into()), "chat", Value::from(1));
        let calls = Cell::new(0);
        let encode = |m: &Message| {
            calls.set(calls.get() + 1);
            Frame::Text(ByteString::from(format!("{}:{}", m.event, m.data())))
        };
        let a = msg.encoded(WireFormat::RelayJson, encode);
        let b = msg.encoded(WireFormat::RelayJson, encode);
        assert_eq!(a, Frame::Text("chat:1".into()));
        assert_eq!(a, b);
        assert_eq!(calls.get(), 1);
        msg.encoded(WireFormat::SockJs, encode);
        assert_eq!(calls.get(), 2);
    }
}
