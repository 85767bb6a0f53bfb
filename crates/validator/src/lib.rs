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

pub mod circuit;
pub mod clock;
pub mod config;
pub mod gateway;
pub mod images;
pub mod leaderboard;
pub mod metrics;
pub mod query;
pub mod relay;
pub mod round;
pub mod schedule;
pub mod standings;
pub mod store;
pub mod validator;
pub mod weights;

pub use config::{Cli, ValidatorConfig};
pub use leaderboard::{Leaderboard, MinerStanding};
pub use relay::MinerRelay;
pub use validator::{RoundSummary, Validator, run};
