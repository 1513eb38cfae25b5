//! The sharded `@socket.io/redis-adapter` wire format (`createShardedAdapter`, SPUBLISH and
//! SSUBSCRIBE), for namespace `/`: its channels, which of them a broadcast goes to, and the
//! `{type, data, uid, nsp}` envelope of socket.io-adapter's cluster protocol (JSON, or msgpack
//! when it carries binary). Pure: bytes in, values out. See protocols/redis-adapter.md §3.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::msgpack;
use super::wire::{
    broadcast_flags, broadcast_from, event_and_args, event_packet, names, read_body,
    read_body_with_attachments, rooms, selection, text, Incoming, Malformed, Request, Selection,
    NAMESPACE,
};
use crate::config::SubscriptionMode;
use crate::hub::Room;

/// The cluster adapter's message types (socket.io-adapter `MessageType`).
mod kind {
    pub(super) const BROADCAST: u64 = 3;
    pub(super) const SOCKETS_JOIN: u64 = 4;
    pub(super) const SOCKETS_LEAVE: u64 = 5;
    pub(super) const DISCONNECT_SOCKETS: u64 = 6;
    pub(super) const FETCH_SOCKETS: u64 = 7;
    pub(super) const FETCH_SOCKETS_RESPONSE: u64 = 8;
    pub(super) const SERVER_SIDE_EMIT: u64 = 9;
    pub(super) const SERVER_SIDE_EMIT_RESPONSE: u64 = 10;
    pub(super) const BROADCAST_CLIENT_COUNT: u64 = 11;
    pub(super) const BROADCAST_ACK: u64 = 12;
}

/// The length of a Socket.IO socket id: a single room of this length is taken for a socket and
/// broadcast on the namespace's channel (as the Node adapter decides, by length alone).
const SOCKET_ID_LEN: usize = 20;

/// The channels of one node in namespace `/`.
#[derive(Debug, Clone)]
pub(crate) struct ShardChannels {
    /// `<prefix>#/#`: every node subscribes; a room's channel is this plus `<room>#`.
    main: String,
    /// `<prefix>#/#<uid>#`: answers to this node's requests.
    own_response: String,
    mode: SubscriptionMode,
}

impl ShardChannels {
    /// The channels under `prefix` (the Node adapter's `channelPrefix`) for the node `uid`.
    pub(crate) fn new(prefix: &str, uid: &str, mode: SubscriptionMode) -> ShardChannels {
        let main = format!("{prefix}#{NAMESPACE}#");
        ShardChannels {
            own_response: format!("{main}{uid}#"),
            main,
            mode,
        }
    }

    /// The namespace's channel: requests, and broadcasts not to exactly one room's channel. Its
    /// subscriber count is the cluster's server count.
    pub(crate) fn main(&self) -> &str {
        &self.main
    }

    /// Where answers to this node's requests come.
    pub(crate) fn own_response(&self) -> &str {
        &self.own_response
    }

    /// Where an answer to node `uid` goes.
    pub(crate) fn response_to(&self, uid: &str) -> String {
        format!("{}{uid}#", self.main)
    }

    /// A room's own channel.
    pub(crate) fn room(&self, room: &str) -> String {
        format!("{}{room}#", self.main)
    }

    /// The subscription mode these channels follow.
    pub(crate) fn mode(&self) -> SubscriptionMode {
        self.mode
    }

    /// The channel a broadcast to `rooms` (without ack) goes to: a single room's own in the
    /// dynamic modes, unless it looks like a socket id in `dynamic`.
    pub(crate) fn broadcast_to(&self, rooms: &[Room]) -> String {
        match (rooms, self.mode) {
            ([room], SubscriptionMode::DynamicPrivate) => self.room(room),
            ([room], SubscriptionMode::Dynamic) if room.chars().count() != SOCKET_ID_LEN => {
                self.room(room)
            }
            _ => self.main.clone(),
        }
    }
}

fn request_id(data: &Value) -> Option<String> {
    match data.get("requestId") {
        Some(Value::String(id)) => Some(id.clone()),
        Some(other @ Value::Number(_)) => Some(other.to_string()),
        _ => None,
    }
}

/// An answer's request id and what the requester reads of it.
fn response(kind: u64, data: &Value) -> Result<Incoming, Malformed> {
    let request_id = request_id(data).ok_or(Malformed("answer without a requestId"))?;
    let field = |name: &str| data.get(name).cloned().unwrap_or_default();
    Ok(match kind {
        kind::FETCH_SOCKETS_RESPONSE => Incoming::Response {
            request_id,
            answer: json!({"sockets": field("sockets")}),
        },
        kind::SERVER_SIDE_EMIT_RESPONSE => Incoming::Response {
            request_id,
            answer: json!({"data": field("packet")}),
        },
        kind::BROADCAST_CLIENT_COUNT => Incoming::ClientCount {
            request_id,
            count: data
                .get("clientCount")
                .and_then(Value::as_u64)
                .ok_or(Malformed("client count without clientCount"))? as usize,
        },
        kind::BROADCAST_ACK => Incoming::Ack {
            request_id,
            value: field("packet"),
        },
        _ => Incoming::Response {
            request_id,
            answer: data.clone(),
        },
    })
}

fn is_response(kind: u64) -> bool {
    matches!(
        kind,
        kind::FETCH_SOCKETS_RESPONSE
            | kind::SERVER_SIDE_EMIT_RESPONSE
            | kind::BROADCAST_CLIENT_COUNT
            | kind::BROADCAST_ACK
    )
}

/// Decodes a message that came on one of this node's channels: `own_response` tells whether it
/// was this node's response channel (where anything is an answer, as Node reads it).
pub(crate) fn decode(
    own_uid: &str,
    bytes: &[u8],
    own_response: bool,
) -> Result<Incoming, Malformed> {
    let (body, attachments) = read_body_with_attachments(bytes)?;
    let kind = body
        .get("type")
        .and_then(Value::as_u64)
        .ok_or(Malformed("message without a type"))?;
    let empty = Value::Null;
    if own_response || is_response(kind) {
        // An answer's binary (in a socket's data, say) is read as JSON reads a Buffer.
        let body = if attachments.is_empty() {
            body
        } else {
            read_body(bytes)?
        };
        return response(kind, body.get("data").unwrap_or(&empty));
    }
    decode_operation(own_uid, kind, &body, attachments)
}

/// What an envelope of another node asks (anything but an answer): `body` is the envelope read
/// as JSON, `attachments` its binary values (each a placeholder in `body`). The streams adapter
/// reads its stream entries into the same envelope.
pub(crate) fn decode_operation(
    own_uid: &str,
    kind: u64,
    body: &Value,
    attachments: Vec<Bytes>,
) -> Result<Incoming, Malformed> {
    let empty = Value::Null;
    let data = body.get("data").unwrap_or(&empty);
    let uid = text(body.get("uid"));
    let nsp = body.get("nsp").and_then(Value::as_str).unwrap_or(NAMESPACE);
    if uid == own_uid || nsp != NAMESPACE {
        return Ok(Incoming::Nothing);
    }
    let opts = data.get("opts");
    let need_id = || {
        data.get("requestId")
            .cloned()
            .ok_or(Malformed("request without a requestId"))
    };
    Ok(match kind {
        kind::BROADCAST => {
            let packet = data
                .get("packet")
                .ok_or(Malformed("BROADCAST without packet"))?;
            let wants_ack = data.get("requestId").is_some();
            match broadcast_from(uid, packet, opts, attachments)? {
                Some(broadcast) if wants_ack => Incoming::Request(Request::BroadcastWithAck {
                    request_id: need_id()?,
                    broadcast,
                }),
                Some(broadcast) => Incoming::Broadcast(broadcast),
                None => Incoming::Nothing,
            }
        }
        kind::SOCKETS_JOIN | kind::SOCKETS_LEAVE if opts.is_some() => {
            let to = selection(opts);
            let rooms = rooms(data.get("rooms"));
            Incoming::Request(if kind == kind::SOCKETS_JOIN {
                Request::Join { to, rooms }
            } else {
                Request::Leave { to, rooms }
            })
        }
        kind::DISCONNECT_SOCKETS if opts.is_some() => Incoming::Request(Request::Disconnect {
            to: selection(opts),
            close: data.get("close").and_then(Value::as_bool).unwrap_or(false),
        }),
        kind::FETCH_SOCKETS => Incoming::Request(Request::Fetch {
            uid,
            request_id: need_id()?,
            to: selection(opts),
        }),
        kind::SERVER_SIDE_EMIT => {
            let (event, args) = event_and_args(data.get("packet"))?;
            Incoming::Request(Request::ServerSideEmit {
                uid,
                request_id: data.get("requestId").cloned(),
                event,
                args,
            })
        }
        kind::SOCKETS_JOIN | kind::SOCKETS_LEAVE | kind::DISCONNECT_SOCKETS => {
            return Err(Malformed("operation without opts"))
        }
        // Heartbeats and ADAPTER_CLOSE are the heartbeat adapters'; the sharded one sends none.
        _ => Incoming::Nothing,
    })
}

/// The envelope Node writes: JSON, or msgpack when it carries binary (`attachments`, each a
/// placeholder in `data`).
fn envelope_with(uid: &str, kind: u64, data: Value, attachments: &[Bytes]) -> Vec<u8> {
    let mut body = Map::new();
    body.insert("type".into(), kind.into());
    body.insert("data".into(), data);
    body.insert("uid".into(), uid.into());
    body.insert("nsp".into(), NAMESPACE.into());
    let body = Value::Object(body);
    if attachments.is_empty() {
        body.to_string().into_bytes()
    } else {
        msgpack::encode(&msgpack::from_json_with_attachments(&body, attachments))
    }
}

fn envelope(uid: &str, kind: u64, data: Value) -> Vec<u8> {
    envelope_with(uid, kind, data, &[])
}

fn opts(to: &Selection) -> Value {
    json!({"rooms": names(&to.rooms), "except": names(&to.except), "flags": {}})
}

/// A broadcast of this node, as a Node node writes it.
pub(crate) fn encode_broadcast(
    uid: &str,
    event: &str,
    args: &[Value],
    attachments: &[Bytes],
    to: &Selection,
    volatile: bool,
) -> Vec<u8> {
    let packet = json!({"type": 2, "data": event_packet(event, args)});
    let opts = json!({"rooms": names(&to.rooms), "except": names(&to.except),
                      "flags": broadcast_flags(volatile)});
    let data = json!({"packet": packet, "opts": opts});
    envelope_with(uid, kind::BROADCAST, data, attachments)
}

/// This node's `fetchSockets()` request.
pub(crate) fn fetch_request(uid: &str, request_id: &str, to: &Selection) -> Vec<u8> {
    envelope(
        uid,
        kind::FETCH_SOCKETS,
        json!({"opts": opts(to), "requestId": request_id}),
    )
}

/// This node's broadcast with ack: always on the namespace's channel (the server count is
/// taken there); the receivers wait `timeout_ms` for their clients' acks.
pub(crate) fn broadcast_with_ack_request(
    uid: &str,
    request_id: &str,
    event: &str,
    args: &[Value],
    attachments: &[Bytes],
    to: &Selection,
    timeout_ms: u64,
) -> Vec<u8> {
    let packet = json!({"type": 2, "data": event_packet(event, args)});
    let opts = json!({"rooms": names(&to.rooms), "except": names(&to.except),
                      "flags": {"timeout": timeout_ms}});
    let data = json!({"packet": packet, "requestId": request_id, "opts": opts});
    envelope_with(uid, kind::BROADCAST, data, attachments)
}

/// This node's `serverSideEmit(event, ...args)`, with an ack wanted when `request_id` is set.
pub(crate) fn server_side_emit_request(
    uid: &str,
    request_id: Option<&str>,
    event: &str,
    args: &[Value],
) -> Vec<u8> {
    let mut data = Map::new();
    if let Some(id) = request_id {
        data.insert("requestId".into(), id.into());
    }
    data.insert("packet".into(), event_packet(event, args).into());
    envelope(uid, kind::SERVER_SIDE_EMIT, Value::Object(data))
}

/// The answer to a `fetchSockets()`: each selected socket's details.
pub(crate) fn fetch_response(uid: &str, request_id: &Value, sockets: Vec<Value>) -> Vec<u8> {
    envelope(
        uid,
        kind::FETCH_SOCKETS_RESPONSE,
        json!({"requestId": request_id, "sockets": sockets}),
    )
}

/// The answer to a `serverSideEmitWithAck`: the first argument of the listener's callback.
pub(crate) fn server_side_emit_response(uid: &str, request_id: &Value, answer: Value) -> Vec<u8> {
    envelope(
        uid,
        kind::SERVER_SIDE_EMIT_RESPONSE,
        json!({"requestId": request_id, "packet": answer}),
    )
}

/// The first answer to a broadcast with ack: how many of this node's clients got it.
pub(crate) fn client_count_response(uid: &str, request_id: &Value, count: usize) -> Vec<u8> {
    envelope(
        uid,
        kind::BROADCAST_CLIENT_COUNT,
        json!({"requestId": request_id, "clientCount": count}),
    )
}

/// One client's acknowledgement of a broadcast with ack: its first argument.
pub(crate) fn broadcast_ack_response(uid: &str, request_id: &Value, args: &[Value]) -> Vec<u8> {
    let packet = args.first().cloned().unwrap_or(Value::Null);
    envelope(
        uid,
        kind::BROADCAST_ACK,
        json!({"requestId": request_id, "packet": packet}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::hex;

    const US: &str = "0123456789abcdef";

    #[test]
    fn channels_are_named_as_node_names_them() {
        let c = ShardChannels::new("socket.io", US, SubscriptionMode::Dynamic);
        assert_eq!(c.main(), "socket.io#/#");
        assert_eq!(c.own_response(), "socket.io#/#0123456789abcdef#");
        assert_eq!(
            c.response_to("fedcba9876543210"),
            "socket.io#/#fedcba9876543210#"
        );
        assert_eq!(c.room("r"), "socket.io#/#r#");
    }

    #[test]
    fn a_broadcast_goes_to_its_rooms_channel_as_the_mode_says() {
        let socket_id: Room = "aaaaaaaaaaaaaaaaaaaa".into();
        let room: Room = "room1".into();
        let two = [room.clone(), "room2".into()];
        let dynamic = ShardChannels::new("p", US, SubscriptionMode::Dynamic);
        assert_eq!(
            dynamic.broadcast_to(std::slice::from_ref(&room)),
            "p#/#room1#"
        );
        assert_eq!(
            dynamic.broadcast_to(std::slice::from_ref(&socket_id)),
            "p#/#"
        );
        assert_eq!(dynamic.broadcast_to(&two), "p#/#");
        assert_eq!(dynamic.broadcast_to(&[]), "p#/#");
        let private = ShardChannels::new("p", US, SubscriptionMode::DynamicPrivate);
        assert_eq!(
            private.broadcast_to(std::slice::from_ref(&socket_id)),
            "p#/#aaaaaaaaaaaaaaaaaaaa#"
        );
        let fixed = ShardChannels::new("p", US, SubscriptionMode::Static);
        assert_eq!(fixed.broadcast_to(&[room]), "p#/#");
    }

    #[test]
    fn our_broadcast_is_what_node_writes() {
        let to = Selection {
            rooms: vec!["room1".into()],
            except: vec!["aaaaaaaaaaaaaaaaaaaa".into()],
        };
        let bytes = encode_broadcast(US, "ev", &[json!(1)], &[], &to, false);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"type":3,"data":{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":["room1"],"except":["aaaaaaaaaaaaaaaaaaaa"],"flags":{}}},"uid":"0123456789abcdef","nsp":"/"}"#
        );
    }

    #[test]
    fn a_volatile_broadcast_says_so_as_node_does() {
        let bytes = encode_broadcast(US, "ev", &[], &[], &Selection::default(), true);
        let Incoming::Broadcast(back) = decode("fedcba9876543210", &bytes, false).unwrap() else {
            panic!("a broadcast")
        };
        assert!(back.volatile);
        assert!(String::from_utf8(bytes)
            .unwrap()
            .contains(r#""flags":{"volatile":true}"#));
    }

    #[test]
    fn nodes_json_broadcast_decodes() {
        let bytes = br#"{"type":3,"data":{"packet":{"type":2,"data":["chat","hi",{"n":1}]},"opts":{"rooms":["r"],"except":[],"flags":{"volatile":true}}},"uid":"fedcba9876543210","nsp":"/"}"#;
        let Incoming::Broadcast(b) = decode(US, bytes, false).unwrap() else {
            panic!("a broadcast")
        };
        assert_eq!(b.uid, "fedcba9876543210");
        assert_eq!(b.event, "chat");
        assert_eq!(b.args, vec![json!("hi"), json!({"n": 1})]);
        assert_eq!(b.to.rooms, vec![Room::from("r")]);
        assert!(b.volatile);
    }

    #[test]
    fn nodes_msgpack_broadcast_with_binary_decodes() {
        // notepack.encode({type:3,data:{packet:{type:2,data:["b",Buffer.from([1,2])]},
        // opts:{rooms:[],except:[],flags:{}}},uid:"fedcba9876543210",nsp:"/"})
        let bytes = hex(concat!(
            "84a47479706503a46461746182a67061636b657482a47479706502a46461746192a162c4020102",
            "a46f70747383a5726f6f6d7390a665786365707490a5666c61677380a3756964b0666564636261",
            "39383736353433323130a36e7370a12f"
        ));
        let Incoming::Broadcast(b) = decode(US, &bytes, false).unwrap() else {
            panic!("a broadcast")
        };
        assert_eq!(b.event, "b");
        assert_eq!(b.args, vec![crate::socketio::binary::placeholder(0)]);
        assert_eq!(b.attachments, vec![Bytes::from_static(&[1, 2])]);
    }

    #[test]
    fn a_broadcast_with_binary_goes_as_msgpack_as_node_writes_it() {
        let to = Selection {
            rooms: vec!["r".into()],
            except: vec![],
        };
        let attachments = [Bytes::from_static(&[1, 2, 3])];
        let placeholder = crate::socketio::binary::placeholder(0);
        let ours = encode_broadcast(
            US,
            "bin",
            std::slice::from_ref(&placeholder),
            &attachments,
            &to,
            false,
        );
        // notepack.encode of the same envelope, from Node.
        assert_eq!(
            ours,
            hex(concat!(
            "84a47479706503a46461746182a67061636b657482a47479706502a46461746192a362696ec403010203",
            "a46f70747383a5726f6f6d7391a172a665786365707490a5666c61677380a3756964b0303132333435",
            "36373839616263646566a36e7370a12f"
        ))
        );
        let Incoming::Broadcast(back) = decode("fedcba9876543210", &ours, false).unwrap() else {
            panic!("a broadcast")
        };
        assert_eq!(back.args, vec![placeholder]);
        assert_eq!(back.attachments, attachments.to_vec());
    }

    #[test]
    fn our_own_and_other_namespaces_messages_are_not_for_us() {
        let ours = encode_broadcast(US, "ev", &[], &[], &Selection::default(), false);
        assert_eq!(decode(US, &ours, false).unwrap(), Incoming::Nothing);
        let elsewhere = br#"{"type":3,"data":{"packet":{"type":2,"data":["ev"]},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"x","nsp":"/chat"}"#;
        assert_eq!(decode(US, elsewhere, false).unwrap(), Incoming::Nothing);
    }

    #[test]
    fn requests_decode() {
        let fetch = br#"{"type":7,"data":{"opts":{"rooms":["r"],"except":[],"flags":{}},"requestId":"abc"},"uid":"n1","nsp":"/"}"#;
        assert_eq!(
            decode(US, fetch, false).unwrap(),
            Incoming::Request(Request::Fetch {
                uid: "n1".into(),
                request_id: json!("abc"),
                to: Selection {
                    rooms: vec!["r".into()],
                    except: vec![]
                },
            })
        );
        let join = br#"{"type":4,"data":{"opts":{"rooms":[],"except":[],"flags":{}},"rooms":["a","b"]},"uid":"n1","nsp":"/"}"#;
        assert_eq!(
            decode(US, join, false).unwrap(),
            Incoming::Request(Request::Join {
                to: Selection::default(),
                rooms: vec!["a".into(), "b".into()]
            })
        );
        let emit =
            br#"{"type":9,"data":{"requestId":"q","packet":["hello",1]},"uid":"n1","nsp":"/"}"#;
        assert_eq!(
            decode(US, emit, false).unwrap(),
            Incoming::Request(Request::ServerSideEmit {
                uid: "n1".into(),
                request_id: Some(json!("q")),
                event: "hello".into(),
                args: vec![json!(1)],
            })
        );
        let with_ack = br#"{"type":3,"data":{"packet":{"type":2,"data":["ask"]},"requestId":"w","opts":{"rooms":[],"except":[],"flags":{"timeout":500}}},"uid":"n1","nsp":"/"}"#;
        let Incoming::Request(Request::BroadcastWithAck {
            request_id,
            broadcast,
        }) = decode(US, with_ack, false).unwrap()
        else {
            panic!("a broadcast with ack")
        };
        assert_eq!(request_id, json!("w"));
        assert_eq!(broadcast.timeout_ms, Some(500));
    }

    #[test]
    fn answers_read_as_the_classic_ones() {
        let sockets =
            br#"{"type":8,"data":{"requestId":"abc","sockets":[{"id":"s"}]},"uid":"n1","nsp":"/"}"#;
        assert_eq!(
            decode(US, sockets, true).unwrap(),
            Incoming::Response {
                request_id: "abc".into(),
                answer: json!({"sockets": [{"id": "s"}]})
            }
        );
        let emitted =
            br#"{"type":10,"data":{"requestId":"q","packet":"pong"},"uid":"n1","nsp":"/"}"#;
        assert_eq!(
            decode(US, emitted, true).unwrap(),
            Incoming::Response {
                request_id: "q".into(),
                answer: json!({"data": "pong"})
            }
        );
    }

    #[test]
    fn our_answers_are_what_node_sends() {
        let id = json!("abc");
        assert_eq!(
            String::from_utf8(client_count_response(US, &id, 2)).unwrap(),
            r#"{"type":11,"data":{"requestId":"abc","clientCount":2},"uid":"0123456789abcdef","nsp":"/"}"#
        );
        assert_eq!(
            String::from_utf8(server_side_emit_request(
                US,
                Some("q"),
                "hello",
                &[json!(1)]
            ))
            .unwrap(),
            r#"{"type":9,"data":{"requestId":"q","packet":["hello",1]},"uid":"0123456789abcdef","nsp":"/"}"#
        );
    }

    #[test]
    fn malformed_messages_are_refused() {
        for bytes in [
            &b""[..],
            b"{",
            b"{\"data\":{}}",
            b"\xc1",
            br#"{"type":7,"data":{"opts":{}},"uid":"n1","nsp":"/"}"#,
            br#"{"type":4,"data":{},"uid":"n1","nsp":"/"}"#,
            br#"{"type":8,"data":{},"uid":"n1","nsp":"/"}"#,
        ] {
            assert!(decode(US, bytes, false).is_err(), "{bytes:?}");
        }
    }
}
