//! The `@socket.io/redis-streams-adapter` 0.3 wire format, for namespace `/`
//! (protocols/redis-streams-adapter.md): broadcasts and the operations on sockets are entries of
//! one Redis stream, whose entry ids are the offsets clients recover from; requests and answers
//! go over Pub/Sub as msgpack envelopes (the sharded adapter's `{type, data, uid, nsp}`); a
//! dropped session waits under `sio:session:<pid>`. Pure: values in, bytes and fields out.

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

use super::msgpack;
use super::sharded;
use super::wire::{
    broadcast_flags, event_packet, names, Incoming, Malformed, Selection, NAMESPACE,
};
use crate::hub::{Offset, Room};

/// `XADD … MAXLEN ~ 10000`: about how many entries the stream keeps (Node's `maxLen`).
pub(crate) const MAX_LEN: u64 = 10_000;
/// Entries read per `XREAD` (Node's `readCount`).
pub(crate) const READ_COUNT: u64 = 100;
/// How long one `XREAD` blocks, in milliseconds (Node's `blockTimeInMs`).
pub(crate) const BLOCK_MS: u64 = 5_000;
/// Where dropped sessions wait (Node's `sessionKeyPrefix`).
const SESSION_PREFIX: &str = "sio:session:";

/// The stream and channels of one node in namespace `/`.
#[derive(Debug, Clone)]
pub(crate) struct StreamChannels {
    /// The stream's key (Node's `streamName`).
    stream: String,
    /// `<prefix>#/#`: requests; its subscriber count is the server count.
    public: String,
    /// `<prefix>#/#<uid>#`: answers to this node's requests.
    private: String,
}

impl StreamChannels {
    /// The stream and channels under `prefix` (Node's `streamName` and `channelPrefix`, both
    /// `socket.io` by default) for the node `uid`.
    pub(crate) fn new(prefix: &str, uid: &str) -> StreamChannels {
        let public = format!("{prefix}#{NAMESPACE}#");
        StreamChannels {
            stream: prefix.to_string(),
            private: format!("{public}{uid}#"),
            public,
        }
    }

    /// The stream's key.
    pub(crate) fn stream(&self) -> &str {
        &self.stream
    }

    /// Where requests go.
    pub(crate) fn public(&self) -> &str {
        &self.public
    }

    /// Where answers to this node's requests come.
    pub(crate) fn private(&self) -> &str {
        &self.private
    }

    /// Where an answer to node `uid` goes.
    pub(crate) fn response_to(&self, uid: &str) -> String {
        format!("{}{uid}#", self.public)
    }

    /// The key a dropped session with private id `pid` waits under.
    pub(crate) fn session_key(&self, pid: &str) -> String {
        format!("{SESSION_PREFIX}{pid}")
    }
}

/// An envelope as the streams adapter publishes it: always msgpack (Node decodes Pub/Sub
/// messages with msgpack alone). The sharded encoders write JSON unless there is binary.
pub(crate) fn as_msgpack(body: Vec<u8>) -> Vec<u8> {
    match body.first() {
        Some(b'{') => match serde_json::from_slice::<Value>(&body) {
            Ok(value) => msgpack::encode(&msgpack::from_json(&value)),
            Err(_) => body,
        },
        _ => body,
    }
}

/// The fields of a broadcast entry, in Node's order: `uid`, `nsp`, `type` (`"3"`), `data`
/// (JSON, or base64 msgpack when it carries binary).
pub(crate) fn broadcast_entry(
    uid: &str,
    event: &str,
    args: &[Value],
    attachments: &[Bytes],
    to: &Selection,
    volatile: bool,
) -> Vec<(&'static str, String)> {
    let data = json!({
        "packet": {"type": 2, "data": event_packet(event, args)},
        "opts": {"rooms": names(&to.rooms), "except": names(&to.except),
                 "flags": broadcast_flags(volatile)},
    });
    let data = if attachments.is_empty() {
        data.to_string()
    } else {
        let packed = msgpack::encode(&msgpack::from_json_with_attachments(&data, attachments));
        base64::engine::general_purpose::STANDARD.encode(packed)
    };
    vec![
        ("uid", uid.to_string()),
        ("nsp", NAMESPACE.to_string()),
        ("type", "3".to_string()),
        ("data", data),
    ]
}

/// A stream entry read back as the envelope it was written from, with its binary values.
fn read_entry(fields: &[(String, Vec<u8>)]) -> Result<(u64, Value, Vec<Bytes>), Malformed> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_slice())
    };
    let utf8 = |bytes: &[u8]| std::str::from_utf8(bytes).map(str::to_string);
    let kind = field("type")
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or(Malformed("entry without a type"))?;
    let uid = field("uid")
        .map(utf8)
        .transpose()
        .map_err(|_| Malformed("uid not UTF-8"))?;
    let nsp = field("nsp")
        .map(utf8)
        .transpose()
        .map_err(|_| Malformed("nsp not UTF-8"))?;
    let mut attachments = Vec::new();
    let data = match field("data") {
        None => Value::Null,
        // JSON data is an object; anything else is base64 msgpack (as Node tells them apart).
        Some(json @ [b'{', ..]) => {
            serde_json::from_slice(json).map_err(|_| Malformed("bad JSON data"))?
        }
        Some(encoded) => {
            let packed = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| Malformed("data neither JSON nor base64"))?;
            let value = msgpack::decode(&packed).ok_or(Malformed("bad msgpack data"))?;
            msgpack::to_json_with_attachments(&value, &mut attachments)
        }
    };
    let body = json!({"type": kind, "data": data, "uid": uid, "nsp": nsp});
    Ok((kind, body, attachments))
}

/// What a stream entry asks of this node (`own_uid`: its own entries are nothing to it), a
/// broadcast carrying its entry id `id`.
pub(crate) fn decode_entry(
    own_uid: &str,
    id: Offset,
    fields: &[(String, Vec<u8>)],
) -> Result<Incoming, Malformed> {
    let (kind, body, attachments) = read_entry(fields)?;
    let incoming = sharded::decode_operation(own_uid, kind, &body, attachments)?;
    Ok(match incoming {
        Incoming::Broadcast(mut broadcast) => {
            broadcast.offset = Some(id);
            Incoming::Broadcast(broadcast)
        }
        // Requests and answers travel over Pub/Sub: one in the stream is not acted on.
        Incoming::Request(request @ super::wire::Request::Join { .. })
        | Incoming::Request(request @ super::wire::Request::Leave { .. })
        | Incoming::Request(request @ super::wire::Request::Disconnect { .. }) => {
            Incoming::Request(request)
        }
        _ => Incoming::Nothing,
    })
}

/// A missed broadcast for a session in `rooms`, if entry `id` is one it would have received
/// (Node's `shouldIncludePacket`: no rooms or a shared room, and none of its rooms excepted).
/// Entries of any node count, this one's too.
pub(crate) fn missed_broadcast(
    rooms: &[Room],
    id: Offset,
    fields: &[(String, Vec<u8>)],
) -> Option<super::wire::Broadcast> {
    let (kind, body, attachments) = read_entry(fields).ok()?;
    if kind != 3 || body.get("nsp").and_then(Value::as_str) != Some(NAMESPACE) {
        return None;
    }
    // Read as another node's, whoever wrote it.
    let Incoming::Broadcast(mut broadcast) =
        sharded::decode_operation("", kind, &body, attachments).ok()?
    else {
        return None;
    };
    let to = &broadcast.to;
    let reaches = to.rooms.is_empty() || to.rooms.iter().any(|r| rooms.contains(r));
    if !reaches || to.except.iter().any(|r| rooms.contains(r)) {
        return None;
    }
    broadcast.offset = Some(id);
    Some(broadcast)
}

/// A dropped session as Node keeps it: `base64(msgpack({sid, pid, rooms, data}))`, its rooms
/// including its own id.
pub(crate) fn encode_session(sid: &str, pid: &str, rooms: &[Room], data: &Value) -> String {
    let mut all: Vec<&str> = vec![sid];
    all.extend(rooms.iter().map(|r| r.as_ref()).filter(|r| *r != sid));
    let session = json!({"sid": sid, "pid": pid, "rooms": all, "data": data});
    base64::engine::general_purpose::STANDARD.encode(msgpack::encode(&msgpack::from_json(&session)))
}

/// A session read back from Redis.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredSession {
    /// Its socket id.
    pub(crate) sid: String,
    /// Its rooms, its own id among them (as Node keeps them).
    pub(crate) rooms: Vec<Room>,
    /// Node's `socket.data`.
    pub(crate) data: Value,
}

/// Reads a session Node or switchboard kept.
pub(crate) fn decode_session(text: &[u8]) -> Result<StoredSession, Malformed> {
    let packed = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| Malformed("session not base64"))?;
    let value = msgpack::decode(&packed).ok_or(Malformed("session not msgpack"))?;
    let session = msgpack::to_json(&value);
    let sid = session
        .get("sid")
        .and_then(Value::as_str)
        .ok_or(Malformed("session without a sid"))?
        .to_string();
    Ok(StoredSession {
        rooms: super::wire::rooms(session.get("rooms")),
        data: session.get("data").cloned().unwrap_or(Value::Null),
        sid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::wire::Request;

    const US: &str = "0123456789abcdef";

    fn fields(entry: &[(&'static str, String)]) -> Vec<(String, Vec<u8>)> {
        entry
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn names_are_node_defaults() {
        let c = StreamChannels::new("socket.io", US);
        assert_eq!(c.stream(), "socket.io");
        assert_eq!(c.public(), "socket.io#/#");
        assert_eq!(c.private(), "socket.io#/#0123456789abcdef#");
        assert_eq!(c.response_to("ffff"), "socket.io#/#ffff#");
        assert_eq!(c.session_key("pid1"), "sio:session:pid1");
    }

    #[test]
    fn a_broadcast_entry_has_nodes_fields_and_reads_back() {
        let to = Selection {
            rooms: vec!["r".into()],
            except: vec!["x".into()],
        };
        let entry = broadcast_entry(US, "message", &[json!({"a": 1})], &[], &to, false);
        let keys: Vec<&str> = entry.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["uid", "nsp", "type", "data"]);
        assert_eq!(
            entry[3].1,
            r#"{"packet":{"type":2,"data":["message",{"a":1}]},"opts":{"rooms":["r"],"except":["x"],"flags":{}}}"#
        );
        let id = Offset::Stream { ms: 5, seq: 1 };
        // Its own entry is nothing to the writer; another node reads the broadcast.
        assert_eq!(decode_entry(US, id, &fields(&entry)), Ok(Incoming::Nothing));
        let Ok(Incoming::Broadcast(b)) = decode_entry("other", id, &fields(&entry)) else {
            panic!("not a broadcast");
        };
        assert_eq!((b.event.as_str(), b.offset), ("message", Some(id)));
        assert_eq!(b.to, to);
    }

    #[test]
    fn binary_goes_as_base64_msgpack_and_comes_back_as_attachments() {
        let placeholder = json!({"_placeholder": true, "num": 0});
        let bytes = Bytes::from_static(&[0, 1, 255]);
        let entry = broadcast_entry(
            US,
            "bin",
            std::slice::from_ref(&placeholder),
            std::slice::from_ref(&bytes),
            &Selection::default(),
            false,
        );
        assert!(!entry[3].1.starts_with('{'));
        let id = Offset::Stream { ms: 1, seq: 0 };
        let Ok(Incoming::Broadcast(b)) = decode_entry("other", id, &fields(&entry)) else {
            panic!("not a broadcast");
        };
        assert_eq!(b.args, [placeholder]);
        assert_eq!(b.attachments, [bytes]);
    }

    #[test]
    fn operations_from_the_stream_are_acted_on_and_garbage_is_refused() {
        let join = vec![
            ("uid".to_string(), b"node".to_vec()),
            ("nsp".to_string(), b"/".to_vec()),
            ("type".to_string(), b"4".to_vec()),
            (
                "data".to_string(),
                br#"{"opts":{"rooms":["a"],"except":[]},"rooms":["b"]}"#.to_vec(),
            ),
        ];
        let id = Offset::Stream { ms: 1, seq: 0 };
        assert!(matches!(
            decode_entry(US, id, &join),
            Ok(Incoming::Request(Request::Join { .. }))
        ));
        for data in [&b"{nope"[..], b"!!!!", b"AAAA"] {
            let mut bad = join.clone();
            bad[3].1 = data.to_vec();
            assert!(decode_entry(US, id, &bad).is_err(), "{data:?}");
        }
        assert!(decode_entry(US, id, &[]).is_err());
    }

    #[test]
    fn missed_broadcasts_follow_rooms_and_exceptions() {
        let rooms: Vec<Room> = vec!["sid".into(), "r".into()];
        let id = Offset::Stream { ms: 9, seq: 9 };
        let entry = |to: Selection| fields(&broadcast_entry(US, "e", &[json!(1)], &[], &to, false));
        let sel = |rooms: &[&str], except: &[&str]| Selection {
            rooms: rooms.iter().map(|r| Room::from(*r)).collect(),
            except: except.iter().map(|r| Room::from(*r)).collect(),
        };
        // Its own node's entries count too.
        assert!(missed_broadcast(&rooms, id, &entry(sel(&["r"], &[]))).is_some());
        assert!(missed_broadcast(&rooms, id, &entry(sel(&[], &[]))).is_some());
        assert!(missed_broadcast(&rooms, id, &entry(sel(&["sid"], &[]))).is_some());
        assert!(missed_broadcast(&rooms, id, &entry(sel(&["other"], &[]))).is_none());
        assert!(missed_broadcast(&rooms, id, &entry(sel(&[], &["sid"]))).is_none());
        let b = missed_broadcast(&rooms, id, &entry(sel(&["r"], &[]))).unwrap();
        assert_eq!(b.offset, Some(id));
    }

    #[test]
    fn sessions_round_trip_with_their_own_id_first() {
        let text = encode_session("sid", "pid", &["r".into(), "sid".into()], &json!({}));
        let session = decode_session(text.as_bytes()).unwrap();
        assert_eq!(session.sid, "sid");
        assert_eq!(session.rooms, [Room::from("sid"), Room::from("r")]);
        assert_eq!(session.data, json!({}));
        assert!(decode_session(b"not base64!").is_err());
        assert!(decode_session(b"AAAA").is_err());
    }
}
