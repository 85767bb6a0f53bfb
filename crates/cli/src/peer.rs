//! The remote end of `classify`: a miner (Epistula-signed), or a validator's gateway
//! (API key, or Epistula with an admitted hotkey). Both speak the miner API: upload the
//! evaluation key, post an infer request, read result frames as they stream.

use std::sync::Arc;

use anyhow::{Context, bail};
use brainlock_epistula::{AccountId, Keypair};
use brainlock_gateway::GatewayInfo;
use brainlock_miner::client::{MinerClient, check_status};
use brainlock_api::{Frame, FrameDecoder, InferRequest, KeyId, KeyUploadResponse, routes};
use bytes::Bytes;
use reqwest::header;

/// Largest result frame accepted (a conv3x3 output under the largest profile is
/// about 200 MB).
const MAX_FRAME_BYTES: usize = brainlock_miner::client::DEFAULT_MAX_FRAME_BYTES;

/// A connection to a miner or gateway.
pub enum Peer {
    /// Epistula-signed requests (a miner, or a gateway that admitted our hotkey).
    Signed(MinerClient),
    /// A gateway customer with an API key.
    ApiKey {
        http: reqwest::Client,
        base_url: String,
        api_key: String,
    },
}

/// The result frames of one infer request, in arrival order.
pub enum Frames {
    Signed(brainlock_miner::FrameStream),
    ApiKey {
        response: reqwest::Response,
        decoder: FrameDecoder,
        finished: bool,
    },
}

impl Frames {
    /// The next frame; `None` when the stream ended cleanly.
    pub async fn next(&mut self) -> anyhow::Result<Option<Frame>> {
        match self {
            Frames::Signed(stream) => Ok(stream.next_frame().await?),
            Frames::ApiKey {
                response,
                decoder,
                finished,
            } => loop {
                if let Some(frame) = decoder.next_frame()? {
                    return Ok(Some(frame));
                }
                if *finished {
                    return Ok(None);
                }
                match response.chunk().await? {
                    Some(chunk) => decoder.push(&chunk),
                    None => {
                        *finished = true;
                        decoder.finish()?;
                    }
                }
            },
        }
    }
}

fn trim(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

/// A gateway's public info (`GET /v1/info` needs no credentials there).
pub async fn gateway_info(http: &reqwest::Client, base_url: &str) -> anyhow::Result<GatewayInfo> {
    let url = format!("{}{}", trim(base_url), routes::INFO);
    let response = check_status(
        http.get(&url)
            .send()
            .await
            .with_context(|| format!("reaching {url}"))?,
    )
    .await?;
    response
        .json()
        .await
        .context("gateway info is not valid JSON")
}

impl Peer {
    pub fn miner(
        http: reqwest::Client,
        base_url: &str,
        miner: AccountId,
        keypair: Arc<Keypair>,
    ) -> Self {
        Peer::Signed(
            MinerClient::new(trim(base_url), miner, keypair, http)
                .with_max_frame_bytes(MAX_FRAME_BYTES),
        )
    }

    pub fn gateway_with_key(http: reqwest::Client, base_url: &str, api_key: String) -> Self {
        Peer::ApiKey {
            http,
            base_url: trim(base_url),
            api_key,
        }
    }

    pub async fn upload_key(&self, key_bytes: Bytes) -> anyhow::Result<KeyId> {
        match self {
            Peer::Signed(client) => Ok(client.upload_key(key_bytes).await?),
            Peer::ApiKey {
                http,
                base_url,
                api_key,
            } => {
                let expected = KeyId::of(&key_bytes);
                let request = http
                    .put(format!("{base_url}{}", routes::KEYS))
                    .bearer_auth(api_key)
                    .header(header::CONTENT_TYPE, routes::KEY_CONTENT_TYPE)
                    .body(key_bytes);
                let response = check_status(request.send().await?).await?;
                let KeyUploadResponse { key_id } = response.json().await?;
                if key_id != expected {
                    bail!("gateway returned key id {key_id} for a key whose id is {expected}");
                }
                Ok(key_id)
            }
        }
    }

    pub async fn infer(&self, request: &InferRequest) -> anyhow::Result<Frames> {
        match self {
            Peer::Signed(client) => Ok(Frames::Signed(client.infer(request).await?)),
            Peer::ApiKey {
                http,
                base_url,
                api_key,
            } => {
                let request = http
                    .post(format!("{base_url}{}", routes::INFER))
                    .bearer_auth(api_key)
                    .header(header::CONTENT_TYPE, routes::INFER_REQUEST_CONTENT_TYPE)
                    .body(request.encode()?);
                let response = check_status(request.send().await?).await?;
                Ok(Frames::ApiKey {
                    response,
                    decoder: FrameDecoder::new(MAX_FRAME_BYTES),
                    finished: false,
                })
            }
        }
    }
}
