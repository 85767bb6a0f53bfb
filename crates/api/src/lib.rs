//! The miner API, shared by every Brainlock peer: miners and validators' gateways
//! serve it, validators and customers call it (the role Lighthouse's `common/eth2`
//! plays for its two binaries).
//!
//! - The wire types, below.
//! - With the `client` feature, [`MinerClient`], the one typed client of the API.
//! - With the `server` feature, [`server`]: what both servers share (error answers,
//!   the limited body reader, the lingering listener).
//!
//! JSON for small control messages ([`MinerInfo`], [`ErrorBody`], [`KeyUploadResponse`]);
//! a compact binary format for the large ones: the [`InferRequest`] body and the stream
//! of result [`Frame`]s that answers it. Every decoder here is size-limited and checks
//! each length against what is actually there before allocating, so a truncated or
//! lying buffer is an error, never a panic or a huge allocation.

#![deny(missing_docs)]

#[cfg(feature = "client")]
mod client;
mod error;
mod frame;
mod ids;
mod info;
mod request;
pub mod routes;
#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "client")]
pub use client::{ClientError, DEFAULT_MAX_FRAME_BYTES, FrameStream, MinerClient};

pub use error::{ErrorBody, ErrorCode};
pub use frame::{
    FRAME_HEADER_LEN, FRAME_LENGTH_PREFIX_LEN, Frame, FrameDecoder, FrameError, FramePayload,
    encode_frame, encode_frame_header,
};
pub use ids::{CircuitId, IdError, KeyId, ProfileId};
pub use info::{
    Backend, CanaryReceipt, CanaryReport, CustomerLimits, GatewayInfo, KeyUploadResponse,
    MinerInfo, MinerLimits,
};
pub use request::{DecodeLimits, InferRequest, REQUEST_MAGIC, RequestError};

/// Version of the Brainlock wire protocol. It is sent in [`MinerInfo`] and in the
/// header of every binary [`InferRequest`]; bump it on any incompatible change.
pub const PROTOCOL_VERSION: u16 = 1;
