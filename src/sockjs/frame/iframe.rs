//! The iframe page, its ETag and `If-None-Match`.

use std::fmt::Write as _;

// iframe.html

/// sockjs-node 0.3.24's default `sockjs_url`.
pub(crate) const DEFAULT_SOCKJS_URL: &str =
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
pub(crate) fn iframe_html(sockjs_url: &str) -> String {
    js_replace_first(IFRAME_TEMPLATE, IFRAME_PLACEHOLDER, sockjs_url)
}

/// The `ETag` header value for an iframe body: the MD5 of the body in
/// lowercase hex inside double quotes, exactly as sockjs-node computes it
/// (so the ETag matches a sockjs-node server serving the same URL).
#[must_use]
pub(crate) fn iframe_etag(html: &str) -> String {
    format!("\"{}\"", md5_hex(html.as_bytes()))
}

/// sockjs-node answers 304 only when `If-None-Match` is byte-equal to the
/// ETag (no list parsing, no `W/`, no `*`).
#[must_use]
pub(crate) fn iframe_not_modified(if_none_match: Option<&str>, etag: &str) -> bool {
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
/// ETag as sockjs-node makes it. Not for security.
#[must_use]
pub(crate) fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(data);
    let mut out = String::with_capacity(32);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}
