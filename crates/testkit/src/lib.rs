//! Fixtures that more than one crate's tests need, so that they are written once.
//! A dev-dependency only: nothing here belongs in a shipped binary.
#![deny(missing_docs)]

pub mod rss;
