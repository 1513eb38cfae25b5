//! Decoding what clients send: xhr_send, jsonp_send and WebSocket messages.

use super::json::{into_message, into_messages, json_parse, JsValue};
use super::FrameError;

// Decoding what clients send

/// Media types (the `Content-Type` up to the first `;`, compared exactly and
/// case-sensitively) that sockjs-node's `expect_xhr` accepts on `xhr_send`.
/// A missing header counts as `""`.
pub(crate) const XHR_SEND_CONTENT_TYPES: [&str; 6] = [
    "text/plain",
    "T",
    "application/json",
    "application/xml",
    "",
    "text/xml",
];

fn media_type(content_type: Option<&str>) -> &str {
    let ct = content_type.unwrap_or("");
    ct.split(';').next().unwrap_or("")
}

/// Decodes an `xhr_send` body: a JSON array of messages.
///
/// Order of checks as in sockjs-node: unsupported media type or empty body →
/// [`FrameError::PayloadExpected`]; invalid JSON → [`FrameError::BrokenJson`];
/// valid JSON that is not an array → [`FrameError::PayloadExpected`]. `[]` is
/// fine and yields no message. Invalid UTF-8 becomes U+FFFD (Node's
/// `toString('utf-8')`). The session lookup (404 for an unknown session)
/// comes after this, in the caller.
///
/// # Errors
///
/// [`FrameError::PayloadExpected`] or [`FrameError::BrokenJson`].
pub(crate) fn decode_xhr_send(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<String>, FrameError> {
    if !XHR_SEND_CONTENT_TYPES.contains(&media_type(content_type)) {
        return Err(FrameError::PayloadExpected);
    }
    let text = String::from_utf8_lossy(body);
    if text.is_empty() {
        return Err(FrameError::PayloadExpected);
    }
    match json_parse(&text).ok_or(FrameError::BrokenJson)? {
        JsValue::Array(items) => Ok(into_messages(items)),
        _ => Err(FrameError::PayloadExpected),
    }
}

/// Decodes a `jsonp_send` body, following sockjs-node's `expect_form` and
/// `jsonp_send`:
///
/// * `application/x-www-form-urlencoded`: the `d` field. Missing or empty →
///   [`FrameError::PayloadExpected`]; otherwise parsed as JSON (invalid →
///   [`FrameError::BrokenJson`]) and must be an array. If `d` is given more
///   than once, the raw values themselves are the messages (a JS array).
/// * `text/plain` or no `Content-Type`: the whole body is JSON; if that JSON
///   is a non-empty string it is parsed a second time.
/// * any other media type → [`FrameError::PayloadExpected`].
///
/// # Errors
///
/// [`FrameError::PayloadExpected`] or [`FrameError::BrokenJson`].
pub(crate) fn decode_jsonp_send(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<String>, FrameError> {
    let text = String::from_utf8_lossy(body);
    let value = match media_type(content_type) {
        "application/x-www-form-urlencoded" => {
            let mut ds: Vec<String> = form_urlencoded::parse(text.as_bytes())
                .filter(|(k, _)| k == "d")
                .map(|(_, v)| v.into_owned())
                .collect();
            if ds.len() > 1 {
                return Ok(ds);
            }
            let d = ds.pop().unwrap_or_default();
            if d.is_empty() {
                return Err(FrameError::PayloadExpected);
            }
            json_parse(&d).ok_or(FrameError::BrokenJson)?
        }
        "text/plain" | "" => {
            if text.is_empty() {
                return Err(FrameError::PayloadExpected);
            }
            match json_parse(&text).ok_or(FrameError::BrokenJson)? {
                JsValue::Str(s) if !s.is_empty() => json_parse(&s).ok_or(FrameError::BrokenJson)?,
                other => other,
            }
        }
        _ => return Err(FrameError::PayloadExpected),
    };
    match value {
        JsValue::Array(items) => Ok(into_messages(items)),
        _ => Err(FrameError::PayloadExpected),
    }
}

/// Decodes one WebSocket text message on `/<server>/<session>/websocket`.
///
/// As sockjs-node's `WebSocketReceiver.didMessage`: an empty message is
/// ignored (`Ok(vec![])`); invalid JSON → [`FrameError::BrokenFraming`]; a
/// message starting with `[` is an array of messages; anything else (for
/// example `"a"`, or ` ["a"]` with a leading space) is a single message.
///
/// # Errors
///
/// [`FrameError::BrokenFraming`]: close the socket with [`super::CLOSE_BROKEN_FRAMING`].
pub(crate) fn decode_websocket(payload: &str) -> Result<Vec<String>, FrameError> {
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    let value = json_parse(payload).ok_or(FrameError::BrokenFraming)?;
    match value {
        JsValue::Array(items) if payload.starts_with('[') => Ok(into_messages(items)),
        other => Ok(vec![into_message(other)]),
    }
}

/// Decodes one WebSocket *binary* message the way sockjs-node 0.3.24 does by
/// accident: the bytes are read as UTF-8 JSON but, since `buffer[0] === '['`
/// is never true, the whole value is always one message (an array becomes
/// its JS `join(",")`).
///
/// # Errors
///
/// [`FrameError::BrokenFraming`], as for [`decode_websocket`].
pub(crate) fn decode_websocket_binary(payload: &[u8]) -> Result<Vec<String>, FrameError> {
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    let text = String::from_utf8_lossy(payload);
    let value = json_parse(&text).ok_or(FrameError::BrokenFraming)?;
    Ok(vec![into_message(value)])
}
