//! One batch item's evaluation on a worker thread, answered as one frame.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use brainlock_api::{Frame, FramePayload, encode_frame};
use brainlock_fhe::{EncryptedInput, EvaluationKey, Evaluator};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::budget::Reservation;
use crate::circuits::ServedCircuit;
use crate::metrics::Metrics;

/// One queued item of an infer request.
pub struct Job {
    pub index: u32,
    pub circuit: Arc<ServedCircuit>,
    pub key: Arc<EvaluationKey>,
    pub input: EncryptedInput,
    /// The request's response stream; closed when the client went away.
    pub frames: mpsc::Sender<Bytes>,
    pub deadline: Instant,
    /// This item's share of the request's memory reservation, released when done.
    pub memory: Reservation,
}

/// Runs one job: skipped if its client is gone, an error frame past its deadline,
/// otherwise the evaluated output (or the engine's error) as one frame.
pub(crate) fn run_job(evaluator: &dyn Evaluator, metrics: &Metrics, job: Job) {
    if job.frames.is_closed() {
        tracing::debug!(index = job.index, "client gone; item skipped");
        return;
    }
    let payload = if Instant::now() > job.deadline {
        metrics.record_item_failure();
        FramePayload::Error(
            "deadline_exceeded: the request's deadline passed before this item started".into(),
        )
    } else {
        evaluate_item(evaluator, metrics, &job)
    };
    let frame = encode_frame(&Frame {
        index: job.index,
        payload,
    })
    .unwrap_or_else(|error| {
        encode_frame(&Frame {
            index: job.index,
            payload: FramePayload::Error(format!("internal: {error}")),
        })
        .expect("a short error frame always encodes")
    });
    // The channel holds one slot per item, so this only fails when the client is gone.
    let _ = job.frames.try_send(frame);
}

fn evaluate_item(evaluator: &dyn Evaluator, metrics: &Metrics, job: &Job) -> FramePayload {
    let started = Instant::now();
    let circuit = &job.circuit.circuit;
    // A panic in the engine must cost one item, not the worker thread.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        evaluator.evaluate(circuit, &job.key, &job.input, &|_, _| {})
    }));
    match outcome {
        Ok(Ok(output)) => {
            metrics.record_item(job.circuit.lookups, started.elapsed());
            FramePayload::Result(Bytes::from(output.to_bytes()))
        }
        Ok(Err(error)) => {
            metrics.record_item_failure();
            tracing::warn!(index = job.index, %error, "evaluation failed");
            FramePayload::Error(format!("bad_request: {error}"))
        }
        Err(_) => {
            metrics.record_item_failure();
            tracing::error!(index = job.index, circuit = %circuit.id, "evaluation panicked");
            FramePayload::Error("internal: evaluation failed on the miner".into())
        }
    }
}
