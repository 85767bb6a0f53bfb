//! The Brainlock miner: runs encrypted inference of the subnet's circuits for
//! validators over Epistula-signed HTTP (DESIGN section 4).
//!
//! Memory is bounded in expanded sizes: evaluation keys in a byte-bounded LRU
//! (`key_cache`), request bodies and per-item working sets against one in-flight
//! budget (`budget`), a bounded work queue drained by dedicated threads (`queue`).
//! The HTTP pieces it shares with the gateway (admission, body reader, error answers)
//! and the client that calls it live in `brainlock-api`.

#![deny(missing_docs)]

mod allocator;
mod auth;
mod budget;
pub mod circuits;
mod compute;
pub mod config;
mod key_cache;
mod metrics;
mod miner;
mod queue;
pub mod server;

pub use config::{Cli, MinerConfig};
pub use miner::{Miner, StartError, run, run_with};
