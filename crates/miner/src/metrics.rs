//! Prometheus text exposition of the miner's counters, written by hand: a handful of
//! series does not justify a metrics framework.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Window over which `lookups_per_second` is averaged.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Upper bounds (seconds) of the latency histogram buckets: from a tiny circuit over
/// loopback to a VGG9 batch.
const LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0, 600.0,
];

#[derive(Debug)]
pub struct Histogram {
    counts: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = LATENCY_BUCKETS.iter().position(|&upper| seconds <= upper) {
            self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (upper, count) in LATENCY_BUCKETS.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{upper}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Values read from their owners at scrape time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    pub queue_depth: usize,
    pub queue_capacity: usize,
    pub key_cache_bytes: usize,
    pub key_cache_keys: usize,
    pub inflight_bytes: usize,
    pub inflight_capacity: usize,
}

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    lookups_total: AtomicU64,
    items_completed: AtomicU64,
    items_failed: AtomicU64,
    recent_lookups: Mutex<VecDeque<(Instant, u64)>>,
    /// From admission of an infer request to its last frame.
    pub infer_seconds: Histogram,
    /// Evaluation of one item on a worker.
    pub item_seconds: Histogram,
}

impl Metrics {
    pub fn record_request(&self, route: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *requests.entry((route.to_owned(), status)).or_default() += 1;
    }

    pub fn requests(&self, route: &str, status: u16) -> u64 {
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        requests
            .get(&(route.to_owned(), status))
            .copied()
            .unwrap_or(0)
    }

    /// One item evaluated: its lookups count towards the rate.
    pub fn record_item(&self, lookups: usize, elapsed: Duration) {
        let now = Instant::now();
        self.lookups_total
            .fetch_add(lookups as u64, Ordering::Relaxed);
        self.items_completed.fetch_add(1, Ordering::Relaxed);
        self.item_seconds.observe(elapsed);
        let mut recent = self
            .recent_lookups
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        recent.push_back((now, lookups as u64));
        prune(&mut recent, now);
    }

    pub fn record_item_failure(&self) {
        self.items_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn items_completed(&self) -> u64 {
        self.items_completed.load(Ordering::Relaxed)
    }

    pub fn lookups_per_second(&self) -> f64 {
        let mut recent = self
            .recent_lookups
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        prune(&mut recent, Instant::now());
        recent.iter().map(|(_, n)| *n).sum::<u64>() as f64 / RATE_WINDOW.as_secs_f64()
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        out.push_str("# HELP brainlock_miner_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE brainlock_miner_requests_total counter\n");
        for ((route, status), count) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "brainlock_miner_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, value: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        counter(
            &mut out,
            "brainlock_miner_lookups_total",
            "Programmable bootstraps computed.",
            self.lookups_total.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "brainlock_miner_items_total",
            "Batch items evaluated.",
            self.items_completed(),
        );
        counter(
            &mut out,
            "brainlock_miner_item_failures_total",
            "Batch items answered with an error frame.",
            self.items_failed.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "brainlock_miner_lookups_per_second",
            "Bootstraps per second over the last minute.",
            self.lookups_per_second(),
        );
        gauge(
            &mut out,
            "brainlock_miner_queue_depth",
            "Items waiting for a worker.",
            gauges.queue_depth as f64,
        );
        gauge(
            &mut out,
            "brainlock_miner_queue_capacity",
            "Items the work queue admits.",
            gauges.queue_capacity as f64,
        );
        gauge(
            &mut out,
            "brainlock_miner_key_cache_bytes",
            "Expanded bytes of cached evaluation keys.",
            gauges.key_cache_bytes as f64,
        );
        gauge(
            &mut out,
            "brainlock_miner_key_cache_keys",
            "Cached evaluation keys.",
            gauges.key_cache_keys as f64,
        );
        gauge(
            &mut out,
            "brainlock_miner_inflight_bytes",
            "Memory reserved by in-flight inference.",
            gauges.inflight_bytes as f64,
        );
        gauge(
            &mut out,
            "brainlock_miner_inflight_capacity_bytes",
            "Cap on in-flight inference memory.",
            gauges.inflight_capacity as f64,
        );
        self.infer_seconds.render(
            &mut out,
            "brainlock_miner_infer_seconds",
            "Infer request latency, admission to last frame.",
        );
        self.item_seconds.render(
            &mut out,
            "brainlock_miner_item_seconds",
            "Evaluation time of one item.",
        );
        out
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
    fn exposition_has_every_series() {
        let metrics = Metrics::default();
        metrics.record_request("/v1/infer", 200);
        metrics.record_request("/v1/infer", 200);
        metrics.record_request("/v1/keys", 400);
        metrics.record_item(32, Duration::from_millis(30));
        metrics.infer_seconds.observe(Duration::from_millis(70));
        let text = metrics.render(&Gauges {
            queue_depth: 3,
            key_cache_bytes: 1234,
            ..Gauges::default()
        });
        assert!(
            text.contains("brainlock_miner_requests_total{route=\"/v1/infer\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("brainlock_miner_requests_total{route=\"/v1/keys\",status=\"400\"} 1")
        );
        assert!(text.contains("brainlock_miner_lookups_total 32"));
        assert!(text.contains("brainlock_miner_queue_depth 3"));
        assert!(text.contains("brainlock_miner_key_cache_bytes 1234"));
        assert!(text.contains("brainlock_miner_infer_seconds_bucket{le=\"0.05\"} 0"));
        assert!(text.contains("brainlock_miner_infer_seconds_bucket{le=\"0.1\"} 1"));
        assert!(text.contains("brainlock_miner_infer_seconds_count 1"));
        assert!(text.contains("brainlock_miner_item_seconds_bucket{le=\"+Inf\"} 1"));
        assert!((metrics.lookups_per_second() - 32.0 / 60.0).abs() < 1e-9);
        assert_eq!(metrics.requests("/v1/infer", 200), 2);
    }
}
