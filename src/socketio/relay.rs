//! Relay mode for Socket.IO clients: `join`, `leave` and `publish` events with acks, and room
//! messages delivered as plain events, in the default namespace.

use bytes::Bytes;
use serde_json::{json, Value};

use super::socket::{Socket, SocketHandler};
use super::CloseReason;
use crate::handler::{DisconnectInfo, SharedHandler};
use crate::hub::{Protocol, Room};
use crate::relay::{execute, Command, RelayLimits};

/// Relay mode over Socket.IO, handing requests to a protocol-neutral [`crate::Handler`].
pub struct RelaySockets {
    handler: SharedHandler,
    limits: RelayLimits,
}

impl RelaySockets {
    /// Relay mode running `handler`.
    pub(crate) fn new(handler: SharedHandler, limits: RelayLimits) -> Self {
        RelaySockets { handler, limits }
    }
}

fn string_arg(args: &[Value], what: &str) -> Result<String, String> {
    match args.first() {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(format!("{what} expects a room name (a string)")),
    }
}

/// The relay command an event stands for.
fn command(event: &str, mut args: Vec<Value>) -> Result<Command, String> {
    match event {
        "join" => Ok(Command::Join {
            room: string_arg(&args, "join")?,
        }),
        "leave" => Ok(Command::Leave {
            room: string_arg(&args, "leave")?,
        }),
        "presence" => Ok(Command::Presence {
            room: string_arg(&args, "presence")?,
        }),
        "publish" => {
            let Some(Value::Object(mut fields)) = args.pop().filter(|_| args.is_empty()) else {
                return Err("publish expects one object: {room, event, data}".into());
            };
            let text = |fields: &serde_json::Map<String, Value>, name: &str| match fields.get(name)
            {
                Some(Value::String(s)) => Ok(s.clone()),
                _ => Err(format!("publish: \"{name}\" must be a string")),
            };
            Ok(Command::Publish {
                room: text(&fields, "room")?,
                event: text(&fields, "event")?,
                data: fields.remove("data").unwrap_or(Value::Null),
                attachments: Vec::new(),
            })
        }
        _ => Ok(Command::Emit {
            event: event.to_string(),
            data: if args.len() == 1 {
                args.pop().unwrap_or(Value::Null)
            } else {
                Value::Array(args)
            },
        }),
    }
}

/// A command with the packet's binary attachments: only a `publish` carries them on.
fn with_attachments(command: Command, attachments: Vec<Bytes>) -> Result<Command, String> {
    match command {
        command if attachments.is_empty() => Ok(command),
        Command::Publish {
            room, event, data, ..
        } => Ok(Command::Publish {
            room,
            event,
            data,
            attachments,
        }),
        _ => Err("binary payloads are relayed by publish only".into()),
    }
}

impl SocketHandler for RelaySockets {
    fn on_connection(&self, socket: &mut Socket<'_, '_>) {
        self.handler.on_connect(&socket.session());
    }

    fn on_event(
        &self,
        socket: &mut Socket<'_, '_>,
        event: &str,
        args: Vec<Value>,
        attachments: Vec<Bytes>,
        ack: Option<u64>,
    ) {
        let session = socket.session();
        crate::hub::Counters::add(&session.hub().counters().messages_in, 1);
        let outcome = command(event, args)
            .and_then(|c| with_attachments(c, attachments))
            .and_then(|c| execute(c, &session, &*self.handler, &self.limits));
        let reply = match outcome {
            Ok(None) => json!({"ok": true}),
            Ok(Some(data)) => json!({"ok": true, "data": data}),
            Err(error) => {
                tracing::debug!(session = %session.id(), %error, "relay request refused");
                json!({"ok": false, "error": error})
            }
        };
        if let Some(id) = ack {
            socket.ack(id, vec![reply], Vec::new());
        }
    }

    fn on_disconnect(&self, socket: &mut Socket<'_, '_>, reason: CloseReason, rooms: Vec<Room>) {
        self.handler.on_disconnect(&DisconnectInfo {
            id: socket.id().clone(),
            protocol: Protocol::SocketIo,
            user: socket.session().user().cloned(),
            transport: socket.transport(),
            duration: socket.age(),
            last_session_of_user: socket.was_last_of_user(),
            rooms,
            reason: reason.to_disconnect_reason(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_map_to_relay_commands() {
        assert_eq!(
            command("join", vec![json!("lobby")]),
            Ok(Command::Join {
                room: "lobby".into()
            })
        );
        assert_eq!(
            command("leave", vec![json!("lobby")]),
            Ok(Command::Leave {
                room: "lobby".into()
            })
        );
        assert_eq!(
            command(
                "publish",
                vec![json!({"room":"r","event":"chat","data":[1]})]
            ),
            Ok(Command::Publish {
                room: "r".into(),
                event: "chat".into(),
                data: json!([1]),
                attachments: Vec::new(),
            })
        );
        assert_eq!(
            command("time", vec![json!(1), json!(2)]),
            Ok(Command::Emit {
                event: "time".into(),
                data: json!([1, 2])
            })
        );
        assert!(command("join", vec![json!(5)]).is_err());
        assert!(command("publish", vec![json!("nope")]).is_err());
        assert!(command("publish", vec![json!({"room":"r"})]).is_err());
    }
}
