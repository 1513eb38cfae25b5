//! The webhook sender: a thread with its own event loop that posts batches of events, one POST
//! at a time (so events stay in order), retrying a failed POST with backoff.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde_json::{json, Value};
use tokio::sync::mpsc::Receiver;

use super::{Counters, WebhookConfig};

/// The first wait after a failed POST; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Starts the thread.
pub(super) fn spawn(config: WebhookConfig, events: Receiver<Value>, counters: Arc<Counters>) {
    let spawned = std::thread::Builder::new()
        .name("switchboard-webhooks".into())
        .spawn(move || {
            actix_web::rt::System::new().block_on(run(config, events, counters));
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "webhook thread not started: no webhooks");
    }
}

/// `X-Switchboard-Signature` of `body`.
pub(super) fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

async fn run(config: WebhookConfig, mut events: Receiver<Value>, counters: Arc<Counters>) {
    let client = awc::Client::builder().timeout(config.timeout).finish();
    let mut batch = Vec::with_capacity(config.batch);
    while let Some(first) = events.recv().await {
        batch.push(first);
        while batch.len() < config.batch {
            match events.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        let body = json!({ "events": batch }).to_string();
        let mut backoff = FIRST_BACKOFF;
        loop {
            match post(&client, &config, &body).await {
                Ok(()) => break,
                Err(error) => {
                    counters.failed_posts.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, events = batch.len(), retry_in_ms = backoff.as_millis() as u64, "webhook POST failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        let n = batch.len();
        counters.delivered.fetch_add(n as u64, Ordering::Relaxed);
        counters.pending.fetch_sub(n, Ordering::Relaxed);
        batch.clear();
    }
}

/// One POST; any answer but a 2xx is a failure.
async fn post(client: &awc::Client, config: &WebhookConfig, body: &str) -> Result<(), String> {
    let mut request = client
        .post(&config.url)
        .insert_header(("Content-Type", "application/json"));
    if let Some(secret) = &config.secret {
        request = request.insert_header((
            "X-Switchboard-Signature",
            signature(secret, body.as_bytes()),
        ));
    }
    let response = request
        .send_body(body.to_string())
        .await
        .map_err(|e| e.to_string())?;
    match response.status() {
        status if status.is_success() => Ok(()),
        status => Err(format!("answered {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hex_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
