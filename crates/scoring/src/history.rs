//! A miner's recent record and its standing.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::query::QueryOutcome;

/// Queries a standing is computed over.
pub const HISTORY_LEN: usize = 40;
/// Failure rate a miner may have without penalty.
pub const FAILURE_TOLERANCE: f64 = 0.2;
/// The standing is divided by `1 + PENALTY_BASE^(PENALTY_STEEPNESS * excess)`: one
/// failure over tolerance in a full window (2.5 points of rate) divides it by ~10.9,
/// 30% failures by ~9,500.
const PENALTY_BASE: f64 = 2.5;
const PENALTY_STEEPNESS: f64 = 100.0;
/// Scored queries over which a new hotkey's standing ramps up to its full value.
pub(crate) const RAMP_QUERIES: usize = 10;

/// Fewest consecutive passed queries a sustained latency is measured over: a speed
/// record is never set from one lucky query.
pub const MIN_SUSTAINED_QUERIES: usize = 10;

/// One query as the standing sees it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryRecord {
    score: f64,
    failed: bool,
    /// Validator-measured seconds per item of a passed query; absent for failures and
    /// in histories stored before speed records existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seconds_per_item: Option<f64>,
}

impl QueryRecord {
    /// A passed query. A score that is not finite and non-negative is recorded as 0; a
    /// time that is not finite and non-negative is not recorded.
    pub fn passed(score: f64, seconds_per_item: f64) -> Self {
        let valid = |x: f64| x.is_finite() && x >= 0.0;
        Self {
            score: if valid(score) { score } else { 0.0 },
            failed: false,
            seconds_per_item: valid(seconds_per_item).then_some(seconds_per_item),
        }
    }

    /// A failed query: it scores 0.
    pub fn failed() -> Self {
        Self {
            score: 0.0,
            failed: true,
            seconds_per_item: None,
        }
    }

    /// The query's score: 0 if it failed.
    pub fn score(&self) -> f64 {
        self.score
    }

    /// Whether the query failed (a failure counts against [`crate::FAILURE_TOLERANCE`]).
    pub fn is_failure(&self) -> bool {
        self.failed
    }

    /// Seconds per item of a passed query.
    pub fn seconds_per_item(&self) -> Option<f64> {
        self.seconds_per_item
    }
}

impl From<&QueryOutcome> for QueryRecord {
    fn from(outcome: &QueryOutcome) -> Self {
        match outcome {
            QueryOutcome::Passed {
                score,
                seconds_per_item,
                ..
            } => Self::passed(*score, *seconds_per_item),
            QueryOutcome::Failed(_) => Self::failed(),
        }
    }
}

/// Why a stored history was refused on deserialization.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistoryError {
    /// It holds more than [`HISTORY_LEN`] records; how many.
    #[error("history holds {0} records, at most {HISTORY_LEN} allowed")]
    TooLong(usize),
    /// A record [`QueryRecord::passed`] or [`QueryRecord::failed`] could not have made
    /// (a failure with a score or a time, a negative or non-finite number).
    #[error("record {index} is inconsistent: {record:?}")]
    BadRecord {
        /// Its position, oldest first, from 0.
        index: usize,
        /// The record as stored.
        record: QueryRecord,
    },
}

/// The last [`HISTORY_LEN`] query records of one miner, oldest first. Serializes as a
/// JSON array of records; deserialization re-checks every invariant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<QueryRecord>", into = "Vec<QueryRecord>")]
pub struct MinerHistory {
    records: VecDeque<QueryRecord>,
}

impl MinerHistory {
    /// A miner with no queries on record yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a record, dropping the oldest beyond [`HISTORY_LEN`].
    pub fn push(&mut self, record: QueryRecord) {
        if self.records.len() == HISTORY_LEN {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    /// Appends a query's outcome, dropping the oldest beyond [`HISTORY_LEN`].
    pub fn record(&mut self, outcome: &QueryOutcome) {
        self.push(QueryRecord::from(outcome));
    }

    /// Queries on record, at most [`HISTORY_LEN`].
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no query is on record yet.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Oldest first.
    pub fn records(&self) -> impl DoubleEndedIterator<Item = &QueryRecord> + ExactSizeIterator {
        self.records.iter()
    }

    /// Share of failed queries in the window; 0 when empty.
    pub fn failure_rate(&self) -> f64 {
        if self.records.is_empty() {
            return 0.0;
        }
        self.failures() as f64 / self.records.len() as f64
    }

    fn failures(&self) -> usize {
        self.records.iter().filter(|r| r.failed).count()
    }

    /// Median score (mean of the two middle ones for an even count); 0 when empty.
    pub fn median_score(&self) -> f64 {
        let mut scores: Vec<f64> = self.records.iter().map(|r| r.score).collect();
        if scores.is_empty() {
            return 0.0;
        }
        median(&mut scores)
    }

    /// The median score, divided by `1 + 2.5^(100 * excess)` when the failure rate
    /// exceeds [`FAILURE_TOLERANCE`] by `excess`, times the new-hotkey ramp
    /// `min(1, n / 10)` over the `n` passed queries in the window. Finite and
    /// non-negative.
    pub fn standing(&self) -> f64 {
        self.penalized_median() * self.ramp()
    }

    fn penalized_median(&self) -> f64 {
        let median = self.median_score();
        // Integer comparison: exactly 20% failures is within tolerance, no float doubt.
        let tolerated = self.failures() as f64 <= FAILURE_TOLERANCE * self.records.len() as f64;
        if tolerated {
            return median;
        }
        let excess = self.failure_rate() - FAILURE_TOLERANCE;
        // At most 2.5^80 ~ 6e31: finite.
        median / (1.0 + PENALTY_BASE.powf(PENALTY_STEEPNESS * excess))
    }

    /// `min(1, n / RAMP_QUERIES)` over the `n` passed queries in the window: a fresh
    /// hotkey cannot take a full share from a few lucky queries, and a new hotkey per
    /// query earns a tenth at most. Only passes count, so that a failure never raises
    /// the standing by advancing the ramp (a full window with fewer than 10 passes is
    /// crushed by its failure rate anyway).
    pub fn ramp(&self) -> f64 {
        let passed = self.records.len() - self.failures();
        passed.min(RAMP_QUERIES) as f64 / RAMP_QUERIES as f64
    }

    /// The miner's sustained seconds per item: the median over its last `queries`
    /// queries (clamped to [`MIN_SUSTAINED_QUERIES`]..=[`HISTORY_LEN`]), if every one of
    /// them passed and was timed. `None` otherwise: one failure among them, or too few
    /// queries yet, and the miner has no sustained latency to claim a record with.
    pub fn sustained_latency(&self, queries: usize) -> Option<f64> {
        let queries = queries.clamp(MIN_SUSTAINED_QUERIES, HISTORY_LEN);
        if self.records.len() < queries {
            return None;
        }
        let mut latencies = self
            .records
            .iter()
            .skip(self.records.len() - queries)
            .map(|r| r.seconds_per_item)
            .collect::<Option<Vec<f64>>>()?;
        Some(median(&mut latencies))
    }
}

/// Median of a non-empty list (mean of the two middle values for an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        // Halve before adding so two huge values cannot overflow.
        values[mid - 1] / 2.0 + values[mid] / 2.0
    }
}

impl TryFrom<Vec<QueryRecord>> for MinerHistory {
    type Error = HistoryError;
    fn try_from(records: Vec<QueryRecord>) -> Result<Self, HistoryError> {
        if records.len() > HISTORY_LEN {
            return Err(HistoryError::TooLong(records.len()));
        }
        for (index, record) in records.iter().enumerate() {
            let remade = match (record.failed, record.seconds_per_item) {
                (true, _) => QueryRecord::failed(),
                (false, Some(seconds)) => QueryRecord::passed(record.score, seconds),
                (false, None) => QueryRecord {
                    seconds_per_item: None,
                    ..QueryRecord::passed(record.score, 0.0)
                },
            };
            if remade != *record {
                return Err(HistoryError::BadRecord {
                    index,
                    record: *record,
                });
            }
        }
        Ok(Self {
            records: records.into(),
        })
    }
}

impl From<MinerHistory> for Vec<QueryRecord> {
    fn from(history: MinerHistory) -> Self {
        history.records.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(scores: &[f64], failures: usize) -> MinerHistory {
        let mut history = MinerHistory::new();
        for &score in scores {
            history.push(QueryRecord::passed(score, 1.0));
        }
        for _ in 0..failures {
            history.push(QueryRecord::failed());
        }
        history
    }

    #[test]
    fn empty_history_stands_at_zero() {
        let history = MinerHistory::new();
        assert_eq!(history.standing(), 0.0);
        assert_eq!(history.failure_rate(), 0.0);
    }

    #[test]
    fn median_of_odd_and_even_windows() {
        assert_eq!(history(&[5.0, 1.0, 3.0], 0).median_score(), 3.0);
        assert_eq!(history(&[5.0, 1.0, 3.0, 4.0], 0).median_score(), 3.5);
        assert_eq!(history(&[f64::MAX, f64::MAX], 0).median_score(), f64::MAX);
    }

    #[test]
    fn window_keeps_the_last_forty() {
        let mut h = history(&[100.0; 10], 0);
        for _ in 0..HISTORY_LEN {
            h.push(QueryRecord::passed(1.0, 1.0));
        }
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(h.standing(), 1.0);
    }

    #[test]
    fn new_hotkeys_ramp_up_over_ten_queries() {
        for n in 1..=RAMP_QUERIES {
            let h = history(&vec![10.0; n], 0);
            assert!(
                (h.standing() - n as f64).abs() < 1e-12,
                "{n}: {}",
                h.standing()
            );
        }
        assert_eq!(history(&[10.0; 11], 0).standing(), 10.0);
        assert_eq!(history(&[10.0; 40], 0).standing(), 10.0);
        // Failures do not advance the ramp: one more failure never raises a standing.
        let h = history(&[10.0; 4], 1);
        assert!(
            (h.standing() - 10.0 * 0.4).abs() < 1e-12,
            "{}",
            h.standing()
        );
        // A miner that keeps its hotkey reaches its full standing and stays there.
        let mut h = MinerHistory::new();
        let mut standings = Vec::new();
        for _ in 0..15 {
            h.push(QueryRecord::passed(3.0, 1.0));
            standings.push(h.standing());
        }
        assert!(standings.windows(2).all(|w| w[1] >= w[0]), "{standings:?}");
        assert_eq!(standings[9..], [3.0; 6]);
    }

    #[test]
    fn failures_up_to_twenty_percent_cost_only_their_zero_scores() {
        let h = history(&[10.0; 32], 8);
        assert_eq!(h.failure_rate(), 0.2);
        assert_eq!(h.standing(), 10.0);
    }

    #[test]
    fn failures_beyond_twenty_percent_are_crushed() {
        // 9 of 40 failed: excess 2.5 points -> divided by 1 + 2.5^2.5.
        let h = history(&[10.0; 31], 9);
        let expected = 10.0 / (1.0 + 2.5f64.powf(2.5));
        assert!((h.standing() - expected).abs() < 1e-9, "{}", h.standing());
        // 12 of 40 (30%): 2.5^10 ~ 9537, practically nothing left.
        let h = history(&[10.0; 28], 12);
        assert!(h.standing() < 10.0 / 9000.0);
        assert!(h.standing() > 0.0);
        // Standing decreases with every extra failure.
        let standings: Vec<f64> = (0..=20)
            .map(|f| history(&vec![10.0; 40 - f], f).standing())
            .collect();
        assert!(standings.windows(2).all(|w| w[1] <= w[0]), "{standings:?}");
        // All failed: exactly zero, still finite.
        assert_eq!(history(&[], 40).standing(), 0.0);
    }

    #[test]
    fn records_sanitize_scores_and_times() {
        assert_eq!(QueryRecord::passed(f64::NAN, 1.0).score(), 0.0);
        assert_eq!(QueryRecord::passed(f64::INFINITY, 1.0).score(), 0.0);
        assert_eq!(QueryRecord::passed(-3.0, 1.0).score(), 0.0);
        assert_eq!(QueryRecord::passed(7.0, f64::NAN).seconds_per_item(), None);
        assert_eq!(QueryRecord::passed(7.0, -1.0).seconds_per_item(), None);
        assert_eq!(QueryRecord::failed().score(), 0.0);
    }

    #[test]
    fn sustained_latency_needs_ten_clean_timed_queries() {
        let mut h = MinerHistory::new();
        for i in 0..MIN_SUSTAINED_QUERIES - 1 {
            h.push(QueryRecord::passed(1.0, 2.0 + i as f64));
            assert_eq!(h.sustained_latency(1), None, "never from {} queries", i + 1);
        }
        h.push(QueryRecord::passed(1.0, 100.0));
        // 2..=10 and 100: the median of ten is (6 + 7) / 2.
        assert_eq!(h.sustained_latency(1), Some(6.5));
        assert_eq!(h.sustained_latency(20), None);
        h.push(QueryRecord::failed());
        assert_eq!(h.sustained_latency(10), None, "a failure among them");
        for _ in 0..MIN_SUSTAINED_QUERIES {
            h.push(QueryRecord::passed(1.0, 3.0));
        }
        assert_eq!(h.sustained_latency(10), Some(3.0));
        assert_eq!(h.sustained_latency(11), None);
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let h = history(&[1.5, 2.5], 1);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(
            json,
            r#"[{"score":1.5,"failed":false,"seconds_per_item":1.0},{"score":2.5,"failed":false,"seconds_per_item":1.0},{"score":0.0,"failed":true}]"#
        );
        assert_eq!(serde_json::from_str::<MinerHistory>(&json).unwrap(), h);
        let untimed = r#"[{"score":1.5,"failed":false}]"#;
        let back = serde_json::from_str::<MinerHistory>(untimed).unwrap();
        assert_eq!(back.records().next().unwrap().seconds_per_item(), None);
        for bad in [
            r#"[{"score":1.0,"failed":true}]"#,
            r#"[{"score":0.0,"failed":true,"seconds_per_item":1.0}]"#,
            r#"[{"score":-1.0,"failed":false}]"#,
            r#"[{"score":1.0,"failed":false,"seconds_per_item":-1.0}]"#,
        ] {
            assert!(serde_json::from_str::<MinerHistory>(bad).is_err(), "{bad}");
        }
        let too_long = serde_json::to_string(&vec![QueryRecord::passed(1.0, 1.0); 41]).unwrap();
        assert!(serde_json::from_str::<MinerHistory>(&too_long).is_err());
    }
}
