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
pub const RAMP_QUERIES: usize = 10;

/// One query as the standing sees it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryRecord {
    score: f64,
    failed: bool,
}

impl QueryRecord {
    /// A failed query scores 0; a score that is not finite and non-negative is
    /// recorded as 0.
    pub fn new(score: f64, failed: bool) -> Self {
        let valid = score.is_finite() && score >= 0.0;
        Self {
            score: if failed || !valid { 0.0 } else { score },
            failed,
        }
    }

    /// The query's score: 0 if it failed.
    pub fn score(&self) -> f64 {
        self.score
    }

    /// Whether the query failed (a failure counts against [`crate::FAILURE_TOLERANCE`]).
    pub fn failed(&self) -> bool {
        self.failed
    }
}

impl From<&QueryOutcome> for QueryRecord {
    fn from(outcome: &QueryOutcome) -> Self {
        Self::new(outcome.score(), outcome.is_failure())
    }
}

/// Why a stored history was refused on deserialization.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistoryError {
    /// It holds more than [`HISTORY_LEN`] records; how many.
    #[error("history holds {0} records, at most {HISTORY_LEN} allowed")]
    TooLong(usize),
    /// A record [`QueryRecord::new`] could not have made (a failure scoring above 0,
    /// a negative or non-finite score).
    #[error("record {index} is inconsistent (score {score}, failed {failed})")]
    BadRecord {
        /// Its position, oldest first, from 0.
        index: usize,
        /// Its stored score.
        score: f64,
        /// Its stored failure flag.
        failed: bool,
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
    pub fn records(&self) -> impl ExactSizeIterator<Item = &QueryRecord> {
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
        scores.sort_by(f64::total_cmp);
        let mid = scores.len() / 2;
        if scores.len() % 2 == 1 {
            scores[mid]
        } else {
            // Halve before adding so two huge scores cannot overflow.
            scores[mid - 1] / 2.0 + scores[mid] / 2.0
        }
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
}

impl TryFrom<Vec<QueryRecord>> for MinerHistory {
    type Error = HistoryError;
    fn try_from(records: Vec<QueryRecord>) -> Result<Self, HistoryError> {
        if records.len() > HISTORY_LEN {
            return Err(HistoryError::TooLong(records.len()));
        }
        for (index, record) in records.iter().enumerate() {
            if QueryRecord::new(record.score, record.failed) != *record {
                return Err(HistoryError::BadRecord {
                    index,
                    score: record.score,
                    failed: record.failed,
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
            history.push(QueryRecord::new(score, false));
        }
        for _ in 0..failures {
            history.push(QueryRecord::new(0.0, true));
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
            h.push(QueryRecord::new(1.0, false));
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
            h.push(QueryRecord::new(3.0, false));
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
    fn records_sanitize_scores() {
        assert_eq!(QueryRecord::new(f64::NAN, false).score(), 0.0);
        assert_eq!(QueryRecord::new(f64::INFINITY, false).score(), 0.0);
        assert_eq!(QueryRecord::new(-3.0, false).score(), 0.0);
        assert_eq!(QueryRecord::new(7.0, true).score(), 0.0);
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let h = history(&[1.5, 2.5], 1);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(
            json,
            r#"[{"score":1.5,"failed":false},{"score":2.5,"failed":false},{"score":0.0,"failed":true}]"#
        );
        assert_eq!(serde_json::from_str::<MinerHistory>(&json).unwrap(), h);
        let failed_with_score = r#"[{"score":1.0,"failed":true}]"#;
        assert!(serde_json::from_str::<MinerHistory>(failed_with_score).is_err());
        let negative = r#"[{"score":-1.0,"failed":false}]"#;
        assert!(serde_json::from_str::<MinerHistory>(negative).is_err());
        let too_long = serde_json::to_string(&vec![QueryRecord::new(1.0, false); 41]).unwrap();
        assert!(serde_json::from_str::<MinerHistory>(&too_long).is_err());
    }
}
