//! HTTP constants of the SockJS transports: content types, cache headers, fixed bodies and the
//! defaults of sockjs-node.

// Fixed wire strings

/// `Cache-Control` on every session and `/info` response (sockjs-node `h_no_cache`).
pub(crate) const CACHE_CONTROL_NO_CACHE: &str =
    "no-store, no-cache, no-transform, must-revalidate, max-age=0";

/// One year in seconds: `max-age` of cacheable responses and the
/// `Access-Control-Max-Age` of OPTIONS responses.
pub(crate) const CACHE_FOR_SECS: u64 = 31_536_000;

/// `Cache-Control` of cacheable responses (iframe, OPTIONS, disabled websocket).
pub(crate) const CACHE_CONTROL_CACHE_FOR: &str = "public, max-age=31536000";

/// `Content-Type` of xhr, xhr_streaming and jsonp responses.
pub(crate) const CONTENT_TYPE_JAVASCRIPT: &str = "application/javascript; charset=UTF-8";

/// `Content-Type` of the greeting, 404 pages, `xhr_send` (even on 204) and `jsonp_send`.
pub(crate) const CONTENT_TYPE_PLAIN: &str = "text/plain; charset=UTF-8";

/// `Content-Type` of iframe and htmlfile responses.
pub(crate) const CONTENT_TYPE_HTML: &str = "text/html; charset=UTF-8";

/// `Content-Type` of `/info`.
pub(crate) const CONTENT_TYPE_JSON: &str = "application/json; charset=UTF-8";

/// `Content-Type` of eventsource responses (no charset in sockjs-node).
pub(crate) const CONTENT_TYPE_EVENT_STREAM: &str = "text/event-stream";

/// Body of `GET <prefix>` and `GET <prefix>/`.
pub(crate) const WELCOME_BODY: &str = "Welcome to SockJS!\n";

/// Body of sockjs-node's 404 responses (with [`CONTENT_TYPE_PLAIN`]).
pub(crate) const NOT_FOUND_BODY: &str = "404 Error: Page not found\n";

/// Body of a successful `jsonp_send` (status 200, `Content-Length: 2`).
pub(crate) const JSONP_SEND_OK_BODY: &str = "ok";

/// Body of the 400 for a non-upgrade request to a websocket URL.
pub(crate) const WEBSOCKET_NOT_VALID_BODY: &str = "Not a valid websocket request";

/// Body of the 400 for raw `/websocket` with `Sec-WebSocket-Version` not 8 or 13.
pub(crate) const RAW_WEBSOCKET_VERSION_BODY: &str =
    "Only supported WebSocket protocol is RFC 6455.";

/// `Access-Control-Allow-Methods` on OPTIONS of xhr, xhr_send, xhr_streaming.
pub(crate) const ALLOW_METHODS_XHR: &str = "OPTIONS, POST";

/// `Access-Control-Allow-Methods` on OPTIONS of `/info`.
pub(crate) const ALLOW_METHODS_INFO: &str = "OPTIONS, GET";
