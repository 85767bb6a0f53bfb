//! The customer API. It mirrors the miner API (same paths, bodies and frame stream) so
//! one client speaks to both:
//! - `GET /v1/info`: the gateway's hotkey, circuit, profile and limits (no auth: a
//!   customer needs the hotkey to sign for it);
//! - `PUT /v1/keys`: upload an evaluation key, answered with its id;
//! - `POST /v1/infer`: a binary infer request; the answer streams one frame per item;
//! - `POST /v1/reports`: a customer's failed canaries (JSON [`CanaryReport`]);
//! - `GET /healthz`.
//!
//! Every check that can refuse a request runs before anything is relayed: credentials
//! and request quota on headers alone, sizes before the body is read, the signature,
//! the request's structure, circuit, profile, key ownership and each ciphertext's
//! shape, and last the item quota and in-flight slot.

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use brainlock_api::server::{ApiError, read_body};
use brainlock_api::{
    CanaryReceipt, CanaryReport, CustomerLimits, DecodeLimits, ErrorCode, Frame, FramePayload,
    GatewayInfo, InferRequest, KeyUploadResponse, PROTOCOL_VERSION, encode_frame, routes,
};
use brainlock_fhe::{CompressedEvaluationKey, EncryptedInput, EngineError, Limits};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::auth::Customer;
use crate::keys::RequestInFlight;
use crate::quota::InflightGuard;
use crate::relay::{FrameStream, Relay, RelayError, RelayRequest, Relayed, Route};
use crate::state::{GatewayState, Shared};

/// The gateway's routes. Serve them on their own listener (the gateway's port).
pub fn router<R: Relay>(state: GatewayState<R>) -> Router {
    Router::new()
        .route(routes::INFO, get(info::<R>))
        .route(routes::KEYS, put(upload_key::<R>))
        .route(routes::INFER, post(infer::<R>))
        .route(routes::REPORTS, post(report::<R>))
        .route(routes::HEALTHZ, get(|| async { "ok" }))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .with_state(state)
}

async fn info<R: Relay>(State(state): State<GatewayState<R>>) -> Json<GatewayInfo> {
    let shared = &state.shared;
    let limits = &shared.config.limits;
    Json(GatewayInfo {
        protocol_version: PROTOCOL_VERSION,
        software_version: env!("CARGO_PKG_VERSION").to_string(),
        hotkey: shared.me.to_ss58(),
        circuits: vec![shared.circuit_id.clone()],
        profiles: vec![shared.profile_id.clone()],
        limits: CustomerLimits {
            max_key_bytes: limits.max_key_bytes,
            max_body_bytes: limits.max_body_bytes,
            max_batch: limits.max_batch,
            exact_batch: limits.exact_batch,
            max_requests_per_key: shared.sessions.policy().max_requests,
            key_ttl_seconds: shared.sessions.policy().key_ttl_seconds,
        },
    })
}

fn engine_error(error: &EngineError, what: &str) -> ApiError {
    let code = match error {
        EngineError::WrongProfile { .. } | EngineError::UnknownProfile(_) => {
            ErrorCode::UnknownProfile
        }
        EngineError::WrongShape { .. } => ErrorCode::WrongShape,
        EngineError::TooLarge { .. } => ErrorCode::PayloadTooLarge,
        _ if what == "evaluation key" => ErrorCode::MalformedKey,
        _ => ErrorCode::MalformedCiphertext,
    };
    ApiError::new(code, format!("{what}: {error}"))
}

fn fhe_limits<R>(shared: &Shared<R>) -> Limits {
    let limits = &shared.config.limits;
    Limits {
        max_key_bytes: limits.max_key_bytes,
        max_ciphertext_bytes: limits.max_body_bytes,
    }
}

/// Admits a customer's request: credentials and request quota on the headers alone,
/// then the body within `max_bytes` and its signature. Returns the customer and body.
async fn admit<R>(
    shared: &Shared<R>,
    request: Request,
    max_bytes: u64,
    what: &'static str,
) -> Result<(Customer, Bytes), ApiError> {
    let (parts, body) = request.into_parts();
    let identified = shared.auth.identify(&parts.headers)?;
    shared.quotas.charge_request(
        &identified.customer.name,
        &identified.customer.quota,
        Instant::now(),
    )?;
    let limit = shared.config.limits.body_limit(max_bytes);
    let bytes = read_body(&parts.headers, body, limit, what).await?;
    let customer = identified.verify_body(&bytes)?;
    Ok((customer, bytes))
}

async fn upload_key<R: Relay>(
    State(state): State<GatewayState<R>>,
    request: Request,
) -> Result<Json<KeyUploadResponse>, ApiError> {
    let shared = &state.shared;
    let max_key_bytes = shared.config.limits.max_key_bytes;
    let (customer, bytes) = admit(shared, request, max_key_bytes, "evaluation key").await?;

    // Parse and conformance-check the key now, so a malformed key is refused here
    // instead of being relayed to a miner.
    let profile = shared.workload.profile;
    let limits = fhe_limits(shared);
    let checked = bytes.clone();
    tokio::task::spawn_blocking(move || {
        CompressedEvaluationKey::from_bytes(&checked, profile, &limits).map(drop)
    })
    .await
    .map_err(|e| ApiError::new(ErrorCode::Internal, format!("key check failed: {e}")))?
    .map_err(|e| engine_error(&e, "evaluation key"))?;
    let key_id =
        shared
            .keys
            .insert(&customer.name, bytes, &shared.config.limits, Instant::now())?;
    tracing::info!(customer = %customer.name, %key_id, "customer uploaded an evaluation key");
    Ok(Json(KeyUploadResponse { key_id }))
}

async fn infer<R: Relay>(
    State(state): State<GatewayState<R>>,
    request: Request,
) -> Result<Response, ApiError> {
    let shared = &state.shared;
    let limits = shared.config.limits;
    let (customer, bytes) = admit(shared, request, limits.max_body_bytes, "infer request").await?;

    let decode_limits = DecodeLimits {
        max_items: limits.max_batch as usize,
        max_item_bytes: usize::try_from(limits.max_body_bytes).unwrap_or(usize::MAX),
        max_total_bytes: usize::try_from(limits.max_body_bytes).unwrap_or(usize::MAX),
    };
    let request = InferRequest::decode(&bytes, &decode_limits)
        .map_err(|e| ApiError::new(e.code(), format!("infer request: {e}")))?;
    if limits.exact_batch && request.inputs.len() != limits.max_batch as usize {
        return Err(ApiError::new(
            ErrorCode::WrongShape,
            format!(
                "send exactly {} inputs per request, not {}",
                limits.max_batch,
                request.inputs.len()
            ),
        ));
    }
    if request.circuit != shared.circuit_id {
        return Err(ApiError::new(
            ErrorCode::UnknownCircuit,
            format!(
                "this gateway serves circuit {}, not {}",
                shared.circuit_id, request.circuit
            ),
        ));
    }
    if request.profile != shared.profile_id {
        return Err(ApiError::new(
            ErrorCode::UnknownProfile,
            format!(
                "this gateway serves profile {}, not {}",
                shared.profile_id, request.profile
            ),
        ));
    }
    let fhe_limits = fhe_limits(shared);
    for (index, input) in request.inputs.iter().enumerate() {
        EncryptedInput::from_bytes(
            input,
            &shared.workload.circuit,
            shared.workload.profile,
            &fhe_limits,
        )
        .map_err(|e| engine_error(&e, &format!("input {index}")))?;
    }
    let items = request.inputs.len() as u32;
    let guard =
        shared
            .quotas
            .start_inference(&customer.name, &customer.quota, items, Instant::now())?;
    // Counted last, so a request refused above does not use up the session.
    let now = Instant::now();
    let (key, answering) = shared
        .keys
        .begin_request(&customer.name, &request.key_id, now)?;

    tracing::info!(customer = %customer.name, items, "relaying a customer request");
    let Relayed { miner, frames } = shared
        .relay
        .relay(RelayRequest {
            customer: customer.name.clone(),
            circuit: request.circuit,
            profile: request.profile,
            key_id: key.id,
            key_bytes: key.bytes,
            inputs: request.inputs,
            route: Route {
                holder: key.miner,
                avoid: shared.avoidance.avoided(&customer.name, now),
            },
        })
        .await
        .map_err(|e| match e {
            RelayError::NoMiner(m) => ApiError::busy(
                format!("no miner available: {m}"),
                std::time::Duration::from_secs(1),
            ),
            RelayError::Miner(m) => ApiError::new(ErrorCode::UpstreamFailed, m),
        })?;
    shared.keys.bind(&customer.name, &key.id, Some(miner));
    Ok(stream_response(frames, items as usize, (guard, answering)))
}

/// Largest canary report body accepted.
const MAX_REPORT_BYTES: u64 = 4096;

/// A customer's canaries failed on a session's answers: its requests avoid the miner
/// that served the session from now on (the session's next request goes to another
/// miner, with the key), and the validator checks that miner with extra scored
/// queries. Reports are charged to the request quota.
async fn report<R: Relay>(
    State(state): State<GatewayState<R>>,
    request: Request,
) -> Result<Json<CanaryReceipt>, ApiError> {
    let shared = &state.shared;
    let (customer, bytes) = admit(shared, request, MAX_REPORT_BYTES, "canary report").await?;
    let report: CanaryReport = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("canary report: {e}")))?;
    if report.failed == 0 || report.failed > report.canaries {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "canary report: {} failed of {} canaries; report only failures",
                report.failed, report.canaries
            ),
        ));
    }
    let Some(miner) = shared.keys.bound_miner(&customer.name, &report.key_id) else {
        return Err(ApiError::new(
            ErrorCode::UnknownKey,
            format!(
                "no live session of yours under key {} was served by a miner",
                report.key_id
            ),
        ));
    };
    let period = shared.config.reports.avoid();
    shared
        .avoidance
        .avoid(&customer.name, miner, period, Instant::now());
    shared.keys.bind(&customer.name, &report.key_id, None);
    shared.relay.suspect(miner);
    tracing::warn!(
        customer = %customer.name,
        %miner,
        failed = report.failed,
        canaries = report.canaries,
        avoid_s = period.as_secs(),
        "a customer's canaries failed: avoiding the miner for them and checking it"
    );
    Ok(Json(CanaryReceipt {
        miner_avoided: true,
    }))
}

/// Streams the miner's frames to the customer. The status is sent before the miner
/// finishes, so a failure mid-stream is reported in-band: every item not answered yet
/// gets an error frame. The in-flight slot is freed when forwarding ends.
fn stream_response(
    frames: FrameStream,
    batch: usize,
    guards: (InflightGuard, RequestInFlight),
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(forward_frames(frames, batch, tx, guards));
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(routes::FRAME_STREAM_CONTENT_TYPE),
    );
    response
}

async fn forward_frames(
    frames: FrameStream,
    batch: usize,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    guards: (InflightGuard, RequestInFlight),
) {
    send_frames(frames, batch, &tx).await;
    // Free the slot before the customer sees the end of the stream, so a customer that
    // sends its next request right away is not refused for the one just finished (and
    // its pause is not counted short).
    drop(guards);
    drop(tx);
}

async fn send_frames(
    mut frames: FrameStream,
    batch: usize,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let mut answered = vec![false; batch];
    let mut failure = None;
    while let Some(item) = frames.next().await {
        let frame = match item {
            Ok(frame) => frame,
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        };
        let index = frame.index as usize;
        if index >= batch || answered[index] {
            failure = Some(format!("miner sent an unexpected frame for item {index}"));
            break;
        }
        answered[index] = true;
        let encoded = encode_frame(&frame).map_err(std::io::Error::other);
        if tx.send(encoded).await.is_err() {
            // The customer went away; dropping the stream cancels the relay.
            return;
        }
    }
    let reason =
        failure.unwrap_or_else(|| "the miner ended the stream without answering this item".into());
    for (index, _) in answered.iter().enumerate().filter(|(_, done)| !**done) {
        let frame = Frame {
            index: index as u32,
            payload: FramePayload::Error(reason.clone()),
        };
        if tx
            .send(encode_frame(&frame).map_err(std::io::Error::other))
            .await
            .is_err()
        {
            return;
        }
    }
}
