//! A bare Engine.IO application that echoes every message: the official test suites' server.

use super::handler::{message_frame_text, EngineConn, EngineHandler, EngineMessage};
use crate::hub::{DisconnectReason, Frame, Message, Protocol, Room, WireFormat};

/// Echoes every text and binary message back to its sender.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

impl EngineHandler for Echo {
    type Conn = ();

    fn protocol(&self) -> Protocol {
        Protocol::SocketIo
    }

    fn open(&self, _conn: &mut EngineConn<'_>) {}

    fn message(&self, _state: &mut (), conn: &mut EngineConn<'_>, message: EngineMessage) {
        match message {
            EngineMessage::Text(text) => conn.send_text(&text),
            EngineMessage::Binary(data) => conn.send_binary(data),
        }
    }

    fn encode(_format: WireFormat, message: &Message) -> Frame {
        message_frame_text(&message.data().to_string())
    }

    fn close(
        &self,
        _state: &mut (),
        _conn: &mut EngineConn<'_>,
        _reason: &DisconnectReason,
        _rooms: Vec<Room>,
    ) {
    }
}
