//! The HTTP API (DESIGN section 4): routes, their admission checks, and the streamed
//! answer of `POST /v1/infer`.
//!
//! Every authenticated route checks, cheapest first: Epistula headers (signed for us,
//! fresh, permitted sender, not replayed), the declared body size, a capacity slot,
//! then reads the size-limited body, verifies its signature, and only then parses it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use brainlock_api::server::{
    ApiError, BodyLimit, admit_signed, declared_length, read_body, verify_headers,
};
use brainlock_api::{
    DecodeLimits, ErrorCode, InferRequest, KeyId, KeyUploadResponse, MinerInfo, routes,
};
use brainlock_epistula::Verifier;
use brainlock_fhe::{CompressedEvaluationKey, EncryptedInput, EngineError, EvaluationKey, Profile};
use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc};

use crate::budget::MemoryBudget;
use crate::circuits::Catalog;
use crate::compute::Job;
use crate::config::Limits;
use crate::key_cache::{CacheError, KeyCache};
use crate::metrics::Metrics;
use crate::queue::{PushError, WorkQueue};

/// Largest body accepted on routes that take none (`GET /v1/info`).
const EMPTY_BODY_LIMIT: usize = 1024;

/// Everything the handlers share.
pub struct AppState {
    /// What `GET /v1/info` answers: version, circuits, profiles, limits.
    pub info: MinerInfo,
    /// The circuits and profiles served.
    pub catalog: Catalog,
    /// The configured request, memory and time limits.
    pub limits: Limits,
    /// Epistula signature check plus the sender policy (permit, stake, allow-list).
    pub verifier: Verifier,
    /// Uploaded evaluation keys, expanded, bounded in expanded bytes (LRU).
    pub keys: KeyCache<EvaluationKey>,
    /// Key-upload slots; a `PUT /v1/keys` that finds none free is answered `busy`.
    pub key_uploads: Semaphore,
    /// In-flight memory budget, expanded bytes: bodies, parsed inputs, item working sets.
    pub inflight: MemoryBudget,
    /// Work queue bounded in items, drained by the evaluation worker threads.
    pub queue: Arc<WorkQueue<Job>>,
    /// Prometheus counters and gauges served on `/metrics`.
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// A body of at most `max_bytes`, read within the configured body-read timeout.
    fn body_limit(&self, max_bytes: usize) -> BodyLimit {
        BodyLimit {
            max_bytes,
            timeout: self.limits.body_read_timeout,
        }
    }

    fn fhe_limits(&self) -> brainlock_fhe::Limits {
        brainlock_fhe::Limits {
            max_key_bytes: self.limits.max_key_bytes as u64,
            max_ciphertext_bytes: self.limits.max_body_bytes as u64,
        }
    }
}

/// The miner's HTTP API (`/v1/info`, `/v1/keys`, `/v1/infer`) over the shared state.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(routes::INFO, get(info))
        .route(routes::KEYS, put(upload_key))
        .route(routes::INFER, post(infer))
        .route(routes::HEALTHZ, get(|| async { "ok" }))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "method not allowed on this route",
            )
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// Counts every answer by route template and status.
async fn count_requests(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state
        .metrics
        .record_request(&route, response.status().as_u16());
    response
}

async fn info(State(state): State<Arc<AppState>>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let limit = state.body_limit(EMPTY_BODY_LIMIT);
    admit_signed(&state.verifier, &parts.headers, body, limit, "info request").await?;
    Ok(axum::Json(state.info.clone()).into_response())
}

async fn upload_key(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    let verified = verify_headers(&state.verifier, request.headers())?;
    let limit = state.body_limit(state.limits.max_key_bytes);
    declared_length(request.headers(), limit, "evaluation key")?;
    // The slot bounds how many key bodies are buffered and expanded at once.
    let _slot = state.key_uploads.try_acquire().map_err(|_| {
        ApiError::busy(
            "another evaluation key is being processed",
            state.limits.retry_after,
        )
    })?;
    let (parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body, limit, "evaluation key").await?;
    verified.verify_body(&body)?;

    let key_id = KeyId::of(&body);
    if state.keys.get(&key_id).is_some() {
        return Ok(axum::Json(KeyUploadResponse { key_id }).into_response());
    }
    let worker_state = state.clone();
    tokio::task::spawn_blocking(move || expand_and_cache(&worker_state, key_id, body))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "key expansion failed"))??;
    tracing::info!(%key_id, cached = state.keys.len(), bytes = state.keys.used_bytes(), "evaluation key cached");
    Ok(axum::Json(KeyUploadResponse { key_id }).into_response())
}

/// Parses a key for whichever served profile its header names, checks there is room
/// for its expanded form, expands it (CPU-heavy: runs on a blocking thread) and caches it.
fn expand_and_cache(state: &AppState, key_id: KeyId, body: Bytes) -> Result<(), ApiError> {
    let compressed = parse_key(&state.catalog, &body, &state.fhe_limits())?;
    drop(body);
    let expanded_bytes = compressed.expanded_size_bytes();
    state
        .keys
        .has_room_for(expanded_bytes)
        .map_err(|e| cache_error(e, state))?;
    let key = EvaluationKey::expand(&compressed);
    drop(compressed);
    let evicted = state
        .keys
        .insert(key_id, Arc::new(key), expanded_bytes)
        .map_err(|e| cache_error(e, state))?;
    for id in evicted {
        tracing::debug!(key_id = %id, "evaluation key evicted");
    }
    Ok(())
}

fn parse_key(
    catalog: &Catalog,
    body: &[u8],
    limits: &brainlock_fhe::Limits,
) -> Result<CompressedEvaluationKey, ApiError> {
    let mut other_profile = None;
    for &profile in catalog.profiles() {
        match CompressedEvaluationKey::from_bytes(body, profile, limits) {
            Ok(key) => return Ok(key),
            Err(EngineError::WrongProfile { found, .. }) => other_profile = Some(found),
            Err(EngineError::TooLarge { .. }) => {
                return Err(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "evaluation key too large",
                ));
            }
            Err(error) => return Err(ApiError::new(ErrorCode::MalformedKey, error.to_string())),
        }
    }
    Err(match other_profile {
        Some(found) => ApiError::new(
            ErrorCode::UnknownProfile,
            format!("evaluation key is for profile {found:?}, which this miner does not serve"),
        ),
        None => ApiError::new(ErrorCode::UnknownProfile, "this miner serves no profile"),
    })
}

fn cache_error(error: CacheError, state: &AppState) -> ApiError {
    match error {
        CacheError::TooLarge { .. } => ApiError::new(ErrorCode::PayloadTooLarge, error.to_string()),
        CacheError::Full => ApiError::busy(error.to_string(), state.limits.retry_after),
    }
}

async fn infer(State(state): State<Arc<AppState>>, request: Request) -> Result<Response, ApiError> {
    let admitted = Instant::now();
    let limits = &state.limits;
    let verified = verify_headers(&state.verifier, request.headers())?;
    let limit = state.body_limit(limits.max_body_bytes);
    let declared = declared_length(request.headers(), limit, "infer request")?;
    // The body is held in memory until its inputs are parsed: reserve it first.
    let body_memory = state
        .inflight
        .try_reserve(declared.unwrap_or(limits.max_body_bytes))
        .ok_or_else(|| ApiError::busy("in-flight memory is exhausted", limits.retry_after))?;
    let (parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body, limit, "infer request").await?;
    verified.verify_body(&body)?;

    let decode_limits = DecodeLimits {
        max_items: limits.max_batch,
        max_item_bytes: limits.max_body_bytes,
        max_total_bytes: limits.max_body_bytes,
    };
    let request = InferRequest::decode(&body, &decode_limits)
        .map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    let circuit = state
        .catalog
        .circuit(&request.circuit)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownCircuit,
                format!("this miner does not serve circuit {}", request.circuit),
            )
        })?;
    let profile = state
        .catalog
        .profile(request.profile.as_str())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownProfile,
                format!("this miner does not serve profile {}", request.profile),
            )
        })?;
    let key = state.keys.get(&request.key_id).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownKey,
            format!(
                "evaluation key {} is not cached: upload it again",
                request.key_id
            ),
        )
    })?;
    if key.profile().id != profile.id {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "key {} is for profile {}, the request names {}",
                request.key_id,
                key.profile().id,
                profile.id
            ),
        ));
    }

    let items = request.inputs.len();
    let per_item = circuit.item_working_bytes(profile);
    let working = per_item.saturating_mul(items);
    if working > state.inflight.cap() {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "{items} items need {working} bytes in flight, more than this miner's {} cap",
                state.inflight.cap()
            ),
        ));
    }
    let mut memory = state
        .inflight
        .try_reserve(working)
        .ok_or_else(|| ApiError::busy("in-flight memory is exhausted", limits.retry_after))?;
    let inputs = parse_inputs(
        &request.inputs,
        &circuit.circuit,
        profile,
        &state.fhe_limits(),
    )?;
    drop((request, body, body_memory));

    let (frames, receiver) = mpsc::channel(items);
    let deadline = admitted + circuit.request_deadline(limits.request_deadline, items);
    let jobs = inputs
        .into_iter()
        .enumerate()
        .map(|(index, input)| Job {
            index: index as u32,
            circuit: circuit.clone(),
            key: key.clone(),
            input,
            frames: frames.clone(),
            deadline,
            memory: memory.split(per_item),
        })
        .collect();
    drop(frames);
    state
        .queue
        .push_all(jobs)
        .map_err(|(error, _)| match error {
            PushError::Full { .. } => ApiError::busy(error.to_string(), limits.retry_after),
            PushError::Closed => ApiError::new(ErrorCode::Busy, error.to_string()),
        })?;
    let stream = FrameStream {
        receiver,
        expected: items,
        sent: 0,
        admitted,
        metrics: state.metrics.clone(),
    };
    Ok((
        [(header::CONTENT_TYPE, routes::FRAME_STREAM_CONTENT_TYPE)],
        Body::from_stream(futures_util::stream::unfold(stream, FrameStream::next)),
    )
        .into_response())
}

/// Parses every input before anything is queued: one bad item refuses the request.
fn parse_inputs(
    inputs: &[Bytes],
    circuit: &brainlock_circuit::Circuit,
    profile: &'static Profile,
    limits: &brainlock_fhe::Limits,
) -> Result<Vec<EncryptedInput>, ApiError> {
    inputs
        .iter()
        .enumerate()
        .map(|(index, bytes)| {
            EncryptedInput::from_bytes(bytes, circuit, profile, limits).map_err(|error| {
                let code = match error {
                    EngineError::WrongShape { .. } | EngineError::WrongSize { .. } => {
                        ErrorCode::WrongShape
                    }
                    EngineError::TooLarge { .. } => ErrorCode::PayloadTooLarge,
                    _ => ErrorCode::MalformedCiphertext,
                };
                ApiError::new(code, format!("input {index}: {error}"))
            })
        })
        .collect()
}

/// The response body of an infer request: frames as workers finish them.
struct FrameStream {
    receiver: mpsc::Receiver<Bytes>,
    expected: usize,
    sent: usize,
    admitted: Instant,
    metrics: Arc<Metrics>,
}

impl FrameStream {
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Self)> {
        let frame = self.receiver.recv().await?;
        self.sent += 1;
        if self.sent == self.expected {
            self.metrics.record_infer(self.admitted.elapsed());
        }
        Some((Ok(frame), self))
    }
}
