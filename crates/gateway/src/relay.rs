//! What the gateway asks of the validator: relay one customer request to a miner and
//! stream back the miner's result frames.
//!
//! The validator implements [`Relay`] with the very code path of its synthetic
//! queries (same key upload, same infer request, same headers, same deadlines, its own
//! hotkey, one scheduler per miner), so a miner cannot tell a customer's request from
//! a scored one. The gateway keeps each session on one miner ([`Route::holder`]), as
//! a synthetic session is, and away from the miners its customer reported.

use std::future::Future;
use std::pin::Pin;

use brainlock_api::{CircuitId, Frame, KeyId, ProfileId};
use brainlock_epistula::AccountId;
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
    /// Which miner may serve it.
    pub route: Route,
}

/// Where a request may go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// The miner that holds the session's key (it served the session's earlier
    /// requests): the request goes there while it still serves, without a new upload.
    pub holder: Option<AccountId>,
    /// Miners the customer reported: never chosen.
    pub avoid: Vec<AccountId>,
}

/// A relayed request on its way back.
pub struct Relayed {
    /// The miner that took the request (it now holds the key).
    pub miner: AccountId,
    /// Its answer, frame by frame.
    pub frames: FrameStream,
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
    /// Sends `request` to a well-standing miner allowed by its route, under the
    /// validator's hotkey (uploading the key first unless the miner holds it), and
    /// returns the frame stream once the miner accepted the request.
    fn relay(
        &self,
        request: RelayRequest,
    ) -> impl Future<Output = Result<Relayed, RelayError>> + Send;

    /// A customer's canaries failed on `miner`'s answers: check it with extra scored
    /// queries.
    fn suspect(&self, miner: AccountId);
}
