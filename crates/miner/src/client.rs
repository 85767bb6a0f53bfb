//! A typed, signing client of the miner API, for validators, the CLI and tests.

use std::sync::Arc;

use brainlock_epistula::{AccountId, Keypair, SignedClient};
use brainlock_api::{
    ErrorBody, Frame, FrameDecoder, FrameError, InferRequest, KeyId, KeyUploadResponse, MinerInfo,
    RequestError, routes,
};
use bytes::Bytes;
use reqwest::{Method, Response, header};

/// Default bound on one result frame: a `conv3x3` output under the largest profile
/// (3,072 ciphertexts of 8,193 words) is about 200 MB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 256 << 20;
/// Bound on a small JSON answer (`/v1/info`, the key upload's reply, error bodies):
/// a hostile peer cannot make the client buffer more than this.
pub const MAX_JSON_REPLY_BYTES: usize = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("miner answered {status}: {}", body.as_ref().map_or_else(|| "(no error body)".to_owned(), |b| b.to_string()))]
    Api {
        status: u16,
        body: Option<ErrorBody>,
    },
    #[error("result stream: {0}")]
    Frame(#[from] FrameError),
    #[error("invalid request: {0}")]
    Request(#[from] RequestError),
    #[error("miner returned key id {returned} for a key whose id is {expected}")]
    KeyIdMismatch { expected: KeyId, returned: KeyId },
    #[error("malformed answer: {0}")]
    Decode(String),
    #[error("{what} exceeds the {max}-byte limit")]
    TooLarge { what: &'static str, max: usize },
}

impl ClientError {
    /// The error code the miner sent, if it sent one.
    pub fn code(&self) -> Option<brainlock_api::ErrorCode> {
        match self {
            ClientError::Api {
                body: Some(body), ..
            } => Some(body.code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One miner, addressed by URL and hotkey; every request is signed with our hotkey.
#[derive(Clone)]
pub struct MinerClient {
    signer: SignedClient,
    base_url: String,
    miner: AccountId,
    max_frame_bytes: usize,
    max_stream_bytes: usize,
}

impl MinerClient {
    /// `base_url` like `http://1.2.3.4:8091`; `http` carries timeouts and TLS settings.
    pub fn new(
        base_url: impl Into<String>,
        miner: AccountId,
        keypair: Arc<Keypair>,
        http: reqwest::Client,
    ) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Self {
            signer: SignedClient::new(keypair, http),
            base_url,
            miner,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_stream_bytes: usize::MAX,
        }
    }

    /// Bounds each result frame's body (index, kind and payload); a longer frame is
    /// refused as soon as its length prefix arrives, before its body is buffered.
    pub fn with_max_frame_bytes(mut self, max: usize) -> Self {
        self.max_frame_bytes = max;
        self
    }

    /// Bounds the bytes of a whole infer answer: reading stops with an error past it.
    pub fn with_max_stream_bytes(mut self, max: usize) -> Self {
        self.max_stream_bytes = max;
        self
    }

    pub fn miner(&self) -> AccountId {
        self.miner
    }

    pub fn url(&self, route: &str) -> String {
        format!("{}{route}", self.base_url)
    }

    pub async fn info(&self) -> Result<MinerInfo, ClientError> {
        let response = self
            .send(Method::GET, routes::INFO, Bytes::new(), None)
            .await?;
        read_json(response, "miner info").await
    }

    /// Uploads a serialized compressed evaluation key; returns its id after checking it
    /// is the hash of what was sent.
    pub async fn upload_key(&self, key_bytes: Bytes) -> Result<KeyId, ClientError> {
        let expected = KeyId::of(&key_bytes);
        let response = self
            .send(
                Method::PUT,
                routes::KEYS,
                key_bytes,
                Some(routes::KEY_CONTENT_TYPE),
            )
            .await?;
        let KeyUploadResponse { key_id } = read_json(response, "key upload reply").await?;
        if key_id != expected {
            return Err(ClientError::KeyIdMismatch {
                expected,
                returned: key_id,
            });
        }
        Ok(key_id)
    }

    /// Sends a batch; the frames arrive through the returned stream as the miner
    /// computes them.
    pub async fn infer(&self, request: &InferRequest) -> Result<FrameStream, ClientError> {
        let body = request.encode()?;
        let response = self
            .send(
                Method::POST,
                routes::INFER,
                body,
                Some(routes::INFER_REQUEST_CONTENT_TYPE),
            )
            .await?;
        Ok(FrameStream {
            response,
            decoder: FrameDecoder::new(self.max_frame_bytes),
            finished: false,
            received: 0,
            max_bytes: self.max_stream_bytes,
        })
    }

    async fn send(
        &self,
        method: Method,
        route: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<Response, ClientError> {
        let mut request = self
            .signer
            .request(method, &self.url(route), &self.miner, body)
            .request;
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        check_status(request.send().await?).await
    }
}

/// Turns a non-success answer into [`ClientError::Api`] with the miner's error body.
pub async fn check_status(response: Response) -> Result<Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    // Error bodies are small JSON; do not buffer a hostile peer's gigabytes.
    let body = read_capped(response, MAX_JSON_REPLY_BYTES, "error body")
        .await
        .ok();
    Err(ClientError::Api {
        status: status.as_u16(),
        body: body.as_deref().and_then(ErrorBody::from_json),
    })
}

/// A small JSON answer, read up to [`MAX_JSON_REPLY_BYTES`] and then parsed.
async fn read_json<T: serde::de::DeserializeOwned>(
    response: Response,
    what: &'static str,
) -> Result<T, ClientError> {
    let body = read_capped(response, MAX_JSON_REPLY_BYTES, what).await?;
    serde_json::from_slice(&body).map_err(|e| ClientError::Decode(format!("{what}: {e}")))
}

/// The whole body, refused as soon as it declares or sends more than `cap` bytes.
async fn read_capped(
    mut response: Response,
    cap: usize,
    what: &'static str,
) -> Result<Vec<u8>, ClientError> {
    let too_large = || ClientError::TooLarge { what, max: cap };
    if response
        .content_length()
        .is_some_and(|len| len > cap as u64)
    {
        return Err(too_large());
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if out.len() + chunk.len() > cap {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The streamed answer of an infer request.
pub struct FrameStream {
    response: Response,
    decoder: FrameDecoder,
    finished: bool,
    /// Bytes read from the body so far, bounded by `max_bytes`.
    received: usize,
    max_bytes: usize,
}

impl FrameStream {
    /// The next frame as soon as it is complete; `None` at the end of the stream. A
    /// stream cut inside a frame, or longer than the client's stream bound, is an error.
    pub async fn next_frame(&mut self) -> Result<Option<Frame>, ClientError> {
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                return Ok(Some(frame));
            }
            if self.finished {
                return Ok(None);
            }
            match self.response.chunk().await? {
                Some(chunk) => {
                    self.received = self.received.saturating_add(chunk.len());
                    if self.received > self.max_bytes {
                        return Err(ClientError::TooLarge {
                            what: "result stream",
                            max: self.max_bytes,
                        });
                    }
                    self.decoder.push(&chunk);
                }
                None => {
                    self.finished = true;
                    self.decoder.finish()?;
                }
            }
        }
    }
}
