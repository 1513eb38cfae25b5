//! The session logic of one Engine.IO connection: packets in, packets out, heartbeat, upgrade
//! state. The application on top is an [`EngineHandler`].

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use tokio::sync::oneshot;

use super::error::EngineError;
use super::handler::{wire_format, EngineConn, EngineHandler, EngineMessage, Handshake};
use super::packet::{
    decode_binary_packet, decode_text_packet, EioVersion, Packet, PacketData, PacketType,
};
use super::EngineShared;
use crate::hub::{DisconnectReason, Frame, Message, Room, SessionId, Transport, WireFormat};
use crate::session::{CloseInfo, Keepalive, Pulled, SessionCore, SessionLogic};

/// How long a poll waits while the client probes a WebSocket (Node's upgrade check interval).
const UPGRADE_POLL_RELEASE: std::time::Duration = std::time::Duration::from_millis(100);

/// One Engine.IO connection's protocol state.
pub(crate) struct EngineLogic<H: EngineHandler> {
    engine: Arc<EngineShared<H>>,
    sid: Arc<str>,
    version: EioVersion,
    handshake: Arc<Handshake>,
    open_packet: String,
    state: Option<H::Conn>,
    upgrading: bool,
    upgraded: bool,
    /// EIO3 only: the client asked for `b64` (no binary support), so binary messages travel as
    /// `b4<base64>` text.
    base64: bool,
}

/// Whether a request's query asks for base64 instead of binary (`b64`, any non-empty value, as
/// Node's truthiness test; EIO3 only).
pub(super) fn wants_base64(version: EioVersion, query: &super::Pairs) -> bool {
    version == EioVersion::V3 && query.get("b64").is_some_and(|v| !v.is_empty())
}

impl<H: EngineHandler> EngineLogic<H> {
    /// The logic of a new connection with Engine.IO id `sid`, whose open packet is `open_packet`.
    pub(super) fn new(
        engine: Arc<EngineShared<H>>,
        sid: Arc<str>,
        version: EioVersion,
        handshake: Arc<Handshake>,
        open_packet: String,
    ) -> Self {
        let base64 = wants_base64(version, &handshake.query);
        EngineLogic {
            engine,
            sid,
            version,
            handshake,
            open_packet,
            state: None,
            upgrading: false,
            upgraded: false,
            base64,
        }
    }

    /// Whether poll answers may use the binary (XHR2) payload form: an EIO3 client that did not
    /// ask for `b64` at its handshake (Node fixes this per transport, at the handshake).
    pub(super) fn supports_binary(&self) -> bool {
        !self.base64
    }

    pub(super) fn with_conn<R>(
        &mut self,
        core: &mut SessionCore,
        f: impl FnOnce(&H, &mut H::Conn, &mut EngineConn<'_>) -> R,
    ) -> Option<R> {
        let state = self.state.as_mut()?;
        let mut conn = EngineConn {
            core,
            version: self.version,
            handshake: &self.handshake,
            base64: self.base64,
        };
        Some(f(&self.engine.handler, state, &mut conn))
    }

    /// A long-poll GET wants the next payload.
    pub(super) fn attach_poll(
        &mut self,
        core: &mut SessionCore,
        puller: oneshot::Sender<Pulled>,
    ) -> Result<(), EngineError> {
        if self.upgraded {
            return Err(EngineError::BadRequest);
        }
        self.check_keepalive(core)?;
        if core.has_puller() {
            // Two polls at once (or one the client gave up on): Node closes the session.
            let detail = if core.puller_abandoned() {
                "poll connection closed prematurely"
            } else {
                "overlap from client"
            };
            tracing::debug!(sid = %self.sid, detail, "duplicate poll");
            core.close(DisconnectReason::TransportError(detail.into()));
            return Err(EngineError::BadRequest);
        }
        core.attach(puller);
        if self.upgrading {
            // While the client probes the WebSocket, a poll is answered within a short while
            // (Node: every 100 ms), or as soon as the probe is answered, so that it can pause.
            core.release_puller_after(UPGRADE_POLL_RELEASE);
        }
        Ok(())
    }

    /// A request that arrives after the client missed its keepalive ends the session (400), even
    /// when the keepalive timer has not fired yet.
    fn check_keepalive(&self, core: &mut SessionCore) -> Result<(), EngineError> {
        if core.keepalive_expired() {
            core.close(DisconnectReason::PingTimeout);
            return Err(EngineError::UnknownSid);
        }
        Ok(())
    }

    /// A POST carried these packets.
    pub(super) fn receive_posted(
        &mut self,
        core: &mut SessionCore,
        packets: Vec<Packet>,
    ) -> Result<(), EngineError> {
        if self.upgraded {
            return Err(EngineError::BadRequest);
        }
        self.check_keepalive(core)?;
        for packet in packets {
            self.on_packet(packet, core);
        }
        Ok(())
    }

    /// A WebSocket with this sid asks to take over from polling; `base64` when its request asks
    /// for `b64` (binary messages queued from then on are sent as base64 text).
    pub(super) fn begin_upgrade(&mut self, base64: bool) -> Result<(), EngineError> {
        if self.upgraded || self.upgrading {
            return Err(EngineError::BadRequest);
        }
        self.upgrading = true;
        self.base64 |= base64;
        Ok(())
    }

    /// The probe succeeded: release any waiting poll so the client pauses polling.
    pub(super) fn probe_answered(&mut self, core: &mut SessionCore) {
        core.release_puller();
    }

    /// The client sent the upgrade packet: from now on frames go over the WebSocket.
    pub(super) fn finish_upgrade(&mut self, core: &mut SessionCore) -> bool {
        if !self.upgrading || core.is_closing() {
            return false;
        }
        self.upgrading = false;
        self.upgraded = true;
        // A client pauses polling, and waits for its last poll, before it sends `5`: a poll
        // waiting now was sent after it (a request that overtook the upgrade) and is refused
        // (400), as Node refuses polling once the transport is a WebSocket.
        core.refuse_puller();
        core.set_transport(Transport::WebSocket);
        true
    }

    /// The upgrade was abandoned (timeout, bad probe): the session stays on polling.
    pub(super) fn abort_upgrade(&mut self) {
        self.upgrading = false;
    }

    /// The session started directly over WebSocket.
    pub(super) fn started_on_websocket(&mut self) {
        self.upgraded = true;
    }

    fn on_packet(&mut self, packet: Packet, core: &mut SessionCore) {
        core.touch();
        match packet.kind {
            PacketType::Message => {
                let message = match packet.data {
                    PacketData::Text(text) => EngineMessage::Text(text),
                    PacketData::Empty => EngineMessage::Text(String::new()),
                    PacketData::Binary(data) => EngineMessage::Binary(data),
                };
                self.with_conn(core, |handler, state, conn| {
                    handler.message(state, conn, message)
                });
            }
            PacketType::Ping if self.version == EioVersion::V3 => {
                let pong = match packet.data {
                    PacketData::Text(text) => format!("3{text}"),
                    _ => "3".to_string(),
                };
                core.send(Frame::Text(pong.into()));
            }
            PacketType::Close => core.close(DisconnectReason::ClientClosed),
            PacketType::Pong
            | PacketType::Ping
            | PacketType::Noop
            | PacketType::Upgrade
            | PacketType::Open => {}
        }
    }

    fn parse_error(&self, core: &mut SessionCore, error: impl std::fmt::Display) {
        tracing::debug!(sid = %self.sid, %error, "invalid engine.io packet");
        core.close(DisconnectReason::ParseError(error.to_string()));
    }
}

impl<H: EngineHandler> SessionLogic for EngineLogic<H> {
    fn format(&self) -> WireFormat {
        wire_format(self.version)
    }

    fn encode(format: WireFormat, message: &Message) -> Frame {
        H::encode(format, message)
    }

    fn on_deliver(&mut self, to: &SessionId, message: Arc<Message>, core: &mut SessionCore) {
        self.with_conn(core, |handler, state, conn| {
            handler.deliver(state, conn, to, message)
        });
    }

    fn keepalive(&self) -> Option<Keepalive> {
        let config = &self.engine.config;
        match self.version {
            EioVersion::V4 => Some(Keepalive::Ping {
                frame: Frame::Text(ByteString::from_static("2")),
                interval: config.ping_interval,
                timeout: Some(config.ping_timeout),
            }),
            // EIO3 clients ping and the server answers (see `on_packet`); a client silent for
            // pingInterval + pingTimeout is gone.
            EioVersion::V3 => Some(Keepalive::Silence {
                limit: config.ping_interval + config.ping_timeout,
            }),
        }
    }

    fn on_open(&mut self, core: &mut SessionCore) {
        core.send(Frame::Text(std::mem::take(&mut self.open_packet).into()));
        let mut conn = EngineConn {
            core,
            version: self.version,
            handshake: &self.handshake,
            base64: self.base64,
        };
        self.state = Some(self.engine.handler.open(&mut conn));
    }

    fn on_text(&mut self, text: ByteString, core: &mut SessionCore) {
        match decode_text_packet(&text, self.version) {
            Ok(packet) => self.on_packet(packet, core),
            Err(error) => self.parse_error(core, error),
        }
    }

    fn on_binary(&mut self, data: Bytes, core: &mut SessionCore) {
        match decode_binary_packet(data, self.version) {
            Ok(packet) => self.on_packet(packet, core),
            Err(error) => self.parse_error(core, error),
        }
    }

    fn close_info(&self, reason: &DisconnectReason) -> CloseInfo {
        CloseInfo {
            code: 1000,
            reason: String::new(),
            by_client: *reason == DisconnectReason::ClientClosed,
            farewell: None,
        }
    }

    fn on_stopped(&mut self) {
        self.engine.sessions.remove(self.sid.as_ref());
    }

    fn on_close(&mut self, core: &mut SessionCore, reason: &DisconnectReason, rooms: Vec<Room>) {
        // A close the server chose waits for the client's next poll to collect it (as Node
        // keeps the socket until its close is flushed). So does a client's close posted over
        // polling, for the session's short close grace: a GET the client sent together with it
        // (on another connection, maybe served by another worker first or last) gets its `6`,
        // as it would from Node's one event loop, whichever request is handled first. After an
        // error the sid is unknown at once.
        let collectable = match reason {
            DisconnectReason::ServerDisconnect | DisconnectReason::ServerShutdown => true,
            DisconnectReason::ClientClosed => !self.upgraded,
            _ => false,
        };
        if !collectable {
            self.engine.sessions.remove(self.sid.as_ref());
        }
        tracing::debug!(sid = %self.sid, %reason, "engine.io session closed");
        // The application may still look at the connection; sending is a no-op while closing.
        self.with_conn(core, |handler, state, conn| {
            handler.close(state, conn, reason, rooms)
        });
    }
}
