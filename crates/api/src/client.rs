//! The typed client of the miner API, for validators, the CLI and tests. A validator's
//! gateway speaks the same API, so the same client talks to it, signing with a hotkey
//! the gateway admitted or presenting an API key.

use std::sync::Arc;

use brainlock_epistula::{AccountId, Keypair, SignedClient};
use bytes::Bytes;
use reqwest::{Method, Response, header};

use crate::{
    CanaryReceipt, CanaryReport, ErrorBody, ErrorCode, Frame, FrameDecoder, FrameError,
    GatewayInfo, InferRequest, KeyId, KeyUploadResponse, MinerInfo, RequestError, routes,
};

/// Default bound on one result frame: a `conv3x3` output under the largest profile
/// (3,072 ciphertexts of 8,193 words) is about 200 MB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 256 << 20;
/// Bound on a small JSON answer (`/v1/info`, the key upload's reply, error bodies):
/// a hostile peer cannot make the client buffer more than this.
pub(crate) const MAX_JSON_REPLY_BYTES: usize = 64 << 10;

/// Why a call to a miner or a gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP exchange itself failed: connection refused or reset, timeout, bad TLS.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// The server refused the request with a 4xx/5xx answer.
    #[error("server answered {status}: {}", body.as_ref().map_or_else(|| "(no error body)".to_owned(), |b| b.to_string()))]
    Api {
        /// HTTP status code of the answer.
        status: u16,
        /// The answer's [`ErrorBody`], if it sent a well-formed one.
        body: Option<ErrorBody>,
    },
    /// The result stream broke: a frame too large, malformed or cut short.
    #[error("result stream: {0}")]
    Frame(#[from] FrameError),
    /// The request could not be encoded within the wire format's limits.
    #[error("invalid request: {0}")]
    Request(#[from] RequestError),
    /// The key upload was acknowledged under another id than the key's content hash.
    #[error("server returned key id {returned} for a key whose id is {expected}")]
    KeyIdMismatch {
        /// SHA-256 of the key bytes sent.
        expected: KeyId,
        /// The id the server said it stored.
        returned: KeyId,
    },
    /// A JSON body (an answer, or the canary report we send) that is not what it should be.
    #[error("malformed {what}")]
    Json {
        /// Which body (e.g. `"miner info"`, `"canary report"`).
        what: &'static str,
        /// What the JSON parser or writer reported.
        source: serde_json::Error,
    },
    /// An answer went past a size bound this client enforces.
    #[error("{what} exceeds the {max}-byte limit")]
    TooLarge {
        /// Which answer (e.g. `"miner info"`, `"result stream"`).
        what: &'static str,
        /// The bound, in bytes.
        max: usize,
    },
}

impl ClientError {
    /// The error code the server sent, if it sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api {
                body: Some(body), ..
            } => Some(body.code),
            _ => None,
        }
    }

    /// The HTTP status the server refused with, if it answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// How a request proves who sends it.
#[derive(Clone)]
enum Credentials {
    /// Epistula v2, signed for the receiver's hotkey (a miner, or a gateway that
    /// admitted ours).
    Epistula {
        signer: SignedClient,
        receiver: AccountId,
    },
    /// A gateway customer's API key (`Authorization: Bearer`).
    ApiKey(String),
}

/// One server of the miner API, addressed by URL, with the credentials every request
/// carries and bounds on what its answers may make us buffer.
#[derive(Clone)]
pub struct MinerClient {
    http: reqwest::Client,
    base_url: String,
    credentials: Credentials,
    max_frame_bytes: usize,
    max_stream_bytes: usize,
}

impl MinerClient {
    /// Signs every request with `keypair` for `receiver` (a miner's hotkey, or a
    /// gateway's). `base_url` like `http://1.2.3.4:8091`; `http` carries timeouts and
    /// TLS settings.
    pub fn new(
        base_url: impl Into<String>,
        receiver: AccountId,
        keypair: Arc<Keypair>,
        http: reqwest::Client,
    ) -> Self {
        let signer = SignedClient::new(keypair, http.clone());
        Self::with_credentials(base_url, Credentials::Epistula { signer, receiver }, http)
    }

    /// A gateway customer presenting an issued API key.
    pub fn with_api_key(
        base_url: impl Into<String>,
        api_key: impl Into<String>,
        http: reqwest::Client,
    ) -> Self {
        Self::with_credentials(base_url, Credentials::ApiKey(api_key.into()), http)
    }

    fn with_credentials(
        base_url: impl Into<String>,
        credentials: Credentials,
        http: reqwest::Client,
    ) -> Self {
        Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            credentials,
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

    /// The absolute URL of `route` (e.g. `/v1/info`) on this client's server.
    pub fn url(&self, route: &str) -> String {
        format!("{}{route}", self.base_url)
    }

    /// A miner's `GET /v1/info`.
    pub async fn info(&self) -> Result<MinerInfo, ClientError> {
        let response = self
            .send(Method::GET, routes::INFO, Bytes::new(), None)
            .await?;
        read_json(response, "miner info").await
    }

    /// A gateway's `GET /v1/info`, which needs no credentials (a customer reads the
    /// hotkey to sign for there).
    pub async fn gateway_info(
        http: &reqwest::Client,
        base_url: &str,
    ) -> Result<GatewayInfo, ClientError> {
        let url = format!("{}{}", base_url.trim_end_matches('/'), routes::INFO);
        let response = check_status(http.get(url).send().await?).await?;
        read_json(response, "gateway info").await
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

    /// Reports failed canaries of the session under `report.key_id` to a gateway.
    pub async fn report(&self, report: &CanaryReport) -> Result<CanaryReceipt, ClientError> {
        let body = serde_json::to_vec(report).map_err(|source| ClientError::Json {
            what: "canary report",
            source,
        })?;
        let response = self
            .send(
                Method::POST,
                routes::REPORTS,
                Bytes::from(body),
                Some("application/json"),
            )
            .await?;
        read_json(response, "canary receipt").await
    }

    async fn send(
        &self,
        method: Method,
        route: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<Response, ClientError> {
        let url = self.url(route);
        let mut request = match &self.credentials {
            Credentials::Epistula { signer, receiver } => {
                signer.request(method, &url, receiver, body).request
            }
            Credentials::ApiKey(key) => self.http.request(method, url).bearer_auth(key).body(body),
        };
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        check_status(request.send().await?).await
    }
}

/// Turns a non-success answer into [`ClientError::Api`] with the server's error body.
async fn check_status(response: Response) -> Result<Response, ClientError> {
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
    serde_json::from_slice(&body).map_err(|source| ClientError::Json { what, source })
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
