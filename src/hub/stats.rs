//! Counters the hub keeps for `/api/stats`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::DisconnectReason;

/// Monotonic counters, updated lock-free.
#[derive(Debug)]
pub(crate) struct Counters {
    /// Messages received, each counted once where it enters: every relay request from a client
    /// (any protocol) and every message published over the HTTP API.
    pub messages_in: AtomicU64,
    /// Frames handed to sessions for delivery.
    pub messages_out: AtomicU64,
    /// Deliveries refused because a session's outbox was full.
    pub overflow_drops: AtomicU64,
    /// Sessions closed because their outbox overflowed.
    pub overflow_disconnects: AtomicU64,
    /// Sessions ever opened.
    pub sessions_opened: AtomicU64,
    /// Sessions ever closed.
    pub sessions_closed: AtomicU64,
    /// Connections refused because the session limit was reached.
    pub sessions_refused: AtomicU64,
    /// Sessions closed, by [`DisconnectReason::index`].
    pub disconnects: [AtomicU64; DisconnectReason::KINDS],
    /// Recipients per broadcast on this node (`/metrics`).
    pub fanout: prometheus::Histogram,
}

impl Default for Counters {
    fn default() -> Self {
        let buckets = vec![0.0, 1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0];
        let opts = prometheus::HistogramOpts::new(
            "switchboard_broadcast_recipients",
            "Sessions on this node that one broadcast reached.",
        )
        .buckets(buckets);
        Counters {
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            overflow_drops: AtomicU64::new(0),
            overflow_disconnects: AtomicU64::new(0),
            sessions_opened: AtomicU64::new(0),
            sessions_closed: AtomicU64::new(0),
            sessions_refused: AtomicU64::new(0),
            disconnects: Default::default(),
            fanout: prometheus::Histogram::with_opts(opts).expect("valid histogram options"),
        }
    }
}

impl Counters {
    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Sessions closed for each reason, with the reason's name.
    pub(crate) fn disconnects(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DisconnectReason::NAMES
            .iter()
            .zip(&self.disconnects)
            .map(|(name, count)| (*name, Self::get(count)))
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The state of this node's link to its cluster (`/api/stats` `cluster`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ClusterStats {
    /// This node's id in the cluster (its adapter uid, in every message it publishes).
    pub node_id: String,
    /// Whether the subscriber connection to Redis is up.
    pub connected: bool,
    /// Messages published to the cluster.
    pub published: u64,
    /// Messages Redis did not take (down, or an error): they reached no other node.
    pub publish_failed: u64,
    /// Messages dropped before publishing because the queue was full (`--redis-publish-queue`).
    pub publish_dropped: u64,
    /// Messages received from the cluster and acted on.
    pub received: u64,
    /// Messages received that could not be read (logged and dropped).
    pub malformed: u64,
    /// Times the subscriber connection was made again after a loss.
    pub reconnects: u64,
}

/// Sessions on one transport of one protocol.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TransportCount {
    /// Protocol name.
    pub protocol: &'static str,
    /// Transport name.
    pub transport: &'static str,
    /// Live sessions.
    pub sessions: usize,
}

/// A point-in-time view of the hub, as served by `GET /api/stats`.
#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    /// Live sessions on this node.
    pub sessions: usize,
    /// Live sessions by protocol and transport.
    pub by_transport: Vec<TransportCount>,
    /// Rooms with at least one member.
    pub rooms: usize,
    /// Messages received from clients and publishers.
    pub messages_in: u64,
    /// Frames handed to sessions for delivery.
    pub messages_out: u64,
    /// Deliveries refused because a session's outbox was full.
    pub overflow_drops: u64,
    /// Sessions closed because their outbox overflowed.
    pub overflow_disconnects: u64,
    /// Sessions ever opened.
    pub sessions_opened: u64,
    /// Sessions ever closed.
    pub sessions_closed: u64,
    /// Connections refused at the session limit.
    pub sessions_refused: u64,
    /// The cluster adapter in use.
    pub adapter: &'static str,
    /// The cluster link, in cluster mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStats>,
    /// Dropped sessions kept for recovery.
    pub recovery_kept: usize,
    /// Broadcasts kept in the recovery log.
    pub recovery_log: usize,
    /// Bytes of the broadcasts in the recovery log.
    pub recovery_log_bytes: usize,
}

impl Counters {
    /// Fills the counter fields of a snapshot.
    pub(crate) fn snapshot(
        &self,
        sessions: usize,
        by_transport: Vec<TransportCount>,
        rooms: usize,
        adapter: &'static str,
    ) -> StatsSnapshot {
        StatsSnapshot {
            sessions,
            by_transport,
            rooms,
            messages_in: Self::get(&self.messages_in),
            messages_out: Self::get(&self.messages_out),
            overflow_drops: Self::get(&self.overflow_drops),
            overflow_disconnects: Self::get(&self.overflow_disconnects),
            sessions_opened: Self::get(&self.sessions_opened),
            sessions_closed: Self::get(&self.sessions_closed),
            sessions_refused: Self::get(&self.sessions_refused),
            adapter,
            cluster: None,
            recovery_kept: 0,
            recovery_log: 0,
            recovery_log_bytes: 0,
        }
    }
}
