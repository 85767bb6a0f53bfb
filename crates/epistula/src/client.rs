//! The reqwest side: sign outgoing requests.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use uuid::Uuid;

use crate::AccountId;
use crate::headers::{SignedHeaders, now_ms};
use crate::keypair::Keypair;

/// An HTTP client that signs every request with a hotkey.
#[derive(Clone)]
pub struct SignedClient {
    keypair: Arc<Keypair>,
    http: reqwest::Client,
}

/// A request ready to send; do not change the body, which the headers sign.
pub struct SignedRequest {
    /// The reqwest builder with the six `Epistula-*` headers and the signed body attached.
    pub request: reqwest::RequestBuilder,
    /// The `Epistula-Uuid` of this request, to correlate logs and replay rejections.
    pub uuid: Uuid,
}

impl SignedClient {
    /// `http` carries the timeouts, pools and TLS settings of the caller's choosing.
    pub fn new(keypair: Arc<Keypair>, http: reqwest::Client) -> Self {
        Self { keypair, http }
    }

    /// The signing hotkey, which receivers see as `Epistula-Signed-By`.
    pub fn account_id(&self) -> AccountId {
        self.keypair.account_id()
    }

    /// Builds a request to the neuron with hotkey `signed_for`, signed now.
    pub fn request(
        &self,
        method: Method,
        url: &str,
        signed_for: &AccountId,
        body: Bytes,
    ) -> SignedRequest {
        let signed = SignedHeaders::sign(&self.keypair, &body, signed_for, now_ms());
        let request = self
            .http
            .request(method, url)
            .headers(signed.to_header_map())
            .body(body);
        SignedRequest {
            request,
            uuid: signed.uuid,
        }
    }
}
