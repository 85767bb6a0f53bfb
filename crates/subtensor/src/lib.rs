//! Brainlock's subtensor client: [`brainlock_chain::Chain`] implemented over subxt, with
//! the runtime metadata read from the node at run time.

#![deny(missing_docs)]

pub mod calls;
mod client;
pub mod commit;
mod network;
mod neurons;
mod refusal;
mod retry;
mod signer;

pub use client::{SubtensorChain, SubtensorOptions};
pub use network::{Network, UnknownNetwork};
pub use neurons::{
    ChainAxonInfo, NeuronInfoLite, RAO_PER_TAO, to_metagraph as neurons_to_metagraph,
};
pub use retry::RetryPolicy;
pub use signer::{HotkeySigner, SignerError};
