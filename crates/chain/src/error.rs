//! Errors of chain access, shared by every implementation of [`crate::Chain`].

use std::path::PathBuf;

use brainlock_account::AccountId;

use crate::refusal::PalletError;
use crate::weights::WeightError;

/// Why a chain read or write failed; see [`ChainError::is_transient`] for which may be retried.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The float weights cannot be converted (negative, not finite, ...).
    #[error("invalid weights: {0}")]
    Weights(#[from] WeightError),
    /// Every weight rounds to zero, so no extrinsic or ledger line would carry anything.
    #[error("all weights are zero: nothing to set")]
    NothingToSet,
    /// The chain refused the call for one of its rules: the pallet's error, decoded from
    /// a failed extrinsic or the transaction pool's refusal (the local registry raises the
    /// same ones).
    #[error("the chain refused the call: {0}")]
    Refused(PalletError),
    /// The hotkey holds no uid in the subnet's metagraph.
    #[error("hotkey {hotkey} is not registered on subnet {netuid}")]
    NotRegistered {
        /// Hotkey that was looked up (SS58 in the message).
        hotkey: AccountId,
        /// Subnet it was looked up on.
        netuid: u16,
    },
    /// No subnet with this netuid exists on this chain (or the local registry is for another).
    #[error("subnet {0} does not exist here")]
    UnknownSubnet(u16),
    /// Reading or writing a local registry or ledger file failed.
    #[error("{path}: {source}")]
    Io {
        /// File the operation was on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A local registry or weights ledger file is malformed or could not be serialized.
    #[error("local registry {path}: {message}")]
    Registry {
        /// Registry or ledger file at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The node could not be reached or dropped the connection; the only transient error.
    ///
    /// Sources are boxed here and below: this crate does not depend on the client
    /// (subxt) whose errors they are.
    #[error("connection to the chain failed: {0}")]
    Connection(#[source] BoxError),
    /// The node returned storage or runtime-API data that does not decode as expected.
    #[error("unexpected chain data: {0}")]
    Decode(#[source] BoxError),
    /// The node refused the extrinsic for something other than a pallet rule (bad
    /// signature, stale nonce, an unknown dispatch error, ...).
    #[error("the chain rejected the transaction: {0}")]
    Rejected(String),
    /// Encrypting weights to a drand round for commit-reveal failed (the timelock
    /// crate's error).
    #[error("timelock encryption failed")]
    Timelock(#[source] BoxError),
    /// The caller's settings are inconsistent (wrong netuid for a registry, full registry, ...).
    #[error("invalid configuration: {0}")]
    Config(#[source] BoxError),
}

/// An error of a crate this one does not depend on.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl ChainError {
    /// [`ChainError::Config`] from a message of our own.
    pub fn config(message: impl Into<String>) -> Self {
        ChainError::Config(message.into().into())
    }

    /// Whether retrying the same request later may succeed (network trouble, as opposed
    /// to a request the chain will always refuse).
    pub fn is_transient(&self) -> bool {
        matches!(self, ChainError::Connection(_))
    }
}
