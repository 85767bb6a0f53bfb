//! Validator scoring (DESIGN section 5), as pure functions of what the validator saw.
//!
//! A miner holds the evaluation key, so it can return well-formed ciphertexts of any
//! value: only agreement with the exact clear simulation on unpredictable inputs
//! proves work, and a wrong answer earns nothing. The pipeline:
//!
//! 1. [`check_item`]: one decrypted output against the exact simulation.
//! 2. [`judge_query`]: a batch passes only if every item passes; its score is
//!    `(t_ref * q / max(t, t_floor))^alpha` ([`query_score`]).
//! 3. [`MinerHistory`]: the last [`HISTORY_LEN`] query outcomes of a miner; its
//!    [`MinerHistory::standing`] is their median score, crushed when failures exceed
//!    [`FAILURE_TOLERANCE`].
//! 4. [`normalize_weights`]: standings to on-chain weights.
//!
//! Every function returns finite numbers for any input: NaN and infinities are mapped
//! to the worst case, never propagated.

pub mod history;
pub mod item;
pub mod params;
pub mod query;
pub mod similarity;
pub mod weights;

pub use history::{FAILURE_TOLERANCE, HISTORY_LEN, HistoryError, MinerHistory, QueryRecord};
pub use item::{ItemEvidence, ItemFailure, ItemOutcome, check_item};
pub use params::{CircuitKind, ParamsError, ScoringParams, UnknownCircuit};
pub use query::{QueryFailure, QueryOutcome, judge_query, query_score};
pub use similarity::{cosine_similarity, top1};
pub use weights::normalize_weights;
