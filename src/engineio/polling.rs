//! Long-polling bodies: frames out as one payload, payloads in as packets.

use super::packet::{decode_binary_packet, encode_text_packet, EioVersion, Packet};
use super::payload::{decode_payload_v3_binary, decode_payload_v3_string, RECORD_SEPARATOR};
use crate::hub::Frame;
use crate::session::Pulled;

/// The payload answering one poll: the frames in order, then `1` (server close) or `6` (noop:
/// client close, or nothing to say); an EIO4 payload separates packets with `\x1e`.
pub fn encode_poll_v4(pulled: &Pulled) -> String {
    let mut parts: Vec<String> = Vec::with_capacity(pulled.frames.len() + 1);
    for frame in &pulled.frames {
        match frame {
            Frame::Text(text) => parts.push(text.to_string()),
            Frame::Binary(data) => parts.push(encode_text_packet(
                &Packet::message_binary(data.clone()),
                EioVersion::V4,
            )),
            Frame::Ping => {}
        }
    }
    match &pulled.close {
        Some(close) if !close.by_client => parts.push("1".into()),
        Some(_) => parts.push("6".into()),
        None if parts.is_empty() => parts.push("6".into()),
        None => {}
    }
    parts.join(&RECORD_SEPARATOR.to_string())
}

/// The string-form EIO3 payload answering one poll: `<length>:<packet>` for each frame, the
/// length counted in UTF-16 units; binary frames as `b4<base64>`.
pub fn encode_poll_v3(pulled: &Pulled) -> String {
    fn push(out: &mut String, packet: &str) {
        out.push_str(&packet.encode_utf16().count().to_string());
        out.push(':');
        out.push_str(packet);
    }
    let mut out = String::new();
    for frame in &pulled.frames {
        match frame {
            Frame::Text(text) => push(&mut out, text),
            Frame::Binary(data) => {
                if let Ok(packet) = decode_binary_packet(data.clone(), EioVersion::V3) {
                    push(&mut out, &encode_text_packet(&packet, EioVersion::V3));
                }
            }
            Frame::Ping => {}
        }
    }
    match &pulled.close {
        Some(close) if !close.by_client => push(&mut out, "1"),
        Some(_) => push(&mut out, "6"),
        None if out.is_empty() => push(&mut out, "6"),
        None => {}
    }
    out
}

/// The packets of an EIO3 POST body, in either the string or the binary (XHR2) form.
pub fn decode_post_v3(body: &[u8]) -> Result<Vec<Packet>, String> {
    match body.first() {
        Some(0) | Some(1) => {
            decode_payload_v3_binary(bytes::Bytes::copy_from_slice(body)).map_err(|e| e.to_string())
        }
        _ => std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(|text| decode_payload_v3_string(text).map_err(|e| e.to_string())),
    }
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
}
