//! The session logic of one SockJS session: frames out, messages in, receivers, close frames.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use tokio::sync::oneshot;

use super::app::{SockJsApp, SockJsConn};
use super::frame;
use super::{Entry, SockJsShared};
use crate::hub::{DisconnectReason, Frame, Message, Room, SessionId, WireFormat};
use crate::session::{CloseInfo, Keepalive, Outbox, Pulled, SessionCore, SessionLogic};

/// The kind of transport currently receiving for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Receiver {
    /// No receiver: the session waits (at most `disconnect_delay`).
    None,
    /// `xhr`, `jsonp`: one frame per request.
    Polling,
    /// `xhr_streaming`, `eventsource`, `htmlfile`: frames until `response_limit`.
    Streaming,
    /// A SockJS WebSocket (framed).
    WebSocket,
    /// A raw WebSocket (`<prefix>/websocket`, no framing).
    RawWebSocket,
}

/// The answer to a receiver that asks to attach.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Attach {
    /// Attached: frames will come through the pull.
    Attached,
    /// Another receiver is attached: answer `c[2010,"Another connection still open"]`.
    AnotherConnection,
}

/// One SockJS session's protocol state.
pub(crate) struct SockJsLogic<A: SockJsApp> {
    service: Arc<SockJsShared<A>>,
    sid: Option<String>,
    receiver: Receiver,
    close: Option<(u16, String)>,
    /// The streaming request that holds the session, between its chunks too.
    streaming_owner: Option<u64>,
}

impl<A: SockJsApp> SockJsLogic<A> {
    /// The logic of a new session: registered under `sid` for HTTP transports (`None` for
    /// WebSockets, whose sessions live and die with the socket).
    pub(super) fn new(
        service: Arc<SockJsShared<A>>,
        sid: Option<String>,
        receiver: Receiver,
    ) -> Self {
        SockJsLogic {
            service,
            sid,
            receiver,
            close: None,
            streaming_owner: None,
        }
    }

    fn raw(&self) -> bool {
        self.receiver == Receiver::RawWebSocket
    }

    pub(super) fn with_conn(
        &mut self,
        core: &mut SessionCore,
        f: impl FnOnce(&A, &mut SockJsConn<'_>),
    ) {
        let raw = self.raw();
        let mut conn = SockJsConn {
            core,
            close: &mut self.close,
            raw,
        };
        f(&self.service.app, &mut conn);
    }

    /// An HTTP receiver asks for frames.
    pub(super) fn attach(
        &mut self,
        core: &mut SessionCore,
        kind: Receiver,
        puller: oneshot::Sender<Pulled>,
        request: u64,
    ) -> Attach {
        if core.has_puller() {
            if !core.puller_abandoned() {
                return Attach::AnotherConnection;
            }
            // The previous receiver went away mid-request: sockjs-node ends the session.
            self.interrupted(core);
        } else if self.streaming_owner.is_some_and(|owner| owner != request) {
            // A streaming response holds the session between its chunks too.
            return Attach::AnotherConnection;
        }
        self.receiver = kind;
        if kind == Receiver::Streaming {
            self.streaming_owner = Some(request);
        }
        core.clear_deadline();
        core.attach(puller);
        Attach::Attached
    }

    /// A streaming response has ended: normally (`finished`), or dropped because its client
    /// went away, which ends the session as sockjs-node does.
    pub(super) fn release(&mut self, core: &mut SessionCore, request: u64, finished: bool) {
        if self.streaming_owner != Some(request) {
            return;
        }
        self.streaming_owner = None;
        self.receiver = Receiver::None;
        if finished {
            core.set_deadline(
                self.service.config.disconnect_delay,
                DisconnectReason::TransportClosed,
            );
        } else {
            self.interrupted(core);
        }
    }

    /// Messages posted by the client (`xhr_send`, `jsonp_send`).
    pub(super) fn receive(&mut self, core: &mut SessionCore, messages: Vec<String>) {
        core.touch();
        for message in messages {
            if core.is_closing() {
                break;
            }
            self.with_conn(core, |app, conn| app.on_message(conn, message));
        }
    }

    /// The client of the attached receiver went away mid-request.
    pub(super) fn receiver_gone(&mut self, core: &mut SessionCore) {
        if core.puller_abandoned() {
            self.interrupted(core);
        }
    }

    /// The client posted more than the message size limit.
    pub(super) fn too_big(&mut self, core: &mut SessionCore) {
        if self.close.is_none() {
            self.close = Some((1009, "Message too big".into()));
        }
        core.close(DisconnectReason::MessageTooBig);
    }

    fn interrupted(&mut self, core: &mut SessionCore) {
        if self.close.is_none() {
            self.close = Some((1002, "Connection interrupted".into()));
        }
        core.close(DisconnectReason::TransportClosed);
    }

    /// The close frame of this session as it ends.
    fn close_frame(&self, reason: &DisconnectReason) -> (u16, String) {
        if let Some((code, text)) = &self.close {
            return (*code, text.clone());
        }
        match reason {
            DisconnectReason::ServerShutdown => (1001, "Server shutting down".into()),
            DisconnectReason::Overflow => (1008, "Outbox overflow".into()),
            DisconnectReason::MessageTooBig => (1009, "Message too big".into()),
            _ => (frame::CLOSE_NORMAL.0, frame::CLOSE_NORMAL.1.into()),
        }
    }
}

/// Takes the first SockJS frame of the outbox: one control frame, or every message up to the
/// next control frame, merged into one `a[...]`.
fn take_one_frame(outbox: &mut Outbox) -> Vec<Frame> {
    let mut frames = outbox.drain();
    // Heartbeats that wait behind other frames say nothing those frames do not.
    let is_heartbeat = |f: &Frame| matches!(f, Frame::Text(t) if &**t == frame::HEARTBEAT_FRAME);
    if frames.iter().any(|f| !is_heartbeat(f)) {
        frames.retain(|f| !is_heartbeat(f));
    } else {
        frames.truncate(1);
    }
    let mut all = frames.into_iter();
    let mut taken = Vec::new();
    let mut rest = Vec::new();
    for frame in all.by_ref() {
        let is_messages = matches!(&frame, Frame::Text(t) if t.starts_with("a["));
        let first_is_messages =
            matches!(taken.first(), Some(Frame::Text(t)) if t.starts_with("a["));
        if taken.is_empty() || (is_messages && first_is_messages) {
            taken.push(frame);
        } else {
            rest.push(frame);
            break;
        }
    }
    rest.extend(all);
    outbox.restore(rest);
    taken
}

impl<A: SockJsApp> SessionLogic for SockJsLogic<A> {
    fn format(&self) -> WireFormat {
        if self.raw() {
            WireFormat::RelayJson
        } else {
            WireFormat::SockJs
        }
    }

    fn encode(format: WireFormat, message: &Message) -> Frame {
        let text = A::encode(message);
        match format {
            WireFormat::SockJs => Frame::Text(frame::encode_messages(&[text]).into()),
            _ => Frame::Text(text.into()),
        }
    }

    fn on_deliver(&mut self, _to: &SessionId, message: Arc<Message>, core: &mut SessionCore) {
        if message.namespace.is_none() {
            let format = self.format();
            core.send(message.encoded::<Self>(format, |m| Self::encode(format, m)));
        }
    }

    fn take_frames(&mut self, outbox: &mut Outbox) -> Vec<Frame> {
        match self.receiver {
            Receiver::Polling => take_one_frame(outbox),
            _ => outbox.drain(),
        }
    }

    fn on_pull_answered(&mut self, core: &mut SessionCore) {
        // A streaming receiver keeps the session until its response ends (see `release`).
        if self.receiver == Receiver::Polling {
            self.receiver = Receiver::None;
            core.set_deadline(
                self.service.config.disconnect_delay,
                DisconnectReason::TransportClosed,
            );
        }
    }

    fn on_abandoned_pull(&mut self, core: &mut SessionCore) {
        self.interrupted(core);
    }

    fn keepalive(&self) -> Option<Keepalive> {
        let frame = if self.raw() {
            Frame::Ping
        } else {
            Frame::Text(ByteString::from_static(frame::HEARTBEAT_FRAME))
        };
        Some(Keepalive::Ping {
            frame,
            interval: self.service.config.heartbeat_delay,
            timeout: None,
        })
    }

    fn on_open(&mut self, core: &mut SessionCore) {
        if !self.raw() {
            core.send(Frame::Text(ByteString::from_static(frame::OPEN_FRAME)));
        }
        if self.sid.is_some() {
            core.set_deadline(
                self.service.config.disconnect_delay,
                DisconnectReason::TransportClosed,
            );
        }
        self.with_conn(core, |app, conn| app.on_open(conn));
    }

    fn on_text(&mut self, text: ByteString, core: &mut SessionCore) {
        if self.raw() {
            return self.with_conn(core, |app, conn| app.on_message(conn, text.to_string()));
        }
        match frame::decode_websocket(&text) {
            Ok(messages) => self.receive(core, messages),
            Err(error) => {
                let (code, reason) = error
                    .websocket_close()
                    .unwrap_or(frame::CLOSE_BROKEN_FRAMING);
                self.close = Some((code, reason.into()));
                core.close(DisconnectReason::TransportError(reason.into()));
            }
        }
    }

    fn on_binary(&mut self, data: Bytes, core: &mut SessionCore) {
        if self.raw() {
            let text = String::from_utf8_lossy(&data).into_owned();
            return self.with_conn(core, |app, conn| app.on_message(conn, text));
        }
        match frame::decode_websocket_binary(&data) {
            Ok(messages) => self.receive(core, messages),
            Err(_) => {
                self.close = Some((
                    frame::CLOSE_BROKEN_FRAMING.0,
                    frame::CLOSE_BROKEN_FRAMING.1.into(),
                ));
                core.close(DisconnectReason::TransportError("broken framing".into()));
            }
        }
    }

    fn close_info(&self, reason: &DisconnectReason) -> CloseInfo {
        let (code, text) = self.close_frame(reason);
        let broken_framing = matches!(reason, DisconnectReason::TransportError(r) if r == frame::CLOSE_BROKEN_FRAMING.1);
        match self.receiver {
            // Raw WebSocket: the close frame itself carries the code.
            Receiver::RawWebSocket => CloseInfo {
                code,
                reason: text,
                by_client: false,
                farewell: None,
            },
            // Broken framing: no `c` frame, a WebSocket close 3000.
            Receiver::WebSocket if broken_framing => CloseInfo {
                code,
                reason: text,
                by_client: false,
                farewell: None,
            },
            // Framed WebSocket: `c[code,"reason"]`, then a normal WebSocket close.
            Receiver::WebSocket => CloseInfo {
                code: frame::CLOSE_NORMAL.0,
                reason: frame::CLOSE_NORMAL.1.into(),
                by_client: *reason == DisconnectReason::ClientClosed,
                farewell: Some(frame::encode_close(code, &text)),
            },
            // HTTP receivers write `c[code,"reason"]` themselves.
            _ => CloseInfo {
                code,
                reason: text,
                by_client: false,
                farewell: None,
            },
        }
    }

    fn on_close(&mut self, core: &mut SessionCore, reason: &DisconnectReason, rooms: Vec<Room>) {
        if let Some(sid) = &self.sid {
            let (code, text) = self.close_frame(reason);
            let service = self.service.clone();
            service
                .sessions
                .insert(sid.clone(), Entry::Closed(frame::encode_close(code, &text)));
            // Late receivers get the close frame until the session would have expired.
            let sid = sid.clone();
            let delay = service.config.disconnect_delay;
            // Not while the runtime itself is going away (then the registry goes too).
            if tokio::runtime::Handle::try_current().is_ok() {
                actix_web::rt::spawn(async move {
                    tokio::time::sleep(delay).await;
                    service
                        .sessions
                        .remove_if(&sid, |_, e| matches!(e, Entry::Closed(_)));
                });
            }
        }
        self.with_conn(core, |app, conn| app.on_close(conn, reason, rooms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Frame {
        Frame::Text(t.to_string().into())
    }

    #[test]
    fn a_poll_takes_one_frame_merging_messages_and_skipping_stale_heartbeats() {
        let mut outbox = Outbox::new(1024);
        for f in ["o", "h", "a[\"x\"]", "a[\"y\"]", "c[3000,\"Go away!\"]"] {
            outbox.push(text(f)).unwrap();
        }
        assert_eq!(take_one_frame(&mut outbox), [text("o")]);
        assert_eq!(
            take_one_frame(&mut outbox),
            [text("a[\"x\"]"), text("a[\"y\"]")]
        );
        assert_eq!(take_one_frame(&mut outbox), [text("c[3000,\"Go away!\"]")]);
        assert!(outbox.is_empty());
        outbox.push(text("h")).unwrap();
        outbox.push(text("h")).unwrap();
        assert_eq!(take_one_frame(&mut outbox), [text("h")]);
        assert!(outbox.is_empty());
    }
}
