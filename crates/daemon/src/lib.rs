//! What the miner and validator daemons share, as Lighthouse's `environment` crate does
//! for its beacon node and validator client:
//!
//! - [`neuron`]: the Bittensor flags every neuron takes (`--netuid`,
//!   `--subtensor.network` or `--registry`, `--wallet.*`, `--logging.debug`), their TOML
//!   tables, and opening the chain as the wallet's hotkey;
//! - [`logging`]: the log subscriber (also used by the `brainlock` tool, without the
//!   default `neuron` feature);
//! - [`metrics`]: the Prometheus endpoint (feature `metrics`);
//! - [`signal`]: when to shut down.

#![deny(missing_docs)]

pub mod logging;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "neuron")]
pub mod neuron;
pub mod signal;

#[cfg(feature = "neuron")]
pub use neuron::{ChainSource, NeuronArgs, NeuronConfig, NeuronError, NeuronFile, WalletConfig};
pub use signal::shutdown_signal;
