//! What the gateway asks of the validator: relay one customer request to a miner and
//! stream back the miner's result frames.
//!
//! The validator implements [`Relay`] with the very code path of its synthetic
//! queries (same key upload, same infer request, same headers, same deadlines, its own
//! hotkey), so a miner cannot tell a customer's request from a scored one.

use std::future::Future;
use std::pin::Pin;

use brainlock_api::{CircuitId, Frame, KeyId, ProfileId};
use bytes::Bytes;
use futures_util::Stream;

/// A checked customer request, ready to relay.
#[derive(Debug, Clone)]
pub struct RelayRequest {
    /// Customer name (for logs and the validator's own accounting; never sent on).
    pub customer: String,
    /// The circuit to run: the validator's own synthetic one.
    pub circuit: CircuitId,
    /// The parameter profile of the key and inputs.
    pub profile: ProfileId,
    /// Id of `key_bytes` (SHA-256), as the miner will compute it.
    pub key_id: KeyId,
    /// The customer's compressed evaluation key, exactly as uploaded.
    pub key_bytes: Bytes,
    /// Serialized encrypted inputs, checked against the circuit's input shape.
    pub inputs: Vec<Bytes>,
}

/// Why a relay failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// No miner can take the request now (none serving, all busy).
    #[error("no miner available: {0}")]
    NoMiner(String),
    /// The miner refused or failed (status, transport error, bad frame, deadline).
    #[error("miner failed: {0}")]
    Miner(String),
}

/// The miner's answer: result frames as they arrive (any order, one per item).
pub type FrameStream = Pin<Box<dyn Stream<Item = Result<Frame, RelayError>> + Send>>;

/// Implemented by the validator.
pub trait Relay: Send + Sync + 'static {
    /// Sends `request` to a well-standing miner under the validator's hotkey and
    /// returns its frame stream once the miner accepted the request.
    fn relay(
        &self,
        request: RelayRequest,
    ) -> impl Future<Output = Result<FrameStream, RelayError>> + Send;
}
