//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`): one function per
//! family of decoders that read the network, each taking arbitrary bytes. None may panic, hang
//! or allocate without bound; where a codec has an encoder too, the function also checks that
//! what it decoded encodes and decodes back to the same thing, and panics if not.
//!
//! Not an API for applications: the decoders stay private to the crate, these only drive them.

use bytes::{Bytes, BytesMut};

use crate::engineio::packet::{self as eio, EioVersion};
use crate::engineio::{jsonp, payload};
use crate::session::ws_frame::{FrameDecoder, Incoming};
use crate::socketio::packet::{self as sio, ProtocolVersion};
use crate::sockjs::frame::{self as sockjs_frame, CallbackTransport};

/// The message size limit the WebSocket fuzz target's decoder enforces.
const FUZZ_MAX_MESSAGE: usize = 64 * 1024;

/// Splits `data` after its first byte into pieces at each `0xFF` (how the targets turn one input
/// into several frames or reads).
fn pieces(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == 0xFF)
}

/// The WebSocket frame decoder (RFC 6455 framing of client frames), fed the input in reads of
/// the sizes the first byte picks. Every message it yields is within the size limit.
pub fn websocket_frames(data: &[u8]) {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = FrameDecoder::new(FUZZ_MAX_MESSAGE);
    let mut buf = BytesMut::new();
    for read in rest.chunks(chunk) {
        buf.extend_from_slice(read);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(incoming)) => assert!(message_len(&incoming) <= FUZZ_MAX_MESSAGE),
                Ok(None) => break,
                Err(error) => {
                    assert!(matches!(error.close_code(), 1002 | 1007 | 1009));
                    return;
                }
            }
        }
    }
}

/// The payload size of what the WebSocket decoder yielded.
fn message_len(incoming: &Incoming) -> usize {
    match incoming {
        Incoming::Text(text) => text.len(),
        Incoming::Binary(data) | Incoming::Ping(data) => data.len(),
        Incoming::Pong | Incoming::Close(_) => 0,
    }
}

/// Engine.IO: single packets (text and binary), the v4 and v3 (string and binary) polling
/// payloads and the JSONP body, in both protocol revisions.
pub fn engineio(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let version = if selector & 1 == 0 {
        EioVersion::V4
    } else {
        EioVersion::V3
    };
    let text = String::from_utf8_lossy(rest);
    match (selector >> 1) % 6 {
        0 => {
            if let Ok(packet) = eio::decode_text_packet(&text, version) {
                let again =
                    eio::decode_text_packet(&eio::encode_text_packet(&packet, version), version);
                // EIO4 cannot carry a binary packet's kind in text form: it becomes a message.
                if !(version == EioVersion::V4 && packet.is_binary()) {
                    assert_eq!(again.as_ref(), Ok(&packet));
                }
            }
        }
        1 => {
            if let Ok(packet) = eio::decode_binary_packet(Bytes::copy_from_slice(rest), version) {
                let frame = eio::encode_ws_frame(&packet, version);
                assert_eq!(eio::decode_ws_frame(frame, version), Ok(packet));
            }
        }
        2 => {
            if let Ok(packets) = payload::decode_payload_v4(&text) {
                if !packets.iter().any(|p| p.is_binary()) {
                    let again = payload::decode_payload_v4(&payload::encode_payload_v4(&packets));
                    assert_eq!(again, Ok(packets));
                }
            }
        }
        3 => {
            if let Ok(packets) = payload::decode_payload_v3_string(&text) {
                let again =
                    payload::decode_payload_v3_string(&payload::encode_payload_v3_string(&packets));
                assert_eq!(again, Ok(packets));
            }
        }
        4 => {
            if let Ok(packets) = payload::decode_payload_v3_binary(Bytes::copy_from_slice(rest)) {
                let again =
                    payload::decode_payload_v3_binary(payload::encode_payload_v3_binary(&packets));
                assert_eq!(again, Ok(packets));
            }
        }
        _ => {
            let _ = jsonp::decode_jsonp_body(rest);
            let _ = jsonp::validate_jsonp_index(&text);
        }
    }
}

/// Socket.IO: a connection's frames (text first, then binary attachments, split at `0xFF`)
/// through the incremental decoder of protocol v4 or v5, with binary reassembly. Each complete
/// packet encodes and decodes back to itself.
pub fn socketio(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let version = if selector & 1 == 0 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V4
    };
    let mut decoder = sio::Decoder::with_max_attachments(version, 8);
    for (i, frame) in pieces(rest).enumerate() {
        let result = if i == 0 || (selector & 2 != 0 && !decoder.is_reconstructing()) {
            decoder.feed_text(&String::from_utf8_lossy(frame))
        } else {
            decoder.feed_binary(Bytes::copy_from_slice(frame))
        };
        match result {
            Ok(Some(packet)) => assert_round_trip(version, &packet),
            Ok(None) => {}
            Err(_) => return,
        }
    }
}

/// A Socket.IO packet the decoder accepted encodes to frames that decode to the same packet
/// (a binary packet without attachments is written, on purpose, as its plain kind, and a `null`
/// payload as none).
fn assert_round_trip(version: ProtocolVersion, packet: &sio::Packet) {
    let (text, attachments) = sio::encode(packet);
    let mut decoder = sio::Decoder::with_max_attachments(version, 8);
    let mut decoded = decoder
        .feed_text(&text)
        .expect("re-decoding an encoded packet");
    for attachment in attachments {
        decoded = decoder
            .feed_binary(attachment)
            .expect("re-decoding an attachment");
    }
    let mut expected = packet.clone();
    expected.kind = sio::wire_kind(packet);
    // A `null` payload is written as no payload (Node's encoder drops it too).
    expected.data = packet.data.clone().filter(|data| !data.is_null());
    assert_eq!(decoded, Some(expected));
}

/// SockJS: the bodies of `xhr_send` and `jsonp_send` (with each content type), WebSocket text
/// and binary messages (through SockJS's own JSON reader), and the callback parameter. Messages
/// read from a WebSocket, sent again as a JSON array, read back the same.
pub fn sockjs(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    const CONTENT_TYPES: [Option<&str>; 4] = [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=UTF-8"),
    ];
    let content_type = CONTENT_TYPES[usize::from(selector >> 4) % CONTENT_TYPES.len()];
    let text = String::from_utf8_lossy(rest);
    match selector % 5 {
        0 => {
            let _ = sockjs_frame::decode_xhr_send(content_type, rest);
        }
        1 => {
            let _ = sockjs_frame::decode_jsonp_send(content_type, rest);
        }
        2 => {
            if let Ok(messages) = sockjs_frame::decode_websocket(&text) {
                let resent = serde_json::to_string(&messages).expect("strings serialize");
                assert_eq!(sockjs_frame::decode_websocket(&resent), Ok(messages));
            }
        }
        3 => {
            let _ = sockjs_frame::decode_websocket_binary(rest);
        }
        _ => {
            let transport = if selector & 0x80 == 0 {
                CallbackTransport::Jsonp
            } else {
                CallbackTransport::Htmlfile
            };
            let _ = sockjs_frame::callback_from_query(Some(&text), transport);
        }
    }
}

/// The relay envelope a `/ws`, SockJS or Socket.IO relay client sends.
pub fn relay(data: &[u8]) {
    let _ = crate::relay::envelope::decode(&String::from_utf8_lossy(data));
}

/// The Redis cluster's messages (`@socket.io/redis-adapter` and the streams adapter): classic
/// broadcasts and requests, sharded envelopes, msgpack or JSON, stream entries (fields split at
/// `0xFF`) and kept sessions. What msgpack reads as JSON writes back as the same JSON.
pub fn cluster(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 6 {
        5 => {
            let parts: Vec<&[u8]> = pieces(rest).collect();
            let _ = crate::cluster::fuzz_decode_stream_entry(&parts);
        }
        4 => {
            let _ = crate::cluster::fuzz_decode_session(rest);
        }
        3 => {
            let _ = crate::cluster::fuzz_decode_sharded(rest);
        }
        0 => {
            let _ = crate::cluster::fuzz_decode_broadcast(rest);
        }
        1 => {
            let _ = crate::cluster::fuzz_decode_request(rest);
        }
        _ => crate::cluster::fuzz_msgpack_round_trip(rest),
    }
}

/// The query-string readers: Engine.IO's handshake parameters and Socket.IO's `handshake.query`.
pub fn query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let pairs = crate::engineio::parse_query(&text);
    assert!(pairs.len() <= text.len() + 1);
    let _ = crate::socketio::query_object(&text);
}
