//! What every HTTP transport does with a request body.

use actix_web::web;
use futures_util::StreamExt;

/// Reads a request body of at most `limit` bytes; `None` when it is larger or the read fails.
pub async fn read_body(mut body: web::Payload, limit: usize) -> Option<web::BytesMut> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.ok()?;
        if buf.len() + chunk.len() > limit {
            return None;
        }
        buf.extend_from_slice(&chunk);
    }
    Some(buf)
}
