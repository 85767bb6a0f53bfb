//! The Brainlock validator (DESIGN section 5).
//!
//! Each round: sync the metagraph, order the serving miners by a seeded shuffle, and
//! for each miner (concurrently, up to a bound and a memory budget, within the round's
//! deadline) run a session shaped like a customer's: a fresh client key uploaded once,
//! then a few requests, each with fresh images, encrypted, timed frame by frame,
//! decrypted, checked against the exact clear simulation and scored. Customers'
//! requests relayed from the gateway share the per-miner lanes of these sessions. History lives in a database
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
mod scheduler;
mod standings;
pub mod store;
mod validator;
mod weights;

pub use circuit::{CircuitError, Workload};
pub use config::{Cli, OrganicPolicy, ValidatorConfig};
pub use gateway::serve as serve_gateway;
pub use leaderboard::{BountyStatus, Leaderboard, MinerStanding, RecordStanding};
pub use metrics::Metrics;
pub use query::PrepareError;
pub use relay::MinerRelay;
pub use validator::{RoundSummary, Validator, ValidatorError, run};
