//! Validator scoring (DESIGN section 5), as pure functions of what the validator saw.
//!
//! A miner holds the evaluation key, so it can return well-formed ciphertexts of any
//! value: only agreement with the exact clear simulation on unpredictable inputs
//! proves work, and a wrong answer earns nothing. The pipeline:
//!
//! 0. [`derive_gates`]: the pass/fail gates of a (circuit, profile, batch size), from
//!    the noise model, so that honest work fails fewer than 1 query in 1,000 and work
//!    skipped, approximated or forged does not pass.
//! 1. [`check_item`]: one decrypted output against the exact simulation's
//!    [`ItemExpectation`], under those gates.
//! 2. [`judge_query`]: a batch passes only if every item passes; its score is
//!    `(t_ref * q / max(t, t_floor))^alpha` ([`query_score`]).
//! 3. [`MinerHistory`]: the last [`HISTORY_LEN`] query outcomes of a miner; its
//!    [`MinerHistory::standing`] is their median score, crushed when failures exceed
//!    [`FAILURE_TOLERANCE`].
//! 4. [`reward_weights`]: standings to on-chain weights, by the Pareto allocation over
//!    tiers of standings ([`pareto_allocation`]) plus the bounties of miners that set
//!    speed records ([`RecordBook`]).
//!
//! Every function returns finite numbers for any input: NaN and infinities are mapped
//! to the worst case, never propagated.

#![deny(missing_docs)]

mod bounty;
mod gates;
mod history;
mod item;
mod params;
mod pareto;
mod query;
mod similarity;
mod weights;

pub use bounty::{Bounty, BountyPolicy, RecordBook, RecordEvent, SpeedRecord};

pub use gates::{
    GateError, GatePolicy, GateRule, Gates, ItemExpectation, derive_gates, exact_match_fraction,
};
pub use history::{
    FAILURE_TOLERANCE, HISTORY_LEN, HistoryError, MIN_SUSTAINED_QUERIES, MinerHistory, QueryRecord,
};
pub use item::{ItemEvidence, ItemFailure, ItemOutcome, check_item};
pub use params::{CircuitKind, ParamsError, ScoringParams, UnknownCircuit};
pub use pareto::{
    ParetoAllocation, ParetoPolicy, TierPrize, UnknownTierPrize, pareto_allocation,
    pareto_exponent, tiers,
};
pub use query::{QueryFailure, QueryOutcome, judge_query, query_score};
pub use similarity::{cosine_similarity, top1};
pub use weights::{PolicyError, RewardPolicy, Rewards, reward_weights};
