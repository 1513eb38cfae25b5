//! The classic `@socket.io/redis-adapter` wire format (`createAdapter`, PUBLISH/PSUBSCRIBE), for
//! namespace `/`: channel names, broadcasts, requests and the responses this node sends. Pure:
//! bytes in, values out. See protocols/redis-adapter.md §2.

use bytes::Bytes;
use serde_json::{json, Value};

use super::msgpack;
use super::wire::{
    broadcast_flags, broadcast_from, event_and_args, event_packet, names, read_body,
    read_body_with_attachments, rooms, selection, text,
};
pub(crate) use super::wire::{Broadcast, Incoming, Malformed, Request, Selection};
use crate::hub::Room;

use super::wire::NAMESPACE;

/// Request and response types (`ra:14-25`).
mod kind {
    pub(super) const ALL_ROOMS: u64 = 1;
    pub(super) const REMOTE_JOIN: u64 = 2;
    pub(super) const REMOTE_LEAVE: u64 = 3;
    pub(super) const REMOTE_DISCONNECT: u64 = 4;
    pub(super) const REMOTE_FETCH: u64 = 5;
    pub(super) const SERVER_SIDE_EMIT: u64 = 6;
    pub(super) const BROADCAST: u64 = 7;
    pub(super) const BROADCAST_CLIENT_COUNT: u64 = 8;
    pub(super) const BROADCAST_ACK: u64 = 9;
}

/// The channels of one node in namespace `/`.
#[derive(Debug, Clone)]
pub(crate) struct Channels {
    /// `<prefix>#/#`: broadcasts to all, or to 0 or 2+ rooms; a room's is this plus `<room>#`.
    broadcast: String,
    request: String,
    response: String,
    own_response: String,
}

impl Channels {
    /// The channels under `prefix` (the Node adapter's `key`) for the node `uid`.
    pub(crate) fn new(prefix: &str, uid: &str) -> Channels {
        Channels {
            broadcast: format!("{prefix}#{NAMESPACE}#"),
            request: format!("{prefix}-request#{NAMESPACE}#"),
            response: format!("{prefix}-response#{NAMESPACE}#"),
            own_response: format!("{prefix}-response#{NAMESPACE}#{uid}#"),
        }
    }

    /// The pattern every broadcast channel matches (PSUBSCRIBE).
    pub(crate) fn broadcast_pattern(&self) -> String {
        format!("{}*", self.broadcast)
    }

    /// The channel a broadcast to `rooms` goes to: a room's own for exactly one room.
    pub(crate) fn broadcast_to(&self, rooms: &[Room]) -> String {
        match rooms {
            [room] => format!("{}{room}#", self.broadcast),
            _ => self.broadcast.clone(),
        }
    }

    /// The requests channel (its subscriber count is the cluster's server count).
    pub(crate) fn request(&self) -> &str {
        &self.request
    }

    /// The shared responses channel (where this node answers).
    pub(crate) fn response(&self) -> &str {
        &self.response
    }

    /// The responses channel of this node alone.
    pub(crate) fn own_response(&self) -> &str {
        &self.own_response
    }

    /// The room a broadcast channel names (`None` for the base channel or another channel).
    pub(crate) fn room_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        let rest = channel.strip_prefix(self.broadcast.as_str())?;
        rest.strip_suffix('#').filter(|room| !room.is_empty())
    }
}

/// Decodes a message that came on `channel`: a request, an answer to a request, or a broadcast
/// (`Nothing` for this node's own broadcasts and other namespaces').
pub(crate) fn decode(
    channels: &Channels,
    own_uid: &str,
    channel: &str,
    body: &[u8],
) -> Result<Incoming, Malformed> {
    if channel == channels.request() {
        return decode_request(body).map(Incoming::Request);
    }
    if channel == channels.response() || channel == channels.own_response() {
        let (request_id, mut answer) = decode_response(body)?;
        return Ok(match answer.get("type").and_then(Value::as_u64) {
            Some(kind::BROADCAST_CLIENT_COUNT) => Incoming::ClientCount {
                request_id,
                count: answer
                    .get("clientCount")
                    .and_then(Value::as_u64)
                    .ok_or(Malformed("client count without clientCount"))?
                    as usize,
            },
            Some(kind::BROADCAST_ACK) => Incoming::Ack {
                request_id,
                value: answer
                    .get_mut("packet")
                    .map(Value::take)
                    .unwrap_or_default(),
            },
            _ => Incoming::Response { request_id, answer },
        });
    }
    Ok(match decode_broadcast(body)? {
        Some(broadcast) if broadcast.uid != own_uid => Incoming::Broadcast(broadcast),
        _ => Incoming::Nothing,
    })
}

/// Decodes a message of a broadcast channel: `Ok(None)` when it is for another namespace.
pub(crate) fn decode_broadcast(bytes: &[u8]) -> Result<Option<Broadcast>, Malformed> {
    let (body, attachments) = read_body_with_attachments(bytes)?;
    let [uid, packet, opts] = body.as_array().map(Vec::as_slice).unwrap_or_default() else {
        return Err(Malformed("broadcast is not [uid, packet, opts]"));
    };
    broadcast_from(text(Some(uid)), packet, Some(opts), attachments)
}

/// Encodes a broadcast of this node for the other nodes, as a Node node writes it.
pub(crate) fn encode_broadcast(
    uid: &str,
    event: &str,
    args: &[Value],
    attachments: &[Bytes],
    to: &Selection,
    volatile: bool,
) -> Vec<u8> {
    let data = event_packet(event, args);
    let body = json!([
        uid,
        {"type": 2, "data": data, "nsp": NAMESPACE},
        {"rooms": to.rooms.iter().map(|r| r.as_ref()).collect::<Vec<_>>(),
         "except": to.except.iter().map(|r| r.as_ref()).collect::<Vec<_>>(),
         "flags": broadcast_flags(volatile)}
    ]);
    msgpack::encode(&msgpack::from_json_with_attachments(&body, attachments))
}

/// Decodes a message of the requests channel.
pub(crate) fn decode_request(bytes: &[u8]) -> Result<Request, Malformed> {
    let (body, attachments) = read_body_with_attachments(bytes)?;
    let kind = body
        .get("type")
        .and_then(Value::as_u64)
        .ok_or(Malformed("request without a type"))?;
    let uid = text(body.get("uid"));
    let request_id = body.get("requestId").cloned();
    let need_id = || {
        request_id
            .clone()
            .ok_or(Malformed("request without a requestId"))
    };
    let opts = body.get("opts");
    Ok(match kind {
        kind::ALL_ROOMS => Request::AllRooms {
            uid,
            request_id: need_id()?,
        },
        kind::REMOTE_FETCH => Request::Fetch {
            uid,
            request_id: need_id()?,
            to: selection(opts),
        },
        kind::REMOTE_JOIN | kind::REMOTE_LEAVE if opts.is_some() => {
            let to = selection(opts);
            let rooms = rooms(body.get("rooms"));
            match kind {
                kind::REMOTE_JOIN => Request::Join { to, rooms },
                _ => Request::Leave { to, rooms },
            }
        }
        kind::REMOTE_DISCONNECT if opts.is_some() => Request::Disconnect {
            to: selection(opts),
            close: body.get("close").and_then(Value::as_bool).unwrap_or(false),
        },
        kind::SERVER_SIDE_EMIT => {
            let (event, args) = event_and_args(body.get("data"))?;
            Request::ServerSideEmit {
                uid,
                request_id,
                event,
                args,
            }
        }
        kind::BROADCAST => {
            let packet = body
                .get("packet")
                .ok_or(Malformed("BROADCAST without packet"))?;
            match broadcast_from(uid, packet, opts, attachments)? {
                Some(broadcast) => Request::BroadcastWithAck {
                    request_id: need_id()?,
                    broadcast,
                },
                None => Request::Ignored(kind),
            }
        }
        other => Request::Ignored(other),
    })
}

/// An answer on a responses channel: its request id and the whole answer.
pub(crate) fn decode_response(bytes: &[u8]) -> Result<(String, Value), Malformed> {
    let body = read_body(bytes)?;
    let id = match body.get("requestId") {
        Some(Value::String(id)) => id.clone(),
        Some(other @ Value::Number(_)) => other.to_string(),
        _ => return Err(Malformed("answer without a requestId")),
    };
    Ok((id, body))
}

/// This node's `fetchSockets()` request (JSON, as Node sends it).
pub(crate) fn fetch_request(uid: &str, request_id: &str, to: &Selection) -> Vec<u8> {
    json!({"uid": uid, "requestId": request_id, "type": kind::REMOTE_FETCH,
           "opts": {"rooms": names(&to.rooms), "except": names(&to.except)}})
    .to_string()
    .into_bytes()
}

/// This node's broadcast with ack (msgpack, as Node sends it): the receivers wait
/// `timeout_ms` for their clients' acks.
pub(crate) fn broadcast_with_ack_request(
    uid: &str,
    request_id: &str,
    event: &str,
    args: &[Value],
    attachments: &[Bytes],
    to: &Selection,
    timeout_ms: u64,
) -> Vec<u8> {
    let data = event_packet(event, args);
    let body = json!({
        "uid": uid,
        "requestId": request_id,
        "type": kind::BROADCAST,
        "packet": {"type": 2, "data": data, "nsp": NAMESPACE},
        "opts": {"rooms": names(&to.rooms), "except": names(&to.except),
                 "flags": {"timeout": timeout_ms}},
    });
    msgpack::encode(&msgpack::from_json_with_attachments(&body, attachments))
}

/// This node's `serverSideEmit(event, ...args)`, with an ack wanted when `request_id` is set.
pub(crate) fn server_side_emit_request(
    uid: &str,
    request_id: Option<&str>,
    event: &str,
    args: &[Value],
) -> Vec<u8> {
    let data = event_packet(event, args);
    let mut body = json!({"uid": uid, "type": kind::SERVER_SIDE_EMIT, "data": data});
    if let Some(id) = request_id {
        body["requestId"] = Value::from(id);
    }
    body.to_string().into_bytes()
}

/// This node's answer to a `serverSideEmitWithAck` (JSON, on the shared responses channel).
pub(crate) fn server_side_emit_response(request_id: &Value, answer: Value) -> Vec<u8> {
    json!({"type": kind::SERVER_SIDE_EMIT, "requestId": request_id, "data": answer})
        .to_string()
        .into_bytes()
}

/// The answer to `allRooms()` (JSON, on the shared responses channel).
pub(crate) fn all_rooms_response(request_id: &Value, rooms: &[Room]) -> Vec<u8> {
    let rooms: Vec<&str> = rooms.iter().map(|r| r.as_ref()).collect();
    json!({"requestId": request_id, "rooms": rooms})
        .to_string()
        .into_bytes()
}

/// The answer to `fetchSockets()`: each socket's details (JSON).
pub(crate) fn fetch_response(request_id: &Value, sockets: Vec<Value>) -> Vec<u8> {
    json!({"requestId": request_id, "sockets": sockets})
        .to_string()
        .into_bytes()
}

/// The first answer to a broadcast with ack: how many of this node's clients got it.
pub(crate) fn client_count_response(request_id: &Value, count: usize) -> Vec<u8> {
    json!({"type": kind::BROADCAST_CLIENT_COUNT, "requestId": request_id, "clientCount": count})
        .to_string()
        .into_bytes()
}

/// One client's acknowledgement of a broadcast with ack: its first argument (msgpack, as Node
/// sends it).
pub(crate) fn broadcast_ack_response(request_id: &Value, args: &[Value]) -> Vec<u8> {
    let packet = args.first().cloned().unwrap_or(Value::Null);
    let body = json!({"type": kind::BROADCAST_ACK, "requestId": request_id, "packet": packet});
    msgpack::encode(&msgpack::from_json(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::hex;

    #[test]
    fn channels_are_named_as_node_names_them() {
        let c = Channels::new("socket.io", "xCtdJb");
        assert_eq!(c.broadcast_pattern(), "socket.io#/#*");
        assert_eq!(c.broadcast_to(&[]), "socket.io#/#");
        assert_eq!(c.broadcast_to(&["room1".into()]), "socket.io#/#room1#");
        assert_eq!(c.broadcast_to(&["a".into(), "b".into()]), "socket.io#/#");
        assert_eq!(c.request(), "socket.io-request#/#");
        assert_eq!(c.response(), "socket.io-response#/#");
        assert_eq!(c.own_response(), "socket.io-response#/#xCtdJb#");
        assert_eq!(c.room_of("socket.io#/#room1#"), Some("room1"));
        assert_eq!(c.room_of("socket.io#/#a#b#"), Some("a#b"));
        assert_eq!(c.room_of("socket.io#/#"), None);
        assert_eq!(c.room_of("socket.io#/admin#x#"), None);
    }

    /// Captured: `io.to(['room1','room2']).except(['room3', a1.id]).emit('multi')`.
    #[test]
    fn a_captured_node_broadcast_decodes() {
        let b = decode_broadcast(&hex("93a6784374644a6283a47479706502a46461746191a56d756c7469a36e7370a12f83a5726f6f6d7392a5726f6f6d31a5726f6f6d32a665786365707492a5726f6f6d33b450597850736758664f4c665f7453627a41414141a5666c61677380")).unwrap().unwrap();
        assert_eq!(b.uid, "xCtdJb");
        assert_eq!(b.event, "multi");
        assert!(b.args.is_empty());
        assert_eq!(b.to.rooms, vec![Room::from("room1"), Room::from("room2")]);
        assert_eq!(
            b.to.except,
            vec![Room::from("room3"), Room::from("PYxPsgXfOLf_tSbzAAAA")]
        );
    }

    /// Captured from the emitter: `to('room2').except('room1').volatile.compress(true).emit('e2')`.
    #[test]
    fn the_emitters_broadcast_decodes_with_its_flags() {
        let b = decode_broadcast(&hex("93a7656d697474657283a47479706502a46461746191a26532a36e7370a12f83a5726f6f6d7391a5726f6f6d32a5666c61677382a8766f6c6174696c65c3a8636f6d7072657373c3a665786365707491a5726f6f6d31")).unwrap().unwrap();
        assert_eq!(b.uid, "emitter");
        assert_eq!(b.to.rooms, vec![Room::from("room2")]);
        assert_eq!(b.to.except, vec![Room::from("room1")]);
        assert!(b.volatile);
    }

    #[test]
    fn our_broadcast_is_what_node_writes() {
        // io.emit('hello','world',1,2.5,{a:true,n:null}) from node xCtdJb, byte for byte.
        let bytes = encode_broadcast(
            "xCtdJb",
            "hello",
            &[
                json!("world"),
                json!(1),
                json!(2.5),
                json!({"a": true, "n": null}),
            ],
            &[],
            &Selection::default(),
            false,
        );
        assert_eq!(bytes, hex("93a6784374644a6283a47479706502a46461746195a568656c6c6fa5776f726c6401cb400400000000000082a161c3a16ec0a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"));
        let back = decode_broadcast(&bytes).unwrap().unwrap();
        assert_eq!(back.event, "hello");
        assert_eq!(back.args.len(), 4);
    }

    #[test]
    fn binary_arguments_are_attachments_both_ways() {
        use crate::socketio::binary::placeholder;
        // notepack.encode(["xCtdJb", {type: 2, data: ["bin", Buffer[1,2,3], {b: Buffer[ff]}],
        // nsp: "/"}, {rooms: [], except: [], flags: {}}]): what a Node node publishes.
        let node = hex("93a6784374644a6283a47479706502a46461746193a362696ec40301020381a162c401ffa36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380");
        let b = decode_broadcast(&node).unwrap().unwrap();
        assert_eq!(b.event, "bin");
        assert_eq!(b.args, vec![placeholder(0), json!({"b": placeholder(1)})]);
        assert_eq!(
            b.attachments,
            vec![Bytes::from_static(&[1, 2, 3]), Bytes::from_static(&[255])]
        );
        let ours = encode_broadcast("xCtdJb", "bin", &b.args, &b.attachments, &b.to, false);
        assert_eq!(ours, node);
        // A placeholder past the attachments is refused: a Socket.IO client would choke on it.
        let bad = msgpack::encode(&rmpv::Value::Array(vec![
            "x".into(),
            rmpv::Value::Map(vec![
                ("type".into(), 2.into()),
                (
                    "data".into(),
                    rmpv::Value::Array(vec![
                        "e".into(),
                        rmpv::Value::Binary(vec![1]),
                        msgpack::from_json(&placeholder(7)),
                    ]),
                ),
            ]),
            msgpack::from_json(&json!({"rooms": [], "except": [], "flags": {}})),
        ]));
        assert!(decode_broadcast(&bad).is_err());
    }

    #[test]
    fn other_namespaces_are_not_ours() {
        let body = msgpack::encode(&msgpack::from_json(
            &json!(["x", {"type": 2, "data": ["e"], "nsp": "/admin"}, {"rooms": [], "except": [], "flags": {}}]),
        ));
        assert_eq!(decode_broadcast(&body), Ok(None));
    }

    #[test]
    fn captured_requests_decode() {
        let r = |s: &str| decode_request(s.as_bytes()).unwrap();
        assert_eq!(
            r(r#"{"uid":"xCtdJb","requestId":"ITkuQP","type":1}"#),
            Request::AllRooms {
                uid: "xCtdJb".into(),
                request_id: json!("ITkuQP")
            }
        );
        assert_eq!(
            r(
                r#"{"uid":"xCtdJb","requestId":"Fw8VRB","type":5,"opts":{"rooms":["room1"],"except":["room2"]}}"#
            ),
            Request::Fetch {
                uid: "xCtdJb".into(),
                request_id: json!("Fw8VRB"),
                to: Selection {
                    rooms: vec!["room1".into()],
                    except: vec!["room2".into()]
                }
            }
        );
        assert_eq!(
            r(r#"{"type":2,"opts":{"rooms":["room2"],"except":[]},"rooms":["eroom"]}"#),
            Request::Join {
                to: Selection {
                    rooms: vec!["room2".into()],
                    except: vec![]
                },
                rooms: vec!["eroom".into()]
            }
        );
        assert_eq!(
            r(r#"{"type":4,"opts":{"rooms":["room2"],"except":[]},"close":true}"#),
            Request::Disconnect {
                to: Selection {
                    rooms: vec!["room2".into()],
                    except: vec![]
                },
                close: true
            }
        );
        assert_eq!(
            r(r#"{"uid":"xCtdJb","requestId":"9CmjOR","type":6,"data":["sse",3]}"#),
            Request::ServerSideEmit {
                uid: "xCtdJb".into(),
                request_id: Some(json!("9CmjOR")),
                event: "sse".into(),
                args: vec![json!(3)]
            }
        );
        // The captured BROADCAST request of io.timeout(1000).emit('ackme','x',cb), msgpack.
        let bytes = hex("85a3756964a6784374644a62a9726571756573744964a6495f65356279a47479706507a67061636b657483a47479706502a46461746192a561636b6d65a178a36e7370a12fa46f70747383a5726f6f6d7390a665786365707490a5666c61677381a774696d656f7574cd03e8");
        let Request::BroadcastWithAck {
            request_id,
            broadcast,
        } = decode_request(&bytes).unwrap()
        else {
            panic!("not a broadcast with ack");
        };
        assert_eq!(request_id, json!("I_e5by"));
        assert_eq!(broadcast.timeout_ms, Some(1000));
        assert_eq!(
            (broadcast.event.as_str(), broadcast.args),
            ("ackme", vec![json!("x")])
        );
        // The captured answer of B's client: {type: 9, requestId: 'I_e5by', packet: 'ack-from-b1'}.
        assert_eq!(
            broadcast_ack_response(&request_id, &[json!("ack-from-b1")]),
            hex("83a47479706509a9726571756573744964a6495f65356279a67061636b6574ab61636b2d66726f6d2d6231")
        );
    }

    /// The captured answer of B: `{"type":6,"requestId":"9CmjOR","data":{"from":"B"}}`.
    #[test]
    fn our_server_side_emit_answer_is_what_node_sends() {
        assert_eq!(
            server_side_emit_response(&json!("9CmjOR"), json!({"from": "B"})),
            br#"{"type":6,"requestId":"9CmjOR","data":{"from":"B"}}"#.to_vec()
        );
        assert_eq!(
            decode_request(&server_side_emit_request(
                "xCtdJb",
                Some("9CmjOR"),
                "sse",
                &[json!(3)]
            )),
            Ok(Request::ServerSideEmit {
                uid: "xCtdJb".into(),
                request_id: Some(json!("9CmjOR")),
                event: "sse".into(),
                args: vec![json!(3)]
            })
        );
    }

    #[test]
    fn malformed_messages_are_refused() {
        assert!(decode_broadcast(b"").is_err());
        assert!(decode_broadcast(&[0xc1]).is_err());
        assert!(decode_broadcast(b"[1,2]").is_err());
        assert!(decode_broadcast(br#"["u",{"type":2,"data":[],"nsp":"/"},{}]"#).is_err());
        assert!(decode_request(b"{\"type\":\"x\"}").is_err());
        assert!(
            decode_request(b"{\"type\":5}").is_err(),
            "fetch without requestId"
        );
        assert_eq!(
            decode_request(b"{\"type\":0,\"requestId\":1}"),
            Ok(Request::Ignored(0))
        );
    }
}
