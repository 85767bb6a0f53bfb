//! The Brainlock validator (DESIGN section 5).
//!
//! Each round: sync the metagraph, order the serving miners by a seeded shuffle, and
//! for each miner (concurrently, up to a bound and a memory budget, within the round's
//! deadline) draw a fresh image, generate a fresh client key, upload the
//! evaluation key, send the encrypted input, time every streamed result frame, decrypt,
//! check against the exact clear simulation and score. History lives in a database
//! (SQLite or PostgreSQL), standings are rebuilt from it after a restart, and weights
//! go to the chain (or the local registry's ledger) at the configured interval, from a
//! timer of their own that never waits for a round.
#![deny(missing_docs)]

mod circuit;
mod clock;
pub mod config;
mod gateway;
pub mod images;
mod leaderboard;
mod metrics;
mod query;
mod relay;
mod round;
mod schedule;
mod standings;
pub mod store;
mod validator;
mod weights;

pub use circuit::{CircuitError, Workload};
pub use config::{Cli, ValidatorConfig};
pub use gateway::serve as serve_gateway;
pub use leaderboard::{BountyStatus, Leaderboard, MinerStanding, RecordStanding};
pub use metrics::Metrics;
pub use query::PrepareError;
pub use relay::MinerRelay;
pub use validator::{RoundSummary, Validator, ValidatorError, run};
