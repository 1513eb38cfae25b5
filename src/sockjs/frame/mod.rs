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

mod callback;
mod decode;
mod encode;
mod error;
mod http;
mod iframe;
mod info;
mod json;

pub(crate) use callback::*;
pub(crate) use decode::*;
pub(crate) use encode::*;
pub(crate) use error::*;
pub(crate) use http::*;
pub(crate) use iframe::*;
pub(crate) use info::*;

#[cfg(test)]
use json::js_number_to_string;

#[cfg(test)]
mod tests;
