//! Frames the server sends, SockJS's escaping, and each HTTP transport's wrapping.

use std::fmt::Write as _;

// Frames

/// Open frame, sent once when a session is created.
pub(crate) const OPEN_FRAME: &str = "o";

/// Heartbeat frame (sockjs-node sends it every 25 s on HTTP transports; on
/// WebSocket 0.3.24 sends a WebSocket ping instead, see the checklist).
pub(crate) const HEARTBEAT_FRAME: &str = "h";

/// Default close of `session.close()` with no arguments: `c[1000,"Normal closure"]`.
pub(crate) const CLOSE_NORMAL: (u16, &str) = (1000, "Normal closure");

/// Close frame sent to a second receiver that polls a session which already
/// has one: `c[2010,"Another connection still open"]`.
pub(crate) const CLOSE_ANOTHER_CONNECTION: (u16, &str) = (2010, "Another connection still open");

/// WebSocket close (code, reason) sent by sockjs-node when a client message is
/// not valid JSON. It is a WebSocket close, not a `c` frame.
pub(crate) const CLOSE_BROKEN_FRAMING: (u16, &str) = (3000, "Broken framing.");

/// Builds a message frame `a[...]`, each message escaped by [`quote`].
///
/// An empty slice gives `a[]` (sockjs-node never sends that: it only flushes
/// a non-empty buffer).
#[must_use]
pub(crate) fn encode_messages<S: AsRef<str>>(messages: &[S]) -> String {
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
pub(crate) fn encode_close(code: u16, reason: &str) -> String {
    let mut out = String::with_capacity(reason.len() + 12);
    let _ = write!(out, "c[{code},");
    push_quoted(&mut out, reason, false);
    out.push(']');
    out
}

/// sockjs-node's `utils.quote`: `JSON.stringify(s)` plus lowercase `\uXXXX`
/// escapes for the code units listed in the module docs.
#[must_use]
#[cfg(test)]
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_quoted(&mut out, s, true);
    out
}

/// JavaScript's `JSON.stringify` of a string (Node 12+ rules): quotes it and
/// escapes `"`, `\`, `\b \t \n \f \r` and other C0 controls as `\u00xx`.
/// Everything else, including U+2028/U+2029, is left raw.
#[must_use]
#[cfg(test)]
pub(crate) fn json_stringify(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_quoted(&mut out, s, false);
    out
}

/// Length of `s` in UTF-16 code units, i.e. JavaScript's `string.length`.
///
/// sockjs-node counts this (not bytes) against `response_limit` for each
/// wrapped frame written to a streaming response.
#[must_use]
pub(crate) fn utf16_len(s: &str) -> usize {
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

pub(super) fn push_quoted(out: &mut String, s: &str, sockjs_quote: bool) {
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

// Transport wrappers

/// Wraps a frame for `xhr` and `xhr_streaming`: the frame plus `"\n"`.
#[must_use]
pub(crate) fn xhr_frame(frame: &str) -> String {
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
pub(crate) const XHR_STREAMING_PRELUDE: &str = match std::str::from_utf8(&XHR_PRELUDE_BYTES) {
    Ok(s) => s,
    Err(_) => panic!("prelude is ASCII"),
};

/// First chunk of every `eventsource` response (an Opera workaround).
pub(crate) const EVENTSOURCE_PRELUDE: &str = "\r\n";

/// Wraps a frame for `eventsource`: `data: <frame>\r\n\r\n`, after
/// sockjs-node's `escape_selected(frame, '\r\n\x00')`, which also escapes
/// `%`: `%` → `%25`, CR → `%0D`, LF → `%0A`, NUL → `%00`. sockjs-client runs
/// `decodeURI` on each event, undoing it. In practice only `%` occurs.
#[must_use]
pub(crate) fn eventsource_frame(frame: &str) -> String {
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
/// ([`super::callback_from_query`]).
#[must_use]
pub(crate) fn htmlfile_prelude(callback: &str) -> String {
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
pub(crate) fn htmlfile_frame(frame: &str) -> String {
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
pub(crate) fn jsonp_frame(callback: &str, frame: &str) -> String {
    let mut out = String::with_capacity(callback.len() + frame.len() + 16);
    out.push_str("/**/");
    out.push_str(callback);
    out.push('(');
    push_quoted(&mut out, frame, false);
    out.push_str(");\r\n");
    out
}
