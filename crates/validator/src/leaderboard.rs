//! A snapshot of what the validator thinks of each miner, published after every query
//! (through a `tokio::sync::watch` channel) for the devnet dashboard, logs and metrics.

use std::net::SocketAddr;

use brainlock_epistula::AccountId;
use serde::Serialize;

/// The validator's current view of every miner, with round and weight progress.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Leaderboard {
    /// Block of the last metagraph sync.
    pub block: u64,
    /// Rounds completed since start.
    pub rounds: u64,
    /// When the snapshot was published, Unix milliseconds.
    pub updated_at_ms: i64,
    /// Sorted by uid.
    pub miners: Vec<MinerStanding>,
    /// Block of the last successful weight setting.
    pub last_weights_block: Option<u64>,
    /// The circuit's speed record, if anyone has set one.
    pub record: Option<RecordStanding>,
}

/// The best sustained seconds per item shown on the validator's circuit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordStanding {
    /// The circuit's id.
    pub circuit: String,
    /// Hotkey of the miner that set it (SS58).
    pub hotkey: String,
    /// That miner's uid, if it is still serving.
    pub uid: Option<u16>,
    /// Its sustained seconds per item.
    pub seconds_per_item: f64,
    /// Block at which it was set.
    pub block: u64,
}

/// A running bounty.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BountyStatus {
    /// What is left of it, 1 when awarded, decaying linearly to 0.
    pub remaining: f64,
    /// Tempos until it has decayed to nothing.
    pub tempos_left: f64,
}

/// One miner's standing: its recent outcomes, failure rate and score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MinerStanding {
    /// The miner's uid on the subnet.
    pub uid: u16,
    /// The miner's hotkey.
    pub hotkey: AccountId,
    /// Where the miner serves (from the metagraph).
    pub axon: Option<SocketAddr>,
    /// Queries in the standing's window (at most 40).
    pub queries: usize,
    /// Fraction of the window's queries that failed, 0 to 1.
    pub failure_rate: f64,
    /// `passed` or the failure kind of the last query.
    pub last_outcome: Option<String>,
    /// Seconds per item of the last passed query.
    pub latency: Option<f64>,
    /// Mean cosine of the last passed query.
    pub quality: Option<f64>,
    /// Score of the last query (0 when it failed).
    pub score: f64,
    /// Median of the window's scores, with the failure penalty.
    pub standing: f64,
    /// Median seconds per item over the last clean queries, once there are enough of
    /// them (what a speed record is judged on).
    pub sustained_latency: Option<f64>,
    /// Pareto tier, 1 for the best; `None` without a positive standing.
    pub tier: Option<usize>,
    /// Weight this validator gives (sums to 1 over miners, or all 0).
    pub weight: f64,
    /// The miner's running bounty, if it holds one.
    pub bounty: Option<BountyStatus>,
}

impl Leaderboard {
    /// The standing of `uid`, if it is on the board.
    pub fn miner(&self, uid: u16) -> Option<&MinerStanding> {
        self.miners.iter().find(|m| m.uid == uid)
    }
}
