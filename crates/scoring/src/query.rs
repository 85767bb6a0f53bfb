//! One query (a batch of items sent in one infer request): pass/fail and score.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::item::{ItemFailure, ItemOutcome};
use crate::params::ScoringParams;

/// Why a query earned nothing. The transport variants are the validator's to detect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum QueryFailure {
    /// No complete answer within the deadline.
    Timeout,
    /// The miner answered with an error status (its `ErrorBody` code, if any).
    Refused {
        /// HTTP status of the answer.
        status: u16,
        /// The error code of its `ErrorBody` (e.g. `busy`), if it sent one.
        code: Option<String>,
    },
    /// Connection failure or an unparseable response.
    Transport {
        /// What went wrong, for the record.
        message: String,
    },
    /// The stream ended before every item was answered.
    TruncatedStream {
        /// Items answered.
        received: usize,
        /// Items in the batch.
        expected: usize,
    },
    /// A frame that does not decode, repeats an item or indexes outside the batch.
    BadFrame {
        /// What was wrong with it, for the record.
        message: String,
    },
    /// The miner reported an error for an item instead of a result.
    ItemError {
        /// Batch index of the item.
        index: usize,
        /// The miner's error message.
        message: String,
    },
    /// An item's output was returned but did not pass its check.
    Item {
        /// Batch index of the item.
        index: usize,
        /// Why it failed.
        failure: ItemFailure,
    },
    /// Nothing to judge.
    EmptyBatch,
}

/// The verdict on one query: its score, or why it earned nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum QueryOutcome {
    /// Every item passed.
    Passed {
        /// Mean item cosine, in `[0, 1]`.
        quality: f64,
        /// Validator-measured seconds per item (before the floor).
        seconds_per_item: f64,
        /// [`query_score`] of the two.
        score: f64,
    },
    /// The query earned nothing, and counts as a failure in the miner's history.
    Failed(QueryFailure),
}

impl QueryOutcome {
    /// The query's score: 0 for a failure.
    pub fn score(&self) -> f64 {
        match self {
            QueryOutcome::Passed { score, .. } => *score,
            QueryOutcome::Failed(_) => 0.0,
        }
    }

    /// Whether the query failed.
    pub fn is_failure(&self) -> bool {
        matches!(self, QueryOutcome::Failed(_))
    }
}

/// Judges a query whose every item came back: `items` in batch order, `elapsed` from
/// sending the infer request to receiving the last frame (key upload excluded).
pub fn judge_query(
    params: &ScoringParams,
    items: &[ItemOutcome],
    elapsed: Duration,
) -> QueryOutcome {
    if items.is_empty() {
        return QueryOutcome::Failed(QueryFailure::EmptyBatch);
    }
    let mut cosine_sum = 0.0;
    for (index, item) in items.iter().enumerate() {
        match item {
            ItemOutcome::Passed { cosine } => cosine_sum += cosine,
            ItemOutcome::Failed(failure) => {
                return QueryOutcome::Failed(QueryFailure::Item {
                    index,
                    failure: failure.clone(),
                });
            }
        }
    }
    let quality = (cosine_sum / items.len() as f64).clamp(0.0, 1.0);
    let seconds_per_item = elapsed.as_secs_f64() / items.len() as f64;
    let score = query_score(params, quality, seconds_per_item);
    QueryOutcome::Passed {
        quality,
        seconds_per_item,
        score,
    }
}

/// `(t_ref * quality / max(t, t_floor))^alpha`, finite and non-negative for any input:
/// a NaN or non-positive quality and a NaN time score 0, an infinite time scores 0,
/// and the result is clamped to the largest finite value if the parameters overflow.
/// Non-increasing in `seconds_per_item`, non-decreasing in `quality`.
pub fn query_score(params: &ScoringParams, quality: f64, seconds_per_item: f64) -> f64 {
    if quality.is_nan() || quality <= 0.0 || seconds_per_item.is_nan() {
        return 0.0;
    }
    let quality = quality.min(1.0);
    let time = seconds_per_item.max(params.t_floor);
    let score = (params.t_ref * quality / time).powf(params.alpha);
    if score.is_nan() {
        0.0
    } else {
        score.clamp(0.0, f64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: ScoringParams = ScoringParams::CONV3X3;

    #[test]
    fn score_formula() {
        assert_eq!(query_score(&P, 1.0, 50.0), 1.0);
        assert_eq!(query_score(&P, 1.0, 25.0), 8.0);
        assert_eq!(query_score(&P, 1.0, 1e-6), P.max_score());
        assert_eq!(query_score(&P, 1.0, P.t_floor), query_score(&P, 1.0, 0.0));
        let s = query_score(&P, 0.99, 50.0);
        assert!((s - 0.99f64.powi(3)).abs() < 1e-12);
    }

    #[test]
    fn hostile_numbers_give_finite_scores() {
        assert_eq!(query_score(&P, f64::NAN, 1.0), 0.0);
        assert_eq!(query_score(&P, 1.0, f64::NAN), 0.0);
        assert_eq!(query_score(&P, 1.0, f64::INFINITY), 0.0);
        assert_eq!(query_score(&P, -1.0, 1.0), 0.0);
        assert_eq!(
            query_score(&P, f64::INFINITY, 1.0),
            query_score(&P, 1.0, 1.0)
        );
        assert_eq!(query_score(&P, 1.0, -5.0), P.max_score());
        let absurd = ScoringParams {
            t_floor: 1e-300,
            alpha: 10.0,
            ..P
        };
        assert_eq!(query_score(&absurd, 1.0, 0.0), f64::MAX);
    }

    #[test]
    fn query_passes_only_if_every_item_passes() {
        let pass = ItemOutcome::Passed { cosine: 0.995 };
        let failure = ItemFailure::TrivialCiphertext;
        let items = [
            pass.clone(),
            ItemOutcome::Failed(failure.clone()),
            pass.clone(),
        ];
        let outcome = judge_query(&P, &items, Duration::from_secs(3));
        assert_eq!(
            outcome,
            QueryOutcome::Failed(QueryFailure::Item { index: 1, failure })
        );
        assert_eq!(outcome.score(), 0.0);
        assert!(outcome.is_failure());
        assert_eq!(
            judge_query(&P, &[], Duration::ZERO),
            QueryOutcome::Failed(QueryFailure::EmptyBatch)
        );
    }

    #[test]
    fn passed_query_scores_mean_quality_and_time_per_item() {
        let items = [
            ItemOutcome::Passed { cosine: 1.0 },
            ItemOutcome::Passed { cosine: 0.99 },
        ];
        let QueryOutcome::Passed {
            quality,
            seconds_per_item,
            score,
        } = judge_query(&P, &items, Duration::from_secs(50))
        else {
            panic!("should pass");
        };
        assert!((quality - 0.995).abs() < 1e-12);
        assert_eq!(seconds_per_item, 25.0);
        assert!((score - (2.0f64 * 0.995).powi(3)).abs() < 1e-9);
    }

    #[test]
    fn outcomes_serialize_for_storage() {
        let outcome = QueryOutcome::Failed(QueryFailure::Item {
            index: 2,
            failure: ItemFailure::WrongShape {
                expected: 10,
                got: 9,
            },
        });
        let json = serde_json::to_string(&outcome).unwrap();
        assert_eq!(
            serde_json::from_str::<QueryOutcome>(&json).unwrap(),
            outcome
        );
    }
}
