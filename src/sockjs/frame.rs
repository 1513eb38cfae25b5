//! SockJS wire framing, byte-compatible with sockjs-node 0.3.24.
//!
//! Everything here is pure: no I/O, no clock, no randomness. The session and
//! HTTP layers call these functions to build what goes on the wire and to
//! decode what clients send.
//!
//! # Frames (server → client)
//!
//! | frame | text | built by |
//! |---|---|---|
//! | open | `o` | [`OPEN_FRAME`] |
//! | heartbeat | `h` | [`HEARTBEAT_FRAME`] |
//! | messages | `a["m1","m2"]` | [`encode_messages`] (strings escaped by [`quote`]) |
//! | close | `c[3000,"Go away!"]` | [`encode_close`] (reason escaped by [`json_stringify`]) |
//!
//! Each HTTP transport then wraps a frame: [`xhr_frame`] (xhr and
//! xhr_streaming), [`eventsource_frame`], [`htmlfile_frame`] and
//! [`jsonp_frame`]. WebSocket sends the bare frame as one text message.
//!
//! # Escaping, as sockjs-node does it
//!
//! Message strings go through sockjs-node's `utils.quote`: first
//! `JSON.stringify` (`\"`, `\\`, `\b \t \n \f \r`, other C0 controls as
//! `\u00XX`), then every UTF-16 code unit in `\ud800-\udfff`,
//! `\u200c-\u200f`, `\u2028-\u202f`, `\u2060-\u206f` and `\ufff0-\uffff` is
//! written as lowercase `\uXXXX`. Characters outside the BMP therefore go out
//! as an escaped surrogate pair (`😀` → `\ud83d\ude00`). Nothing else is
//! escaped: U+007F–U+009F, U+00AD, U+0600–U+0604, U+070F, U+17B4/5 and U+FEFF
//! are sent raw (those ranges are only in the *client's* escape list).
//! Close reasons only get plain `JSON.stringify`, as in sockjs-node.
//!
//! # Decoding (client → server)
//!
//! [`decode_xhr_send`], [`decode_jsonp_send`] and [`decode_websocket`]
//! follow sockjs-node's checks and error texts exactly (see [`FrameError`]).
//! JSON is parsed with `JSON.parse` rules by a small private parser, because
//! clients legally send lone surrogates (`"\ud800"`), which `JSON.parse`
//! accepts but `serde_json` rejects; a Rust `String` cannot hold them, so
//! each lone surrogate becomes U+FFFD (the one unavoidable difference).
//! Array elements that are not strings are turned into strings the way
//! JavaScript's `'' + value` does (sockjs-node hands the raw value to the
//! app, and its `connection.write` applies exactly that conversion).

use std::fmt::Write as _;

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

/// Open frame, sent once when a session is created.
pub const OPEN_FRAME: &str = "o";

/// Heartbeat frame (sockjs-node sends it every 25 s on HTTP transports; on
/// WebSocket 0.3.24 sends a WebSocket ping instead, see the checklist).
pub const HEARTBEAT_FRAME: &str = "h";

/// Default close of `session.close()` with no arguments: `c[1000,"Normal closure"]`.
pub const CLOSE_NORMAL: (u16, &str) = (1000, "Normal closure");

/// Close frame sent to a second receiver that polls a session which already
/// has one: `c[2010,"Another connection still open"]`.
pub const CLOSE_ANOTHER_CONNECTION: (u16, &str) = (2010, "Another connection still open");

/// WebSocket close (code, reason) sent by sockjs-node when a client message is
/// not valid JSON. It is a WebSocket close, not a `c` frame.
pub const CLOSE_BROKEN_FRAMING: (u16, &str) = (3000, "Broken framing.");

/// Session close used by sockjs-node 0.3.24 when a WebSocket ping gets no pong
/// within 10 s.
pub const CLOSE_HEARTBEAT_TIMEOUT: (u16, &str) = (3000, "No response from heartbeat");

/// Builds a message frame `a[...]`, each message escaped by [`quote`].
///
/// An empty slice gives `a[]` (sockjs-node never sends that: it only flushes
/// a non-empty buffer).
#[must_use]
pub fn encode_messages<S: AsRef<str>>(messages: &[S]) -> String {
    let cap = messages.iter().map(|m| m.as_ref().len() + 3).sum::<usize>() + 3;
    let mut out = String::with_capacity(cap);
    out.push_str("a[");
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_quoted(&mut out, m.as_ref(), true);
    }
    out.push(']');
    out
}

/// Builds a close frame `c[code,"reason"]` exactly like sockjs-node's
/// `'c' + JSON.stringify([code, reason])` (the reason gets plain
/// `JSON.stringify` escaping, not [`quote`]).
#[must_use]
pub fn encode_close(code: u16, reason: &str) -> String {
    let mut out = String::with_capacity(reason.len() + 12);
    let _ = write!(out, "c[{code},");
    push_quoted(&mut out, reason, false);
    out.push(']');
    out
}

/// sockjs-node's `utils.quote`: `JSON.stringify(s)` plus lowercase `\uXXXX`
/// escapes for the code units listed in the module docs.
#[must_use]
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_quoted(&mut out, s, true);
    out
}

/// JavaScript's `JSON.stringify` of a string (Node 12+ rules): quotes it and
/// escapes `"`, `\`, `\b \t \n \f \r` and other C0 controls as `\u00xx`.
/// Everything else, including U+2028/U+2029, is left raw.
#[must_use]
pub fn json_stringify(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_quoted(&mut out, s, false);
    out
}

/// Length of `s` in UTF-16 code units, i.e. JavaScript's `string.length`.
///
/// sockjs-node counts this (not bytes) against `response_limit` for each
/// wrapped frame written to a streaming response.
#[must_use]
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// True for the code points sockjs-node's `escapable` regexp adds on top of
/// `JSON.stringify` (surrogates are handled separately: every non-BMP char).
fn sockjs_extra_escapable(c: char) -> bool {
    matches!(
        c as u32,
        0x200c..=0x200f | 0x2028..=0x202f | 0x2060..=0x206f | 0xfff0..=0xffff
    )
}

fn push_u_escape(out: &mut String, unit: u32) {
    let _ = write!(out, "\\u{unit:04x}");
}

fn push_quoted(out: &mut String, s: &str, sockjs_quote: bool) {
    out.push('"');
    let mut run_start = 0;
    for (i, c) in s.char_indices() {
        let needs = match c {
            '"' | '\\' => true,
            c if (c as u32) < 0x20 => true,
            c if sockjs_quote => (c as u32) > 0xffff || sockjs_extra_escapable(c),
            _ => false,
        };
        if !needs {
            continue;
        }
        out.push_str(&s[run_start..i]);
        run_start = i + c.len_utf8();
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) > 0xffff => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_u_escape(out, u32::from(*unit));
                }
            }
            c => push_u_escape(out, c as u32),
        }
    }
    out.push_str(&s[run_start..]);
    out.push('"');
}

// ---------------------------------------------------------------------------
// Transport wrappers
// ---------------------------------------------------------------------------

/// Wraps a frame for `xhr` and `xhr_streaming`: the frame plus `"\n"`.
#[must_use]
pub fn xhr_frame(frame: &str) -> String {
    let mut out = String::with_capacity(frame.len() + 1);
    out.push_str(frame);
    out.push('\n');
    out
}

const XHR_PRELUDE_BYTES: [u8; 2049] = {
    let mut b = [b'h'; 2049];
    b[2048] = b'\n';
    b
};

/// First chunk of every `xhr_streaming` response: 2048 `h` and `"\n"`
/// (written before the session's first frame; not counted in the limit).
pub const XHR_STREAMING_PRELUDE: &str = match std::str::from_utf8(&XHR_PRELUDE_BYTES) {
    Ok(s) => s,
    Err(_) => panic!("prelude is ASCII"),
};

/// First chunk of every `eventsource` response (an Opera workaround).
pub const EVENTSOURCE_PRELUDE: &str = "\r\n";

/// Wraps a frame for `eventsource`: `data: <frame>\r\n\r\n`, after
/// sockjs-node's `escape_selected(frame, '\r\n\x00')`, which also escapes
/// `%`: `%` → `%25`, CR → `%0D`, LF → `%0A`, NUL → `%00`. sockjs-client runs
/// `decodeURI` on each event, undoing it. In practice only `%` occurs.
#[must_use]
pub fn eventsource_frame(frame: &str) -> String {
    let mut out = String::with_capacity(frame.len() + 10);
    out.push_str("data: ");
    for c in frame.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            '\0' => out.push_str("%00"),
            c => out.push(c),
        }
    }
    out.push_str("\r\n\r\n");
    out
}

const HTMLFILE_HEAD: &str = "<!doctype html>\n<html><head>\n  \
<meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  \
<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n\
</head><body><h2>Don't panic!</h2>\n  <script>\n    \
document.domain = document.domain;\n    var c = parent.";
const HTMLFILE_TAIL: &str = ";\n    c.start();\n    \
function p(d) {c.message(d);};\n    window.onload = function() {c.stop();};\n  </script>";
/// Length of sockjs-node's `{{ callback }}` placeholder, which is counted
/// when the padding is computed (before substitution).
const HTMLFILE_PLACEHOLDER_LEN: usize = "{{ callback }}".len();

/// First chunk of an `htmlfile` response: sockjs-node's HTML template with
/// `callback` substituted, padded with spaces and ended by `"\r\n\r\n"`.
///
/// Like sockjs-node, the padding is computed on the template *with* its
/// 14-byte placeholder, so the result is `1027 + callback.len()` bytes
/// (1035 for `callback`). `callback` must already be validated
/// ([`callback_from_query`]).
#[must_use]
pub fn htmlfile_prelude(callback: &str) -> String {
    let template_len = HTMLFILE_HEAD.len() + HTMLFILE_PLACEHOLDER_LEN + HTMLFILE_TAIL.len();
    // JS: Array(1024 - len + 14).join(' ') gives 1024 - len + 13 spaces.
    let pad = (1024 + 13usize).saturating_sub(template_len);
    let mut out = String::with_capacity(template_len + pad + callback.len() + 4);
    out.push_str(HTMLFILE_HEAD);
    out.push_str(callback);
    out.push_str(HTMLFILE_TAIL);
    out.extend(std::iter::repeat_n(' ', pad));
    out.push_str("\r\n\r\n");
    out
}

/// Wraps a frame for `htmlfile`:
/// `<script>\np(<JSON.stringify(frame)>);\n</script>\r\n`.
#[must_use]
pub fn htmlfile_frame(frame: &str) -> String {
    let mut out = String::with_capacity(frame.len() + 32);
    out.push_str("<script>\np(");
    push_quoted(&mut out, frame, false);
    out.push_str(");\n</script>\r\n");
    out
}

/// Wraps a frame for `jsonp` polling:
/// `/**/<callback>(<JSON.stringify(frame)>);\r\n` (the `/**/` guards against
/// the Rosetta-Flash SWF exploit, sockjs-node #163).
#[must_use]
pub fn jsonp_frame(callback: &str, frame: &str) -> String {
    let mut out = String::with_capacity(callback.len() + frame.len() + 16);
    out.push_str("/**/");
    out.push_str(callback);
    out.push('(');
    push_quoted(&mut out, frame, false);
    out.push_str(");\r\n");
    out
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a client request could not be decoded. The `Display` text is the exact
/// body sockjs-node sends (with status 500 and no `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Empty body, unsupported `Content-Type`, or JSON that is not an array
    /// (HTTP 500 on `xhr_send` / `jsonp_send`).
    #[error("Payload expected.")]
    PayloadExpected,
    /// Body is not valid JSON (HTTP 500 on `xhr_send` / `jsonp_send`).
    #[error("Broken JSON encoding.")]
    BrokenJson,
    /// Neither `c` nor `callback` is in the query string (HTTP 500 on
    /// `jsonp` / `htmlfile`).
    #[error("\"callback\" parameter required")]
    CallbackRequired,
    /// Callback has a character outside `[a-zA-Z0-9_.-]` or, for `jsonp`
    /// only, is longer than 32 characters (HTTP 500).
    #[error("invalid \"callback\" parameter")]
    InvalidCallback,
    /// A WebSocket message is not valid JSON: sockjs-node drops the session
    /// and closes the socket with [`CLOSE_BROKEN_FRAMING`]; no HTTP status.
    #[error("Broken framing.")]
    BrokenFraming,
}

impl FrameError {
    /// HTTP status sockjs-node answers with (500), or `None` for
    /// [`FrameError::BrokenFraming`], which is a WebSocket close.
    #[must_use]
    pub fn http_status(self) -> Option<u16> {
        match self {
            FrameError::BrokenFraming => None,
            _ => Some(500),
        }
    }

    /// WebSocket close (code, reason) for [`FrameError::BrokenFraming`],
    /// `None` for the HTTP errors.
    #[must_use]
    pub fn websocket_close(self) -> Option<(u16, &'static str)> {
        match self {
            FrameError::BrokenFraming => Some(CLOSE_BROKEN_FRAMING),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Callback parameter (jsonp, htmlfile)
// ---------------------------------------------------------------------------

/// Which transport a callback is validated for: only `jsonp` limits length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackTransport {
    /// `GET /<server>/<session>/jsonp`: at most [`JSONP_CALLBACK_MAX_LEN`] chars.
    Jsonp,
    /// `GET /<server>/<session>/htmlfile`: no length limit.
    Htmlfile,
}

/// Longest callback sockjs-node accepts on `jsonp` (`callback.length > 32` fails).
pub const JSONP_CALLBACK_MAX_LEN: usize = 32;

/// Extracts and validates the callback from a raw query string (the part
/// after `?`, still percent-encoded; `None` when the URL has no `?`).
///
/// Like sockjs-node: `c` wins over `callback`; values are form-decoded
/// (`%63allback` → `callback`, `+` → space); an empty value (`?c=` or `?c`)
/// is *valid*; a key given twice becomes a JS array whose string form has a
/// comma, so it is invalid.
///
/// # Errors
///
/// [`FrameError::CallbackRequired`] or [`FrameError::InvalidCallback`].
pub fn callback_from_query(
    query: Option<&str>,
    transport: CallbackTransport,
) -> Result<String, FrameError> {
    let mut c = Vec::new();
    let mut callback = Vec::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "c" => c.push(v.into_owned()),
            "callback" => callback.push(v.into_owned()),
            _ => {}
        }
    }
    let mut chosen = if !c.is_empty() {
        c
    } else if !callback.is_empty() {
        callback
    } else {
        return Err(FrameError::CallbackRequired);
    };
    if chosen.len() > 1 {
        return Err(FrameError::InvalidCallback);
    }
    let value = chosen.pop().unwrap_or_default();
    validate_callback(&value, transport)?;
    Ok(value)
}

/// Checks an already-decoded callback name: only `[a-zA-Z0-9_.-]` (sockjs-node
/// tests `/[^a-zA-Z0-9-_.]/`, where the `-` is literal) and, for `jsonp`, at
/// most 32 characters. The empty name passes, as in sockjs-node.
///
/// # Errors
///
/// [`FrameError::InvalidCallback`].
pub fn validate_callback(callback: &str, transport: CallbackTransport) -> Result<(), FrameError> {
    let chars_ok = callback
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !chars_ok
        || (transport == CallbackTransport::Jsonp && callback.len() > JSONP_CALLBACK_MAX_LEN)
    {
        return Err(FrameError::InvalidCallback);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Decoding what clients send
// ---------------------------------------------------------------------------

/// Media types (the `Content-Type` up to the first `;`, compared exactly and
/// case-sensitively) that sockjs-node's `expect_xhr` accepts on `xhr_send`.
/// A missing header counts as `""`.
pub const XHR_SEND_CONTENT_TYPES: [&str; 6] = [
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
pub fn decode_xhr_send(content_type: Option<&str>, body: &[u8]) -> Result<Vec<String>, FrameError> {
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
pub fn decode_jsonp_send(
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
/// [`FrameError::BrokenFraming`]: close the socket with [`CLOSE_BROKEN_FRAMING`].
pub fn decode_websocket(payload: &str) -> Result<Vec<String>, FrameError> {
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
pub fn decode_websocket_binary(payload: &[u8]) -> Result<Vec<String>, FrameError> {
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    let text = String::from_utf8_lossy(payload);
    let value = json_parse(&text).ok_or(FrameError::BrokenFraming)?;
    Ok(vec![into_message(value)])
}

// ---------------------------------------------------------------------------
// JSON.parse-compatible parser (private)
// ---------------------------------------------------------------------------

/// A parsed JSON value; objects are validated but their content is dropped,
/// since only their JS string form (`[object Object]`) is ever needed.
#[derive(Debug, Clone, PartialEq)]
enum JsValue {
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    Array(Vec<JsValue>),
    Object,
}

/// Nesting deeper than this is reported as broken JSON (V8 would accept it;
/// the limit only protects our stack).
const MAX_JSON_DEPTH: usize = 1000;

fn json_parse(text: &str) -> Option<JsValue> {
    let mut p = Parser {
        src: text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    p.skip_ws();
    let value = p.value(0)?;
    p.skip_ws();
    (p.pos == p.bytes.len()).then_some(value)
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<JsValue> {
        if depth > MAX_JSON_DEPTH {
            return None;
        }
        match self.peek()? {
            b'[' => self.array(depth),
            b'{' => self.object(depth),
            b'"' => self.string().map(JsValue::Str),
            b't' => self.literal("true", JsValue::Bool(true)),
            b'f' => self.literal("false", JsValue::Bool(false)),
            b'n' => self.literal("null", JsValue::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str, value: JsValue) -> Option<JsValue> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Some(value)
        } else {
            None
        }
    }

    fn array(&mut self, depth: usize) -> Option<JsValue> {
        self.pos += 1;
        self.skip_ws();
        let mut items = Vec::new();
        if self.eat(b']') {
            return Some(JsValue::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            if self.eat(b']') {
                return Some(JsValue::Array(items));
            }
            if !self.eat(b',') {
                return None;
            }
            self.skip_ws();
        }
    }

    fn object(&mut self, depth: usize) -> Option<JsValue> {
        self.pos += 1;
        self.skip_ws();
        if self.eat(b'}') {
            return Some(JsValue::Object);
        }
        loop {
            if self.peek() != Some(b'"') {
                return None;
            }
            self.string()?;
            self.skip_ws();
            if !self.eat(b':') {
                return None;
            }
            self.skip_ws();
            self.value(depth + 1)?;
            self.skip_ws();
            if self.eat(b'}') {
                return Some(JsValue::Object);
            }
            if !self.eat(b',') {
                return None;
            }
            self.skip_ws();
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Option<JsValue> {
        let start = self.pos;
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.') && self.digits() == 0 {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return None;
            }
        }
        // Rust's parse is correctly rounded like JS; overflow gives ±inf.
        self.src[start..self.pos].parse().ok().map(JsValue::Number)
    }

    fn hex4_at(&self, at: usize) -> Option<u32> {
        let h = self.bytes.get(at..at + 4)?;
        let mut v = 0u32;
        for &b in h {
            v = v * 16 + (b as char).to_digit(16)?;
        }
        Some(v)
    }

    fn string(&mut self) -> Option<String> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let run = self.pos;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            out.push_str(&self.src[run..self.pos]);
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(out);
                }
                b'\\' => {
                    let esc = *self.bytes.get(self.pos + 1)?;
                    self.pos += 2;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let unit = self.hex4_at(self.pos)?;
                            self.pos += 4;
                            out.push(self.finish_unit(unit));
                        }
                        _ => return None,
                    }
                }
                _ => return None, // raw control character
            }
        }
    }

    /// Turns a `\uXXXX` code unit into a char, pairing a high surrogate with
    /// an immediately following `\uDC00-\uDFFF`; lone surrogates → U+FFFD.
    fn finish_unit(&mut self, unit: u32) -> char {
        let is_high = (0xd800..0xdc00).contains(&unit);
        let low = if is_high && self.bytes[self.pos..].starts_with(b"\\u") {
            self.hex4_at(self.pos + 2)
                .filter(|low| (0xdc00..0xe000).contains(low))
        } else {
            None
        };
        if let Some(low) = low {
            self.pos += 6;
            let cp = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
            return char::from_u32(cp).unwrap_or('\u{fffd}');
        }
        char::from_u32(unit).unwrap_or('\u{fffd}')
    }
}

fn into_messages(items: Vec<JsValue>) -> Vec<String> {
    items.into_iter().map(into_message).collect()
}

fn into_message(value: JsValue) -> String {
    match value {
        JsValue::Str(s) => s,
        other => js_to_string(&other),
    }
}

/// JavaScript `String(value)` for a JSON value.
fn js_to_string(value: &JsValue) -> String {
    match value {
        JsValue::Null => "null".to_owned(),
        JsValue::Bool(b) => b.to_string(),
        JsValue::Number(n) => js_number_to_string(*n),
        JsValue::Str(s) => s.clone(),
        JsValue::Object => "[object Object]".to_owned(),
        JsValue::Array(items) => {
            let mut out = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if *item != JsValue::Null {
                    out.push_str(&js_to_string(item));
                }
            }
            out
        }
    }
}

/// ECMAScript `Number::toString(10)`: shortest round-trip digits, plain
/// notation for exponents in (-7, 21), else `1.5e+21` style.
fn js_number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exp + 1;
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let e = n - 1;
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    out
}

// ---------------------------------------------------------------------------
// iframe.html
// ---------------------------------------------------------------------------

/// sockjs-node 0.3.24's default `sockjs_url`.
pub const DEFAULT_SOCKJS_URL: &str =
    "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js";

const IFRAME_TEMPLATE: &str = "<!DOCTYPE html>\n<html>\n<head>\n  \
<meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  \
<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n  \
<script src=\"{{ sockjs_url }}\"></script>\n  <script>\n    \
document.domain = document.domain;\n    SockJS.bootstrap_iframe();\n  </script>\n\
</head>\n<body>\n  <h2>Don't panic!</h2>\n  \
<p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n\
</body>\n</html>";

const IFRAME_PLACEHOLDER: &str = "{{ sockjs_url }}";

/// Body of `/iframe*.html` with `sockjs_url` substituted, byte-identical to
/// sockjs-node (no trailing newline). sockjs-node substitutes with JS
/// `String.prototype.replace`, so `$$`, `$&`, `` $` `` and `$'` in the URL
/// are expanded exactly as JavaScript would; an ordinary URL is unchanged.
#[must_use]
pub fn iframe_html(sockjs_url: &str) -> String {
    js_replace_first(IFRAME_TEMPLATE, IFRAME_PLACEHOLDER, sockjs_url)
}

/// The `ETag` header value for an iframe body: the MD5 of the body in
/// lowercase hex inside double quotes, exactly as sockjs-node computes it
/// (so the ETag matches a sockjs-node server serving the same URL).
#[must_use]
pub fn iframe_etag(html: &str) -> String {
    format!("\"{}\"", md5_hex(html.as_bytes()))
}

/// sockjs-node answers 304 only when `If-None-Match` is byte-equal to the
/// ETag (no list parsing, no `W/`, no `*`).
#[must_use]
pub fn iframe_not_modified(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match == Some(etag)
}

/// JS `haystack.replace(pattern, replacement)` with a string pattern.
fn js_replace_first(haystack: &str, pattern: &str, replacement: &str) -> String {
    let Some(at) = haystack.find(pattern) else {
        return haystack.to_owned();
    };
    let before = &haystack[..at];
    let after = &haystack[at + pattern.len()..];
    let mut out = String::with_capacity(haystack.len() + replacement.len());
    out.push_str(before);
    let mut rest = replacement;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let (expansion, used) = match tail.as_bytes().first() {
            Some(b'$') => ("$", 1),
            Some(b'&') => (pattern, 1),
            Some(b'`') => (before, 1),
            Some(b'\'') => (after, 1),
            _ => ("$", 0),
        };
        out.push_str(expansion);
        rest = &tail[used..];
    }
    out.push_str(rest);
    out.push_str(after);
    out
}

/// MD5 of `data` as 32 lowercase hex digits (RFC 1321), used for the iframe
/// ETag. Not for security.
#[must_use]
pub fn md5_hex(data: &[u8]) -> String {
    let digest = md5(data);
    let mut out = String::with_capacity(32);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

const MD5_SHIFTS: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

const MD5_K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

fn md5(data: &[u8]) -> [u8; 16] {
    let mut state: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    let bit_len = (data.len() as u64).wrapping_mul(8);
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    for chunk in msg.chunks_exact(64) {
        let mut m = [0u32; 16];
        for (word, bytes) in m.iter_mut().zip(chunk.chunks_exact(4)) {
            *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(MD5_K[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(MD5_SHIFTS[(i / 16) * 4 + i % 4]));
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
    let mut out = [0u8; 16];
    for (dst, word) in out.chunks_exact_mut(4).zip(state) {
        dst.copy_from_slice(&word.to_le_bytes());
    }
    out
}

// ---------------------------------------------------------------------------
// /info body and JSESSIONID
// ---------------------------------------------------------------------------

/// The `/info` response body, serialized with sockjs-node's key order:
/// `{"websocket":…,"origins":["*:*"],"cookie_needed":…,"entropy":…}` plus
/// `"base_url"` when configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info<'a> {
    /// Whether the WebSocket transport is enabled.
    pub websocket: bool,
    /// Whether CORS is enabled; when false (`disable_cors`) the `origins` key
    /// is omitted, as `JSON.stringify` drops `undefined`.
    pub cors: bool,
    /// Whether the JSESSIONID cookie is sent (`jsessionid` option).
    pub cookie_needed: bool,
    /// A fresh random `u32` per request.
    pub entropy: u32,
    /// Optional `base_url` option, appended last.
    pub base_url: Option<&'a str>,
}

impl Info<'_> {
    /// Serializes the body exactly as sockjs-node's `JSON.stringify(info)`.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(96);
        let _ = write!(out, "{{\"websocket\":{}", self.websocket);
        if self.cors {
            out.push_str(",\"origins\":[\"*:*\"]");
        }
        let _ = write!(
            out,
            ",\"cookie_needed\":{},\"entropy\":{}",
            self.cookie_needed, self.entropy
        );
        if let Some(url) = self.base_url.filter(|u| !u.is_empty()) {
            out.push_str(",\"base_url\":");
            push_quoted(&mut out, url, false);
        }
        out.push('}');
        out
    }
}

/// `Set-Cookie` value sockjs-node sends when `jsessionid` is on:
/// `JSESSIONID=<value>; path=/`, echoing the request's JSESSIONID cookie or
/// `dummy` when it is absent or empty.
///
/// Parsing mirrors sockjs-node's `parseCookie`: split on `;`, then on `=`,
/// keep the text between the first and second `=` (trimmed); the last
/// `JSESSIONID` wins.
#[must_use]
pub fn jsessionid_set_cookie(cookie_header: Option<&str>) -> String {
    let mut jsid = "";
    for cookie in cookie_header.unwrap_or("").split(';') {
        let mut parts = cookie.split('=');
        let name = parts.next().unwrap_or("").trim();
        let value = parts.next().unwrap_or("").trim();
        if name == "JSESSIONID" {
            jsid = value;
        }
    }
    if jsid.is_empty() {
        jsid = "dummy";
    }
    format!("JSESSIONID={jsid}; path=/")
}

// ---------------------------------------------------------------------------
// Fixed wire strings
// ---------------------------------------------------------------------------

/// `Cache-Control` on every session and `/info` response (sockjs-node `h_no_cache`).
pub const CACHE_CONTROL_NO_CACHE: &str =
    "no-store, no-cache, no-transform, must-revalidate, max-age=0";

/// One year in seconds: `max-age` of cacheable responses and the
/// `Access-Control-Max-Age` of OPTIONS responses.
pub const CACHE_FOR_SECS: u64 = 31_536_000;

/// `Cache-Control` of cacheable responses (iframe, OPTIONS, disabled websocket).
pub const CACHE_CONTROL_CACHE_FOR: &str = "public, max-age=31536000";

/// `Content-Type` of xhr, xhr_streaming and jsonp responses.
pub const CONTENT_TYPE_JAVASCRIPT: &str = "application/javascript; charset=UTF-8";

/// `Content-Type` of the greeting, 404 pages, `xhr_send` (even on 204) and `jsonp_send`.
pub const CONTENT_TYPE_PLAIN: &str = "text/plain; charset=UTF-8";

/// `Content-Type` of iframe and htmlfile responses.
pub const CONTENT_TYPE_HTML: &str = "text/html; charset=UTF-8";

/// `Content-Type` of `/info`.
pub const CONTENT_TYPE_JSON: &str = "application/json; charset=UTF-8";

/// `Content-Type` of eventsource responses (no charset in sockjs-node).
pub const CONTENT_TYPE_EVENT_STREAM: &str = "text/event-stream";

/// Body of `GET <prefix>` and `GET <prefix>/`.
pub const WELCOME_BODY: &str = "Welcome to SockJS!\n";

/// Body of sockjs-node's 404 responses (with [`CONTENT_TYPE_PLAIN`]).
pub const NOT_FOUND_BODY: &str = "404 Error: Page not found\n";

/// Body of a successful `jsonp_send` (status 200, `Content-Length: 2`).
pub const JSONP_SEND_OK_BODY: &str = "ok";

/// Body of the 400 for a non-upgrade request to a websocket URL.
pub const WEBSOCKET_NOT_VALID_BODY: &str = "Not a valid websocket request";

/// Body of the 400 for raw `/websocket` with `Sec-WebSocket-Version` not 8 or 13.
pub const RAW_WEBSOCKET_VERSION_BODY: &str = "Only supported WebSocket protocol is RFC 6455.";

/// `Access-Control-Allow-Methods` on OPTIONS of xhr, xhr_send, xhr_streaming.
pub const ALLOW_METHODS_XHR: &str = "OPTIONS, POST";

/// `Access-Control-Allow-Methods` on OPTIONS of `/info`.
pub const ALLOW_METHODS_INFO: &str = "OPTIONS, GET";

/// Default bytes (UTF-16 units) per streaming response before it is closed.
pub const DEFAULT_RESPONSE_LIMIT: usize = 128 * 1024;

/// Default heartbeat interval in milliseconds.
pub const DEFAULT_HEARTBEAT_DELAY_MS: u64 = 25_000;

/// Default time in milliseconds a session survives without a receiver.
pub const DEFAULT_DISCONNECT_DELAY_MS: u64 = 5_000;

#[cfg(test)]
mod tests {
    use super::*;

    // Expected strings marked "node" were produced by running sockjs-node
    // 0.3.24's own lib/utils.js (quote, escape_selected, md5_hex) under Node 20.

    #[test]
    fn protocol_basic_frames() {
        // Protocol.test_simpleSession / test_closeSession (xhr wrapping).
        assert_eq!(xhr_frame(OPEN_FRAME), "o\n");
        assert_eq!(xhr_frame(&encode_messages(&["a"])), "a[\"a\"]\n");
        assert_eq!(
            xhr_frame(&encode_close(3000, "Go away!")),
            "c[3000,\"Go away!\"]\n"
        );
        let (code, reason) = CLOSE_ANOTHER_CONNECTION;
        assert_eq!(
            xhr_frame(&encode_close(code, reason)),
            "c[2010,\"Another connection still open\"]\n"
        );
        let (code, reason) = CLOSE_NORMAL;
        assert_eq!(encode_close(code, reason), "c[1000,\"Normal closure\"]");
        assert_eq!(HEARTBEAT_FRAME, "h");
    }

    #[test]
    fn messages_accept_str_and_string_slices() {
        let owned = vec![String::from("x"), String::from("y"), String::new()];
        assert_eq!(encode_messages(&owned), "a[\"x\",\"y\",\"\"]");
        assert_eq!(encode_messages::<&str>(&[]), "a[]");
        // XhrPolling.test_content_types: eight "a" in one frame.
        assert_eq!(
            encode_messages(&["a"; 8]),
            "a[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]"
        );
    }

    #[test]
    fn quote_control_chars_like_json_stringify() {
        // node
        assert_eq!(
            encode_messages(&["\u{0}\u{1}\u{8}\u{9}\n\u{c}\r\u{1f}\"\\/"]),
            "a[\"\\u0000\\u0001\\b\\t\\n\\f\\r\\u001f\\\"\\\\/\"]"
        );
    }

    #[test]
    fn quote_escapes_only_sockjs_node_ranges() {
        // node: U+007F-009F, U+00AD, U+0600, U+070F, U+17B4, U+200B, U+FEFF
        // stay raw; 200c-200f, 2028-202f, 2060-206f, fff0-ffff are escaped.
        let input = "\u{7f}\u{80}\u{9f}\u{ad}\u{600}\u{70f}\u{17b4}\u{200b}\u{200c}\u{200f}\u{2027}\u{2028}\u{202f}\u{2030}\u{205f}\u{2060}\u{206f}\u{2070}\u{feff}\u{ffef}\u{fff0}\u{ffff}";
        assert_eq!(
            encode_messages(&[input]),
            "a[\"\u{7f}\u{80}\u{9f}\u{ad}\u{600}\u{70f}\u{17b4}\u{200b}\\u200c\\u200f\u{2027}\\u2028\\u202f\u{2030}\u{205f}\\u2060\\u206f\u{2070}\u{feff}\u{ffef}\\ufff0\\uffff\"]"
        );
    }

    #[test]
    fn quote_escapes_astral_chars_as_surrogate_pairs() {
        // node
        assert_eq!(
            encode_messages(&["\u{1f600}", "\u{e9}\u{20ac}", "\u{10ffff}", "\u{10000}"]),
            "a[\"\\ud83d\\ude00\",\"\u{e9}\u{20ac}\",\"\\udbff\\udfff\",\"\\ud800\\udc00\"]"
        );
        assert_eq!(quote("plain"), "\"plain\"");
    }

    #[test]
    fn close_reason_uses_plain_json_stringify() {
        // node: 'c' + JSON.stringify([1000, reason]) leaves U+2028, U+200C
        // and astral chars raw.
        assert_eq!(
            encode_close(1000, "a\"b\\c\n\u{2028}\u{1}\u{1f600}\u{200c}"),
            "c[1000,\"a\\\"b\\\\c\\n\u{2028}\\u0001\u{1f600}\u{200c}\"]"
        );
        assert_eq!(json_stringify("\u{7f}\u{1f}"), "\"\u{7f}\\u001f\"");
    }

    /// JSONEncoding.test_xhr_server_encodes: every char in 255..65536 that
    /// matches `escapable_by_server` must come back as its `\uXXXX` escape.
    #[test]
    fn protocol_server_killer_string() {
        let in_set = |c: u32| {
            c <= 0x1f
                || (0x200c..=0x200f).contains(&c)
                || (0x2028..=0x202f).contains(&c)
                || (0x2060..=0x206f).contains(&c)
                || (0xfff0..=0xffff).contains(&c)
        };
        let mut raw = String::new();
        let mut esc = String::from("\"");
        for c in (255u32..65536).filter(|c| in_set(*c)) {
            raw.push(char::from_u32(c).unwrap());
            esc.push_str(&format!("\\u{c:04x}"));
        }
        esc.push('"');
        let frame = xhr_frame(&encode_messages(&[raw.as_str()]));
        let recv = &frame.trim()[2..frame.trim().len() - 1];
        assert_eq!(recv, esc);
    }

    /// JSONEncoding.test_xhr_server_decodes, generalised: every BMP
    /// non-surrogate code point sent as `\uXXXX` decodes to itself.
    #[test]
    fn protocol_client_killer_string() {
        let mut body = String::from("[\"");
        let mut expected = String::new();
        for c in (0u32..65536).filter(|c| !(0xd800..0xe000).contains(c)) {
            body.push_str(&format!("\\u{c:04x}"));
            expected.push(char::from_u32(c).unwrap());
        }
        body.push_str("\"]");
        assert_eq!(
            decode_xhr_send(None, body.as_bytes()).unwrap(),
            vec![expected]
        );
    }

    #[test]
    fn eventsource_wrapping() {
        // EventSource.test_transport
        assert_eq!(EVENTSOURCE_PRELUDE, "\r\n");
        assert_eq!(eventsource_frame("o"), "data: o\r\n\r\n");
        assert_eq!(
            eventsource_frame(&encode_messages(&["x"])),
            "data: a[\"x\"]\r\n\r\n"
        );
        let msgs = decode_xhr_send(None, br#"["  \u0000\n\r "]"#).unwrap();
        assert_eq!(
            eventsource_frame(&encode_messages(&msgs)),
            "data: a[\"  \\u0000\\n\\r \"]\r\n\r\n"
        );
        // node: escape_selected also escapes '%'.
        assert_eq!(
            eventsource_frame(&encode_messages(&["100%"])),
            "data: a[\"100%25\"]\r\n\r\n"
        );
        assert_eq!(
            eventsource_frame("c[1,\"%\r\n\0\"]"),
            "data: c[1,\"%25%0D%0A%00\"]\r\n\r\n"
        );
    }

    #[test]
    fn xhr_streaming_prelude() {
        assert_eq!(XHR_STREAMING_PRELUDE.len(), 2049);
        assert_eq!(XHR_STREAMING_PRELUDE, format!("{}\n", "h".repeat(2048)));
    }

    #[test]
    fn htmlfile_prelude_matches_protocol_head() {
        // HtmlFile.test_transport: d.strip() == head % 'callback', len > 1024.
        let head = "<!doctype html>\n<html><head>\n  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n</head><body><h2>Don't panic!</h2>\n  <script>\n    document.domain = document.domain;\n    var c = parent.callback;\n    c.start();\n    function p(d) {c.message(d);};\n    window.onload = function() {c.stop();};\n  </script>";
        let d = htmlfile_prelude("callback");
        assert_eq!(d.trim(), head);
        assert!(d.starts_with(head));
        // node: 1041 with the placeholder, so 1027 + callback length.
        assert_eq!(d.len(), 1035);
        assert!(d.ends_with("  \r\n\r\n"));
        assert_eq!(htmlfile_prelude("c").len(), 1028);
        assert!(d[head.len()..d.len() - 4].bytes().all(|b| b == b' '));
    }

    #[test]
    fn htmlfile_frames() {
        // HtmlFile.test_transport / test_response_limit
        assert_eq!(htmlfile_frame("o"), "<script>\np(\"o\");\n</script>\r\n");
        assert_eq!(
            htmlfile_frame(&encode_messages(&["x"])),
            "<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n"
        );
        let msg = "x".repeat(4096);
        assert_eq!(
            htmlfile_frame(&encode_messages(&[msg.as_str()])),
            format!("<script>\np(\"a[\\\"{msg}\\\"]\");\n</script>\r\n")
        );
        // node
        assert_eq!(
            htmlfile_frame(&encode_close(1, "\u{e9}\u{2028}")),
            "<script>\np(\"c[1,\\\"\u{e9}\u{2028}\\\"]\");\n</script>\r\n"
        );
    }

    #[test]
    fn jsonp_frames() {
        // JsonPolling.test_transport / test_invalid_json / test_content_types / test_close
        assert_eq!(jsonp_frame("callback", "o"), "/**/callback(\"o\");\r\n");
        assert_eq!(
            jsonp_frame("callback", &encode_messages(&["x"])),
            "/**/callback(\"a[\\\"x\\\"]\");\r\n"
        );
        assert_eq!(
            jsonp_frame("x", &encode_messages(&["b"])),
            "/**/x(\"a[\\\"b\\\"]\");\r\n"
        );
        assert_eq!(
            jsonp_frame("x", &encode_messages(&["abc", "%61bc"])),
            "/**/x(\"a[\\\"abc\\\",\\\"%61bc\\\"]\");\r\n"
        );
        assert_eq!(
            jsonp_frame("x", &encode_close(3000, "Go away!")),
            "/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n"
        );
        // node: the quote() escapes get their backslashes doubled.
        assert_eq!(
            jsonp_frame("cb", &encode_messages(&["x", "\u{2028}\"", "\u{1f600}"])),
            "/**/cb(\"a[\\\"x\\\",\\\"\\\\u2028\\\\\\\"\\\",\\\"\\\\ud83d\\\\ude00\\\"]\");\r\n"
        );
    }

    #[test]
    fn callback_required_and_invalid() {
        use CallbackTransport::{Htmlfile, Jsonp};
        for t in [Jsonp, Htmlfile] {
            // test_no_callback
            assert_eq!(
                callback_from_query(None, t),
                Err(FrameError::CallbackRequired)
            );
            assert_eq!(
                callback_from_query(Some("x=1"), t),
                Err(FrameError::CallbackRequired)
            );
            // test_invalid_callback
            for bad in ["%20", "*", "abc(", "abc%28"] {
                let q = format!("c={bad}");
                assert_eq!(
                    callback_from_query(Some(&q), t),
                    Err(FrameError::InvalidCallback),
                    "{bad}"
                );
            }
            assert_eq!(
                callback_from_query(Some("c=%63allback"), t).as_deref(),
                Ok("callback")
            );
            assert_eq!(
                callback_from_query(Some("callback=_jp.a1b2c3"), t).as_deref(),
                Ok("_jp.a1b2c3")
            );
            assert_eq!(
                callback_from_query(Some("callback=y&c=x"), t).as_deref(),
                Ok("x")
            );
            assert_eq!(
                callback_from_query(Some("c=a-b_c.d"), t).as_deref(),
                Ok("a-b_c.d")
            );
            assert_eq!(callback_from_query(Some("c="), t).as_deref(), Ok(""));
            assert_eq!(callback_from_query(Some("c"), t).as_deref(), Ok(""));
            assert_eq!(
                callback_from_query(Some("c=a&c=b"), t),
                Err(FrameError::InvalidCallback)
            );
            assert_eq!(
                callback_from_query(Some("c=a+b"), t),
                Err(FrameError::InvalidCallback)
            );
        }
        let long = format!("c={}", "a".repeat(33));
        assert_eq!(
            callback_from_query(Some(&long), Jsonp),
            Err(FrameError::InvalidCallback)
        );
        assert!(callback_from_query(Some(&long), Htmlfile).is_ok());
        assert!(validate_callback(&"a".repeat(32), Jsonp).is_ok());
    }

    #[test]
    fn error_texts_and_statuses() {
        assert_eq!(FrameError::PayloadExpected.to_string(), "Payload expected.");
        assert_eq!(FrameError::BrokenJson.to_string(), "Broken JSON encoding.");
        assert_eq!(
            FrameError::CallbackRequired.to_string(),
            "\"callback\" parameter required"
        );
        assert_eq!(
            FrameError::InvalidCallback.to_string(),
            "invalid \"callback\" parameter"
        );
        assert_eq!(FrameError::BrokenFraming.to_string(), "Broken framing.");
        assert_eq!(FrameError::BrokenJson.http_status(), Some(500));
        assert_eq!(FrameError::BrokenFraming.http_status(), None);
        assert_eq!(
            FrameError::BrokenFraming.websocket_close(),
            Some((3000, "Broken framing."))
        );
        assert_eq!(FrameError::PayloadExpected.websocket_close(), None);
    }

    #[test]
    fn xhr_send_decoding() {
        // XhrPolling.test_invalid_json / test_sending_empty_frame
        assert_eq!(decode_xhr_send(None, b"[\"x"), Err(FrameError::BrokenJson));
        assert_eq!(decode_xhr_send(None, b""), Err(FrameError::PayloadExpected));
        assert_eq!(decode_xhr_send(None, b"[\"a\"]").unwrap(), vec!["a"]);
        assert!(decode_xhr_send(None, b"[]").unwrap().is_empty());
        for not_array in ["{}", "\"a\"", "null", "0", "1", "true", "\"\""] {
            assert_eq!(
                decode_xhr_send(None, not_array.as_bytes()),
                Err(FrameError::PayloadExpected),
                "{not_array}"
            );
        }
        for broken in [
            " ",
            "[",
            "[1,]",
            "[01]",
            "['a']",
            "[\"\t\"]",
            "[\"\\x\"]",
            "\u{feff}[]",
        ] {
            assert_eq!(
                decode_xhr_send(None, broken.as_bytes()),
                Err(FrameError::BrokenJson),
                "{broken:?}"
            );
        }
        assert_eq!(
            decode_xhr_send(None, b" \r\n\t[ \"a\" , \"b\" ]\n").unwrap(),
            vec!["a", "b"]
        );
    }

    #[test]
    fn xhr_send_content_types() {
        // XhrPolling.test_content_types
        for ct in [
            "text/plain",
            "T",
            "application/json",
            "application/xml",
            "",
            "application/json; charset=utf-8",
            "text/xml; charset=utf-8",
            "text/xml",
        ] {
            assert_eq!(
                decode_xhr_send(Some(ct), b"[\"a\"]").unwrap(),
                vec!["a"],
                "{ct}"
            );
        }
        for ct in [
            "text/html",
            "Text/Plain",
            "application/x-www-form-urlencoded",
        ] {
            assert_eq!(
                decode_xhr_send(Some(ct), b"[\"a\"]"),
                Err(FrameError::PayloadExpected),
                "{ct}"
            );
        }
    }

    #[test]
    fn non_string_messages_become_js_strings() {
        assert_eq!(
            decode_xhr_send(
                None,
                br#"[1,null,true,false,{"k":[1]},[1,[2,[3,null]],"a"],-0,1.50]"#
            )
            .unwrap(),
            vec![
                "1",
                "null",
                "true",
                "false",
                "[object Object]",
                "1,2,3,,a",
                "0",
                "1.5"
            ]
        );
    }

    #[test]
    fn js_number_formatting_matches_node() {
        // node: '' + x
        let cases: [(f64, &str); 14] = [
            (1.0, "1"),
            (1.5, "1.5"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (123456789012345680000.0, "123456789012345680000"),
            (0.1 + 0.2, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (100.0, "100"),
            (1e20, "100000000000000000000"),
            (1.5e-6, "0.0000015"),
            (0.000001, "0.000001"),
            (-2.5e-9, "-2.5e-9"),
            (f64::INFINITY, "Infinity"),
        ];
        for (x, s) in cases {
            assert_eq!(js_number_to_string(x), s);
        }
        assert_eq!(decode_xhr_send(None, b"[1e400]").unwrap(), vec!["Infinity"]);
    }

    #[test]
    fn surrogate_escapes() {
        assert_eq!(
            decode_xhr_send(None, br#"["\ud83d\ude00"]"#).unwrap(),
            vec!["\u{1f600}"]
        );
        // Lone surrogates: accepted by JSON.parse, replaced here.
        assert_eq!(
            decode_xhr_send(
                None,
                br#"["\ud800","a\udc00b","\ude00\ud83d","\ud83d\u0041"]"#
            )
            .unwrap(),
            vec!["\u{fffd}", "a\u{fffd}b", "\u{fffd}\u{fffd}", "\u{fffd}A"]
        );
        assert_eq!(
            decode_xhr_send(None, br#"["\ud83d\u00zz"]"#),
            Err(FrameError::BrokenJson)
        );
        assert_eq!(
            decode_xhr_send(None, br#"["\uD83D\uDE00"]"#).unwrap(),
            vec!["\u{1f600}"]
        );
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(
            decode_xhr_send(None, b"[\"a\xffb\"]").unwrap(),
            vec!["a\u{fffd}b"]
        );
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(
            decode_xhr_send(None, deep.as_bytes()),
            Err(FrameError::BrokenJson)
        );
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(decode_xhr_send(None, ok.as_bytes()).unwrap(), vec![""]);
    }

    #[test]
    fn jsonp_send_decoding() {
        let form = Some("application/x-www-form-urlencoded");
        // JsonPolling.test_transport / test_invalid_json / test_sending_empty_frame
        assert_eq!(
            decode_jsonp_send(form, b"d=%5B%22x%22%5D").unwrap(),
            vec!["x"]
        );
        assert_eq!(
            decode_jsonp_send(form, b"d=%5B%22x"),
            Err(FrameError::BrokenJson)
        );
        for data in ["", "d=", "p=p"] {
            assert_eq!(
                decode_jsonp_send(form, data.as_bytes()),
                Err(FrameError::PayloadExpected),
                "{data}"
            );
        }
        assert!(decode_jsonp_send(form, b"d=%5B%5D").unwrap().is_empty());
        // JsonPolling.test_content_types
        assert_eq!(
            decode_jsonp_send(form, b"d=%5B%22abc%22%5D").unwrap(),
            vec!["abc"]
        );
        assert_eq!(
            decode_jsonp_send(Some("text/plain"), b"[\"%61bc\"]").unwrap(),
            vec!["%61bc"]
        );
        assert_eq!(
            decode_jsonp_send(
                Some("application/x-www-form-urlencoded; charset=UTF-8"),
                b"d=[\"a+b\"]"
            )
            .unwrap(),
            vec!["a b"]
        );
        // Repeated d: the raw values are the messages.
        assert_eq!(
            decode_jsonp_send(form, b"d=a+b%20c&d=2").unwrap(),
            vec!["a b c", "2"]
        );
        // text/plain: a JSON string is parsed a second time; form d is not.
        assert_eq!(decode_jsonp_send(None, br#""[\"x\"]""#).unwrap(), vec!["x"]);
        assert_eq!(
            decode_jsonp_send(form, b"d=%22%5B%5D%22"),
            Err(FrameError::PayloadExpected)
        );
        assert_eq!(
            decode_jsonp_send(None, br#""[""#),
            Err(FrameError::BrokenJson)
        );
        assert_eq!(
            decode_jsonp_send(None, br#""""#),
            Err(FrameError::PayloadExpected)
        );
        assert_eq!(
            decode_jsonp_send(Some("text/plain"), b""),
            Err(FrameError::PayloadExpected)
        );
        assert_eq!(
            decode_jsonp_send(Some("application/json"), b"[\"a\"]"),
            Err(FrameError::PayloadExpected)
        );
    }

    #[test]
    fn websocket_decoding() {
        // WebsocketHybi10.test_transport / test_broken_json, Hixie76.test_empty_frame
        assert!(decode_websocket("").unwrap().is_empty());
        assert!(decode_websocket("[]").unwrap().is_empty());
        assert_eq!(decode_websocket("[\"a\"]").unwrap(), vec!["a"]);
        assert_eq!(decode_websocket("[\"a"), Err(FrameError::BrokenFraming));
        assert_eq!(decode_websocket("\"a\"").unwrap(), vec!["a"]);
        assert_eq!(decode_websocket(" [\"a\",\"b\"]").unwrap(), vec!["a,b"]);
        assert_eq!(decode_websocket("1").unwrap(), vec!["1"]);
        assert_eq!(decode_websocket("{}").unwrap(), vec!["[object Object]"]);
        assert_eq!(
            decode_websocket_binary(b"[\"a\",\"b\"]").unwrap(),
            vec!["a,b"]
        );
        assert!(decode_websocket_binary(b"").unwrap().is_empty());
        assert_eq!(
            decode_websocket_binary(b"[\"a"),
            Err(FrameError::BrokenFraming)
        );
    }

    #[test]
    fn md5_vectors() {
        // RFC 1321 appendix A.5
        let vectors = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, hex) in vectors {
            assert_eq!(md5_hex(input.as_bytes()), hex, "{input}");
        }
        for (i, k) in MD5_K.iter().enumerate() {
            let expect = (((i + 1) as f64).sin().abs() * 4294967296.0) as u32;
            assert_eq!(*k, expect, "K[{i}]");
        }
    }

    #[test]
    fn iframe_page_and_etag() {
        // IframePage.verify: body matches the protocol regexp.
        let html = iframe_html(DEFAULT_SOCKJS_URL);
        let expected = format!(
            "<!DOCTYPE html>\n<html>\n<head>\n  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n  <script src=\"{DEFAULT_SOCKJS_URL}\"></script>\n  <script>\n    document.domain = document.domain;\n    SockJS.bootstrap_iframe();\n  </script>\n</head>\n<body>\n  <h2>Don't panic!</h2>\n  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n</body>\n</html>"
        );
        assert_eq!(html, expected);
        // node: md5_hex of the same page.
        let etag = iframe_etag(&html);
        assert_eq!(etag, "\"08c88a6396a2481f245d665a53d9dc14\"");
        assert_eq!(
            iframe_etag(&iframe_html("/sockjs.js")),
            "\"5ff84430262941008d61a8033546b552\""
        );
        // IframePage.test_cacheability
        assert!(iframe_not_modified(Some(&etag), &etag));
        assert!(!iframe_not_modified(None, &etag));
        assert!(!iframe_not_modified(
            Some("W/\"08c88a6396a2481f245d665a53d9dc14\""),
            &etag
        ));
    }

    #[test]
    fn iframe_url_dollar_patterns_like_js_replace() {
        // node: template.replace('{{ sockjs_url }}', "/a$&b$$c$'d$`e$1")
        let html = iframe_html("/a$&b$$c$'d$`e$1");
        let head = "<!DOCTYPE html>\n<html>\n<head>\n  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n  <script src=\"";
        let tail = "\"></script>\n  <script>\n    document.domain = document.domain;\n    SockJS.bootstrap_iframe();\n  </script>\n</head>\n<body>\n  <h2>Don't panic!</h2>\n  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n</body>\n</html>";
        let expected = format!("{head}/a{{{{ sockjs_url }}}}b$c{tail}d{head}e$1{tail}");
        assert_eq!(html, expected);
    }

    #[test]
    fn info_body() {
        let info = Info {
            websocket: true,
            cors: true,
            cookie_needed: false,
            entropy: 4294967295,
            base_url: None,
        };
        assert_eq!(
            info.to_json(),
            "{\"websocket\":true,\"origins\":[\"*:*\"],\"cookie_needed\":false,\"entropy\":4294967295}"
        );
        let info = Info {
            websocket: false,
            cors: false,
            cookie_needed: true,
            entropy: 7,
            base_url: Some("http://x/\"y"),
        };
        assert_eq!(
            info.to_json(),
            "{\"websocket\":false,\"cookie_needed\":true,\"entropy\":7,\"base_url\":\"http://x/\\\"y\"}"
        );
    }

    #[test]
    fn jsessionid_cookie() {
        // JsessionidCookie.test_xhr
        assert_eq!(jsessionid_set_cookie(None), "JSESSIONID=dummy; path=/");
        assert_eq!(
            jsessionid_set_cookie(Some("JSESSIONID=abcdef")),
            "JSESSIONID=abcdef; path=/"
        );
        assert_eq!(
            jsessionid_set_cookie(Some("a=1; JSESSIONID= x ; b=2")),
            "JSESSIONID=x; path=/"
        );
        assert_eq!(
            jsessionid_set_cookie(Some("JSESSIONID=")),
            "JSESSIONID=dummy; path=/"
        );
        assert_eq!(
            jsessionid_set_cookie(Some("JSESSIONID=a=b")),
            "JSESSIONID=a; path=/"
        );
        assert_eq!(
            jsessionid_set_cookie(Some("JSESSIONID=1;JSESSIONID=2")),
            "JSESSIONID=2; path=/"
        );
    }

    #[test]
    fn response_limit_accounting() {
        // XhrStreaming.test_response_limit: 'o\n' + 31 frames of 134 units
        // crosses 4096 exactly on the 31st frame.
        let msg = format!("\"{}\"", "x".repeat(128));
        let frame = xhr_frame(&format!("a[{msg}]"));
        let n = utf16_len(&frame);
        assert_eq!(n, 134);
        assert!(2 + 30 * n < 4096);
        assert!(2 + 31 * n >= 4096);
        assert_eq!(utf16_len("\u{1f600}\u{e9}"), 3);
    }
}
