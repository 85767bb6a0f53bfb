//! A typed, signing client of the miner API, for validators, the CLI and tests.

use std::sync::Arc;

use brainlock_epistula::{AccountId, Keypair, SignedClient};
use brainlock_wire::{
    ErrorBody, Frame, FrameDecoder, FrameError, InferRequest, KeyId, KeyUploadResponse, MinerInfo,
    RequestError, routes,
};
use bytes::Bytes;
use reqwest::{Method, Response, header};

/// Default bound on one result frame: a `conv3x3` output under the largest profile
/// (3,072 ciphertexts of 8,193 words) is about 200 MB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 256 << 20;

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
}

impl ClientError {
    /// The error code the miner sent, if it sent one.
    pub fn code(&self) -> Option<brainlock_wire::ErrorCode> {
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
        }
    }

    pub fn with_max_frame_bytes(mut self, max: usize) -> Self {
        self.max_frame_bytes = max;
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
        Ok(response.json().await?)
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
        let KeyUploadResponse { key_id } = response.json().await?;
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
    let body = read_capped(response, 64 * 1024).await.ok();
    Err(ClientError::Api {
        status: status.as_u16(),
        body: body.as_deref().and_then(ErrorBody::from_json),
    })
}

async fn read_capped(mut response: Response, cap: usize) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if out.len() + chunk.len() > cap {
            break;
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
}

impl FrameStream {
    /// The next frame as soon as it is complete; `None` at the end of the stream. A
    /// stream cut inside a frame is an error.
    pub async fn next_frame(&mut self) -> Result<Option<Frame>, ClientError> {
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                return Ok(Some(frame));
            }
            if self.finished {
                return Ok(None);
            }
            match self.response.chunk().await? {
                Some(chunk) => self.decoder.push(&chunk),
                None => {
                    self.finished = true;
                    self.decoder.finish()?;
                }
            }
        }
    }
}
