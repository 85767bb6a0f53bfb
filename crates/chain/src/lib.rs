//! Brainlock's view of a chain: the interface both daemons use ([`Chain`]), the metagraph
//! types, float-to-u16 weight conversion as the Bittensor SDK does it, and
//! [`LocalRegistry`], which stands in for a chain on one machine.
//!
//! The subtensor implementation lives in `brainlock-subtensor`, so code that needs no
//! real chain does not build subxt.

#![deny(missing_docs)]

mod api;
mod error;
pub mod local;
mod prepare;
mod refusal;
mod rules;
mod types;
mod weights;

pub use api::Chain;
pub use error::{BoxError, ChainError};
pub use local::{LocalRegistry, Registration, Role};
pub use prepare::{PreparedWeights, convert_weights, prepare_weights};
pub use refusal::PalletError;
pub use rules::{CommitReveal, WeightRules};
pub use types::{
    AXON_PROTOCOL, AxonInfo, Metagraph, Neuron, Submission, WeightsReceipt, ip_from_chain,
    ip_to_chain,
};
pub use weights::{U16_MAX, WeightError, split_pairs, weights_to_u16};
