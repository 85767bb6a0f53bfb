//! Errors of chain access, shared by every implementation of [`crate::Chain`].

use std::path::PathBuf;

use brainlock_account::AccountId;

use crate::weights::WeightError;

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("invalid weights: {0}")]
    Weights(#[from] WeightError),
    #[error("all weights are zero: nothing to set")]
    NothingToSet,
    #[error(
        "weights were set at block {last_update}; the rate limit allows again in {blocks_left} blocks"
    )]
    RateLimited { last_update: u64, blocks_left: u64 },
    #[error("version key {given} is older than the subnet's {required}")]
    VersionKey { given: u64, required: u64 },
    #[error("hotkey {hotkey} is not registered on subnet {netuid}")]
    NotRegistered { hotkey: AccountId, netuid: u16 },
    #[error("subnet {0} does not exist here")]
    UnknownSubnet(u16),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("local registry {path}: {message}")]
    Registry { path: PathBuf, message: String },
    #[error("connection to the chain failed: {0}")]
    Connection(String),
    #[error("unexpected chain data: {0}")]
    Decode(String),
    #[error("the chain rejected the transaction: {0}")]
    Rejected(String),
    /// The source is the timelock crate's error, boxed: this crate does not depend on
    /// the implementation that commits weights.
    #[error("timelock encryption failed")]
    Timelock(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl ChainError {
    /// Whether retrying the same request later may succeed (network trouble, as opposed
    /// to a request the chain will always refuse).
    pub fn is_transient(&self) -> bool {
        matches!(self, ChainError::Connection(_))
    }
}
