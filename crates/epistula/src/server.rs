//! The axum side: [`EpistulaLayer`] authenticates every request of the routes it wraps,
//! handlers extract [`Authenticated`] to learn the caller, and [`signed_response`]
//! signs a buffered answer.
//!
//! Refusals are JSON `{"code": "...", "message": "..."}` with status 400 (`bad_request`),
//! 401 (`unauthenticated`), 403 (`forbidden`), 413 (`payload_too_large`) or 503
//! (`unavailable`, replay cache full).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use crate::headers::now_ms;
use crate::keypair::Keypair;
use crate::response::ResponseSignature;
use crate::verify::{Authenticated, EpistulaError, Verifier};

impl IntoResponse for EpistulaError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code(), "message": self.to_string() });
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// Wraps routes so that only authenticated requests reach them, with bodies of at most
/// `max_body_bytes`. Routes with different size limits take different layers over one
/// shared [`Verifier`].
#[derive(Clone)]
pub struct EpistulaLayer {
    verifier: Arc<Verifier>,
    max_body_bytes: u64,
}

impl EpistulaLayer {
    pub fn new(verifier: Arc<Verifier>, max_body_bytes: u64) -> Self {
        Self {
            verifier,
            max_body_bytes,
        }
    }
}

impl<S> tower::Layer<S> for EpistulaLayer {
    type Service = EpistulaService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EpistulaService {
            inner,
            verifier: Arc::clone(&self.verifier),
            max_body_bytes: self.max_body_bytes,
        }
    }
}

/// The service [`EpistulaLayer`] produces.
#[derive(Clone)]
pub struct EpistulaService<S> {
    inner: S,
    verifier: Arc<Verifier>,
    max_body_bytes: u64,
}

impl<S> tower::Service<Request<Body>> for EpistulaService<S>
where
    S: tower::Service<Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // Call the instance that was driven ready and keep a fresh clone for next time.
        let fresh = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, fresh);
        let verifier = Arc::clone(&self.verifier);
        let limit = self.max_body_bytes;
        Box::pin(async move {
            match authenticate(&verifier, limit, request).await {
                Ok(request) => ready.call(request).await,
                Err(error) => {
                    tracing::debug!(code = error.code(), %error, "refused Epistula request");
                    Ok(error.into_response())
                }
            }
        })
    }
}

async fn authenticate(
    verifier: &Verifier,
    limit: u64,
    request: Request<Body>,
) -> Result<Request<Body>, EpistulaError> {
    let (mut parts, body) = request.into_parts();
    let verified = verifier.verify_headers(&parts.headers, now_ms())?;
    // A declared length over the limit is refused before reading anything.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(EpistulaError::PayloadTooLarge { limit });
    }
    let (bytes, digest) = read_limited(body, limit).await?;
    let authenticated = verified.verify_digest(&digest)?;
    parts.extensions.insert(authenticated);
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Reads and hashes a body, stopping as soon as it exceeds `limit` (a missing or false
/// Content-Length cannot make it buffer more).
async fn read_limited(mut body: Body, limit: u64) -> Result<(Bytes, [u8; 32]), EpistulaError> {
    let mut hasher = Sha256::new();
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| EpistulaError::BodyRead(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing signed
        };
        if (buffer.len() + data.len()) as u64 > limit {
            return Err(EpistulaError::PayloadTooLarge { limit });
        }
        hasher.update(&data);
        buffer.extend_from_slice(&data);
    }
    Ok((buffer.freeze(), hasher.finalize().into()))
}

/// The caller of a route behind [`EpistulaLayer`]. On a route without the layer the
/// extraction fails with 500: that is a server wiring bug, not a client error.
impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Authenticated>().copied().ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "route is not behind EpistulaLayer",
        ))
    }
}

/// A 200 response carrying `body`, signed for the caller (see [`crate::response`]).
pub fn signed_response(keypair: &Keypair, request: &Authenticated, body: Bytes) -> Response {
    let digest: [u8; 32] = Sha256::digest(&body).into();
    let signature =
        ResponseSignature::sign(keypair, &digest, request.uuid, &request.sender, now_ms());
    let mut response = Response::new(Body::from(body));
    response.headers_mut().extend(signature.to_header_map());
    response
}
