//! The validator's Prometheus series, through the maintained `prometheus-client` crate
//! (OpenMetrics text): query outcomes, the validator's own cost
//! per stage, rounds, weight settings, and the leaderboard (each miner's latency,
//! quality, failure rate, standing, tier, bounty and weight, and the circuit's speed
//! record), read when Prometheus scrapes.
//! `brainlock_daemon::metrics` serves them on the metrics address.

use std::sync::atomic::AtomicU64;

use brainlock_daemon::metrics::LabelText;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::leaderboard::{Leaderboard, MinerStanding};
use crate::query::ClientCost;
use crate::store::Outcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

/// What the validator records. Cheap to clone: every series is shared.
#[derive(Debug, Clone)]
pub struct Metrics {
    queries: Family<OutcomeLabels, Counter>,
    client_seconds: Family<StageLabels, Counter<f64, AtomicU64>>,
    rounds: Counter,
    weight_settings: Family<OutcomeLabels, Counter>,
    leaderboard: watch::Receiver<Leaderboard>,
}

impl Metrics {
    /// Prometheus metrics, with gauges read from the leaderboard channel.
    pub fn new(leaderboard: watch::Receiver<Leaderboard>) -> Self {
        Self {
            queries: Family::default(),
            client_seconds: Family::default(),
            rounds: Counter::default(),
            weight_settings: Family::default(),
            leaderboard,
        }
    }

    /// Counts one query's outcome and its client-side cost (key generation, encryption, decryption).
    pub fn record_query(&self, outcome: &Outcome, cost: &ClientCost) {
        let outcome = match outcome {
            Outcome::Passed => "passed",
            Outcome::Failed { kind, .. } => kind.as_str(),
        };
        self.queries.get_or_create(&OutcomeLabels { outcome }).inc();
        for (stage, spent) in [
            ("keygen", cost.keygen),
            ("encrypt", cost.encrypt),
            ("simulate", cost.simulate),
            ("decrypt", cost.decrypt),
        ] {
            self.client_seconds
                .get_or_create(&StageLabels { stage })
                .inc_by(spent.as_secs_f64());
        }
    }

    /// Counts one finished round.
    pub fn record_round(&self) {
        self.rounds.inc();
    }

    /// Counts one weight-setting attempt, successful or not.
    pub fn record_weights(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.weight_settings
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// The registry to serve.
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::with_prefix("brainlock_validator");
        registry.register(
            "queries",
            "Miner queries by outcome (passed or failure kind)",
            self.queries.clone(),
        );
        registry.register(
            "client_seconds",
            "The validator's own work per stage",
            self.client_seconds.clone(),
        );
        registry.register("rounds", "Query rounds run", self.rounds.clone());
        registry.register(
            "weight_settings",
            "Weight settings by outcome",
            self.weight_settings.clone(),
        );
        registry.register_collector(Box::new(LeaderboardGauges(self.leaderboard.clone())));
        registry
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MinerLabels {
    uid: u16,
    hotkey: LabelText,
}

/// A per-miner gauge: metric name, help text, and how to read it off a standing.
type MinerGauge = (
    &'static str,
    &'static str,
    fn(&MinerStanding) -> Option<f64>,
);

const MINER_GAUGES: [MinerGauge; 9] = [
    (
        "miner_latency_seconds",
        "Seconds per item of the miner's last passed query",
        |m| m.latency,
    ),
    (
        "miner_quality",
        "Mean cosine of the miner's last passed query",
        |m| m.quality,
    ),
    (
        "miner_failure_rate",
        "Failure rate over the standing window",
        |m| Some(m.failure_rate),
    ),
    ("miner_standing", "Median score with failure penalty", |m| {
        Some(m.standing)
    }),
    ("miner_weight", "Normalized weight", |m| Some(m.weight)),
    ("miner_tier", "Pareto tier, 1 for the best", |m| {
        m.tier.map(|t| t as f64)
    }),
    (
        "miner_sustained_latency_seconds",
        "Median seconds per item over the last clean queries",
        |m| m.sustained_latency,
    ),
    (
        "miner_bounty_remaining",
        "What is left of the miner's bounty, 1 when awarded",
        |m| m.bounty.map(|b| b.remaining),
    ),
    (
        "miner_bounty_tempos_left",
        "Tempos until the miner's bounty has decayed to nothing",
        |m| m.bounty.map(|b| b.tempos_left),
    ),
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordLabels {
    circuit: LabelText,
    hotkey: LabelText,
}

/// The leaderboard as gauges, read when Prometheus scrapes.
#[derive(Debug)]
struct LeaderboardGauges(watch::Receiver<Leaderboard>);

impl Collector for LeaderboardGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let board = self.0.borrow().clone();
        let block = ConstGauge::new(board.block as i64);
        block.encode(encoder.encode_descriptor(
            "block",
            "Chain block of the last leaderboard",
            None,
            block.metric_type(),
        )?)?;
        if let Some(record) = &board.record {
            let mut family = encoder.encode_descriptor(
                "speed_record_seconds",
                "The circuit's speed record: best sustained seconds per item",
                None,
                MetricType::Gauge,
            )?;
            let labels = RecordLabels {
                circuit: LabelText(record.circuit.clone()),
                hotkey: LabelText(record.hotkey.clone()),
            };
            ConstGauge::new(record.seconds_per_item).encode(family.encode_family(&labels)?)?;
        }
        for (name, help, read) in MINER_GAUGES {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for miner in &board.miners {
                let Some(value) = read(miner) else { continue };
                let labels = MinerLabels {
                    uid: miner.uid,
                    hotkey: LabelText(miner.hotkey.to_string()),
                };
                ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use brainlock_epistula::AccountId;

    use super::*;
    use crate::leaderboard::{BountyStatus, MinerStanding, RecordStanding};
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
                sustained_latency: None,
                tier: Some(2),
                weight: 0.0,
                bounty: Some(BountyStatus {
                    remaining: 0.5,
                    tempos_left: 10.0,
                }),
            }],
            record: Some(RecordStanding {
                circuit: "conv3x3".into(),
                hotkey: hotkey.to_string(),
                uid: Some(3),
                seconds_per_item: 0.75,
                block: 40,
            }),
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
        let text = brainlock_daemon::metrics::render(&metrics.registry()).unwrap();
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
        assert!(text.contains(&format!(
            "brainlock_validator_speed_record_seconds{{circuit=\"conv3x3\",hotkey=\"{hotkey}\"}} 0.75\n"
        )));
        for line in ["miner_tier", "miner_bounty_tempos_left"] {
            assert!(
                text.contains(&format!("brainlock_validator_{line}{{uid=\"3\"")),
                "{line}: {text}"
            );
        }
    }
}
