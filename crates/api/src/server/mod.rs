//! What both servers of the miner API (a miner, and a validator's gateway) share:
//! admission of signed requests, the limited body reader, the error answer, and the
//! listener that lets a client read an early refusal.

mod admission;
mod body;
mod error;
mod lingering;

pub use admission::{admit_signed, verify_headers};
pub use body::{BodyLimit, declared_length, read_body};
pub use error::ApiError;
pub use lingering::{LingeringClose, LingeringListener};
