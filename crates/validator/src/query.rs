//! One query of one miner: the session's key uploaded (own deadline) once, then per
//! request an encrypted batch, streamed frames timed as they arrive, decryption, check
//! against the exact simulation, score. Every way a miner can fail becomes an
//! [`Outcome::Failed`] with a [`FailureKind`] and a readable reason; nothing a miner
//! sends can panic or hang the validator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use brainlock_api::{CircuitId, FrameError, FramePayload, InferRequest, KeyId, ProfileId};
use brainlock_api::{ClientError, MinerClient};
use brainlock_fhe::{ClientKey, EncryptedOutput, Limits};
use brainlock_scoring::{
    ItemEvidence, ItemExpectation, ItemFailure, ItemOutcome, QueryOutcome, ScoringParams,
    check_item, judge_query,
};
use bytes::Bytes;

use crate::circuit::Workload;
use crate::store::{FailureKind, Outcome};

/// Validator-side problems: not the miner's fault, so never scored against it.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The circuit fails validation against the clear simulator.
    #[error("the circuit does not simulate")]
    Circuit(#[from] brainlock_circuit::ValidationError),
    /// The image cannot be turned into a simulation input for the circuit.
    #[error("simulation input")]
    Input(#[from] brainlock_circuit::InputError),
    /// Key generation or encryption of the input failed.
    #[error("encryption: {0}")]
    Encrypt(#[from] brainlock_fhe::EngineError),
    /// A key or ciphertext id cannot be encoded for the wire.
    #[error("wire ids: {0}")]
    Id(#[from] brainlock_api::IdError),
    /// The worker thread preparing the query panicked or was cancelled.
    #[error("worker thread: {0}")]
    Join(#[from] tokio::task::JoinError),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Deadlines {
    /// From starting the evaluation-key upload to its answer.
    pub key_upload: Duration,
    /// From sending the infer request to the last frame.
    pub infer: Duration,
}

/// The validator's own work per query, measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClientCost {
    pub keygen: Duration,
    pub encrypt: Duration,
    pub simulate: Duration,
    pub decrypt: Duration,
}

/// A session's client key: fresh for every session (DESIGN section 5, "Organic
/// traffic"), used for its few requests and dropped with it.
pub(crate) struct SessionKey {
    pub client_key: Arc<ClientKey>,
    pub key_bytes: Bytes,
    pub keygen: Duration,
}

impl SessionKey {
    /// Generates the key pair. CPU-heavy: call it from a blocking thread.
    pub(crate) fn generate(workload: &Workload) -> Self {
        let started = Instant::now();
        let (client_key, compressed) = ClientKey::generate(workload.profile, None);
        Self {
            client_key: Arc::new(client_key),
            key_bytes: Bytes::from(compressed.to_bytes()),
            keygen: started.elapsed(),
        }
    }
}

/// A request ready to send: encrypted inputs and their expected outputs.
pub(crate) struct PreparedQuery {
    request: InferRequestParts,
    expected: Vec<ItemExpectation>,
    cost: ClientCost,
}

struct InferRequestParts {
    circuit: CircuitId,
    profile: ProfileId,
    inputs: Vec<Bytes>,
}

impl PreparedQuery {
    /// Encrypts every input under the session's key and runs the exact simulation.
    /// CPU-heavy: call it from a blocking thread.
    pub(crate) fn prepare(
        workload: &Workload,
        client_key: &ClientKey,
        inputs: &[Vec<i64>],
    ) -> Result<Self, PrepareError> {
        let started = Instant::now();
        let simulator = brainlock_circuit::Simulator::new(&workload.circuit)?;
        let expected = inputs
            .iter()
            .map(|input| {
                workload
                    .gates
                    .expect(&simulator, input)
                    .map_err(PrepareError::from)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let simulate = started.elapsed();

        let started = Instant::now();
        let encrypted = inputs
            .iter()
            .map(|input| {
                Ok(Bytes::from(
                    client_key
                        .encrypt_input(&workload.circuit, input)?
                        .to_bytes(),
                ))
            })
            .collect::<Result<Vec<_>, PrepareError>>()?;
        let encrypt = started.elapsed();

        Ok(Self {
            request: InferRequestParts {
                circuit: CircuitId::new(workload.circuit.id.clone())?,
                profile: ProfileId::new(workload.profile.id)?,
                inputs: encrypted,
            },
            expected,
            cost: ClientCost {
                keygen: Duration::ZERO,
                encrypt,
                simulate,
                decrypt: Duration::ZERO,
            },
        })
    }
}

/// What one query showed.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryReport {
    pub outcome: Outcome,
    pub quality: Option<f64>,
    pub seconds_per_item: Option<f64>,
    pub key_upload_seconds: Option<f64>,
    pub score: f64,
    /// Seconds from the infer request to each result frame, in arrival order.
    pub frame_seconds: Vec<f64>,
    pub cost: ClientCost,
}

impl QueryReport {
    /// A failed query: score 0, nothing measured.
    pub fn failed(kind: FailureKind, reason: impl Into<String>, cost: ClientCost) -> Self {
        Self {
            outcome: Outcome::failed(kind, reason),
            quality: None,
            seconds_per_item: None,
            key_upload_seconds: None,
            score: 0.0,
            frame_seconds: Vec::new(),
            cost,
        }
    }
}

/// A connection that could not be made: refused (nothing listens), or no route to the
/// host (it is down or gone), as the OS said in the error's source chain.
fn connect_failure(error: &(dyn std::error::Error + 'static)) -> FailureKind {
    use std::io::ErrorKind;
    let mut source = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
                    return FailureKind::Unreachable;
                }
                ErrorKind::TimedOut => return FailureKind::Timeout,
                _ => {}
            }
        }
        source = cause.source();
    }
    FailureKind::ConnectRefused
}

/// A failure while talking to the miner, classified.
fn classify(error: &ClientError, stage: &str) -> (FailureKind, String) {
    let kind = match error {
        ClientError::Http(e) if e.is_connect() => connect_failure(e),
        ClientError::Http(e) if e.is_timeout() => FailureKind::Timeout,
        ClientError::Http(e) if e.is_body() || e.is_decode() => {
            if stage == "key upload" {
                FailureKind::MalformedFrame
            } else {
                FailureKind::TruncatedStream
            }
        }
        ClientError::Http(_) => FailureKind::ConnectRefused,
        ClientError::Api { .. } => FailureKind::HttpStatus,
        ClientError::Frame(FrameError::Truncated { .. }) => FailureKind::TruncatedStream,
        ClientError::Frame(_) => FailureKind::MalformedFrame,
        ClientError::KeyIdMismatch { .. }
        | ClientError::Json { .. }
        | ClientError::Request(_)
        | ClientError::TooLarge { .. } => FailureKind::MalformedFrame,
    };
    // reqwest hides the cause (e.g. "connection refused") in the source chain.
    let mut reason = format!("{stage}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    (kind, reason)
}

/// Slack over the exact encoded size of a result: a frame longer than the circuit's
/// output plus this is refused before its body is read.
const RESULT_SLACK_BYTES: usize = 1024;

/// Bytes of one serialized (compressed) `EncryptedOutput` of the workload.
pub(crate) fn expected_result_bytes(workload: &Workload) -> usize {
    // `Workload::resolve` checked that the engine plans the circuit.
    EncryptedOutput::wire_len(&workload.circuit, workload.profile).unwrap_or(0)
}

/// Bound on one result frame's body (index, kind, payload).
pub(crate) fn result_frame_cap(workload: &Workload) -> usize {
    brainlock_api::FRAME_HEADER_LEN + expected_result_bytes(workload) + RESULT_SLACK_BYTES
}

/// Memory one query of `batch` items holds at most on the validator: the evaluation
/// key twice (while it is prepared, the compressed key and its serialization coexist),
/// the encrypted inputs and the largest answer the miner may send.
pub(crate) fn query_memory_bytes(workload: &Workload, batch: usize) -> usize {
    let profile = workload.profile;
    let key = 2 * (profile.compressed_ksk_words() + profile.compressed_bsk_words()) * 8;
    let input = 64 + workload.circuit.input_shape.len() * 8;
    key + batch * (input + result_frame_cap(workload) + brainlock_api::FRAME_HEADER_LEN)
}

/// The client of one scored or relayed query: every frame is capped at `frame` bytes
/// ([`result_frame_cap`]) and the whole stream at `batch` such frames.
pub(crate) fn capped_client(client: MinerClient, frame: usize, batch: usize) -> MinerClient {
    client
        .with_max_frame_bytes(frame)
        .with_max_stream_bytes(batch.saturating_mul(frame + brainlock_api::FRAME_HEADER_LEN))
}

/// Uploads the session's key within its own deadline (not counted in the speed);
/// returns its id and the seconds the upload took.
pub(crate) async fn upload_key(
    client: &MinerClient,
    key_bytes: Bytes,
    deadlines: Deadlines,
) -> Result<(KeyId, f64), Failure> {
    let started = Instant::now();
    match tokio::time::timeout(deadlines.key_upload, client.upload_key(key_bytes)).await {
        Ok(Ok(id)) => Ok((id, started.elapsed().as_secs_f64())),
        Ok(Err(e)) => Err(classify(&e, "key upload")),
        Err(_) => Err((
            FailureKind::Timeout,
            format!(
                "key upload: no answer within {:.1} s",
                deadlines.key_upload.as_secs_f64()
            ),
        )),
    }
}

/// Runs a prepared request under the uploaded key `key_id` and judges it.
pub(crate) async fn run(
    client: &MinerClient,
    workload: Arc<Workload>,
    key_id: KeyId,
    client_key: Arc<ClientKey>,
    prepared: PreparedQuery,
    deadlines: Deadlines,
) -> QueryReport {
    let PreparedQuery {
        request,
        expected,
        mut cost,
    } = prepared;
    let batch = expected.len();

    let infer = InferRequest {
        key_id,
        circuit: request.circuit,
        profile: request.profile,
        inputs: request.inputs,
    };
    let started = Instant::now();
    let received = tokio::time::timeout(
        deadlines.infer,
        receive_frames(client, &infer, batch, started),
    )
    .await;
    let mut frames = match received {
        Ok(Ok(frames)) => frames,
        Ok(Err((kind, reason))) => {
            return QueryReport::failed(kind, reason, cost);
        }
        Err(_) => {
            let reason = format!(
                "infer: stream not finished within {:.1} s",
                deadlines.infer.as_secs_f64()
            );
            return QueryReport::failed(FailureKind::Timeout, reason, cost);
        }
    };
    let elapsed = frames.last_at;
    let frame_seconds = std::mem::take(&mut frames.arrival_seconds);

    // Decrypt and check off the async threads: decryption of a big output is real work.
    let params = workload.params;
    let checked = tokio::task::spawn_blocking(move || {
        check_results(&workload, &client_key, &expected, frames.results)
    })
    .await;
    let (items, decrypt) = match checked {
        Ok(Ok(done)) => done,
        Ok(Err((kind, reason))) => {
            return QueryReport {
                frame_seconds,
                ..QueryReport::failed(kind, reason, cost)
            };
        }
        Err(e) => {
            // A panic in our own checking code is our bug, but it must not kill the loop.
            let reason = format!("checking results crashed: {e}");
            return QueryReport::failed(FailureKind::CheckFailed, reason, cost);
        }
    };
    cost.decrypt = decrypt;
    let seconds_per_item = elapsed.as_secs_f64() / batch as f64;
    match judge(&params, &items, elapsed) {
        Ok((quality, score)) => QueryReport {
            outcome: Outcome::Passed,
            quality: Some(quality),
            seconds_per_item: Some(seconds_per_item),
            key_upload_seconds: None,
            score,
            frame_seconds,
            cost,
        },
        Err((kind, reason)) => QueryReport {
            seconds_per_item: Some(seconds_per_item),
            frame_seconds,
            ..QueryReport::failed(kind, reason, cost)
        },
    }
}

struct Received {
    /// Result bytes per item index.
    results: Vec<Bytes>,
    arrival_seconds: Vec<f64>,
    last_at: Duration,
}

pub(crate) type Failure = (FailureKind, String);

async fn receive_frames(
    client: &MinerClient,
    request: &InferRequest,
    batch: usize,
    started: Instant,
) -> Result<Received, Failure> {
    let mut stream = client
        .infer(request)
        .await
        .map_err(|e| classify(&e, "infer"))?;
    let mut results: Vec<Option<Bytes>> = vec![None; batch];
    let mut arrival_seconds = Vec::with_capacity(batch);
    let mut last_at = Duration::ZERO;
    let mut count = 0;
    while let Some(frame) = stream
        .next_frame()
        .await
        .map_err(|e| classify(&e, "infer stream"))?
    {
        let at = started.elapsed();
        let index = frame.index as usize;
        let Some(slot) = results.get_mut(index) else {
            return Err((
                FailureKind::WrongShape,
                format!("frame for item {index} of a batch of {batch}"),
            ));
        };
        if slot.is_some() {
            return Err((
                FailureKind::WrongShape,
                format!("second frame for item {index}"),
            ));
        }
        match frame.payload {
            FramePayload::Result(bytes) => *slot = Some(bytes),
            FramePayload::Error(message) => {
                return Err((
                    FailureKind::MinerError,
                    format!("miner reported an error for item {index}: {message}"),
                ));
            }
        }
        arrival_seconds.push(at.as_secs_f64());
        last_at = at;
        count += 1;
        if count == batch {
            // Anything after the last expected frame is ignored; the timing stops here.
            break;
        }
    }
    if count < batch {
        return Err((
            FailureKind::TruncatedStream,
            format!("stream ended after {count} of {batch} result frames"),
        ));
    }
    Ok(Received {
        results: results.into_iter().flatten().collect(),
        arrival_seconds,
        last_at,
    })
}

/// Per item: parse, reject trivial ciphertexts, decrypt, compare with the simulation.
fn check_results(
    workload: &Workload,
    client_key: &ClientKey,
    expected: &[ItemExpectation],
    results: Vec<Bytes>,
) -> Result<(Vec<ItemOutcome>, Duration), Failure> {
    let started = Instant::now();
    let limits = Limits::default();
    let mut items = Vec::with_capacity(results.len());
    for (index, (bytes, expected)) in results.iter().zip(expected).enumerate() {
        let output =
            EncryptedOutput::from_bytes(bytes, &workload.circuit, workload.profile, &limits)
                .map_err(|e| {
                    let kind = match e {
                        brainlock_fhe::EngineError::WrongShape { .. }
                        | brainlock_fhe::EngineError::WrongSize { .. } => FailureKind::WrongShape,
                        _ => FailureKind::MalformedFrame,
                    };
                    (kind, format!("item {index}: {e}"))
                })?;
        let trivial = output.has_trivial_ciphertext();
        let decrypted = if trivial {
            Vec::new()
        } else {
            client_key
                .decrypt_output(&workload.circuit, &output)
                .map_err(|e| {
                    (
                        FailureKind::MalformedFrame,
                        format!("item {index}: decryption: {e}"),
                    )
                })?
        };
        items.push(check_item(
            &workload.gates,
            &ItemEvidence {
                decrypted: &decrypted,
                expected,
                trivial,
            },
        ));
    }
    Ok((items, started.elapsed()))
}

/// The scoring crate's verdict `(quality, score)`, with item failures mapped to
/// failure kinds.
fn judge(
    params: &ScoringParams,
    items: &[ItemOutcome],
    elapsed: Duration,
) -> Result<(f64, f64), Failure> {
    for (index, item) in items.iter().enumerate() {
        if let ItemOutcome::Failed(failure) = item {
            let kind = match failure {
                ItemFailure::TrivialCiphertext => FailureKind::TrivialCiphertext,
                ItemFailure::WrongShape { .. } => FailureKind::WrongShape,
                _ => FailureKind::CheckFailed,
            };
            return Err((kind, format!("item {index}: {}", describe(failure))));
        }
    }
    match judge_query(params, items, elapsed) {
        QueryOutcome::Passed { quality, score, .. } => Ok((quality, score)),
        QueryOutcome::Failed(failure) => Err((FailureKind::CheckFailed, format!("{failure:?}"))),
    }
}

fn describe(failure: &ItemFailure) -> String {
    match failure {
        ItemFailure::TrivialCiphertext => {
            "trivial ciphertext (all-zero mask): no encrypted work".into()
        }
        ItemFailure::WrongShape { expected, got } => {
            format!("{got} output values, expected {expected}")
        }
        ItemFailure::Top1Mismatch {
            expected,
            got,
            cosine,
        } => {
            format!("class {got}, simulation says {expected} (cosine {cosine:.4})")
        }
        ItemFailure::LowSimilarity { cosine, c_min } => {
            format!("cosine {cosine:.4} below {c_min:.4}")
        }
        ItemFailure::ImpossibleValues { count, first_index } => format!(
            "{count} output values that no rounding noise produces (first at {first_index}): \
             lookups not computed"
        ),
        ItemFailure::TooManyMismatches {
            mismatches,
            allowed,
            expected,
        } => format!(
            "{mismatches} outputs differ from the simulation; the noise explains {expected:.0} \
             (at most {allowed})"
        ),
        ItemFailure::LowExactMatch { exact_match, e_min } => {
            format!("exact-match fraction {exact_match:.4} below {e_min:.4}")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    /// An error that wraps an OS error, as hyper and reqwest wrap theirs.
    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Wrapped(#[source] io::Error);

    #[test]
    fn connect_failures_say_whether_the_host_is_gone_or_nothing_listens() {
        let kind = |kind: io::ErrorKind| connect_failure(&Wrapped(io::Error::from(kind)));
        assert_eq!(
            kind(io::ErrorKind::HostUnreachable),
            FailureKind::Unreachable
        );
        assert_eq!(
            kind(io::ErrorKind::NetworkUnreachable),
            FailureKind::Unreachable
        );
        assert_eq!(
            kind(io::ErrorKind::ConnectionRefused),
            FailureKind::ConnectRefused
        );
        assert_eq!(kind(io::ErrorKind::TimedOut), FailureKind::Timeout);
        // EHOSTUNREACH, as Linux reports "No route to host".
        let os = io::Error::from_raw_os_error(113);
        assert_eq!(connect_failure(&Wrapped(os)), FailureKind::Unreachable);
    }
}
