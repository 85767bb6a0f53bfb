//! `/metrics` in the Prometheus text format: query outcomes, the validator's own cost
//! per query, and the leaderboard (latency, quality, standing, weight per miner).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;

use crate::leaderboard::Leaderboard;
use crate::query::ClientCost;
use crate::store::Outcome;

#[derive(Default)]
struct Counters {
    outcomes: BTreeMap<&'static str, u64>,
    /// keygen, encrypt, simulate, decrypt seconds, summed.
    client_seconds: [f64; 4],
    rounds: u64,
    weights_ok: u64,
    weights_failed: u64,
}

pub struct Metrics {
    counters: Mutex<Counters>,
    leaderboard: watch::Receiver<Leaderboard>,
}

const STAGES: [&str; 4] = ["keygen", "encrypt", "simulate", "decrypt"];

impl Metrics {
    pub fn new(leaderboard: watch::Receiver<Leaderboard>) -> Self {
        Self {
            counters: Mutex::new(Counters::default()),
            leaderboard,
        }
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        // A panic elsewhere while holding the lock leaves plain counters: keep going.
        self.counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn record_query(&self, outcome: &Outcome, cost: &ClientCost) {
        let mut c = self.counters();
        let label = match outcome {
            Outcome::Passed => "passed",
            Outcome::Failed { kind, .. } => kind.as_str(),
        };
        *c.outcomes.entry(label).or_default() += 1;
        for (sum, d) in c.client_seconds.iter_mut().zip([
            cost.keygen,
            cost.encrypt,
            cost.simulate,
            cost.decrypt,
        ]) {
            *sum += d.as_secs_f64();
        }
    }

    pub fn record_round(&self) {
        self.counters().rounds += 1;
    }

    pub fn record_weights(&self, ok: bool) {
        let mut c = self.counters();
        if ok {
            c.weights_ok += 1
        } else {
            c.weights_failed += 1
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        {
            let c = self.counters();
            out.push_str("# HELP brainlock_validator_queries_total Miner queries by outcome (passed or failure kind).\n");
            out.push_str("# TYPE brainlock_validator_queries_total counter\n");
            for (outcome, n) in &c.outcomes {
                let _ = writeln!(
                    out,
                    "brainlock_validator_queries_total{{outcome=\"{outcome}\"}} {n}"
                );
            }
            out.push_str("# HELP brainlock_validator_client_seconds_total The validator's own work per stage.\n");
            out.push_str("# TYPE brainlock_validator_client_seconds_total counter\n");
            for (stage, s) in STAGES.iter().zip(c.client_seconds) {
                let _ = writeln!(
                    out,
                    "brainlock_validator_client_seconds_total{{stage=\"{stage}\"}} {s}"
                );
            }
            out.push_str("# TYPE brainlock_validator_rounds_total counter\n");
            let _ = writeln!(out, "brainlock_validator_rounds_total {}", c.rounds);
            out.push_str("# TYPE brainlock_validator_weight_settings_total counter\n");
            let _ = writeln!(
                out,
                "brainlock_validator_weight_settings_total{{outcome=\"ok\"}} {}",
                c.weights_ok
            );
            let _ = writeln!(
                out,
                "brainlock_validator_weight_settings_total{{outcome=\"failed\"}} {}",
                c.weights_failed
            );
        }
        let board = self.leaderboard.borrow().clone();
        let _ = writeln!(
            out,
            "# TYPE brainlock_validator_block gauge\nbrainlock_validator_block {}",
            board.block
        );
        let gauges: [MinerGauge; 5] = [
            (
                "latency_seconds",
                "Seconds per item of the miner's last passed query.",
                |m| m.latency,
            ),
            (
                "quality",
                "Mean cosine of the miner's last passed query.",
                |m| m.quality,
            ),
            (
                "failure_rate",
                "Failure rate over the standing window.",
                |m| Some(m.failure_rate),
            ),
            ("standing", "Median score with failure penalty.", |m| {
                Some(m.standing)
            }),
            ("weight", "Normalized weight.", |m| Some(m.weight)),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP brainlock_validator_miner_{name} {help}\n# TYPE brainlock_validator_miner_{name} gauge"
            );
            for m in &board.miners {
                if let Some(v) = value(m) {
                    let _ = writeln!(
                        out,
                        "brainlock_validator_miner_{name}{{uid=\"{}\",hotkey=\"{}\"}} {v}",
                        m.uid, m.hotkey
                    );
                }
            }
        }
        out
    }

    /// Serves `/metrics` until `shutdown`.
    pub async fn serve(
        self: Arc<Self>,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(addr = %listener.local_addr()?, "metrics listening");
        let app = Router::new().route(
            "/metrics",
            get(move || {
                let metrics = self.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        metrics.render(),
                    )
                        .into_response()
                }
            }),
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// A per-miner gauge: metric suffix, help text, and how to read it off a standing.
type MinerGauge = (
    &'static str,
    &'static str,
    fn(&crate::leaderboard::MinerStanding) -> Option<f64>,
);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use brainlock_epistula::AccountId;

    use super::*;
    use crate::leaderboard::MinerStanding;
    use crate::store::FailureKind;

    #[test]
    fn renders_counters_and_leaderboard() {
        let hotkey = AccountId([3; 32]);
        let board = Leaderboard {
            block: 42,
            miners: vec![MinerStanding {
                uid: 3,
                hotkey,
                axon: None,
                queries: 2,
                failure_rate: 0.5,
                last_outcome: Some("timeout".into()),
                latency: Some(1.25),
                quality: None,
                score: 0.0,
                standing: 0.0,
                weight: 0.0,
            }],
            ..Leaderboard::default()
        };
        let (_tx, rx) = watch::channel(board);
        let metrics = Metrics::new(rx);
        let cost = ClientCost {
            keygen: Duration::from_millis(500),
            ..ClientCost::default()
        };
        metrics.record_query(&Outcome::Passed, &cost);
        metrics.record_query(&Outcome::failed(FailureKind::Timeout, "x"), &cost);
        metrics.record_query(&Outcome::failed(FailureKind::Timeout, "y"), &cost);
        let text = metrics.render();
        assert!(
            text.contains("brainlock_validator_queries_total{outcome=\"timeout\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("brainlock_validator_queries_total{outcome=\"passed\"} 1\n"));
        assert!(text.contains("brainlock_validator_client_seconds_total{stage=\"keygen\"} 1.5\n"));
        assert!(text.contains(&format!(
            "brainlock_validator_miner_latency_seconds{{uid=\"3\",hotkey=\"{hotkey}\"}} 1.25\n"
        )));
        assert!(
            !text.contains("brainlock_validator_miner_quality{"),
            "no quality without a passed query"
        );
        assert!(text.contains("brainlock_validator_block 42\n"));
    }
}
