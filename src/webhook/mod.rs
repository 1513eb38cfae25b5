//! Webhooks: the backend hears who connected, joined, left and went offline, as JSON events
//! POSTed to `--webhook-url`, in order, several to a POST, retried until they are taken.
//!
//! Events wait in one bounded queue (`--webhook-queue`); a full queue drops the new event and
//! counts it. One sender on a thread of its own posts them, so a slow or dead receiver never
//! slows a client.

mod events;
mod sender;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

pub(crate) use events::WebhookHandler;

/// Where and how events are posted.
#[derive(Debug, Clone)]
pub(crate) struct WebhookConfig {
    /// The receiver's URL (`http://`).
    pub url: String,
    /// Signs each body: `X-Switchboard-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    pub secret: Option<String>,
    /// Most events waiting; more are dropped and counted.
    pub queue: usize,
    /// Most events in one POST.
    pub batch: usize,
    /// How long one POST may take.
    pub timeout: Duration,
}

/// What `/api/stats` shows of the webhooks.
#[derive(Debug, Default, Serialize)]
pub(crate) struct WebhookStats {
    /// Events waiting or being posted.
    pub pending: usize,
    /// Events the receiver took.
    pub delivered: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
    /// POSTs that failed (and were retried).
    pub failed_posts: u64,
}

#[derive(Debug, Default)]
struct Counters {
    pending: AtomicUsize,
    delivered: AtomicU64,
    dropped: AtomicU64,
    failed_posts: AtomicU64,
}

/// The queue of events and its sender.
#[derive(Debug, Clone)]
pub(crate) struct Webhooks {
    queue: tokio::sync::mpsc::Sender<Value>,
    counters: Arc<Counters>,
}

impl Webhooks {
    /// Starts the sender thread.
    pub(crate) fn start(config: WebhookConfig) -> Webhooks {
        let (queue, events) = tokio::sync::mpsc::channel(config.queue.max(1));
        let counters = Arc::new(Counters::default());
        sender::spawn(config, events, counters.clone());
        Webhooks { queue, counters }
    }

    /// Queues one event; never waits.
    pub(crate) fn send(&self, event: Value) {
        self.counters.pending.fetch_add(1, Ordering::Relaxed);
        if self.queue.try_send(event).is_err() {
            self.counters.pending.fetch_sub(1, Ordering::Relaxed);
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("webhook queue full: event dropped");
        }
    }

    /// Waits until every queued event is taken, at most `limit` (a shutdown's last events).
    pub(crate) async fn flushed(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.counters.pending.load(Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The counters, for `/api/stats`.
    pub(crate) fn stats(&self) -> WebhookStats {
        let c = &self.counters;
        WebhookStats {
            pending: c.pending.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            failed_posts: c.failed_posts.load(Ordering::Relaxed),
        }
    }
}
