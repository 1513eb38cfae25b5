//! The `/info` body and the JSESSIONID cookie.

use std::fmt::Write as _;

use super::encode::push_quoted;

// /info body and JSESSIONID

/// The `/info` response body, serialized with sockjs-node's key order:
/// `{"websocket":…,"origins":["*:*"],"cookie_needed":…,"entropy":…}` plus
/// `"base_url"` when configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Info<'a> {
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
    pub(crate) fn to_json(&self) -> String {
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
pub(crate) fn jsessionid_set_cookie(cookie_header: Option<&str>) -> String {
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
