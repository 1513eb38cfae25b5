//! Long-polling bodies: frames out as one payload, payloads in as packets.
//!
//! What a poll is answered with depends on the revision and on the client:
//!
//! | client | body | Content-Type |
//! |---|---|---|
//! | EIO4 | packets joined by `\x1e`, binary as `b<base64>` | `text/plain; charset=UTF-8` |
//! | EIO3, `b64=1` at the handshake, or nothing binary queued | `<UTF-16 length>:<packet>`..., binary as `b4<base64>` | `text/plain; charset=UTF-8` |
//! | EIO3 supporting binary (no `b64`), something binary queued | the binary (XHR2) form | `application/octet-stream` |
//! | EIO3 JSONP (`j=<index>`) | `___eio[<index>]("<string form, escaped>");` | `text/javascript; charset=UTF-8` |
//!
//! as Node's engine.io (`polling.js`, `polling-jsonp.js`) with engine.io-parser 2.x.

use std::borrow::Cow;

use bytes::Bytes;

use super::jsonp::encode_jsonp;
use super::packet::{decode_binary_packet, encode_text_packet, EioVersion, Packet};
use super::payload::{
    decode_payload_v3_binary, decode_payload_v3_string, join_payload_v3_binary,
    join_payload_v3_string, join_payload_v4,
};
use crate::hub::Frame;
use crate::session::Pulled;

/// Content-Type of a text poll answer.
pub(super) const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";
/// Content-Type of an EIO3 binary-form poll answer.
pub(super) const OCTET_STREAM: &str = "application/octet-stream";
/// Content-Type of a JSONP poll answer (a script).
pub(super) const TEXT_JAVASCRIPT: &str = "text/javascript; charset=UTF-8";

/// How one poll is to be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PollFlavor {
    /// EIO4: `\x1e`-separated text.
    V4,
    /// EIO3 over XHR: the binary form when `binary` (the client did not ask for `b64` at its
    /// handshake) and something binary is queued, the string form otherwise.
    V3 {
        /// The client supports binary payloads.
        binary: bool,
    },
    /// EIO3 over JSONP: the string form inside `___eio[<index>](...);`. `index` is already
    /// validated (see [`validate_jsonp_index`](super::jsonp::validate_jsonp_index)).
    V3Jsonp {
        /// The callback index (`j` query parameter).
        index: String,
    },
}

/// A poll answer: its body and Content-Type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PollAnswer {
    /// The Content-Type header.
    pub content_type: &'static str,
    /// The body.
    pub body: Bytes,
}

/// Answers one poll in `flavor`.
pub(super) fn answer_poll(pulled: &Pulled, flavor: &PollFlavor) -> PollAnswer {
    let text = |body: String, content_type| PollAnswer {
        content_type,
        body: Bytes::from(body),
    };
    match flavor {
        PollFlavor::V4 => text(encode_poll_v4(pulled), TEXT_PLAIN),
        PollFlavor::V3 { binary: true } if has_binary(pulled) => PollAnswer {
            content_type: OCTET_STREAM,
            body: encode_poll_v3_binary(pulled),
        },
        PollFlavor::V3 { .. } => text(encode_poll_v3(pulled), TEXT_PLAIN),
        PollFlavor::V3Jsonp { index } => {
            let payload = encode_poll_v3(pulled);
            // The index was validated when the request was routed; never echo anything else.
            let script = encode_jsonp(index, &payload).unwrap_or_default();
            text(script, TEXT_JAVASCRIPT)
        }
    }
}

/// Whether any frame of the answer is binary.
fn has_binary(pulled: &Pulled) -> bool {
    pulled.frames.iter().any(|f| matches!(f, Frame::Binary(_)))
}

/// The packet that ends an answer: `1` when the server closes the session, `6` (noop) when the
/// client did or when there is nothing else to say.
fn last_packet(pulled: &Pulled, empty: bool) -> Option<&'static str> {
    match &pulled.close {
        Some(close) if !close.by_client => Some("1"),
        Some(_) => Some("6"),
        None if empty => Some("6"),
        None => None,
    }
}

/// The payload answering one poll: the frames in order, then `1` (server close) or `6` (noop:
/// client close, or nothing to say); an EIO4 payload separates packets with `\x1e`.
pub(super) fn encode_poll_v4(pulled: &Pulled) -> String {
    let mut parts: Vec<Cow<'_, str>> = Vec::with_capacity(pulled.frames.len() + 1);
    for frame in &pulled.frames {
        match frame {
            Frame::Text(text) => parts.push(Cow::Borrowed(text)),
            Frame::Binary(data) => parts.push(Cow::Owned(encode_text_packet(
                &Packet::message_binary(data.clone()),
                EioVersion::V4,
            ))),
            Frame::Ping => {}
        }
    }
    if let Some(last) = last_packet(pulled, parts.is_empty()) {
        parts.push(Cow::Borrowed(last));
    }
    join_payload_v4(parts.iter().map(|p| p.as_ref()))
}

/// The string-form EIO3 payload answering one poll: `<length>:<packet>` for each frame, the
/// length counted in UTF-16 units; binary frames as `b4<base64>`.
pub(super) fn encode_poll_v3(pulled: &Pulled) -> String {
    let mut parts: Vec<Cow<'_, str>> = Vec::with_capacity(pulled.frames.len() + 1);
    for frame in &pulled.frames {
        match frame {
            Frame::Text(text) => parts.push(Cow::Borrowed(text)),
            Frame::Binary(data) => {
                if let Ok(packet) = decode_binary_packet(data.clone(), EioVersion::V3) {
                    parts.push(Cow::Owned(encode_text_packet(&packet, EioVersion::V3)));
                }
            }
            Frame::Ping => {}
        }
    }
    if let Some(last) = last_packet(pulled, parts.is_empty()) {
        parts.push(Cow::Borrowed(last));
    }
    join_payload_v3_string(parts.iter().map(|p| p.as_ref()))
}

/// The binary-form (XHR2) EIO3 payload answering one poll: per frame a marker (0 string,
/// 1 binary), the byte length as digit bytes, `0xFF`, then the packet (a binary frame already
/// starts with its type byte, `0x04`).
pub(super) fn encode_poll_v3_binary(pulled: &Pulled) -> Bytes {
    let mut entries: Vec<(bool, &[u8])> = Vec::with_capacity(pulled.frames.len() + 1);
    for frame in &pulled.frames {
        match frame {
            Frame::Text(text) => entries.push((false, text.as_bytes())),
            Frame::Binary(data) if !data.is_empty() => entries.push((true, data)),
            Frame::Binary(_) | Frame::Ping => {}
        }
    }
    if let Some(last) = last_packet(pulled, entries.is_empty()) {
        entries.push((false, last.as_bytes()));
    }
    join_payload_v3_binary(entries)
}

/// The packets of an EIO3 POST body, in either the string or the binary (XHR2) form. A string
/// payload starts with a length digit, a binary one with its marker byte 0 or 1.
pub(super) fn decode_post_v3(body: &[u8]) -> Result<Vec<Packet>, String> {
    match body.first() {
        Some(0) | Some(1) => {
            decode_payload_v3_binary(bytes::Bytes::copy_from_slice(body)).map_err(|e| e.to_string())
        }
        _ => std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(|text| decode_payload_v3_string(text).map_err(|e| e.to_string())),
    }
}

/// The packets of an EIO3 JSONP POST body: a form with the string-form payload in `d`.
pub(super) fn decode_post_jsonp(body: &[u8]) -> Result<Vec<Packet>, String> {
    let payload = super::jsonp::decode_jsonp_body(body).map_err(|e| e.to_string())?;
    decode_payload_v3_string(&payload).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::CloseInfo;

    fn close(by_client: bool) -> Option<CloseInfo> {
        Some(CloseInfo {
            code: 1000,
            reason: String::new(),
            by_client,
            farewell: None,
        })
    }

    #[test]
    fn frames_become_one_payload() {
        let pulled = Pulled {
            frames: vec![
                Frame::Text("4hello".into()),
                Frame::Binary(vec![1u8, 2, 3, 4].into()),
                Frame::Text("2".into()),
            ],
            close: None,
        };
        assert_eq!(encode_poll_v4(&pulled), "4hello\x1ebAQIDBA==\x1e2");
    }

    #[test]
    fn eio3_payloads_count_utf16_units() {
        let pulled = Pulled {
            frames: vec![Frame::Text("4h\u{e9}\u{1f600}".into())],
            close: None,
        };
        assert_eq!(encode_poll_v3(&pulled), "5:4h\u{e9}\u{1f600}");
        assert_eq!(encode_poll_v3(&Pulled::default()), "1:6");
    }

    #[test]
    fn empty_and_closing_polls() {
        assert_eq!(encode_poll_v4(&Pulled::default()), "6");
        let server_close = Pulled {
            frames: vec![Frame::Text("4bye".into())],
            close: close(false),
        };
        assert_eq!(encode_poll_v4(&server_close), "4bye\x1e1");
        let client_close = Pulled {
            frames: vec![],
            close: close(true),
        };
        assert_eq!(encode_poll_v4(&client_close), "6");
    }

    fn hello_and_bytes() -> Pulled {
        Pulled {
            // An EIO3 binary message frame starts with its type byte.
            frames: vec![
                Frame::Text("4hello".into()),
                Frame::Binary(vec![4u8, 1, 2, 3, 4].into()),
            ],
            close: None,
        }
    }

    #[test]
    fn eio3_binary_form_matches_the_v3_test_suite() {
        // The official v3 suite's expected bytes for "6:4hello10:b4AQIDBA==" echoed back.
        let expected: &[u8] = &[
            0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4,
        ];
        assert_eq!(encode_poll_v3_binary(&hello_and_bytes()).as_ref(), expected);
        let answer = answer_poll(&hello_and_bytes(), &PollFlavor::V3 { binary: true });
        assert_eq!(answer.content_type, OCTET_STREAM);
        assert_eq!(answer.body.as_ref(), expected);
        // The same packets decode back.
        assert_eq!(
            decode_post_v3(expected).unwrap(),
            vec![
                Packet::message_text("hello"),
                Packet::message_binary(vec![1u8, 2, 3, 4])
            ]
        );
    }

    #[test]
    fn eio3_binary_form_lengths_are_bytes_and_closes_are_string_packets() {
        let pulled = Pulled {
            frames: vec![
                Frame::Text("4\u{e9}\u{1f600}".into()),
                Frame::Binary(vec![4u8].into()),
            ],
            close: close(false),
        };
        let expected: &[u8] = &[
            0, 7, 255, b'4', 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80, // "4é😀": 7 UTF-8 bytes
            1, 1, 255, 4, // an empty binary message: just its type byte
            0, 1, 255, b'1', // the server's close
        ];
        assert_eq!(encode_poll_v3_binary(&pulled).as_ref(), expected);
        assert_eq!(
            encode_poll_v3_binary(&Pulled::default()).as_ref(),
            &[0, 1, 255, b'6']
        );
        let long = Pulled {
            frames: vec![Frame::Binary(vec![4u8; 12].into())],
            close: None,
        };
        assert_eq!(&encode_poll_v3_binary(&long)[..4], &[1, 1, 2, 255]);
    }

    #[test]
    fn eio3_answers_pick_their_form_and_content_type() {
        // Binary support but nothing binary queued: the string form.
        let text_only = Pulled {
            frames: vec![Frame::Text("4hello".into())],
            close: None,
        };
        let answer = answer_poll(&text_only, &PollFlavor::V3 { binary: true });
        assert_eq!(answer.content_type, TEXT_PLAIN);
        assert_eq!(answer.body.as_ref(), b"6:4hello");
        // b64: the string form with base64.
        let answer = answer_poll(&hello_and_bytes(), &PollFlavor::V3 { binary: false });
        assert_eq!(answer.content_type, TEXT_PLAIN);
        assert_eq!(answer.body.as_ref(), b"6:4hello10:b4AQIDBA==");
        // JSONP: the string form, escaped, in a script; always base64.
        let quoted = Pulled {
            frames: vec![
                Frame::Text("4\"a\"\n\u{2028}".into()),
                Frame::Binary(vec![4u8, 1, 2, 3, 4].into()),
            ],
            close: None,
        };
        let answer = answer_poll(&quoted, &PollFlavor::V3Jsonp { index: "3".into() });
        assert_eq!(answer.content_type, TEXT_JAVASCRIPT);
        assert_eq!(
            std::str::from_utf8(&answer.body).unwrap(),
            r#"___eio[3]("6:4\"a\"\n\u202810:b4AQIDBA==");"#
        );
        let answer = answer_poll(&text_only, &PollFlavor::V4);
        assert_eq!(
            (answer.content_type, answer.body.as_ref()),
            (TEXT_PLAIN, &b"4hello"[..])
        );
    }

    #[test]
    fn jsonp_posts_are_forms_with_escaped_newlines() {
        assert_eq!(
            decode_post_jsonp(b"d=5%3A4a%5Cnb%E2%82%AC").unwrap(),
            vec![Packet::message_text("a\nb\u{20ac}")]
        );
        assert!(decode_post_jsonp(b"7:4a").is_err());
        assert!(decode_post_jsonp(b"d=9%3A4a").is_err());
    }
}
