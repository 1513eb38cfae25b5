//! `GET /metrics`: the node's numbers in the Prometheus text format, read from the hub's
//! counters when scraped (nothing is counted twice, and the hot paths only bump atomics).

use actix_web::{web, HttpRequest, HttpResponse};
use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::AppState;

/// Builds a registry for one scrape: the snapshot's values as gauges and counters.
struct Scrape {
    registry: Registry,
}

impl Scrape {
    fn gauge(&self, name: &str, help: &str, value: u64) {
        let gauge = IntGauge::new(name, help).expect("a valid metric name");
        gauge.set(value as i64);
        self.register(gauge);
    }

    fn counter(&self, name: &str, help: &str, value: u64) {
        let counter = IntCounter::new(name, help).expect("a valid metric name");
        counter.inc_by(value);
        self.register(counter);
    }

    fn gauges<'a>(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        values: impl Iterator<Item = (Vec<&'a str>, u64)>,
    ) {
        let vec = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric");
        for (label_values, value) in values {
            vec.with_label_values(&label_values).set(value as i64);
        }
        self.register(vec);
    }

    fn counters<'a>(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        values: impl Iterator<Item = (Vec<&'a str>, u64)>,
    ) {
        let vec = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
        for (label_values, value) in values {
            vec.with_label_values(&label_values).inc_by(value);
        }
        self.register(vec);
    }

    fn register(&self, collector: impl prometheus::core::Collector + 'static) {
        if let Err(error) = self.registry.register(Box::new(collector)) {
            tracing::error!(%error, "metric not exported");
        }
    }
}

/// The text a scrape gets.
pub(crate) fn render(state: &AppState) -> String {
    let hub = &state.hub;
    let stats = hub.stats();
    let counters = hub.counters();
    let scrape = Scrape {
        registry: Registry::new(),
    };
    scrape.gauges(
        "switchboard_connections",
        "Sessions connected now, by protocol and transport.",
        &["protocol", "transport"],
        stats
            .by_transport
            .iter()
            .map(|t| (vec![t.protocol, t.transport], t.sessions as u64)),
    );
    scrape.counter(
        "switchboard_connections_opened_total",
        "Sessions opened.",
        stats.sessions_opened,
    );
    scrape.counter(
        "switchboard_connections_refused_total",
        "Connections refused at the session limit.",
        stats.sessions_refused,
    );
    scrape.counters(
        "switchboard_disconnects_total",
        "Sessions closed, by reason.",
        &["reason"],
        counters.disconnects().map(|(reason, n)| (vec![reason], n)),
    );
    scrape.gauge(
        "switchboard_rooms",
        "Rooms with a member on this node.",
        stats.rooms as u64,
    );
    scrape.counter(
        "switchboard_messages_in_total",
        "Messages received from clients and publishers.",
        stats.messages_in,
    );
    scrape.counter(
        "switchboard_messages_out_total",
        "Messages handed to sessions for delivery.",
        stats.messages_out,
    );
    scrape.counter(
        "switchboard_slow_consumer_disconnects_total",
        "Sessions closed because they did not read what they were sent.",
        stats.overflow_disconnects,
    );
    scrape.counter(
        "switchboard_slow_consumer_drops_total",
        "Deliveries refused because a session's outbox was full.",
        stats.overflow_drops,
    );
    scrape.register(counters.fanout.clone());
    scrape.gauge(
        "switchboard_recovery_kept_sessions",
        "Dropped sessions kept for recovery.",
        stats.recovery_kept as u64,
    );
    scrape.gauge(
        "switchboard_recovery_log_messages",
        "Broadcasts kept in the recovery log.",
        stats.recovery_log as u64,
    );
    if let Some(cluster) = &stats.cluster {
        scrape.gauge(
            "switchboard_cluster_connected",
            "Whether the Redis subscriber is up (1) or not (0).",
            u64::from(cluster.connected),
        );
        scrape.counter(
            "switchboard_cluster_published_total",
            "Messages published to the cluster.",
            cluster.published,
        );
        scrape.counter(
            "switchboard_cluster_publish_failed_total",
            "Messages Redis did not take.",
            cluster.publish_failed,
        );
        scrape.counter(
            "switchboard_cluster_publish_dropped_total",
            "Messages dropped before publishing (queue full).",
            cluster.publish_dropped,
        );
        scrape.counter(
            "switchboard_cluster_received_total",
            "Messages received from the cluster.",
            cluster.received,
        );
        scrape.counter(
            "switchboard_cluster_reconnects_total",
            "Times the subscriber reconnected.",
            cluster.reconnects,
        );
    }
    if let Some(webhooks) = &state.webhooks {
        let w = webhooks.stats();
        scrape.gauge(
            "switchboard_webhook_events_pending",
            "Webhook events waiting or being posted.",
            w.pending as u64,
        );
        scrape.counter(
            "switchboard_webhook_events_delivered_total",
            "Webhook events the receiver took.",
            w.delivered,
        );
        scrape.counter(
            "switchboard_webhook_events_dropped_total",
            "Webhook events dropped (queue full).",
            w.dropped,
        );
        scrape.counter(
            "switchboard_webhook_failed_posts_total",
            "Webhook POSTs that failed and were retried.",
            w.failed_posts,
        );
    }
    let mut text = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&scrape.registry.gather(), &mut text) {
        tracing::error!(%error, "metrics not encoded");
    }
    String::from_utf8(text).unwrap_or_default()
}

/// `GET /metrics` (behind `--api-token` when it is set, as the API).
pub(crate) async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refused) = crate::api::refusal(&req, &state) {
        return refused;
    }
    HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(render(&state))
}
