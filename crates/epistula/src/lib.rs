//! Bittensor hotkeys and Epistula v2, the signed HTTP that neurons speak.
//!
//! - Keys: [`Keypair`] (sr25519 with signing context `substrate`, or ed25519),
//!   [`AccountId`] (re-exported from `brainlock-account`) shown as SS58 with prefix 42,
//!   and the wallet layout `~/.bittensor/wallets/<name>/hotkeys/<hotkey>` ([`wallet`]).
//! - Requests: a sender attaches [`SignedHeaders`] for a body; a receiver runs
//!   [`Verifier::verify_headers`] (cheap checks, before the body is read) and then
//!   [`VerifiedHeaders::verify_body`] (`brainlock_api::server::admit_signed` does both
//!   for the miner and the gateway). With the `client` feature, [`SignedClient`] signs
//!   reqwest requests.

#![deny(missing_docs)]

pub mod headers;
pub mod keypair;
mod mnemonic;
mod policy;
mod replay;
mod verify;
pub mod wallet;

#[cfg(feature = "client")]
mod client;

pub use brainlock_account::AccountId;
pub use headers::SignedHeaders;
pub use keypair::{CryptoType, KeyError, Keypair};
pub use policy::{AllowList, AnyOf, SenderPolicy};
pub use verify::{Authenticated, EpistulaError, HeaderProblem, VerifiedHeaders, Verifier};

#[cfg(feature = "client")]
pub use client::{SignedClient, SignedRequest};
