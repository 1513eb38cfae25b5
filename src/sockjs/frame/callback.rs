//! JSONP and htmlfile callbacks: where they come from and which are allowed.

use super::FrameError;

// Callback parameter (jsonp, htmlfile)

/// Which transport a callback is validated for: only `jsonp` limits length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallbackTransport {
    /// `GET /<server>/<session>/jsonp`: at most [`JSONP_CALLBACK_MAX_LEN`] chars.
    Jsonp,
    /// `GET /<server>/<session>/htmlfile`: no length limit.
    Htmlfile,
}

/// Longest callback sockjs-node accepts on `jsonp` (`callback.length > 32` fails).
pub(crate) const JSONP_CALLBACK_MAX_LEN: usize = 32;

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
pub(crate) fn callback_from_query(
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
pub(crate) fn validate_callback(
    callback: &str,
    transport: CallbackTransport,
) -> Result<(), FrameError> {
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
