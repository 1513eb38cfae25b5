//! The reading half of the WebSocket framing (RFC 6455 §5): a pure decoder of the frames a client
//! sends, bytes in, messages out. No I/O, no clocks.
//!
//! Every rule is checked on the frame header, before its payload is waited for: a header that
//! declares more than the size limit (alone, or with the fragments before it) is refused at once,
//! so a lying length never makes the server buffer anything. Each refusal carries the close code
//! the client must get (1002 protocol error, 1007 invalid UTF-8, 1009 too big), as `ws` does.

use bytes::{Buf, Bytes, BytesMut};
use bytestring::ByteString;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// RFC 6455 §5.5: control frames carry at most 125 bytes.
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// One complete message (fragments joined) or control frame from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A text message.
    Text(ByteString),
    /// A binary message.
    Binary(Bytes),
    /// A ping, with its payload (to echo in the pong).
    Ping(Bytes),
    /// A pong.
    Pong,
    /// A close frame: the client is leaving (its code, if it sent one).
    Close(Option<u16>),
}

/// Why the client's bytes were refused; the connection must close with [`close_code`].
///
/// [`close_code`]: FrameError::close_code
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// The frame breaks RFC 6455 (reserved bits, opcodes, masking, control frame rules,
    /// fragmentation order, close payload).
    #[error("Invalid WebSocket frame: {0}")]
    Protocol(String),
    /// A text message (or a close reason) is not valid UTF-8.
    #[error("Invalid WebSocket frame: invalid UTF-8 sequence")]
    InvalidUtf8,
    /// The message is larger than the limit (declared in a header, or fragments added up).
    #[error("message too big")]
    TooBig,
}

impl FrameError {
    /// The WebSocket close code this error closes the connection with.
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            FrameError::Protocol(_) => 1002,
            FrameError::InvalidUtf8 => 1007,
            FrameError::TooBig => 1009,
        }
    }
}

fn protocol(reason: impl Into<String>) -> FrameError {
    FrameError::Protocol(reason.into())
}

/// A fragmented message being put together.
#[derive(Debug)]
struct Fragments {
    text: bool,
    data: BytesMut,
}

/// The decoder of one connection's client frames (it remembers a fragmented message between
/// calls).
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    max_message: usize,
    fragments: Option<Fragments>,
}

/// A frame header, parsed.
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Bytes of the header itself.
    header_len: usize,
    payload_len: usize,
}

impl FrameDecoder {
    /// A decoder refusing messages over `max_message` bytes.
    pub(crate) fn new(max_message: usize) -> FrameDecoder {
        FrameDecoder {
            max_message,
            fragments: None,
        }
    }

    /// Takes the next message or control frame out of `buf`: `Ok(None)` when more bytes are
    /// needed. After an error the connection is over: call no more.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, FrameError> {
        loop {
            let Some(header) = self.header(buf)? else {
                return Ok(None);
            };
            if buf.len() < header.header_len + header.payload_len {
                return Ok(None);
            }
            buf.advance(header.header_len);
            let mut payload = buf.split_to(header.payload_len);
            unmask(&mut payload, header.mask);
            if let Some(incoming) = self.complete(header.fin, header.opcode, payload)? {
                return Ok(Some(incoming));
            }
        }
    }

    /// Parses and checks the header at the start of `buf`, if it is all there.
    fn header(&self, buf: &[u8]) -> Result<Option<Header>, FrameError> {
        let [first, second, ..] = *buf else {
            return Ok(None);
        };
        let fin = first & 0x80 != 0;
        if first & 0x40 != 0 {
            return Err(protocol("RSV1 must be clear"));
        }
        if first & 0x30 != 0 {
            return Err(protocol(format!(
                "RSV{} must be clear",
                if first & 0x20 != 0 { 2 } else { 3 }
            )));
        }
        let opcode = first & 0x0F;
        let control = match opcode {
            OP_CONTINUATION | OP_TEXT | OP_BINARY => false,
            OP_CLOSE | OP_PING | OP_PONG => true,
            other => return Err(protocol(format!("invalid opcode {other}"))),
        };
        if second & 0x80 == 0 {
            return Err(protocol("MASK must be set"));
        }
        if control && !fin {
            return Err(protocol("FIN must be set"));
        }
        match (opcode, &self.fragments) {
            (OP_CONTINUATION, None) => return Err(protocol("invalid opcode 0")),
            (OP_TEXT | OP_BINARY, Some(_)) => {
                return Err(protocol(format!("invalid opcode {opcode}")))
            }
            _ => {}
        }
        let (length, mut at) = match second & 0x7F {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let length = u64::from_be_bytes(b.try_into().expect("8 bytes"));
                    if length >> 63 != 0 {
                        return Err(protocol(
                            "the most significant bit of a 64-bit length must be clear",
                        ));
                    }
                    (length, 10)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        if control && length > MAX_CONTROL_PAYLOAD {
            return Err(protocol(format!("invalid payload length {length}")));
        }
        let before = self.fragments.as_ref().map_or(0, |f| f.data.len() as u64);
        if !control && before.saturating_add(length) > self.max_message as u64 {
            return Err(FrameError::TooBig);
        }
        let Some(mask) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        let mask = mask.try_into().expect("4 bytes");
        at += 4;
        Ok(Some(Header {
            fin,
            opcode,
            mask,
            header_len: at,
            // At most 125 or at most the message limit, which is a usize.
            payload_len: length as usize,
        }))
    }

    /// One whole frame: a message or control frame when it completes one.
    fn complete(
        &mut self,
        fin: bool,
        opcode: u8,
        payload: BytesMut,
    ) -> Result<Option<Incoming>, FrameError> {
        match opcode {
            OP_PING => Ok(Some(Incoming::Ping(payload.freeze()))),
            OP_PONG => Ok(Some(Incoming::Pong)),
            OP_CLOSE => close_frame(&payload).map(|code| Some(Incoming::Close(code))),
            OP_CONTINUATION => {
                let fragments = self.fragments.as_mut().expect("checked on the header");
                fragments.data.extend_from_slice(&payload);
                if !fin {
                    return Ok(None);
                }
                let Fragments { text, data } = self.fragments.take().expect("present");
                message(text, data).map(Some)
            }
            _ => {
                let text = opcode == OP_TEXT;
                if fin {
                    return message(text, payload).map(Some);
                }
                self.fragments = Some(Fragments {
                    text,
                    data: payload,
                });
                Ok(None)
            }
        }
    }
}

fn message(text: bool, data: BytesMut) -> Result<Incoming, FrameError> {
    if text {
        ByteString::try_from(data.freeze())
            .map(Incoming::Text)
            .map_err(|_| FrameError::InvalidUtf8)
    } else {
        Ok(Incoming::Binary(data.freeze()))
    }
}

/// RFC 6455 §7.4: the codes a client may send in a close frame.
fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Checks a close frame's payload: nothing, or a valid code and a UTF-8 reason.
fn close_frame(payload: &[u8]) -> Result<Option<u16>, FrameError> {
    match payload {
        [] => Ok(None),
        [_] => Err(protocol("invalid payload length 1")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !is_valid_close_code(code) {
                return Err(protocol(format!("invalid status code {code}")));
            }
            std::str::from_utf8(reason).map_err(|_| FrameError::InvalidUtf8)?;
            Ok(Some(code))
        }
    }
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A masked client frame.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![first];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        out
    }

    fn decode_all(bytes: &[u8], max: usize) -> Result<Vec<Incoming>, FrameError> {
        let mut decoder = FrameDecoder::new(max);
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(incoming) = decoder.decode(&mut buf)? {
            out.push(incoming);
        }
        Ok(out)
    }

    #[test]
    fn rfc_6455_examples_decode() {
        // §5.7: a masked "Hello".
        let hello = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            decode_all(&hello, 100),
            Ok(vec![Incoming::Text("Hello".into())])
        );
        // A fragmented "Hel" + "lo", a ping in between.
        let mut bytes = frame(0x01, b"Hel");
        bytes.extend(frame(0x89, b"p"));
        bytes.extend(frame(0x80, b"lo"));
        assert_eq!(
            decode_all(&bytes, 100),
            Ok(vec![
                Incoming::Ping(Bytes::from_static(b"p")),
                Incoming::Text("Hello".into())
            ])
        );
        assert_eq!(
            decode_all(&frame(0x82, &[0u8; 300]), 300),
            Ok(vec![Incoming::Binary(Bytes::from(vec![0u8; 300]))])
        );
        assert_eq!(
            decode_all(&frame(0x88, b"\x03\xe8bye"), 10),
            Ok(vec![Incoming::Close(Some(1000))])
        );
        assert_eq!(decode_all(&frame(0x8A, b""), 10), Ok(vec![Incoming::Pong]));
    }

    #[test]
    fn a_frame_arriving_byte_by_byte_waits_then_decodes() {
        let bytes = frame(0x81, &[b'a'; 200]);
        let mut decoder = FrameDecoder::new(1000);
        let mut buf = BytesMut::new();
        for (i, byte) in bytes.iter().enumerate() {
            assert_eq!(decoder.decode(&mut buf), Ok(None), "at byte {i}");
            buf.extend_from_slice(&[*byte]);
        }
        assert!(matches!(decoder.decode(&mut buf), Ok(Some(Incoming::Text(t))) if t.len() == 200));
        assert!(buf.is_empty());
    }

    #[test]
    fn broken_headers_are_protocol_errors_at_once() {
        let cases: &[(&[u8], &str)] = &[
            (b"\x81\x02hi", "Invalid WebSocket frame: MASK must be set"),
            (b"\xc1\x80", "Invalid WebSocket frame: RSV1 must be clear"),
            (b"\xa1\x80", "Invalid WebSocket frame: RSV2 must be clear"),
            (b"\x91\x80", "Invalid WebSocket frame: RSV3 must be clear"),
            (b"\x83\x80", "Invalid WebSocket frame: invalid opcode 3"),
            (b"\x8f\x80", "Invalid WebSocket frame: invalid opcode 15"),
            (b"\x80\x80", "Invalid WebSocket frame: invalid opcode 0"),
            (b"\x09\x80", "Invalid WebSocket frame: FIN must be set"),
            (b"\x89\xfe\x00\x7e", "Invalid WebSocket frame: invalid payload length 126"),
            (
                b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00",
                "Invalid WebSocket frame: the most significant bit of a 64-bit length must be clear",
            ),
        ];
        for (bytes, message) in cases {
            let error = decode_all(bytes, 1 << 20).unwrap_err();
            assert_eq!(error.close_code(), 1002, "{bytes:02x?}");
            assert_eq!(error.to_string(), *message, "{bytes:02x?}");
        }
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_on_the_header() {
        // 10 GiB declared; no mask or payload has arrived.
        let header = b"\x82\xff\x00\x00\x00\x02\x80\x00\x00\x00";
        assert_eq!(decode_all(header, 1_000_000), Err(FrameError::TooBig));
        assert_eq!(FrameError::TooBig.close_code(), 1009);
        // Fragments add up: 600 + 600 > 1000, refused on the second header.
        let mut bytes = frame(0x02, &[0u8; 600]);
        bytes.extend_from_slice(&frame(0x80, &[0u8; 600])[..4]);
        assert_eq!(decode_all(&bytes, 1000), Err(FrameError::TooBig));
        // Exactly the limit is fine.
        assert!(decode_all(&frame(0x82, &[0u8; 1000]), 1000).is_ok());
    }

    #[test]
    fn a_message_is_checked_in_order_and_interleaving_is_refused() {
        let mut bytes = frame(0x01, b"a");
        bytes.extend(frame(0x81, b"b"));
        assert_eq!(
            decode_all(&bytes, 100).unwrap_err().to_string(),
            "Invalid WebSocket frame: invalid opcode 1"
        );
    }

    #[test]
    fn invalid_utf8_closes_1007() {
        let error = decode_all(&frame(0x81, b"\xff\xfe"), 100).unwrap_err();
        assert_eq!((error.close_code(), error), (1007, FrameError::InvalidUtf8));
        // Split inside a character across fragments is fine.
        let mut bytes = frame(0x01, b"\xc3");
        bytes.extend(frame(0x80, b"\xa9"));
        assert_eq!(
            decode_all(&bytes, 100),
            Ok(vec![Incoming::Text("é".into())])
        );
        // A close reason too.
        assert_eq!(
            decode_all(&frame(0x88, b"\x03\xe8\xff"), 100),
            Err(FrameError::InvalidUtf8)
        );
    }

    #[test]
    fn close_payloads_are_checked() {
        assert_eq!(
            decode_all(&frame(0x88, b"\x03"), 100)
                .unwrap_err()
                .to_string(),
            "Invalid WebSocket frame: invalid payload length 1"
        );
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            let error = decode_all(&frame(0x88, &code.to_be_bytes()), 100).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("Invalid WebSocket frame: invalid status code {code}")
            );
        }
        assert_eq!(
            decode_all(&frame(0x88, b""), 100),
            Ok(vec![Incoming::Close(None)])
        );
        assert_eq!(
            decode_all(&frame(0x88, &4000u16.to_be_bytes()), 100),
            Ok(vec![Incoming::Close(Some(4000))])
        );
    }

    #[test]
    fn random_bytes_never_panic_or_loop() {
        // A small xorshift: the same cases every run.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if next() % 2 == 0 && !bytes.is_empty() {
                bytes[0] = (bytes[0] & 0x8F) | 0x80; // often a plausible header
                if bytes.len() > 1 {
                    bytes[1] |= 0x80;
                }
            }
            let mut decoder = FrameDecoder::new(64);
            let mut buf = BytesMut::from(&bytes[..]);
            // Each successful call consumes at least one header: bounded by the input length.
            for _ in 0..=bytes.len() {
                match decoder.decode(&mut buf) {
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}
