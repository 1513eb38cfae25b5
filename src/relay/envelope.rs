//! The JSON relay envelope: what relay clients send and receive (protocols/relay.md).
//!
//! Pure functions: text in, values out; values in, text out.

use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::hub::{Message, Offset};

/// What a relay client asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    /// Join a room.
    Join {
        /// The room.
        room: String,
    },
    /// Leave a room.
    Leave {
        /// The room.
        room: String,
    },
    /// Publish an event to a room.
    Publish {
        /// The room.
        room: String,
        /// The event name.
        event: String,
        /// The payload (`null` when absent).
        data: Value,
        /// Binary attachments `data` refers to by placeholder (a Socket.IO client's Buffers;
        /// the JSON envelope has none).
        attachments: Vec<bytes::Bytes>,
    },
    /// Take back a dropped session: its rooms and the messages it missed.
    Resume {
        /// The private token the dropped session's welcome gave.
        token: String,
        /// The offset of the last message the client got (the welcome's offset if none).
        offset: Offset,
    },
    /// Ask who is in a room (its users, their info and sessions).
    Presence {
        /// The room.
        room: String,
    },
    /// Send an event to the server's handler.
    Emit {
        /// The event name.
        event: String,
        /// The payload (`null` when absent).
        data: Value,
    },
}

/// A request's id exactly as the client wrote it (a JSON string or number): echoed verbatim, so
/// that a number too large for a double comes back as sent.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(Box<RawValue>);

impl RequestId {
    /// The id's JSON text.
    pub(crate) fn as_json(&self) -> &str {
        self.0.get()
    }

    /// The id of `value` (a string or a number from `text`).
    fn of(value: &Value, text: &str) -> RequestId {
        #[derive(serde::Deserialize)]
        struct IdText<'a> {
            #[serde(borrow)]
            id: &'a RawValue,
        }
        // An integer or a string reads back as it was; any other number is taken from the text.
        let exact = !matches!(value, Value::Number(n) if n.is_f64());
        let raw = match exact {
            true => None,
            false => serde_json::from_str::<IdText>(text)
                .ok()
                .map(|t| t.id.to_owned()),
        };
        RequestId(raw.unwrap_or_else(|| {
            RawValue::from_string(value.to_string()).expect("a JSON value's text is JSON")
        }))
    }
}

impl PartialEq for RequestId {
    fn eq(&self, other: &RequestId) -> bool {
        self.as_json() == other.as_json()
    }
}

impl From<Value> for RequestId {
    fn from(value: Value) -> RequestId {
        RequestId::of(&value, "")
    }
}

/// A decoded client message: a command and the optional id its answer must carry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    /// The id to echo in the ack or error, if the client gave one.
    pub id: Option<RequestId>,
    /// What the client asks for.
    pub command: Command,
}

/// A client message that could not be understood; answered with an error message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EnvelopeError {
    /// The request's id, when it could be read.
    pub id: Option<RequestId>,
    /// What was wrong.
    pub message: String,
}

/// Decodes one client message.
pub(crate) fn decode(text: &str) -> Result<Request, EnvelopeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| EnvelopeError {
        id: None,
        message: format!("invalid JSON: {e}"),
    })?;
    let Value::Object(mut fields) = value else {
        return Err(EnvelopeError {
            id: None,
            message: "a message must be a JSON object".into(),
        });
    };
    let id = fields.remove("id");
    if let Some(bad) = id.as_ref().filter(|v| !(v.is_string() || v.is_number())) {
        return Err(EnvelopeError {
            id: None,
            message: format!("\"id\" must be a string or a number, not {bad}"),
        });
    }
    let id = id.map(|id| RequestId::of(&id, text));
    let fail = |message: String| EnvelopeError {
        id: id.clone(),
        message,
    };
    let kind = match fields.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(_) => return Err(fail("\"type\" must be a string".into())),
        None => return Err(fail("missing field \"type\"".into())),
    };
    let command = match kind.as_str() {
        "join" => Command::Join {
            room: string_field(&fields, "room").map_err(fail)?,
        },
        "leave" => Command::Leave {
            room: string_field(&fields, "room").map_err(fail)?,
        },
        "publish" => Command::Publish {
            room: string_field(&fields, "room").map_err(fail)?,
            event: string_field(&fields, "event").map_err(fail)?,
            data: fields.remove("data").unwrap_or(Value::Null),
            attachments: Vec::new(),
        },
        "resume" => Command::Resume {
            token: string_field(&fields, "token").map_err(fail)?,
            offset: match fields.get("offset") {
                Some(Value::String(s)) => s
                    .parse()
                    .map_err(|_| fail("\"offset\" must be an offset the server gave".into()))?,
                Some(Value::Number(n)) => n
                    .as_u64()
                    .map(Offset::Local)
                    .ok_or_else(|| fail("\"offset\" must be an offset the server gave".into()))?,
                _ => return Err(fail("missing field \"offset\"".into())),
            },
        },
        "presence" => Command::Presence {
            room: string_field(&fields, "room").map_err(fail)?,
        },
        "emit" => Command::Emit {
            event: string_field(&fields, "event").map_err(fail)?,
            data: fields.remove("data").unwrap_or(Value::Null),
        },
        other => return Err(fail(format!("unknown type \"{other}\""))),
    };
    Ok(Request { id, command })
}

fn string_field(fields: &Map<String, Value>, name: &str) -> Result<String, String> {
    match fields.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("\"{name}\" must be a string")),
        None => Err(format!("missing field \"{name}\"")),
    }
}

/// The welcome a client gets when its session opens; with recovery on, the private token and
/// the current offset to resume from.
pub(crate) fn encode_welcome(session_id: &str, resume: Option<(&str, Offset)>) -> String {
    match resume {
        Some((token, offset)) => json!({
            "type": "welcome",
            "session": session_id,
            "token": token,
            "offset": offset.to_string(),
        })
        .to_string(),
        None => json!({"type": "welcome", "session": session_id}).to_string(),
    }
}

/// The answer to a successful resume: the rooms back, and how many missed messages follow.
pub(crate) fn encode_resumed(
    id: Option<&RequestId>,
    rooms: &[crate::hub::Room],
    missed: usize,
) -> String {
    let mut rooms: Vec<&str> = rooms.iter().map(|r| r.as_ref()).collect();
    rooms.sort_unstable();
    let rooms = Value::from(rooms);
    match id {
        Some(id) => format!(
            r#"{{"type":"resumed","rooms":{rooms},"missed":{missed},"id":{}}}"#,
            id.as_json()
        ),
        None => format!(r#"{{"type":"resumed","rooms":{rooms},"missed":{missed}}}"#),
    }
}

/// A room message (or a direct one, without `room`), as every relay client receives it.
pub(crate) fn encode_message(message: &Message) -> String {
    let mut out = Map::with_capacity(4);
    out.insert("type".into(), "message".into());
    if let Some(room) = &message.room {
        out.insert("room".into(), Value::String(room.to_string()));
    }
    out.insert("event".into(), Value::String(message.event.clone()));
    out.insert("data".into(), message.json_data().into_owned());
    if let Some(user) = message.sender() {
        out.insert("user".into(), Value::String(user.to_string()));
    }
    if let Some(offset) = message.offset() {
        out.insert("offset".into(), Value::String(offset.to_string()));
    }
    Value::Object(out).to_string()
}

/// The answer to a request with an id; `data` is what an `emit` handler returned.
pub(crate) fn encode_ack(id: &RequestId, data: Option<&Value>) -> String {
    let id = id.as_json();
    match data {
        Some(data) => format!(r#"{{"type":"ack","id":{id},"data":{data}}}"#),
        None => format!(r#"{{"type":"ack","id":{id}}}"#),
    }
}

/// An error answer, with the request's id when there was one.
pub(crate) fn encode_error(id: Option<&RequestId>, message: &str) -> String {
    let message = Value::from(message);
    match id {
        Some(id) => format!(
            r#"{{"type":"error","id":{},"message":{message}}}"#,
            id.as_json()
        ),
        None => format!(r#"{{"type":"error","message":{message}}}"#),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_echoed_exactly_as_sent() {
        for id in [
            "123456789012345678901234567890",
            "1.50",
            "-0.0",
            "2.5e3",
            "18446744073709551615",
        ] {
            let request = decode(&format!(r#"{{"type":"join","room":"r","id":{id}}}"#)).unwrap();
            let id_back = request.id.unwrap();
            assert_eq!(id_back.as_json(), id);
            assert_eq!(
                encode_ack(&id_back, None),
                format!(r#"{{"type":"ack","id":{id}}}"#)
            );
        }
        let error = decode(r#"{"type":"dance","id":98765432109876543210.5}"#).unwrap_err();
        assert_eq!(
            encode_error(error.id.as_ref(), "x"),
            r#"{"type":"error","id":98765432109876543210.5,"message":"x"}"#
        );
    }

    #[test]
    fn decodes_every_command() {
        assert_eq!(
            decode(r#"{"type":"join","room":"lobby","id":1}"#).unwrap(),
            Request {
                id: Some(json!(1).into()),
                command: Command::Join {
                    room: "lobby".into()
                }
            }
        );
        assert_eq!(
            decode(r#"{"type":"leave","room":"lobby"}"#)
                .unwrap()
                .command,
            Command::Leave {
                room: "lobby".into()
            }
        );
        assert_eq!(
            decode(r#"{"type":"publish","room":"r","event":"chat","data":{"a":[1]}}"#)
                .unwrap()
                .command,
            Command::Publish {
                room: "r".into(),
                event: "chat".into(),
                data: json!({"a":[1]}),
                attachments: Vec::new(),
            }
        );
        assert_eq!(
            decode(r#"{"type":"emit","event":"time","id":"x"}"#).unwrap(),
            Request {
                id: Some(json!("x").into()),
                command: Command::Emit {
                    event: "time".into(),
                    data: Value::Null
                }
            }
        );
    }

    #[test]
    fn refuses_bad_messages_with_a_reason_and_the_id() {
        let err = decode("{nope").unwrap_err();
        assert!(err.message.starts_with("invalid JSON"), "{}", err.message);
        assert_eq!(err.id, None);
        assert_eq!(
            decode("[1,2]").unwrap_err().message,
            "a message must be a JSON object"
        );
        let err = decode(r#"{"type":"dance","id":7}"#).unwrap_err();
        assert_eq!(err.message, "unknown type \"dance\"");
        assert_eq!(err.id, Some(json!(7).into()));
        assert_eq!(
            decode(r#"{"type":"join"}"#).unwrap_err().message,
            "missing field \"room\""
        );
        assert_eq!(
            decode(r#"{"type":"join","room":5}"#).unwrap_err().message,
            "\"room\" must be a string"
        );
        assert_eq!(
            decode(r#"{"room":"x"}"#).unwrap_err().message,
            "missing field \"type\""
        );
        assert_eq!(
            decode(r#"{"type":"join","room":"x","id":{}}"#)
                .unwrap_err()
                .message,
            "\"id\" must be a string or a number, not {}"
        );
    }

    #[test]
    fn encodes_exact_envelopes() {
        let msg = Message::new(Some("lobby".into()), "chat", json!({"text":"hi"}));
        assert_eq!(
            encode_message(&msg),
            r#"{"type":"message","room":"lobby","event":"chat","data":{"text":"hi"}}"#
        );
        let direct = Message::new(None, "hello", json!(1));
        assert_eq!(
            encode_message(&direct),
            r#"{"type":"message","event":"hello","data":1}"#
        );
        assert_eq!(
            encode_ack(&json!(3).into(), None),
            r#"{"type":"ack","id":3}"#
        );
        assert_eq!(
            encode_ack(&json!("a").into(), Some(&json!([1]))),
            r#"{"type":"ack","id":"a","data":[1]}"#
        );
        assert_eq!(
            encode_error(Some(&json!(3).into()), "nope"),
            r#"{"type":"error","id":3,"message":"nope"}"#
        );
        assert_eq!(
            encode_error(None, "nope"),
            r#"{"type":"error","message":"nope"}"#
        );
        assert_eq!(
            encode_welcome("abc", None),
            r#"{"type":"welcome","session":"abc"}"#
        );
        assert_eq!(
            encode_welcome("abc", Some(("tok", Offset::Local(7)))),
            r#"{"type":"welcome","session":"abc","token":"tok","offset":"7"}"#
        );
        assert_eq!(
            decode(r#"{"type":"resume","token":"t","offset":"12"}"#)
                .unwrap()
                .command,
            Command::Resume {
                token: "t".into(),
                offset: Offset::Local(12)
            }
        );
    }
}
