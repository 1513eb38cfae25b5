//! The header building blocks sockjs-node puts on its answers (protocols/sockjs-checklist.md §1.2).

use std::time::{Duration, SystemTime};

use actix_web::http::header::{self, HttpDate};
use actix_web::{HttpRequest, HttpResponseBuilder};

use super::frame;

/// `Cache-Control` for dynamic answers.
pub(super) fn no_cache(res: &mut HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, frame::CACHE_CONTROL_NO_CACHE));
}

/// One year of caching (`Cache-Control` and `Expires`).
pub(super) fn cache_for(res: &mut HttpResponseBuilder) {
    let expires = SystemTime::now() + Duration::from_secs(frame::CACHE_FOR_SECS);
    res.insert_header((header::CACHE_CONTROL, frame::CACHE_CONTROL_CACHE_FOR));
    res.insert_header((header::EXPIRES, HttpDate::from(expires).to_string()));
}

fn origin(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| !o.is_empty())
}

fn allow_headers(req: &HttpRequest, res: &mut HttpResponseBuilder) {
    res.insert_header((header::VARY, "Origin"));
    if let Some(requested) = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter(|h| !h.is_empty())
    {
        res.insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone()));
    }
}

/// CORS for xhr transports and `/info`: the origin echoed with credentials, or `*`.
pub(super) fn xhr_cors(req: &HttpRequest, res: &mut HttpResponseBuilder) {
    cors_for(origin(req), req, res);
}

/// CORS for eventsource: as [`xhr_cors`], but a `null` origin gets `*`.
pub(super) fn eventsource_cors(req: &HttpRequest, res: &mut HttpResponseBuilder) {
    cors_for(origin(req).filter(|o| *o != "null"), req, res);
}

fn cors_for(origin: Option<&str>, req: &HttpRequest, res: &mut HttpResponseBuilder) {
    match origin {
        Some(origin) => {
            res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin));
            res.insert_header((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"));
        }
        None => {
            res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
        }
    }
    allow_headers(req, res);
}

/// `Set-Cookie: JSESSIONID=...; path=/` when the service wants sticky sessions.
pub(super) fn jsessionid(req: &HttpRequest, enabled: bool, res: &mut HttpResponseBuilder) {
    if enabled {
        let cookie = req
            .headers()
            .get(header::COOKIE)
            .and_then(|c| c.to_str().ok());
        res.insert_header((header::SET_COOKIE, frame::jsessionid_set_cookie(cookie)));
    }
}
