//! What runs on a SockJS session: relay mode, or the reference test suite's services.

use crate::handler::{DisconnectInfo, SessionRef, SharedHandler};
use crate::hub::{DisconnectReason, Frame, Message, Protocol, Room};
use crate::relay::{self, envelope, RelayLimits};
use crate::session::SessionCore;

use super::frame;

/// One SockJS session while the application handles one of its events.
pub struct SockJsConn<'a> {
    pub(super) core: &'a mut SessionCore,
    pub(super) close: &'a mut Option<(u16, String)>,
    pub(super) raw: bool,
}

impl SockJsConn<'_> {
    /// The session as a protocol-neutral [`SessionRef`].
    pub fn session(&self) -> SessionRef {
        self.core.session_ref()
    }

    /// Sends one message to the client.
    pub fn send(&mut self, message: &str) {
        let text = if self.raw {
            message.to_string()
        } else {
            frame::encode_messages(&[message])
        };
        self.core.send(Frame::Text(text.into()));
    }

    /// Queues broadcasts a recovered session missed (encoded as every broadcast is), and drops
    /// live copies of them up to offset `through`.
    pub fn replay(&mut self, missed: &[std::sync::Arc<Message>], through: crate::hub::Offset) {
        for message in missed {
            let frame = if self.raw {
                Frame::Text(envelope::encode_message(message).into())
            } else {
                // Keyed apart from any application's own SockJS encoding of the message.
                struct RelayReplay;
                message.encoded::<RelayReplay>(crate::hub::WireFormat::SockJs, |m| {
                    Frame::Text(frame::encode_messages(&[envelope::encode_message(m)]).into())
                })
            };
            self.core.send(frame);
        }
        let id = self.core.id().clone();
        self.core.set_replayed_through(&id, through);
    }

    /// Runs `work` on this session (its application `A`) once `pending` completes, unless the
    /// session is closing by then.
    pub(crate) fn when_done<A: SockJsApp, T: Send + 'static>(
        &self,
        pending: impl std::future::Future<Output = T> + 'static,
        work: impl FnOnce(&A, &mut SockJsConn<'_>, T) + Send + 'static,
    ) {
        self.core.when_done::<super::logic::SockJsLogic<A>, T>(
            pending,
            move |logic, core, value| {
                logic.with_conn(core, |app, conn| work(app, conn, value));
            },
        );
    }

    /// Closes the session with a SockJS close code and reason (`c[code,"reason"]`).
    pub fn close(&mut self, code: u16, reason: &str) {
        if self.close.is_none() {
            *self.close = Some((code, reason.to_string()));
        }
        self.core.close(DisconnectReason::ServerDisconnect);
    }
}

/// The application behind a SockJS service.
pub trait SockJsApp: Send + Sync + 'static {
    /// A session has opened.
    fn on_open(&self, conn: &mut SockJsConn<'_>) {
        let _ = conn;
    }

    /// A message arrived.
    fn on_message(&self, conn: &mut SockJsConn<'_>, message: String);

    /// The session has ended; `rooms` are the rooms it was in.
    fn on_close(&self, conn: &mut SockJsConn<'_>, reason: &DisconnectReason, rooms: Vec<Room>) {
        let _ = (conn, reason, rooms);
    }

    /// The message text a hub broadcast becomes (once per broadcast); by default the relay
    /// envelope of protocols/relay.md.
    fn encode(message: &Message) -> String
    where
        Self: Sized,
    {
        envelope::encode_message(message)
    }
}

/// Sends what a relay request is answered with.
fn answer(conn: &mut SockJsConn<'_>, response: relay::Response) {
    match response {
        relay::Response::Nothing => {}
        relay::Response::Reply(reply) => conn.send(&reply),
        relay::Response::Resumed(reply, missed, through) => {
            conn.send(&reply);
            conn.replay(&missed, through);
        }
        relay::Response::Restoring { id, pending } => {
            conn.when_done::<RelaySockJs, _>(pending, move |_, conn, restored| {
                let response = relay::finish_resume(&conn.session(), id.as_ref(), restored);
                answer(conn, response);
            });
        }
    }
}

/// Relay mode over SockJS: the JSON envelope of protocols/relay.md inside SockJS messages.
pub struct RelaySockJs {
    handler: SharedHandler,
    limits: RelayLimits,
}

impl RelaySockJs {
    /// Relay mode running `handler`.
    pub(crate) fn new(handler: SharedHandler, limits: RelayLimits) -> Self {
        RelaySockJs { handler, limits }
    }
}

impl SockJsApp for RelaySockJs {
    fn on_open(&self, conn: &mut SockJsConn<'_>) {
        conn.send(&relay::welcome(&conn.session()));
        self.handler.on_connect(&conn.session());
    }

    fn on_message(&self, conn: &mut SockJsConn<'_>, message: String) {
        let session = conn.session();
        let response = relay::respond(&message, &session, &*self.handler, &self.limits);
        answer(conn, response);
    }

    fn on_close(&self, conn: &mut SockJsConn<'_>, reason: &DisconnectReason, rooms: Vec<Room>) {
        relay::park(&conn.session(), &rooms, reason);
        self.handler.on_disconnect(&DisconnectInfo {
            id: conn.core.id().clone(),
            protocol: Protocol::SockJs,
            user: conn.core.session_ref().user().cloned(),
            transport: conn.core.transport(),
            duration: conn.core.age(),
            last_session_of_user: conn.core.was_last_of_user(),
            rooms,
            reason: reason.clone(),
        });
    }
}

/// The services the sockjs-protocol test suite and sockjs-client's own tests expect (the
/// `conformance` feature, which the examples and tests turn on).
#[cfg(feature = "conformance")]
pub mod testing {
    use super::{SockJsApp, SockJsConn};
    use crate::hub::{Message, Target};

    /// Writes back every message (`/echo`).
    #[derive(Debug, Default, Clone, Copy)]
    pub struct Echo;

    impl SockJsApp for Echo {
        fn on_message(&self, conn: &mut SockJsConn<'_>, message: String) {
            conn.send(&message);
        }
    }

    /// Closes every session at once with `3000 "Go away!"` (`/close`).
    #[derive(Debug, Default, Clone, Copy)]
    pub struct Close;

    impl SockJsApp for Close {
        fn on_open(&self, conn: &mut SockJsConn<'_>) {
            conn.close(3000, "Go away!");
        }

        fn on_message(&self, _conn: &mut SockJsConn<'_>, _message: String) {}
    }

    /// Answers a number `n` with `2^n` bytes of `x` (`/amplify`, 1 ≤ n ≤ 19).
    #[derive(Debug, Default, Clone, Copy)]
    pub struct Amplify;

    impl SockJsApp for Amplify {
        fn on_message(&self, conn: &mut SockJsConn<'_>, message: String) {
            let n = message.trim().parse::<u32>().unwrap_or(1).clamp(1, 19);
            conn.send(&"x".repeat(1usize << n));
        }
    }

    /// Sends every message to every session of the service (`/broadcast`), through the hub.
    #[derive(Debug, Clone)]
    pub struct Broadcast {
        /// The hub room that holds the service's sessions.
        pub room: String,
    }

    impl SockJsApp for Broadcast {
        fn on_open(&self, conn: &mut SockJsConn<'_>) {
            let _ = conn.session().join(self.room.as_str().into());
        }

        fn encode(message: &Message) -> String {
            message.data().as_str().unwrap_or_default().to_string()
        }

        fn on_message(&self, conn: &mut SockJsConn<'_>, message: String) {
            let room = self.room.as_str();
            conn.session().hub().broadcast(
                &Target::room(room),
                Message::new(
                    Some(room.into()),
                    "broadcast",
                    serde_json::Value::String(message),
                ),
            );
        }
    }
}
