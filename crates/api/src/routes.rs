//! HTTP routes and content types of the miner API (DESIGN section 4).

/// `GET`: the miner's [`crate::MinerInfo`] as JSON. Epistula-authenticated.
pub const INFO: &str = "/v1/info";
/// `PUT`: body = serialized compressed evaluation key; answers
/// [`crate::KeyUploadResponse`]. Epistula-authenticated.
pub const KEYS: &str = "/v1/keys";
/// `POST`: body = binary [`crate::InferRequest`]; answers a stream of [`crate::Frame`]s.
/// Epistula-authenticated.
pub const INFER: &str = "/v1/infer";
/// `POST` (gateways only): body = JSON [`crate::CanaryReport`]; answers
/// [`crate::CanaryReceipt`]. Authenticated like every customer request.
pub const REPORTS: &str = "/v1/reports";
/// `GET`: liveness, no authentication.
pub const HEALTHZ: &str = "/healthz";

/// Content type of a binary [`crate::InferRequest`] body.
pub const INFER_REQUEST_CONTENT_TYPE: &str = "application/vnd.brainlock.infer-request";
/// Content type of the streamed response of [`INFER`]: length-prefixed frames.
pub const FRAME_STREAM_CONTENT_TYPE: &str = "application/vnd.brainlock.frames";
/// Content type of an evaluation key upload.
pub const KEY_CONTENT_TYPE: &str = "application/octet-stream";
