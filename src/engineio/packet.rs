//! Engine.IO packets: packet types, packet data, the decode error type, and the
//! single-packet encodings used by WebSocket frames and by the text payloads.
//!
//! Wire format of one packet (both protocol revisions):
//!
//! * text: `<type digit '0'..'6'>[<data>]`, e.g. `2probe`, `4hello`, `6`;
//! * binary data inside text (polling payloads, base64 clients):
//!   EIO4 `b<base64>` (always a message), EIO3 `b<type digit><base64>`;
//! * binary WebSocket frame: EIO4 the raw bytes (always a message), EIO3 one
//!   type byte (`0x00`..`0x06`, normally `0x04`) followed by the bytes.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use bytes::Bytes;

/// Standard base64 (with `+/`), padded on encode; on decode padding is
/// optional and non-zero trailing bits are tolerated, as Node's
/// `Buffer.from(s, "base64")` tolerates them.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Engine.IO protocol revision spoken by a client (the `EIO` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EioVersion {
    /// Revision 3 (Socket.IO v1/v2 clients): length-prefixed polling payloads.
    V3,
    /// Revision 4 (Socket.IO v3+ clients): `\x1e`-separated polling payloads.
    V4,
}

impl EioVersion {
    /// Parses the `EIO` query parameter value (`"3"` or `"4"`).
    pub fn from_query(value: &str) -> Option<Self> {
        match value {
            "3" => Some(Self::V3),
            "4" => Some(Self::V4),
            _ => None,
        }
    }

    /// The revision number as sent in the `EIO` query parameter.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::V3 => 3,
            Self::V4 => 4,
        }
    }
}

/// The kind of an Engine.IO packet; its wire id is `'0'..='6'` in text form
/// and `0..=6` as the leading byte of an EIO3 binary packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PacketType {
    /// `0`: handshake data sent by the server when a session opens.
    Open,
    /// `1`: asks for the transport to be closed.
    Close,
    /// `2`: heartbeat ping (server-sent in EIO4, client-sent in EIO3) or upgrade probe.
    Ping,
    /// `3`: heartbeat pong or upgrade probe reply.
    Pong,
    /// `4`: application data.
    Message,
    /// `5`: completes a transport upgrade.
    Upgrade,
    /// `6`: does nothing; used to end a pending poll during an upgrade.
    Noop,
}

impl PacketType {
    /// Every packet type, in wire-id order.
    #[cfg(test)]
    pub(crate) const ALL: [PacketType; 7] = [
        PacketType::Open,
        PacketType::Close,
        PacketType::Ping,
        PacketType::Pong,
        PacketType::Message,
        PacketType::Upgrade,
        PacketType::Noop,
    ];

    /// The numeric wire id, `0..=6`.
    pub(crate) const fn as_u8(self) -> u8 {
        match self {
            Self::Open => 0,
            Self::Close => 1,
            Self::Ping => 2,
            Self::Pong => 3,
            Self::Message => 4,
            Self::Upgrade => 5,
            Self::Noop => 6,
        }
    }

    /// The packet type with numeric wire id `id`, if `id` is `0..=6`.
    pub(crate) const fn from_u8(id: u8) -> Option<Self> {
        match id {
            0 => Some(Self::Open),
            1 => Some(Self::Close),
            2 => Some(Self::Ping),
            3 => Some(Self::Pong),
            4 => Some(Self::Message),
            5 => Some(Self::Upgrade),
            6 => Some(Self::Noop),
            _ => None,
        }
    }

    /// The text wire id, `'0'..='6'`.
    pub(crate) const fn as_char(self) -> char {
        (b'0' + self.as_u8()) as char
    }

    /// The packet type with text wire id `c`, if `c` is `'0'..='6'`.
    pub(crate) const fn from_char(c: char) -> Option<Self> {
        if c.is_ascii_digit() {
            Self::from_u8(c as u8 - b'0')
        } else {
            None
        }
    }
}

/// The optional data carried by a packet.
///
/// A text packet with nothing after its type digit (`"2"`, `"4"`) decodes to
/// [`PacketData::Empty`]; `Text(String::new())` encodes to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum PacketData {
    /// No data after the packet type.
    #[default]
    Empty,
    /// UTF-8 text data.
    Text(String),
    /// Binary data.
    Binary(Bytes),
}

/// One Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Packet {
    /// The packet type.
    pub kind: PacketType,
    /// The packet data.
    pub data: PacketData,
}

impl Packet {
    /// A packet of any kind with any data.
    pub(crate) fn new(kind: PacketType, data: PacketData) -> Self {
        Self { kind, data }
    }

    /// An `open` packet carrying the JSON handshake object.
    #[cfg(test)]
    pub(crate) fn open(handshake_json: impl Into<String>) -> Self {
        Self::new(PacketType::Open, PacketData::Text(handshake_json.into()))
    }

    /// A `close` packet (`"1"`).
    #[cfg(test)]
    pub(crate) fn close() -> Self {
        Self::new(PacketType::Close, PacketData::Empty)
    }

    /// A heartbeat `ping` packet (`"2"`).
    #[cfg(test)]
    pub(crate) fn ping() -> Self {
        Self::new(PacketType::Ping, PacketData::Empty)
    }

    /// A heartbeat `pong` packet (`"3"`).
    #[cfg(test)]
    pub(crate) fn pong() -> Self {
        Self::new(PacketType::Pong, PacketData::Empty)
    }

    /// The upgrade probe sent by the client on the new transport (`"2probe"`).
    #[cfg(test)]
    pub(crate) fn ping_probe() -> Self {
        Self::new(PacketType::Ping, PacketData::Text("probe".to_owned()))
    }

    /// The server's reply to the upgrade probe (`"3probe"`).
    #[cfg(test)]
    pub(crate) fn pong_probe() -> Self {
        Self::new(PacketType::Pong, PacketData::Text("probe".to_owned()))
    }

    /// A text `message` packet (`"4<text>"`).
    #[cfg(test)]
    pub(crate) fn message_text(text: impl Into<String>) -> Self {
        Self::new(PacketType::Message, PacketData::Text(text.into()))
    }

    /// A binary `message` packet.
    pub(crate) fn message_binary(data: impl Into<Bytes>) -> Self {
        Self::new(PacketType::Message, PacketData::Binary(data.into()))
    }

    /// An `upgrade` packet (`"5"`).
    #[cfg(test)]
    pub(crate) fn upgrade() -> Self {
        Self::new(PacketType::Upgrade, PacketData::Empty)
    }

    /// A `noop` packet (`"6"`).
    #[cfg(test)]
    pub(crate) fn noop() -> Self {
        Self::new(PacketType::Noop, PacketData::Empty)
    }

    /// Whether the packet carries binary data.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn is_binary(&self) -> bool {
        matches!(self.data, PacketData::Binary(_))
    }

    /// Whether this is the upgrade probe: a `ping` whose data is `probe`.
    #[cfg(test)]
    pub(crate) fn is_ping_probe(&self) -> bool {
        self.kind == PacketType::Ping && matches!(&self.data, PacketData::Text(t) if t == "probe")
    }
}

/// One WebSocket data frame carrying exactly one Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) enum WsFrame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Bytes),
}

/// Why some bytes could not be decoded as Engine.IO packets or payloads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The payload was empty where at least one packet is required.
    #[error("empty payload")]
    EmptyPayload,
    /// A packet had no type character or type byte.
    #[error("empty packet: missing packet type")]
    EmptyPacket,
    /// A text packet's type character is not `'0'..='6'`.
    #[error("unknown packet type {0:?}")]
    UnknownPacketType(char),
    /// An EIO3 binary packet's type byte is not `0..=6`.
    #[error("unknown binary packet type byte {0:#04x}")]
    UnknownPacketTypeByte(u8),
    /// The base64 text of a `b`-prefixed packet is not valid base64.
    #[error("invalid base64 in binary packet")]
    InvalidBase64,
    /// A string packet inside an EIO3 binary payload is not valid UTF-8.
    #[error("string packet is not valid UTF-8")]
    InvalidUtf8,
    /// An EIO3 length prefix is empty, contains a non-digit, or overflows.
    #[error("invalid packet length prefix")]
    InvalidLength,
    /// An EIO3 text payload ended inside a length prefix (no `:` followed it).
    #[error("missing ':' after packet length")]
    MissingLengthSeparator,
    /// An EIO3 binary payload ended inside a length prefix (no `0xFF` followed it).
    #[error("missing 0xff terminator after packet length")]
    MissingLengthTerminator,
    /// A declared packet length is longer than the data that follows it.
    #[error("packet length {declared} exceeds the {available} units remaining")]
    LengthExceedsInput {
        /// The declared length (UTF-16 code units in text form, bytes in binary form).
        declared: usize,
        /// What was actually left, in the same unit.
        available: usize,
    },
    /// A declared UTF-16 length ends between the two halves of a surrogate pair.
    #[error("packet length splits a character")]
    LengthSplitsCharacter,
    /// An EIO3 binary payload packet starts with a byte other than 0 (string) or 1 (binary).
    #[error("invalid binary payload packet marker {0:#04x}, expected 0x00 or 0x01")]
    InvalidPacketMarker(u8),
    /// A JSONP callback index (`j` query parameter) is not a canonical decimal number.
    #[error("invalid JSONP index: expected decimal digits without leading zeros")]
    InvalidJsonpIndex,
    /// A JSONP POST body has no `d` form field.
    #[error("JSONP body has no `d` field")]
    MissingJsonpData,
    /// A JSONP POST body has more than one `d` form field.
    #[error("JSONP body has more than one `d` field")]
    DuplicateJsonpData,
}

/// Encodes a packet in text form, with binary data as base64.
///
/// EIO4: `b<base64>` for binary data (the packet kind is not representable
/// and is treated as `message`). EIO3: `b<type digit><base64>`. Text and empty
/// data: `<type digit>[<text>]` in both revisions.
pub(crate) fn encode_text_packet(packet: &Packet, version: EioVersion) -> String {
    match &packet.data {
        PacketData::Empty => packet.kind.as_char().to_string(),
        PacketData::Text(text) => {
            let mut out = String::with_capacity(1 + text.len());
            out.push(packet.kind.as_char());
            out.push_str(text);
            out
        }
        PacketData::Binary(bytes) => {
            let mut out = String::with_capacity(2 + bytes.len().div_ceil(3) * 4);
            out.push('b');
            if version == EioVersion::V3 {
                out.push(packet.kind.as_char());
            }
            BASE64.encode_string(bytes, &mut out);
            out
        }
    }
}

/// Decodes a packet in text form (a WebSocket text frame, or one packet of a
/// polling payload), including the `b`-prefixed base64 form.
pub(crate) fn decode_text_packet(text: &str, version: EioVersion) -> Result<Packet, DecodeError> {
    let first = text.chars().next().ok_or(DecodeError::EmptyPacket)?;
    let rest = &text[first.len_utf8()..];
    if first == 'b' {
        return match version {
            EioVersion::V4 => Ok(Packet::message_binary(decode_base64(rest)?)),
            EioVersion::V3 => {
                let type_char = rest.chars().next().ok_or(DecodeError::EmptyPacket)?;
                let kind = PacketType::from_char(type_char)
                    .ok_or(DecodeError::UnknownPacketType(type_char))?;
                let data = decode_base64(&rest[type_char.len_utf8()..])?;
                Ok(Packet::new(kind, PacketData::Binary(data)))
            }
        };
    }
    let kind = PacketType::from_char(first).ok_or(DecodeError::UnknownPacketType(first))?;
    let data = if rest.is_empty() {
        PacketData::Empty
    } else {
        PacketData::Text(rest.to_owned())
    };
    Ok(Packet::new(kind, data))
}

/// Decodes a binary WebSocket frame (or an EIO3 binary-payload binary packet).
///
/// EIO4: the whole frame is a binary `message`. EIO3: the first byte is the
/// packet type id (`0..=6`), the rest is the data.
pub(crate) fn decode_binary_packet(
    data: Bytes,
    version: EioVersion,
) -> Result<Packet, DecodeError> {
    match version {
        EioVersion::V4 => Ok(Packet::message_binary(data)),
        EioVersion::V3 => {
            let type_byte = *data.first().ok_or(DecodeError::EmptyPacket)?;
            let kind = PacketType::from_u8(type_byte)
                .ok_or(DecodeError::UnknownPacketTypeByte(type_byte))?;
            Ok(Packet::new(kind, PacketData::Binary(data.slice(1..))))
        }
    }
}

/// Encodes a packet as one WebSocket frame for a client that supports binary.
///
/// Binary data: EIO4 sends the raw bytes (as a `message`), EIO3 sends the
/// type byte followed by the bytes. Otherwise a text frame `<type>[<text>]`.
/// For EIO3 clients connected with `b64=1`, use [`encode_text_packet`] instead.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn encode_ws_frame(packet: &Packet, version: EioVersion) -> WsFrame {
    match (&packet.data, version) {
        (PacketData::Binary(bytes), EioVersion::V4) => WsFrame::Binary(bytes.clone()),
        (PacketData::Binary(bytes), EioVersion::V3) => {
            let mut out = Vec::with_capacity(1 + bytes.len());
            out.push(packet.kind.as_u8());
            out.extend_from_slice(bytes);
            WsFrame::Binary(Bytes::from(out))
        }
        _ => WsFrame::Text(encode_text_packet(packet, version)),
    }
}

/// Decodes one WebSocket frame into a packet.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn decode_ws_frame(frame: WsFrame, version: EioVersion) -> Result<Packet, DecodeError> {
    match frame {
        WsFrame::Text(text) => decode_text_packet(&text, version),
        WsFrame::Binary(bytes) => decode_binary_packet(bytes, version),
    }
}

/// Decodes base64 data; the output is never larger than the input.
fn decode_base64(text: &str) -> Result<Bytes, DecodeError> {
    BASE64
        .decode(text)
        .map(Bytes::from)
        .map_err(|_| DecodeError::InvalidBase64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3: EioVersion = EioVersion::V3;
    const V4: EioVersion = EioVersion::V4;

    #[test]
    fn packet_type_ids() {
        let chars = ['0', '1', '2', '3', '4', '5', '6'];
        for (i, kind) in PacketType::ALL.iter().enumerate() {
            assert_eq!(kind.as_u8(), i as u8);
            assert_eq!(kind.as_char(), chars[i]);
            assert_eq!(PacketType::from_char(chars[i]), Some(*kind));
            assert_eq!(PacketType::from_u8(i as u8), Some(*kind));
        }
        assert_eq!(PacketType::from_char('7'), None);
        assert_eq!(PacketType::from_char('b'), None);
        assert_eq!(PacketType::from_char('٣'), None);
        assert_eq!(PacketType::from_u8(7), None);
        assert_eq!(PacketType::from_u8(b'4'), None);
    }

    #[test]
    fn version_from_query() {
        assert_eq!(EioVersion::from_query("3"), Some(V3));
        assert_eq!(EioVersion::from_query("4"), Some(V4));
        assert_eq!(EioVersion::from_query("5"), None);
        assert_eq!(EioVersion::from_query(""), None);
        assert_eq!(V3.as_u8(), 3);
        assert_eq!(V4.as_u8(), 4);
    }

    #[test]
    fn encode_every_packet_type() {
        let handshake = r#"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let cases = [
            (Packet::open(handshake), format!("0{handshake}")),
            (Packet::close(), "1".to_owned()),
            (Packet::ping(), "2".to_owned()),
            (Packet::pong(), "3".to_owned()),
            (Packet::message_text("hello"), "4hello".to_owned()),
            (Packet::message_text("HelloWorld"), "4HelloWorld".to_owned()),
            (Packet::upgrade(), "5".to_owned()),
            (Packet::noop(), "6".to_owned()),
            (Packet::ping_probe(), "2probe".to_owned()),
            (Packet::pong_probe(), "3probe".to_owned()),
        ];
        for (packet, wire) in cases {
            for v in [V3, V4] {
                assert_eq!(encode_text_packet(&packet, v), wire);
                assert_eq!(encode_ws_frame(&packet, v), WsFrame::Text(wire.clone()));
                assert_eq!(decode_text_packet(&wire, v).unwrap(), packet);
                assert_eq!(
                    decode_ws_frame(WsFrame::Text(wire.clone()), v).unwrap(),
                    packet
                );
            }
        }
    }

    #[test]
    fn probe_detection() {
        assert!(decode_text_packet("2probe", V4).unwrap().is_ping_probe());
        assert!(!decode_text_packet("3probe", V4).unwrap().is_ping_probe());
        assert!(!decode_text_packet("2", V3).unwrap().is_ping_probe());
    }

    #[test]
    fn empty_text_encodes_like_empty() {
        assert_eq!(encode_text_packet(&Packet::message_text(""), V4), "4");
        assert_eq!(
            decode_text_packet("4", V4).unwrap(),
            Packet::new(PacketType::Message, PacketData::Empty)
        );
    }

    #[test]
    fn text_keeps_unicode_and_separators_verbatim() {
        let p = decode_text_packet("4€😀:\u{2028}", V3).unwrap();
        assert_eq!(p, Packet::message_text("€😀:\u{2028}"));
        // Data after any type is kept, even for types that normally carry none.
        assert_eq!(
            decode_text_packet("6abc", V4).unwrap(),
            Packet::new(PacketType::Noop, PacketData::Text("abc".into()))
        );
    }

    #[test]
    fn ws_binary_frames() {
        let p = Packet::message_binary(vec![1u8, 2, 3, 4]);
        assert_eq!(
            encode_ws_frame(&p, V4),
            WsFrame::Binary(Bytes::from_static(&[1, 2, 3, 4]))
        );
        assert_eq!(
            encode_ws_frame(&p, V3),
            WsFrame::Binary(Bytes::from_static(&[4, 1, 2, 3, 4]))
        );
        assert_eq!(
            decode_ws_frame(WsFrame::Binary(Bytes::from_static(&[1, 2, 3, 4])), V4).unwrap(),
            p
        );
        assert_eq!(
            decode_ws_frame(WsFrame::Binary(Bytes::from_static(&[4, 1, 2, 3, 4])), V3).unwrap(),
            p
        );
        // Doc example "4|0|1|2|3|4|5".
        assert_eq!(
            decode_binary_packet(Bytes::from_static(&[4, 0, 1, 2, 3, 4, 5]), V3).unwrap(),
            Packet::message_binary(vec![0u8, 1, 2, 3, 4, 5])
        );
        // An EIO4 binary frame starting with 4 is just data.
        assert_eq!(
            decode_binary_packet(Bytes::from_static(&[4, 0]), V4).unwrap(),
            Packet::message_binary(vec![4u8, 0])
        );
        // Empty EIO4 binary frame: an empty binary message.
        assert_eq!(
            decode_binary_packet(Bytes::new(), V4).unwrap(),
            Packet::message_binary(Bytes::new())
        );
        // EIO3 binary packets may carry other types.
        assert_eq!(
            decode_binary_packet(Bytes::from_static(&[2, 9]), V3).unwrap(),
            Packet::new(
                PacketType::Ping,
                PacketData::Binary(Bytes::from_static(&[9]))
            )
        );
    }

    #[test]
    fn base64_text_packets() {
        let p = Packet::message_binary(vec![1u8, 2, 3, 4]);
        assert_eq!(encode_text_packet(&p, V4), "bAQIDBA==");
        assert_eq!(encode_text_packet(&p, V3), "b4AQIDBA==");
        assert_eq!(decode_text_packet("bAQIDBA==", V4).unwrap(), p);
        assert_eq!(decode_text_packet("b4AQIDBA==", V3).unwrap(), p);
        // Unpadded base64 is accepted, as Node accepts it.
        assert_eq!(decode_text_packet("bAQIDBA", V4).unwrap(), p);
        assert_eq!(
            decode_text_packet("b", V4).unwrap(),
            Packet::message_binary(Bytes::new())
        );
        assert_eq!(
            decode_text_packet("b4", V3).unwrap(),
            Packet::message_binary(Bytes::new())
        );
    }

    #[test]
    fn malformed_text_packets() {
        for v in [V3, V4] {
            assert_eq!(decode_text_packet("", v), Err(DecodeError::EmptyPacket));
            assert_eq!(
                decode_text_packet("7", v),
                Err(DecodeError::UnknownPacketType('7'))
            );
            assert_eq!(
                decode_text_packet("x4", v),
                Err(DecodeError::UnknownPacketType('x'))
            );
            assert_eq!(
                decode_text_packet("€", v),
                Err(DecodeError::UnknownPacketType('€'))
            );
        }
        assert_eq!(decode_text_packet("b", V3), Err(DecodeError::EmptyPacket));
        assert_eq!(
            decode_text_packet("b9AQ==", V3),
            Err(DecodeError::UnknownPacketType('9'))
        );
        assert_eq!(
            decode_text_packet("b4A*==", V3),
            Err(DecodeError::InvalidBase64)
        );
        assert_eq!(
            decode_text_packet("b€", V4),
            Err(DecodeError::InvalidBase64)
        );
        assert_eq!(
            decode_text_packet("bA", V4),
            Err(DecodeError::InvalidBase64)
        );
    }

    #[test]
    fn malformed_binary_frames() {
        assert_eq!(
            decode_binary_packet(Bytes::new(), V3),
            Err(DecodeError::EmptyPacket)
        );
        assert_eq!(
            decode_binary_packet(Bytes::from_static(&[7, 1]), V3),
            Err(DecodeError::UnknownPacketTypeByte(7))
        );
        assert_eq!(
            decode_binary_packet(Bytes::from_static(b"4hi"), V3),
            Err(DecodeError::UnknownPacketTypeByte(b'4'))
        );
    }

    #[test]
    fn errors_have_messages() {
        let e = DecodeError::LengthExceedsInput {
            declared: 9,
            available: 2,
        };
        assert_eq!(
            e.to_string(),
            "packet length 9 exceeds the 2 units remaining"
        );
        assert_eq!(
            DecodeError::UnknownPacketTypeByte(7).to_string(),
            "unknown binary packet type byte 0x07"
        );
    }
}
