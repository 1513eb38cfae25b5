//! The application the official socket.io-protocol test suite expects of a server under test:
//! namespaces `/` and `/custom`; every socket is sent `auth` with its handshake auth on
//! connection, `message` is answered with `message-back` (same arguments), and
//! `message-with-ack` is acknowledged with the same arguments. Used by `examples/conformance.rs`
//! and our own tests.

use bytes::Bytes;
use serde_json::Value;

use super::socket::{Socket, SocketHandler};

/// The test suite's server application.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConformanceApp;

impl SocketHandler for ConformanceApp {
    fn namespace_allowed(&self, nsp: &str) -> bool {
        nsp == "/" || nsp == "/custom"
    }

    fn on_connection(&self, socket: &mut Socket<'_, '_>) {
        let auth = socket.auth().clone();
        socket.emit("auth", vec![auth]);
    }

    fn on_event(
        &self,
        socket: &mut Socket<'_, '_>,
        event: &str,
        args: Vec<Value>,
        attachments: Vec<Bytes>,
        ack: Option<u64>,
    ) {
        match (event, ack) {
            ("message", _) => socket.emit_binary("message-back", args, attachments),
            ("message-with-ack", Some(id)) => socket.ack(id, args, attachments),
            _ => {}
        }
    }
}
