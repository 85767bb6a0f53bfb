//! The miner's Prometheus series, through the maintained `prometheus-client` crate
//! (OpenMetrics text). `brainlock_daemon::metrics` serves them on
//! the metrics address, apart from the public API.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brainlock_daemon::metrics::LabelText;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::server::AppState;

/// Window over which `lookups_per_second` is averaged.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Upper bounds (seconds) of the latency histogram buckets: from a tiny circuit over
/// loopback to a VGG9 batch.
const LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0, 600.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: LabelText,
    status: u16,
}

/// What the handlers and workers record. Cheap to clone: every series is shared.
#[derive(Debug, Clone)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    lookups: Counter,
    items: Counter,
    item_failures: Counter,
    recent_lookups: Arc<Mutex<VecDeque<(Instant, u64)>>>,
    /// From admission of an infer request to its last frame.
    infer_seconds: Histogram,
    /// Evaluation of one item on a worker.
    item_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let histogram = || Histogram::new(LATENCY_BUCKETS);
        Self {
            requests: Family::default(),
            lookups: Counter::default(),
            items: Counter::default(),
            item_failures: Counter::default(),
            recent_lookups: Arc::default(),
            infer_seconds: histogram(),
            item_seconds: histogram(),
        }
    }
}

impl Metrics {
    pub fn record_request(&self, route: &str, status: u16) {
        let labels = RequestLabels {
            route: LabelText(route.to_owned()),
            status,
        };
        self.requests.get_or_create(&labels).inc();
    }

    /// Answers to `route` with `status` so far.
    pub fn requests(&self, route: &str, status: u16) -> u64 {
        let labels = RequestLabels {
            route: LabelText(route.to_owned()),
            status,
        };
        self.requests.get_or_create(&labels).get()
    }

    /// One item evaluated: its lookups count towards the rate.
    pub fn record_item(&self, lookups: usize, elapsed: Duration) {
        let now = Instant::now();
        self.lookups.inc_by(lookups as u64);
        self.items.inc();
        self.item_seconds.observe(elapsed.as_secs_f64());
        let mut recent = self
            .recent_lookups
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        recent.push_back((now, lookups as u64));
        prune(&mut recent, now);
    }

    pub fn record_item_failure(&self) {
        self.item_failures.inc();
    }

    /// An infer request streamed its last frame `elapsed` after admission.
    pub fn record_infer(&self, elapsed: Duration) {
        self.infer_seconds.observe(elapsed.as_secs_f64());
    }

    pub fn items_completed(&self) -> u64 {
        self.items.get()
    }

    pub fn lookups_per_second(&self) -> f64 {
        let mut recent = self
            .recent_lookups
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        prune(&mut recent, Instant::now());
        recent.iter().map(|(_, n)| *n).sum::<u64>() as f64 / RATE_WINDOW.as_secs_f64()
    }

    /// The registry to serve: these series, and the gauges read off `state` at scrape.
    pub fn registry(state: Arc<AppState>) -> Registry {
        let mut registry = Registry::with_prefix("brainlock_miner");
        state.metrics.register(&mut registry);
        registry.register_collector(Box::new(StateGauges(state)));
        registry
    }

    fn register(&self, registry: &mut Registry) {
        let metrics = self;
        registry.register(
            "requests",
            "HTTP requests by route and status",
            metrics.requests.clone(),
        );
        registry.register(
            "lookups",
            "Programmable bootstraps computed",
            metrics.lookups.clone(),
        );
        registry.register("items", "Batch items evaluated", metrics.items.clone());
        registry.register(
            "item_failures",
            "Batch items answered with an error frame",
            metrics.item_failures.clone(),
        );
        registry.register(
            "infer_seconds",
            "Infer request latency, admission to last frame",
            metrics.infer_seconds.clone(),
        );
        registry.register(
            "item_seconds",
            "Evaluation time of one item",
            metrics.item_seconds.clone(),
        );
    }
}

/// Gauges whose values live with their owners (queue, key cache, memory budget), read
/// when Prometheus scrapes.
struct StateGauges(Arc<AppState>);

impl std::fmt::Debug for StateGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateGauges")
    }
}

impl Collector for StateGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let state = &self.0;
        let gauges: [(&str, &str, f64); 7] = [
            (
                "lookups_per_second",
                "Bootstraps per second over the last minute",
                state.metrics.lookups_per_second(),
            ),
            (
                "queue_depth",
                "Items waiting for a worker",
                state.queue.depth() as f64,
            ),
            (
                "queue_capacity",
                "Items the work queue admits",
                state.queue.capacity() as f64,
            ),
            (
                "key_cache_bytes",
                "Expanded bytes of cached evaluation keys",
                state.keys.used_bytes() as f64,
            ),
            (
                "key_cache_keys",
                "Cached evaluation keys",
                state.keys.len() as f64,
            ),
            (
                "inflight_bytes",
                "Memory reserved by in-flight inference",
                state.inflight.used() as f64,
            ),
            (
                "inflight_capacity_bytes",
                "Cap on in-flight inference memory",
                state.inflight.cap() as f64,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

fn prune(recent: &mut VecDeque<(Instant, u64)>, now: Instant) {
    while recent
        .front()
        .is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW)
    {
        recent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts_escapes_and_buckets() {
        let metrics = Metrics::default();
        metrics.record_request("/v1/infer", 200);
        metrics.record_request("/v1/infer", 200);
        metrics.record_request("/v1/\"quoted\"", 404);
        metrics.record_item(32, Duration::from_millis(30));
        metrics.record_infer(Duration::from_millis(70));
        let mut registry = Registry::with_prefix("brainlock_miner");
        metrics.register(&mut registry);
        let text = brainlock_daemon::metrics::render(&registry).unwrap();
        for line in [
            "brainlock_miner_requests_total{route=\"/v1/infer\",status=\"200\"} 2",
            "brainlock_miner_requests_total{route=\"/v1/\\\"quoted\\\"\",status=\"404\"} 1",
            "brainlock_miner_lookups_total 32",
            "brainlock_miner_infer_seconds_bucket{le=\"0.05\"} 0",
            "brainlock_miner_infer_seconds_bucket{le=\"0.1\"} 1",
            "brainlock_miner_infer_seconds_count 1",
            "brainlock_miner_item_seconds_bucket{le=\"+Inf\"} 1",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!((metrics.lookups_per_second() - 32.0 / 60.0).abs() < 1e-9);
        assert_eq!(metrics.requests("/v1/infer", 200), 2);
    }
}
