//! Socket.IO packets: model, encoder and incremental decoder.
//!
//! Supports protocol revision 4 (socket.io-client 2.x, Engine.IO `EIO=3`) and
//! revision 5 (socket.io-client 3.x/4.x, `EIO=4`). The text encoding is the
//! one of the default `socket.io-parser`:
//!
//! ```text
//! <type>[<attachments>-][<nsp>,][<ack id>][<JSON payload>]
//! ```
//!
//! followed, for `BINARY_EVENT`/`BINARY_ACK`, by `<attachments>` binary
//! frames. The leading Engine.IO `4` ("message") is *not* part of this layer.
//!
//! Decoding rules (socket.io-parser 4.2.x for V5, 3.4.x for V4), with the few
//! deliberate deviations called out:
//! - the type is the first character; anything but `0`..`6` is an error
//!   (an empty frame is an error too; JS would read it as CONNECT);
//! - binary types carry `<digits>-`; the count may not exceed the decoder's
//!   `max_attachments` (default 10), as in socket.io-parser 4.2.5;
//! - a namespace starts with `/` and ends at the first `,` **or at the end of
//!   the text** (`40/custom` is valid and used by the official v5 test suite);
//! - an ack id is the run of ASCII digits that follows; it must fit a `u64`;
//! - everything after that is one JSON document (surrounding whitespace ok,
//!   trailing garbage is an error) validated per type, see [`Packet::validate`];
//! - in V4 a CONNECT namespace may carry a query (`0/custom?token=abc,`); it
//!   is split into [`Packet::nsp`] and [`Packet::query`].

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::Value;

use super::binary;

/// Default maximum number of binary attachments per packet (socket.io-parser's
/// `maxAttachments` default).
pub(crate) const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// Event names a V5 peer must not use as the first element of an EVENT payload.
pub(crate) const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Socket.IO protocol revision spoken on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ProtocolVersion {
    /// Revision 4: socket.io-client 1.x/2.x, Engine.IO protocol 3 (`EIO=3`).
    V4,
    /// Revision 5: socket.io-client 3.x/4.x, Engine.IO protocol 4 (`EIO=4`).
    V5,
}

impl ProtocolVersion {
    /// Maps the Engine.IO `EIO` query value to the Socket.IO revision layered
    /// on it (`3` => V4, `4` => V5); other values are unsupported.
    #[cfg(test)]
    pub(crate) fn from_engine_io(eio: u32) -> Option<Self> {
        match eio {
            3 => Some(Self::V4),
            4 => Some(Self::V5),
            _ => None,
        }
    }
}

/// Socket.IO packet type; the discriminant is the digit used on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PacketType {
    /// `0`: connect to a namespace (request or acceptance).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: event without binary attachments.
    Event = 2,
    /// `3`: acknowledgement without binary attachments.
    Ack = 3,
    /// `4`: namespace connection refused (called `ERROR` in V4).
    ConnectError = 4,
    /// `5`: event whose payload references binary attachments.
    BinaryEvent = 5,
    /// `6`: acknowledgement whose payload references binary attachments.
    BinaryAck = 6,
}

impl PacketType {
    /// Parses the wire digit (`b'0'`..=`b'6'`).
    pub(crate) fn from_digit(byte: u8) -> Option<Self> {
        Some(match byte {
            b'0' => Self::Connect,
            b'1' => Self::Disconnect,
            b'2' => Self::Event,
            b'3' => Self::Ack,
            b'4' => Self::ConnectError,
            b'5' => Self::BinaryEvent,
            b'6' => Self::BinaryAck,
            _ => return None,
        })
    }

    /// The wire digit of this type.
    pub(crate) fn as_digit(self) -> char {
        char::from(b'0' + self as u8)
    }

    /// True for `BinaryEvent` and `BinaryAck`.
    pub(crate) fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }

    /// The reference-implementation name of this type in `version`
    /// (type 4 is `ERROR` in V4 and `CONNECT_ERROR` in V5).
    #[cfg(test)]
    pub(crate) fn name(self, version: ProtocolVersion) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::Disconnect => "DISCONNECT",
            Self::Event => "EVENT",
            Self::Ack => "ACK",
            Self::ConnectError if version == ProtocolVersion::V4 => "ERROR",
            Self::ConnectError => "CONNECT_ERROR",
            Self::BinaryEvent => "BINARY_EVENT",
            Self::BinaryAck => "BINARY_ACK",
        }
    }
}

/// One Socket.IO packet.
///
/// Binary values in `data` are placeholders `{"_placeholder":true,"num":N}`
/// (see [`super::binary`]) referring to `attachments[N]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Packet {
    /// Packet type. Decoded packets keep the type seen on the wire; when
    /// encoding, EVENT/ACK vs BINARY_EVENT/BINARY_ACK is chosen from
    /// `attachments` (see [`encode`]).
    pub kind: PacketType,
    /// Namespace, `"/"` for the main one (never contains `,`).
    pub nsp: String,
    /// V4 only: query string sent by socket.io-client 2.x inside a CONNECT
    /// namespace (`0/custom?token=abc,` => nsp `/custom`, query `token=abc`,
    /// without the `?`). Always `None` for V5 and for other packet types. When
    /// encoding, `Some(q)` is written back as `<nsp>?<q>,`.
    pub query: Option<String>,
    /// Acknowledgement id.
    pub id: Option<u64>,
    /// JSON payload; `None` (and, when encoding, `Some(Value::Null)`) means
    /// no payload.
    pub data: Option<Value>,
    /// Binary attachments referenced by placeholders in `data`.
    pub attachments: Vec<Bytes>,
}

impl Packet {
    /// A packet of `kind` for `nsp` with no query, id, payload or attachments.
    pub(crate) fn new(kind: PacketType, nsp: impl Into<String>) -> Self {
        Self {
            kind,
            nsp: nsp.into(),
            query: None,
            id: None,
            data: None,
            attachments: Vec::new(),
        }
    }

    /// CONNECT packet; V5 servers answer with `Some({"sid": ...})`, V4
    /// servers with `None`.
    pub(crate) fn connect(nsp: impl Into<String>, data: Option<Value>) -> Self {
        Self {
            data,
            ..Self::new(PacketType::Connect, nsp)
        }
    }

    /// DISCONNECT packet.
    pub(crate) fn disconnect(nsp: impl Into<String>) -> Self {
        Self::new(PacketType::Disconnect, nsp)
    }

    /// EVENT packet; `data` is the array `[name, args...]`.
    pub(crate) fn event(nsp: impl Into<String>, data: Value, id: Option<u64>) -> Self {
        Self {
            id,
            data: Some(data),
            ..Self::new(PacketType::Event, nsp)
        }
    }

    /// ACK packet answering ack `id`; `data` is the array of arguments.
    pub(crate) fn ack(nsp: impl Into<String>, data: Value, id: u64) -> Self {
        Self {
            id: Some(id),
            data: Some(data),
            ..Self::new(PacketType::Ack, nsp)
        }
    }

    /// Namespace refusal: V5 sends `{"message": message}`, V4 the bare
    /// string (`4"Invalid namespace"`).
    pub(crate) fn connect_error(
        version: ProtocolVersion,
        nsp: impl Into<String>,
        message: &str,
    ) -> Self {
        let data = match version {
            ProtocolVersion::V4 => Value::String(message.to_owned()),
            ProtocolVersion::V5 => serde_json::json!({ "message": message }),
        };
        Self {
            data: Some(data),
            ..Self::new(PacketType::ConnectError, nsp)
        }
    }

    /// Sets the binary attachments and, for EVENT/ACK packets, the matching
    /// binary type (BINARY_EVENT/BINARY_ACK when non-empty, plain otherwise).
    pub(crate) fn with_attachments(mut self, attachments: Vec<Bytes>) -> Self {
        self.attachments = attachments;
        self.kind = wire_kind(&self);
        self
    }

    /// Checks the packet against the rules the decoder enforces for
    /// `version` (useful before encoding outgoing packets):
    /// - CONNECT: payload absent, or an object (V4: `typeof "object"`, i.e.
    ///   also array or null);
    /// - DISCONNECT: no payload;
    /// - CONNECT_ERROR/ERROR: absent, string or object (V4: also array/null);
    /// - EVENT/BINARY_EVENT: required, an array whose first element is a
    ///   number or a string (V5: not one of [`RESERVED_EVENTS`]);
    /// - ACK/BINARY_ACK: an array, required in V5, optional in V4;
    /// - binary types: placeholders valid for `attachments.len()`;
    /// - namespace empty or starting with `/`, without `,`.
    #[cfg(test)]
    pub(crate) fn validate(&self, version: ProtocolVersion) -> Result<(), DecodeError> {
        if !(self.nsp.is_empty() || self.nsp.starts_with('/')) {
            return Err(DecodeError::InvalidNamespace("must start with '/'"));
        }
        if self.nsp.contains(',') || self.query.as_deref().is_some_and(|q| q.contains(',')) {
            return Err(DecodeError::InvalidNamespace("must not contain ','"));
        }
        let data = self.data.as_ref().filter(|v| !v.is_null());
        let kind = wire_kind(self);
        validate_payload(version, kind, data)?;
        if kind.is_binary() {
            if let Some(data) = data {
                binary::validate_placeholders(data, self.attachments.len())?;
            }
        }
        Ok(())
    }
}

/// Error decoding a Socket.IO packet; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The text frame was empty.
    #[error("empty packet")]
    Empty,
    /// The first character is not a packet type digit `0`..`6`.
    #[error("unknown packet type {0:?}")]
    UnknownPacketType(char),
    /// A binary packet's attachment count is not `<digits>-`.
    #[error("Illegal attachments")]
    IllegalAttachments,
    /// A binary packet announces more attachments than the decoder allows.
    #[error("too many attachments: {count} > {max}")]
    TooManyAttachments {
        /// Announced count (saturated at `u64::MAX`).
        count: u64,
        /// Configured maximum.
        max: usize,
    },
    /// The acknowledgement id does not fit in a `u64`.
    #[error("invalid ack id: does not fit in 64 bits")]
    AckIdOverflow,
    /// The payload is not a single well-formed JSON document.
    #[error("invalid payload: malformed JSON ({0})")]
    InvalidJson(String),
    /// The payload is well-formed JSON of the wrong shape for the packet type.
    #[error("invalid payload: {0}")]
    InvalidPayload(&'static str),
    /// The packet type requires a payload and none was given.
    #[error("invalid payload: missing for packet type {0:?}")]
    MissingPayload(PacketType),
    /// A placeholder is malformed or references a missing attachment.
    #[error("illegal attachments: {0}")]
    IllegalPlaceholder(&'static str),
    /// A binary frame arrived while no binary packet was being assembled.
    #[error("got binary data when not reconstructing a packet")]
    UnexpectedBinary,
    /// A text frame arrived while binary attachments were still expected.
    #[error("got plaintext data when reconstructing a packet")]
    UnexpectedText,
    /// The namespace cannot be encoded (only reported by [`Packet::validate`]).
    #[error("invalid namespace: {0}")]
    #[cfg(test)]
    InvalidNamespace(&'static str),
}

/// The type actually written for `packet`: EVENT/ACK become binary exactly
/// when attachments are present (as socket.io-parser's `hasBinary` decides).
pub(crate) fn wire_kind(packet: &Packet) -> PacketType {
    let binary = !packet.attachments.is_empty();
    match packet.kind {
        PacketType::Event | PacketType::BinaryEvent if binary => PacketType::BinaryEvent,
        PacketType::Event | PacketType::BinaryEvent => PacketType::Event,
        PacketType::Ack | PacketType::BinaryAck if binary => PacketType::BinaryAck,
        PacketType::Ack | PacketType::BinaryAck => PacketType::Ack,
        other => other,
    }
}

/// Encodes `packet` as its text frame plus the binary frames to send after it.
///
/// Output is byte-for-byte what socket.io-parser produces: type digit;
/// `<n>-` for binary types; `<nsp>,` unless the namespace is `/` or empty
/// (`<nsp>?<query>,` when [`Packet::query`] is set); the ack id; the compact
/// JSON payload unless it is absent or `null`.
///
/// The binary frames are `attachments` (cheap `Bytes` clones). EVENT/ACK with
/// attachments are sent as BINARY_EVENT/BINARY_ACK, and BINARY_* without
/// attachments as plain EVENT/ACK: a JS client decoder is left stuck after a
/// binary packet announcing 0 attachments, so one is never produced. For
/// other types attachments are ignored. No validation is done here; see
/// [`Packet::validate`].
pub(crate) fn encode(packet: &Packet) -> (String, Vec<Bytes>) {
    let kind = wire_kind(packet);
    let mut out = String::with_capacity(16 + packet.nsp.len());
    out.push(kind.as_digit());
    if kind.is_binary() {
        let _ = write!(out, "{}-", packet.attachments.len());
    }
    let custom_nsp = !(packet.nsp.is_empty() || packet.nsp == "/");
    if custom_nsp || packet.query.is_some() {
        out.push_str(if packet.nsp.is_empty() {
            "/"
        } else {
            &packet.nsp
        });
        if let Some(query) = &packet.query {
            out.push('?');
            out.push_str(query);
        }
        out.push(',');
    }
    if let Some(id) = packet.id {
        let _ = write!(out, "{id}");
    }
    if let Some(data) = packet.data.as_ref().filter(|v| !v.is_null()) {
        let _ = write!(out, "{data}");
    }
    let frames = if kind.is_binary() {
        packet.attachments.clone()
    } else {
        Vec::new()
    };
    (out, frames)
}

/// Per-type payload rules; `data` is `None` when there is no payload.
fn validate_payload(
    version: ProtocolVersion,
    kind: PacketType,
    data: Option<&Value>,
) -> Result<(), DecodeError> {
    use PacketType::*;
    let v4 = version == ProtocolVersion::V4;
    let Some(data) = data else {
        return match kind {
            Event | BinaryEvent => Err(DecodeError::MissingPayload(kind)),
            Ack | BinaryAck if !v4 => Err(DecodeError::MissingPayload(kind)),
            _ => Ok(()),
        };
    };
    // V4 (socket.io-parser 3.x) uses `typeof payload === "object"`, which is
    // also true for arrays and null; V5 requires a plain object.
    let object_like = data.is_object() || (v4 && (data.is_array() || data.is_null()));
    let ok = match kind {
        Connect => object_like,
        Disconnect => false,
        ConnectError => data.is_string() || object_like,
        Event | BinaryEvent => match data.as_array().and_then(|a| a.first()) {
            Some(Value::Number(_)) => true,
            Some(Value::String(name)) => v4 || !RESERVED_EVENTS.contains(&name.as_str()),
            _ => false,
        },
        Ack | BinaryAck => data.is_array(),
    };
    if ok {
        Ok(())
    } else {
        Err(DecodeError::InvalidPayload(match kind {
            Connect => "CONNECT payload must be an object",
            Disconnect => "DISCONNECT must not carry a payload",
            ConnectError => "CONNECT_ERROR payload must be a string or an object",
            Event | BinaryEvent => {
                "EVENT payload must be an array starting with a (non-reserved) name or a number"
            }
            Ack | BinaryAck => "ACK payload must be an array",
        }))
    }
}

/// Parses one text frame; returns the packet and the number of binary
/// attachments still to be received.
fn decode_text(
    version: ProtocolVersion,
    text: &str,
    max_attachments: usize,
) -> Result<(Packet, usize), DecodeError> {
    let bytes = text.as_bytes();
    let first = *bytes.first().ok_or(DecodeError::Empty)?;
    let kind = PacketType::from_digit(first)
        .ok_or_else(|| DecodeError::UnknownPacketType(text.chars().next().unwrap_or('\0')))?;
    let mut i = 1;

    let mut expected = 0;
    if kind.is_binary() {
        let dash = bytes[i..]
            .iter()
            .position(|&b| b == b'-')
            .ok_or(DecodeError::IllegalAttachments)?;
        let digits = &bytes[i..i + dash];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(DecodeError::IllegalAttachments);
        }
        let count = parse_digits(digits);
        match count {
            Some(n) if n <= max_attachments as u64 => expected = n as usize,
            _ => {
                return Err(DecodeError::TooManyAttachments {
                    count: count.unwrap_or(u64::MAX),
                    max: max_attachments,
                });
            }
        }
        i += dash + 1;
    }

    let mut nsp = "/";
    if bytes.get(i) == Some(&b'/') {
        let end = bytes[i..]
            .iter()
            .position(|&b| b == b',')
            .map_or(bytes.len(), |p| i + p);
        nsp = &text[i..end];
        i = (end + 1).min(bytes.len());
    }

    let mut id = None;
    let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > 0 {
        id = Some(parse_digits(&bytes[i..i + digits]).ok_or(DecodeError::AckIdOverflow)?);
        i += digits;
    }

    let data = if i < bytes.len() {
        let value: Value = serde_json::from_str(&text[i..])
            .map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
        Some(value)
    } else {
        None
    };
    validate_payload(version, kind, data.as_ref())?;
    if kind.is_binary() {
        if let Some(data) = &data {
            binary::validate_placeholders(data, expected)?;
        }
    }

    let mut query = None;
    if version == ProtocolVersion::V4 && kind == PacketType::Connect {
        if let Some((path, q)) = nsp.split_once('?') {
            nsp = path;
            query = Some(q.to_owned());
        }
    }

    let packet = Packet {
        kind,
        nsp: if nsp.is_empty() { "/" } else { nsp }.to_owned(),
        query,
        id,
        data,
        attachments: Vec::with_capacity(expected.min(16)),
    };
    Ok((packet, expected))
}

/// Parses ASCII digits (leading zeros allowed); `None` on `u64` overflow.
fn parse_digits(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A binary packet whose header has been decoded, waiting for attachments.
#[derive(Debug)]
struct Pending {
    packet: Packet,
    expected: usize,
}

/// Incremental decoder for one connection: feed it every Socket.IO text and
/// binary frame in order; it yields complete packets.
///
/// A BINARY_EVENT/BINARY_ACK header is held until its announced number of
/// binary frames has arrived. After any error the decoder is back to idle
/// (a pending packet is dropped); the caller is expected to close the
/// connection, as the reference server does.
#[derive(Debug)]
pub(crate) struct Decoder {
    version: ProtocolVersion,
    max_attachments: usize,
    pending: Option<Pending>,
}

impl Decoder {
    /// Decoder for `version` accepting up to [`DEFAULT_MAX_ATTACHMENTS`]
    /// attachments per packet.
    #[cfg(test)]
    pub(crate) fn new(version: ProtocolVersion) -> Self {
        Self::with_max_attachments(version, DEFAULT_MAX_ATTACHMENTS)
    }

    /// Decoder for `version` accepting up to `max_attachments` attachments per
    /// packet (a header announcing more is rejected).
    pub(crate) fn with_max_attachments(version: ProtocolVersion, max_attachments: usize) -> Self {
        Self {
            version,
            max_attachments,
            pending: None,
        }
    }

    /// The protocol revision this decoder applies.
    #[cfg(test)]
    pub(crate) fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The maximum number of attachments accepted per packet.
    #[cfg(test)]
    pub(crate) fn max_attachments(&self) -> usize {
        self.max_attachments
    }

    /// True while a binary packet is waiting for more attachments.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn is_reconstructing(&self) -> bool {
        self.pending.is_some()
    }

    /// Drops any partially assembled binary packet.
    #[cfg(test)]
    pub(crate) fn reset(&mut self) {
        self.pending = None;
    }

    /// Feeds one text frame. Returns the packet when complete, `Ok(None)`
    /// when it is a binary header still waiting for attachments, or an error
    /// (including [`DecodeError::UnexpectedText`] while attachments are
    /// pending).
    pub(crate) fn feed_text(&mut self, text: &str) -> Result<Option<Packet>, DecodeError> {
        if self.pending.take().is_some() {
            return Err(DecodeError::UnexpectedText);
        }
        let (packet, expected) = decode_text(self.version, text, self.max_attachments)?;
        if expected == 0 {
            return Ok(Some(packet));
        }
        self.pending = Some(Pending { packet, expected });
        Ok(None)
    }

    /// Feeds one binary frame. Returns the packet once its last attachment
    /// arrives, `Ok(None)` while more are expected, or
    /// [`DecodeError::UnexpectedBinary`] when no binary packet is pending.
    pub(crate) fn feed_binary(&mut self, frame: Bytes) -> Result<Option<Packet>, DecodeError> {
        let pending = self.pending.as_mut().ok_or(DecodeError::UnexpectedBinary)?;
        pending.packet.attachments.push(frame);
        if pending.packet.attachments.len() < pending.expected {
            return Ok(None);
        }
        Ok(self.pending.take().map(|p| p.packet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use binary::placeholder;
    use serde_json::json;
    use ProtocolVersion::{V4, V5};

    fn ph(n: usize) -> Value {
        placeholder(n)
    }

    fn enc(p: &Packet) -> String {
        encode(p).0
    }

    /// Decodes one text frame (plus attachments) with a fresh decoder.
    fn dec(version: ProtocolVersion, text: &str, frames: &[&[u8]]) -> Result<Packet, DecodeError> {
        let mut d = Decoder::new(version);
        let mut out = d.feed_text(text)?;
        for (n, f) in frames.iter().enumerate() {
            assert!(out.is_none(), "packet completed before frame {n}");
            out = d.feed_binary(Bytes::copy_from_slice(f))?;
        }
        assert!(!d.is_reconstructing());
        Ok(out.expect("packet incomplete"))
    }

    fn err(version: ProtocolVersion, text: &str) -> DecodeError {
        Decoder::new(version)
            .feed_text(text)
            .expect_err(&format!("{text:?} should fail"))
    }

    /// encode(p) == wire and decode(wire) == p, in the given versions.
    fn roundtrip(versions: &[ProtocolVersion], p: Packet, wire: &str) {
        let (text, frames) = encode(&p);
        assert_eq!(text, wire);
        assert_eq!(frames, p.attachments);
        for &v in versions {
            p.validate(v)
                .unwrap_or_else(|e| panic!("{wire} invalid in {v:?}: {e}"));
            let refs: Vec<&[u8]> = frames.iter().map(|b| b.as_ref()).collect();
            assert_eq!(dec(v, &text, &refs).unwrap(), p, "{wire} in {v:?}");
        }
    }

    #[test]
    fn connect_packets() {
        roundtrip(&[V4, V5], Packet::connect("/", None), "0");
        roundtrip(
            &[V5],
            Packet::connect("/", Some(json!({"sid": "abc"}))),
            r#"0{"sid":"abc"}"#,
        );
        roundtrip(
            &[V4, V5],
            Packet::connect("/admin", Some(json!({"sid": "oSO0OpakMV_3jnilAAAA"}))),
            r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
        );
        roundtrip(&[V4, V5], Packet::connect("/custom", None), "0/custom,");
        roundtrip(
            &[V5],
            Packet::connect("/", Some(json!({"token": "123"}))),
            r#"0{"token":"123"}"#,
        );
    }

    #[test]
    fn v4_connect_query() {
        let mut p = Packet::connect("/custom", None);
        p.query = Some("token=abc".into());
        roundtrip(&[V4], p.clone(), "0/custom?token=abc,");
        // without the trailing comma too
        assert_eq!(dec(V4, "0/custom?token=abc", &[]).unwrap(), p);
        // empty query
        let q = dec(V4, "0/x?,", &[]).unwrap();
        assert_eq!((q.nsp.as_str(), q.query.as_deref()), ("/x", Some("")));
        // path-less query
        let q = dec(V4, "0/?a=1&b=2,", &[]).unwrap();
        assert_eq!((q.nsp.as_str(), q.query.as_deref()), ("/", Some("a=1&b=2")));
        // V5 keeps the namespace verbatim
        let q = dec(V5, "0/custom?token=abc,", &[]).unwrap();
        assert_eq!((q.nsp.as_str(), q.query), ("/custom?token=abc", None));
        // V4 only splits CONNECT
        let q = dec(V4, r#"2/custom?x,["a"]"#, &[]).unwrap();
        assert_eq!((q.nsp.as_str(), q.query), ("/custom?x", None));
    }

    #[test]
    fn disconnect_packets() {
        roundtrip(&[V4, V5], Packet::disconnect("/"), "1");
        roundtrip(&[V4, V5], Packet::disconnect("/admin"), "1/admin,");
    }

    #[test]
    fn event_packets() {
        roundtrip(
            &[V4, V5],
            Packet::event("/", json!(["hello", 1]), None),
            r#"2["hello",1]"#,
        );
        roundtrip(
            &[V4, V5],
            Packet::event("/admin", json!(["a"]), Some(12)),
            r#"2/admin,12["a"]"#,
        );
        roundtrip(
            &[V4, V5],
            Packet::event("/", json!(["foo"]), Some(12)),
            r#"212["foo"]"#,
        );
        roundtrip(
            &[V4, V5],
            Packet::event("/admin", json!(["project:delete", 123]), Some(456)),
            r#"2/admin,456["project:delete",123]"#,
        );
        roundtrip(
            &[V4, V5],
            Packet::event("/", json!([1, "a", {}]), None),
            r#"2[1,"a",{}]"#,
        );
        roundtrip(
            &[V4, V5],
            Packet::event("/", json!(["x"]), Some(0)),
            r#"20["x"]"#,
        );
        roundtrip(
            &[V4, V5],
            Packet::event("/", json!(["message", 1, "2", {"3": [true]}]), None),
            r#"2["message",1,"2",{"3":[true]}]"#,
        );
        roundtrip(
            &[V4, V5],
            Packet::event("/", json!(["big"]), Some(u64::MAX)),
            r#"218446744073709551615["big"]"#,
        );
    }

    #[test]
    fn ack_packets() {
        roundtrip(
            &[V4, V5],
            Packet::ack("/admin", json!(["bar"]), 13),
            r#"3/admin,13["bar"]"#,
        );
        roundtrip(
            &[V4, V5],
            Packet::ack("/admin", json!([]), 456),
            "3/admin,456[]",
        );
        roundtrip(
            &[V4, V5],
            Packet::ack("/", json!([1, "2", {"3": [false]}]), 456),
            r#"3456[1,"2",{"3":[false]}]"#,
        );
    }

    #[test]
    fn connect_error_packets() {
        roundtrip(
            &[V5],
            Packet::connect_error(V5, "/", "Invalid namespace"),
            r#"4{"message":"Invalid namespace"}"#,
        );
        roundtrip(
            &[V5],
            Packet::connect_error(V5, "/random", "Invalid namespace"),
            r#"4/random,{"message":"Invalid namespace"}"#,
        );
        roundtrip(
            &[V4, V5],
            Packet::connect_error(V4, "/", "Invalid namespace"),
            r#"4"Invalid namespace""#,
        );
        roundtrip(
            &[V4, V5],
            Packet::connect_error(V4, "/admin", "Not authorized"),
            r#"4/admin,"Not authorized""#,
        );
        assert_eq!(PacketType::ConnectError.name(V4), "ERROR");
        assert_eq!(PacketType::ConnectError.name(V5), "CONNECT_ERROR");
    }

    #[test]
    fn binary_one_attachment() {
        let p = Packet::event("/", json!(["a", ph(0)]), None)
            .with_attachments(vec![Bytes::from_static(&[1, 2, 3, 4])]);
        assert_eq!(p.kind, PacketType::BinaryEvent);
        roundtrip(&[V4, V5], p, r#"51-["a",{"_placeholder":true,"num":0}]"#);

        let p = Packet::ack("/", json!(["bar", ph(0)]), 15)
            .with_attachments(vec![Bytes::from_static(&[1, 2, 3, 4])]);
        assert_eq!(p.kind, PacketType::BinaryAck);
        roundtrip(
            &[V4, V5],
            p,
            r#"61-15["bar",{"_placeholder":true,"num":0}]"#,
        );

        let p = Packet::ack("/admin", json!([ph(0)]), 456)
            .with_attachments(vec![Bytes::from_static(&[3, 2, 1])]);
        roundtrip(
            &[V4, V5],
            p,
            r#"61-/admin,456[{"_placeholder":true,"num":0}]"#,
        );
    }

    #[test]
    fn binary_two_attachments() {
        let frames = vec![Bytes::from_static(&[1, 2]), Bytes::from_static(&[3, 4])];
        let p = Packet::event("/admin", json!(["baz", ph(0), ph(1)]), None)
            .with_attachments(frames.clone());
        roundtrip(
            &[V4, V5],
            p,
            r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        );
        let p = Packet::event("/", json!(["message-with-ack", ph(0), ph(1)]), Some(789))
            .with_attachments(frames.clone());
        roundtrip(
            &[V4, V5],
            p,
            r#"52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        );
        let p = Packet::ack("/", json!([ph(0), ph(1)]), 789).with_attachments(frames.clone());
        roundtrip(
            &[V4, V5],
            p,
            r#"62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        );
        // nested placeholders, reused index
        let p = Packet::event("/", json!(["n", {"a": [ph(1)], "b": ph(0)}, ph(1)]), None)
            .with_attachments(frames);
        roundtrip(
            &[V5],
            p,
            r#"52-["n",{"a":[{"_placeholder":true,"num":1}],"b":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":1}]"#,
        );
    }

    #[test]
    fn binary_frames_are_assembled_in_order() {
        let mut d = Decoder::new(V5);
        let head = r#"52-["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
        assert_eq!(d.feed_text(head), Ok(None));
        assert!(d.is_reconstructing());
        assert_eq!(d.feed_binary(Bytes::from_static(b"one")), Ok(None));
        let p = d.feed_binary(Bytes::from_static(b"two")).unwrap().unwrap();
        assert_eq!(
            p.attachments,
            vec![Bytes::from_static(b"one"), Bytes::from_static(b"two")]
        );
        assert_eq!(p.kind, PacketType::BinaryEvent);
        assert!(!d.is_reconstructing());
        // decoder is reusable
        assert!(d.feed_text(r#"2["x"]"#).unwrap().is_some());
    }

    #[test]
    fn encode_chooses_wire_type_from_attachments() {
        let mut p = Packet::event("/", json!(["a", ph(0)]), None);
        p.attachments = vec![Bytes::from_static(b"z")];
        assert_eq!(
            encode(&p),
            (
                r#"51-["a",{"_placeholder":true,"num":0}]"#.into(),
                vec![Bytes::from_static(b"z")]
            )
        );
        let p = Packet::new(PacketType::BinaryEvent, "/");
        let p = Packet {
            data: Some(json!(["a"])),
            ..p
        };
        assert_eq!(encode(&p), (r#"2["a"]"#.into(), vec![]));
        let p = Packet {
            kind: PacketType::BinaryAck,
            ..Packet::ack("/", json!([]), 1)
        };
        assert_eq!(enc(&p), "31[]");
        // attachments on non-event types are not sent
        let p = Packet::disconnect("/").with_attachments(vec![Bytes::from_static(b"z")]);
        assert_eq!(encode(&p), ("1".into(), vec![]));
    }

    #[test]
    fn encode_edge_cases() {
        assert_eq!(enc(&Packet::connect("", None)), "0");
        assert_eq!(enc(&Packet::connect("/", Some(Value::Null))), "0");
        assert_eq!(enc(&Packet::connect("/x", Some(Value::Null))), "0/x,");
        let mut p = Packet::connect("/", None);
        p.query = Some("a=1".into());
        assert_eq!(enc(&p), "0/?a=1,");
        assert_eq!(
            enc(&Packet::event("/", json!(["é\n\u{1}\"/"]), None)),
            r#"2["é\n\u0001\"/"]"#
        );
    }

    #[test]
    fn test_suite_inputs() {
        // inputs from socket.io's v5 protocol test suite
        assert_eq!(dec(V5, "0", &[]).unwrap(), Packet::connect("/", None));
        assert_eq!(
            dec(V5, r#"0{"token":"123"}"#, &[]).unwrap(),
            Packet::connect("/", Some(json!({"token": "123"})))
        );
        assert_eq!(
            dec(V5, "0/random", &[]).unwrap(),
            Packet::connect("/random", None)
        );
        assert_eq!(
            dec(V5, "1/custom", &[]).unwrap(),
            Packet::disconnect("/custom")
        );
        assert_eq!(dec(V5, "1", &[]).unwrap(), Packet::disconnect("/"));
        assert!(matches!(
            err(V5, "abc"),
            DecodeError::UnknownPacketType('a')
        ));
        assert!(matches!(err(V5, "2{}"), DecodeError::InvalidPayload(_)));
        assert!(matches!(
            err(V5, r#"2abc["message-with-ack",1]"#),
            DecodeError::InvalidJson(_)
        ));
        assert!(matches!(err(V5, "4abc"), DecodeError::InvalidJson(_)));
    }

    #[test]
    fn decode_quirks() {
        // ack id with leading zeros
        assert_eq!(dec(V5, r#"2007["a"]"#, &[]).unwrap().id, Some(7));
        // whitespace around the JSON document is allowed (JSON.parse too)
        assert_eq!(
            dec(V5, "2[\"a\"] \n", &[]).unwrap().data,
            Some(json!(["a"]))
        );
        // empty namespace name and "/," mean the main namespace
        assert_eq!(dec(V5, r#"2/,["a"]"#, &[]).unwrap().nsp, "/");
        // a namespace runs to the first ','
        assert_eq!(dec(V5, "0/a b?c", &[]).unwrap().nsp, "/a b?c");
        // V4 CONNECT/ERROR accept anything `typeof "object"`
        assert_eq!(dec(V4, "0null", &[]).unwrap().data, Some(Value::Null));
        assert_eq!(dec(V4, "0[]", &[]).unwrap().data, Some(json!([])));
        assert_eq!(dec(V4, "4[1]", &[]).unwrap().data, Some(json!([1])));
        // V4 allows reserved names and an ACK without payload
        assert!(dec(V4, r#"2["connect"]"#, &[]).is_ok());
        assert_eq!(dec(V4, "3/admin,13", &[]).unwrap().data, None);
        // ack ids are accepted on any type, like socket.io-parser
        assert_eq!(dec(V5, "0/a,5", &[]).unwrap().id, Some(5));
        // number event names
        assert!(dec(V5, "2[-1.5]", &[]).is_ok());
        // a placeholder-looking object in a plain EVENT is just data
        assert!(dec(V5, r#"2["a",{"_placeholder":true,"num":9}]"#, &[]).is_ok());
        // binary header announcing 0 attachments completes immediately
        let mut d = Decoder::new(V5);
        let p = d.feed_text(r#"50-["a"]"#).unwrap().unwrap();
        assert_eq!((p.kind, p.attachments.len()), (PacketType::BinaryEvent, 0));
        assert!(!d.is_reconstructing());
        assert!(d.feed_text(r#"2["b"]"#).unwrap().is_some());
    }

    #[test]
    fn error_empty_and_unknown_type() {
        assert_eq!(err(V5, ""), DecodeError::Empty);
        for (s, c) in [
            ("7", '7'),
            ("9[]", '9'),
            ("a", 'a'),
            ("é", 'é'),
            (" 2", ' '),
            ("-1", '-'),
        ] {
            assert_eq!(err(V5, s), DecodeError::UnknownPacketType(c));
            assert_eq!(err(V4, s), DecodeError::UnknownPacketType(c));
        }
    }

    #[test]
    fn error_attachments() {
        for s in [
            "5",
            "6",
            "51",
            r#"51["a"]"#,
            r#"5-["a"]"#,
            "5a-",
            "5 1-",
            "5+1-",
            "5-1-",
            "51.0-",
        ] {
            assert_eq!(err(V5, s), DecodeError::IllegalAttachments, "{s}");
        }
        assert_eq!(
            err(V5, r#"511-["a"]"#),
            DecodeError::TooManyAttachments { count: 11, max: 10 }
        );
        assert_eq!(
            err(V4, "5999999999999999999999-"),
            DecodeError::TooManyAttachments {
                count: u64::MAX,
                max: 10
            }
        );
        // exactly the maximum is fine
        let mut d = Decoder::new(V5);
        assert_eq!(d.feed_text(r#"510-["a"]"#), Ok(None));
        let mut d = Decoder::with_max_attachments(V5, 2);
        assert_eq!(d.max_attachments(), 2);
        assert_eq!(d.version(), V5);
        assert_eq!(
            d.feed_text(r#"53-["a"]"#),
            Err(DecodeError::TooManyAttachments { count: 3, max: 2 })
        );
        assert_eq!(d.feed_text(r#"52-["a"]"#), Ok(None));
        // unbounded decoder does not pre-allocate the announced count
        let mut d = Decoder::with_max_attachments(V5, usize::MAX);
        assert_eq!(d.feed_text(r#"518446744073709551615-["a"]"#), Ok(None));
    }

    #[test]
    fn error_placeholders() {
        for s in [
            r#"51-["a",{"_placeholder":true,"num":1}]"#,
            r#"51-["a",{"_placeholder":true,"num":-1}]"#,
            r#"51-["a",{"_placeholder":true,"num":0.5}]"#,
            r#"51-["a",{"_placeholder":true,"num":"0"}]"#,
            r#"51-["a",{"_placeholder":true}]"#,
            r#"50-["a",{"_placeholder":true,"num":0}]"#,
            r#"61-1[{"x":[{"_placeholder":true,"num":3}]}]"#,
        ] {
            assert!(
                matches!(err(V5, s), DecodeError::IllegalPlaceholder(_)),
                "{s}"
            );
            assert!(
                matches!(err(V4, s), DecodeError::IllegalPlaceholder(_)),
                "{s}"
            );
        }
        // `_placeholder` must be exactly true
        assert!(Decoder::new(V5)
            .feed_text(r#"51-["a",{"_placeholder":"true","num":7}]"#)
            .is_ok());
    }

    #[test]
    fn error_ack_id_overflow() {
        assert_eq!(
            err(V5, r#"218446744073709551616["a"]"#),
            DecodeError::AckIdOverflow
        );
        assert_eq!(
            err(V4, r#"3/a,99999999999999999999999[]"#),
            DecodeError::AckIdOverflow
        );
        assert_eq!(
            err(V5, r#"51-99999999999999999999999["a"]"#),
            DecodeError::AckIdOverflow
        );
    }

    #[test]
    fn error_bad_json_and_trailing_garbage() {
        for s in [
            r#"2["a"]xyz"#,
            r#"2["a"],"#,
            r#"2["a"]["b"]"#,
            r#"2["a""#,
            r#"2/admin,"invalid"#,
            r#"442["some","data""#,
            "2'a'",
            "0{",
            "4abc",
            "3/a,1[]]",
            "2\u{0}",
        ] {
            assert!(matches!(err(V5, s), DecodeError::InvalidJson(_)), "{s}");
            assert!(matches!(err(V4, s), DecodeError::InvalidJson(_)), "{s}");
        }
        // deep nesting hits serde_json's recursion limit instead of the stack
        let deep = format!("2{}", "[".repeat(100_000));
        assert!(matches!(err(V5, &deep), DecodeError::InvalidJson(_)));
    }

    #[test]
    fn error_payload_shapes_v5() {
        // socket.io-parser test/parser.js "invalid payload" cases
        for s in [
            r#"0/admin,"invalid""#,
            "0[]",
            "0null",
            "0 1",
            "1/admin,{}",
            "1[]",
            "1null",
            "2/admin,{}",
            r#"2[{"toString":"foo"}]"#,
            r#"2[true,"foo"]"#,
            r#"2[null,"bar"]"#,
            r#"2["connect"]"#,
            r#"2["disconnect","123"]"#,
            r#"2["connect_error"]"#,
            r#"2["disconnecting"]"#,
            r#"2["newListener"]"#,
            r#"2["removeListener"]"#,
            "2[]",
            "2null",
            r#"2"a""#,
            "3{}",
            "3null",
            "4[]",
            "4null",
            "4 1",
            "4true",
            r#"51-{"_placeholder":true,"num":0}"#,
            r#"51-[{"_placeholder":true,"num":0}]"#,
            r#"61-1{"a":{"_placeholder":true,"num":0}}"#,
        ] {
            assert!(matches!(err(V5, s), DecodeError::InvalidPayload(_)), "{s}");
        }
    }

    #[test]
    fn error_payload_shapes_v4() {
        for s in [
            r#"0"invalid""#,
            "0 1.5",
            "0true",
            "1/admin,{}",
            "1null",
            "2/admin,{}",
            r#"2[true,"foo"]"#,
            r#"2[null,"bar"]"#,
            r#"2[{"a":1}]"#,
            "2[]",
            "3{}",
            r#"3"x""#,
            "4 1",
            "4false",
        ] {
            assert!(matches!(err(V4, s), DecodeError::InvalidPayload(_)), "{s}");
        }
    }

    #[test]
    fn error_missing_payload() {
        assert_eq!(err(V5, "2"), DecodeError::MissingPayload(PacketType::Event));
        assert_eq!(
            err(V4, "2/admin,12"),
            DecodeError::MissingPayload(PacketType::Event)
        );
        assert_eq!(
            err(V5, "3/admin,13"),
            DecodeError::MissingPayload(PacketType::Ack)
        );
        assert_eq!(
            err(V5, "51-"),
            DecodeError::MissingPayload(PacketType::BinaryEvent)
        );
        assert_eq!(
            err(V4, "51-/a,"),
            DecodeError::MissingPayload(PacketType::BinaryEvent)
        );
        assert_eq!(
            err(V5, "61-1"),
            DecodeError::MissingPayload(PacketType::BinaryAck)
        );
        // a namespace without ',' swallows the rest, leaving no payload
        assert_eq!(
            err(V5, r#"2/admin["a"]"#),
            DecodeError::MissingPayload(PacketType::Event)
        );
        // CONNECT_ERROR may omit it
        assert!(dec(V5, "4/admin,", &[]).is_ok());
    }

    #[test]
    fn error_frame_sequencing() {
        let mut d = Decoder::new(V5);
        assert_eq!(
            d.feed_binary(Bytes::from_static(b"x")),
            Err(DecodeError::UnexpectedBinary)
        );
        assert_eq!(
            d.feed_text(r#"51-["a",{"_placeholder":true,"num":0}]"#),
            Ok(None)
        );
        assert_eq!(d.feed_text(r#"2["b"]"#), Err(DecodeError::UnexpectedText));
        // the error dropped the pending packet; the decoder is idle again
        assert!(!d.is_reconstructing());
        assert_eq!(
            d.feed_binary(Bytes::from_static(b"x")),
            Err(DecodeError::UnexpectedBinary)
        );
        assert_eq!(d.feed_text(r#"52-["a"]"#), Ok(None));
        d.reset();
        assert!(!d.is_reconstructing());
        assert!(d.feed_text(r#"2["b"]"#).unwrap().is_some());
        // after a completed binary packet, further binary frames are rejected
        assert_eq!(d.feed_text(r#"51-["a"]"#), Ok(None));
        assert!(d.feed_binary(Bytes::new()).unwrap().is_some());
        assert_eq!(
            d.feed_binary(Bytes::new()),
            Err(DecodeError::UnexpectedBinary)
        );
    }

    #[test]
    fn validate_outgoing() {
        assert!(Packet::connect("/", Some(json!({"sid": "x"})))
            .validate(V5)
            .is_ok());
        assert!(Packet::connect("/", Some(json!("x"))).validate(V5).is_err());
        assert!(Packet::event("/", json!(["connect"]), None)
            .validate(V5)
            .is_err());
        assert!(Packet::event("/", json!(["connect"]), None)
            .validate(V4)
            .is_ok());
        assert_eq!(
            Packet::event("/a,b", json!(["x"]), None).validate(V5),
            Err(DecodeError::InvalidNamespace("must not contain ','"))
        );
        assert_eq!(
            Packet::event("admin", json!(["x"]), None).validate(V5),
            Err(DecodeError::InvalidNamespace("must start with '/'"))
        );
        let p = Packet::event("/", json!(["a", ph(1)]), None)
            .with_attachments(vec![Bytes::from_static(b"z")]);
        assert!(matches!(
            p.validate(V5),
            Err(DecodeError::IllegalPlaceholder(_))
        ));
    }

    #[test]
    fn type_helpers() {
        for d in b'0'..=b'6' {
            let t = PacketType::from_digit(d).unwrap();
            assert_eq!(t.as_digit() as u8, d);
        }
        assert_eq!(PacketType::from_digit(b'7'), None);
        assert_eq!(ProtocolVersion::from_engine_io(3), Some(V4));
        assert_eq!(ProtocolVersion::from_engine_io(4), Some(V5));
        assert_eq!(ProtocolVersion::from_engine_io(2), None);
        assert_eq!(
            DecodeError::UnexpectedText.to_string(),
            "got plaintext data when reconstructing a packet"
        );
    }

    use crate::test_support::TestRng as XorShift;

    const SAMPLES: [&str; 14] = [
        "0",
        r#"0{"sid":"abc"}"#,
        "0/custom?token=abc,",
        "1/admin,",
        r#"2/admin,456["project:delete",123]"#,
        r#"218446744073709551615["big"]"#,
        r#"3/admin,13["bar"]"#,
        r#"4{"message":"Invalid namespace"}"#,
        r#"4/admin,"Not authorized""#,
        r#"51-["a",{"_placeholder":true,"num":0}]"#,
        r#"52-/admin,789["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        r#"61-/admin,456[{"_placeholder":true,"num":0}]"#,
        r#"2["é😀",{"k":[1.5e3,null,true]}]"#,
        r#"510-["a"]"#,
    ];

    #[test]
    fn every_prefix_never_panics() {
        for v in [V4, V5] {
            let mut shared = Decoder::new(v);
            for s in SAMPLES {
                for (end, _) in s.char_indices().chain([(s.len(), ' ')]) {
                    let prefix = &s[..end];
                    let _ = Decoder::new(v).feed_text(prefix);
                    if shared.feed_text(prefix).is_err() {
                        assert!(!shared.is_reconstructing());
                    }
                    let _ = shared.feed_binary(Bytes::from_static(b"\x00"));
                    // suffixes too
                    let _ = Decoder::new(v).feed_text(&s[end..]);
                }
                // full samples decode (complete or waiting for frames)
                assert!(Decoder::new(v).feed_text(s).is_ok(), "{s} in {v:?}");
            }
        }
    }

    /// Found by the `socketio` fuzz target: a number past u64 was read a few ulps off (serde_json's
    /// fast float path), so a relayed `222222222222222222222222` reached the other clients as
    /// `2.2222222222222225e23`. Node (V8) reads every number correctly rounded; so do we now
    /// (serde_json's `float_roundtrip`), and a decoded packet encodes back to the same value.
    #[test]
    fn big_numbers_are_read_correctly_rounded_and_relayed_unchanged() {
        let packet = dec(V5, "2[222222222222222222222222,1.0000000000000002]", &[]).unwrap();
        let data = packet.data.as_ref().unwrap();
        assert_eq!(data[0].as_f64(), Some(222222222222222222222222.0));
        assert_eq!(data[1].as_f64(), Some(1.0000000000000002));
        let again = dec(V5, &enc(&packet), &[]).unwrap();
        assert_eq!(again, packet);
    }

    #[test]
    fn random_input_never_panics() {
        const ALPHABET: &[u8] = b"0123456789-,/?[]{}\":._placeholdernum truefalsenull\\ \n\x00";
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for v in [V4, V5] {
            let mut d = Decoder::with_max_attachments(v, 3);
            let (mut complete, mut pending) = (0, 0);
            for _ in 0..20_000 {
                let len = rng.below(40);
                let text = if rng.below(4) == 0 {
                    let raw: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    String::from_utf8_lossy(&raw).into_owned()
                } else {
                    // mutate a valid sample or build from the alphabet
                    let mut s: Vec<u8> = if rng.below(2) == 0 {
                        SAMPLES[rng.below(SAMPLES.len())].as_bytes().to_vec()
                    } else {
                        (0..len)
                            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                            .collect()
                    };
                    for _ in 0..rng.below(4) {
                        if s.is_empty() {
                            break;
                        }
                        let at = rng.below(s.len());
                        match rng.below(3) {
                            0 => s[at] = ALPHABET[rng.below(ALPHABET.len())],
                            1 => {
                                s.remove(at);
                            }
                            _ => s.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
                        }
                    }
                    String::from_utf8_lossy(&s).into_owned()
                };
                let before = d.is_reconstructing();
                match d.feed_text(&text) {
                    Ok(Some(p)) => {
                        complete += 1;
                        assert!(!before);
                        // whatever decodes re-encodes to something that decodes the same
                        let (again, frames) = encode(&p);
                        let mut d2 = Decoder::with_max_attachments(v, 3);
                        let mut out = d2.feed_text(&again).unwrap();
                        for f in frames {
                            out = d2.feed_binary(f).unwrap();
                        }
                        let mut expected = p.clone();
                        expected.kind = wire_kind(&p);
                        if expected.data == Some(Value::Null) {
                            expected.data = None;
                        }
                        assert_eq!(out.as_ref(), Some(&expected), "{text:?} -> {again:?}");
                    }
                    Ok(None) => {
                        pending += 1;
                        assert!(d.is_reconstructing());
                    }
                    Err(_) => assert!(!d.is_reconstructing()),
                }
                for _ in 0..rng.below(3) {
                    let frame: Vec<u8> = (0..rng.below(8)).map(|_| rng.next() as u8).collect();
                    let _ = d.feed_binary(Bytes::from(frame));
                }
            }
            // the generator must exercise the success paths, not only errors
            eprintln!("{v:?}: {complete} complete, {pending} pending");
            assert!(complete > 1_000 && pending > 100, "{complete} / {pending}");
        }
    }
}
