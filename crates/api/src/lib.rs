//! What every Brainlock peer (miner, validator, customer) puts on the wire.
//!
//! JSON for small control messages ([`MinerInfo`], [`ErrorBody`], [`KeyUploadResponse`]);
//! a compact binary format for the large ones: the [`InferRequest`] body and the stream
//! of result [`Frame`]s that answers it. Every decoder here is size-limited and checks
//! each length against what is actually there before allocating, so a truncated or
//! lying buffer is an error, never a panic or a huge allocation.

pub mod error;
pub mod frame;
pub mod ids;
pub mod info;
pub mod request;
pub mod routes;

pub use error::{ErrorBody, ErrorCode};
pub use frame::{
    FRAME_HEADER_LEN, FRAME_LENGTH_PREFIX_LEN, Frame, FrameDecoder, FrameError, FramePayload,
    encode_frame, encode_frame_header,
};
pub use ids::{CircuitId, IdError, KeyId, ProfileId};
pub use info::{Backend, KeyUploadResponse, MinerInfo, MinerLimits};
pub use request::{DecodeLimits, InferRequest, REQUEST_MAGIC, RequestError};

/// Version of the Brainlock wire protocol. It is sent in [`MinerInfo`] and in the
/// header of every binary [`InferRequest`]; bump it on any incompatible change.
pub const PROTOCOL_VERSION: u16 = 1;
