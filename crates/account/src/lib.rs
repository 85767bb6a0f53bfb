//! Bittensor accounts: [`AccountId`], the 32-byte public key of a hotkey or coldkey, and
//! [`ss58`], the address format it is written in.
//!
//! This crate is the workspace's only SS58 implementation, kept free of key and chain
//! code so that everything that names an account (chain types, Epistula, daemons) can
//! depend on it cheaply.

#![deny(missing_docs)]

mod account;
pub mod ss58;

pub use account::AccountId;
pub use ss58::{BITTENSOR_PREFIX, Ss58Error};
