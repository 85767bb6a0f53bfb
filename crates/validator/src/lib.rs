//! The Brainlock validator (DESIGN section 5).
//!
//! Each round: sync the metagraph, order the serving miners by a seeded shuffle, and
//! for each miner draw a fresh image, generate a fresh client key, upload the
//! evaluation key, send the encrypted input, time every streamed result frame, decrypt,
//! check against the exact clear simulation and score. History lives in a database
//! (SQLite or PostgreSQL), standings are rebuilt from it after a restart, and weights
//! go to the chain (or the local registry's ledger) at the configured interval.

pub mod clock;
pub mod config;
pub mod images;
pub mod schedule;
pub mod store;

pub use config::{Cli, ValidatorConfig};
