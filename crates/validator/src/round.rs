//! The moving parts of a round: admission of sessions (a bound on how many run at once
//! and a memory budget they reserve from), the scored session itself, and the set of
//! session tasks in flight, each remembered with the miner it queries so that one
//! abandoned at the round's deadline can still be recorded as a timeout. Queries are
//! recorded as they finish, not when their session ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use brainlock_chain::Neuron;
use brainlock_epistula::Keypair;
use brainlock_gateway::SessionShape;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::{Id, JoinError, JoinSet};

use crate::circuit::Workload;
use crate::clock::now_ms;
use crate::query::{
    self, ClientCost, Deadlines, PreparedQuery, QueryReport, SessionKey, capped_client,
};
use crate::relay::miner_client;
use crate::scheduler::MinerScheduler;
use crate::validator::ValidatorError;

/// Memory is counted in KiB permits: a `u32` of them covers 4 TiB.
const MEMORY_UNIT: usize = 1024;

/// How many queries may run at once, and the memory they may hold together.
pub(crate) struct Admission {
    slots: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    memory_units: u32,
}

/// A query's right to run: released when dropped.
pub(crate) struct Admitted {
    _slot: OwnedSemaphorePermit,
    _memory: OwnedSemaphorePermit,
}

impl Admission {
    pub(crate) fn new(max_queries: usize, memory_bytes: usize) -> Self {
        let memory_units = u32::try_from(memory_bytes.div_ceil(MEMORY_UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        Self {
            slots: Arc::new(Semaphore::new(max_queries.max(1))),
            memory: Arc::new(Semaphore::new(memory_units as usize)),
            memory_units,
        }
    }

    /// Waits for a free slot, then for `bytes` of the memory budget. A query larger
    /// than the whole budget waits for all of it, so it runs alone. Cancel-safe.
    pub(crate) async fn admit(&self, bytes: usize) -> Admitted {
        let units = u32::try_from(bytes.div_ceil(MEMORY_UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.memory_units);
        let slot = self.slots.clone().acquire_owned().await;
        let memory = self.memory.clone().acquire_many_owned(units).await;
        Admitted {
            _slot: slot.expect("the slot semaphore is never closed"),
            _memory: memory.expect("the memory semaphore is never closed"),
        }
    }
}

/// Everything a session task needs, shared by all of them.
pub(crate) struct QueryContext {
    pub workload: Arc<Workload>,
    pub keypair: Arc<Keypair>,
    pub http: reqwest::Client,
    pub deadlines: Deadlines,
    /// Bound on one result frame ([`query::result_frame_cap`]).
    pub frame_cap: usize,
    /// The per-miner lanes relayed requests use too.
    pub scheduler: Arc<MinerScheduler>,
}

/// One query, recorded as it finishes.
pub(crate) type Finished = (Pending, QueryReport);

/// A scored session with `neuron`: after `shape`'s start pause, a fresh key uploaded
/// once, then one request per batch of `batches`, each after its pause in `shape` from
/// the previous answer's last frame (as the gateway measures customers' pauses), each
/// through the miner's lane and sent to `reports` as it is judged. It ends early at the
/// first failed query (a customer would start afresh too) and returns whether every
/// query passed. Only validator-side problems (a bad metagraph entry, our own key
/// generation or encryption) are errors.
pub(crate) async fn run_session(
    context: Arc<QueryContext>,
    neuron: Neuron,
    shape: SessionShape,
    batches: Vec<Vec<Vec<i64>>>,
    block: u64,
    reports: mpsc::UnboundedSender<Finished>,
) -> Result<bool, ValidatorError> {
    let Some(addr) = neuron.axon else {
        return Err(ValidatorError::NoAxon(neuron.uid));
    };
    tokio::time::sleep(shape.start).await;
    let miner = neuron.hotkey;
    let workload = context.workload.clone();
    let key = tokio::task::spawn_blocking(move || SessionKey::generate(&workload))
        .await
        .map_err(|e| ValidatorError::Task("key generation", e))?;
    let batch = batches.first().map_or(0, Vec::len);
    let client = capped_client(
        miner_client(addr, miner, context.keypair.clone(), context.http.clone()),
        context.frame_cap,
        batch,
    );
    let pending = || Pending {
        neuron: neuron.clone(),
        block,
        started_at_ms: now_ms(),
    };

    let upload = {
        let _slot = context.scheduler.scored(&miner).await;
        let _upload = context.scheduler.upload(&miner).await;
        let started = pending();
        let upload = query::upload_key(&client, key.key_bytes.clone(), context.deadlines).await;
        (started, upload)
    };
    let (key_id, mut key_upload_seconds) = match upload {
        (_, Ok((id, seconds))) => (id, Some(seconds)),
        (started, Err((kind, reason))) => {
            let cost = ClientCost {
                keygen: key.keygen,
                ..ClientCost::default()
            };
            let _ = reports.send((started, QueryReport::failed(kind, reason, cost)));
            return Ok(false);
        }
    };
    let mut keygen = key.keygen;
    let mut answered = tokio::time::Instant::now();
    let pauses = std::iter::once(Duration::ZERO).chain(shape.gaps.iter().copied());
    for (inputs, pause) in batches.into_iter().zip(pauses) {
        // The inputs are encrypted within the pause.
        let resume = answered + pause;
        let (workload, client_key) = (context.workload.clone(), key.client_key.clone());
        let prepared = tokio::task::spawn_blocking(move || {
            PreparedQuery::prepare(&workload, &client_key, &inputs)
        })
        .await
        .map_err(|e| ValidatorError::Task("query preparation", e))??;
        tokio::time::sleep_until(resume).await;
        let _slot = context.scheduler.scored(&miner).await;
        let started = pending();
        let sent = tokio::time::Instant::now();
        let mut report = query::run(
            &client,
            context.workload.clone(),
            key_id,
            key.client_key.clone(),
            prepared,
            context.deadlines,
        )
        .await;
        // The answer ended at its last frame; decrypting and judging it came after.
        answered = report
            .frame_seconds
            .last()
            .map_or_else(tokio::time::Instant::now, |&seconds| {
                sent + Duration::from_secs_f64(seconds)
            });
        // The session's key costs are told with its first query.
        report.key_upload_seconds = key_upload_seconds.take();
        report.cost.keygen = std::mem::take(&mut keygen);
        let passed = report.outcome.passed();
        if reports.send((started, report)).is_err() || !passed {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A session in flight: whom it asks, since when, at which block.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub neuron: Neuron,
    pub block: u64,
    pub started_at_ms: i64,
}

/// What happened next in a round.
pub(crate) enum Event {
    /// A query finished.
    Query(Finished),
    /// A session task ended: whether every query passed, or an error of ours, or it
    /// crashed.
    Ended(Pending, Result<Result<bool, ValidatorError>, JoinError>),
}

/// The session tasks of one round and the queries they report.
pub(crate) struct InFlight {
    tasks: JoinSet<Result<bool, ValidatorError>>,
    pending: HashMap<Id, Pending>,
    reports: mpsc::UnboundedSender<Finished>,
    finished: mpsc::UnboundedReceiver<Finished>,
}

impl Default for InFlight {
    fn default() -> Self {
        let (reports, finished) = mpsc::unbounded_channel();
        Self {
            tasks: JoinSet::new(),
            pending: HashMap::new(),
            reports,
            finished,
        }
    }
}

impl InFlight {
    /// Starts a session task that holds `admitted` until it ends.
    pub(crate) fn spawn(
        &mut self,
        context: Arc<QueryContext>,
        neuron: Neuron,
        session: (SessionShape, Vec<Vec<Vec<i64>>>),
        block: u64,
        admitted: Admitted,
    ) {
        let pending = Pending {
            neuron: neuron.clone(),
            block,
            started_at_ms: now_ms(),
        };
        let reports = self.reports.clone();
        let (shape, batches) = session;
        let task = self.tasks.spawn(async move {
            let _admitted = admitted;
            run_session(context, neuron, shape, batches, block, reports).await
        });
        self.pending.insert(task.id(), pending);
    }

    /// Whether a session with the miner `uid` is running.
    pub(crate) fn running(&self, uid: u16) -> bool {
        self.pending.values().any(|p| p.neuron.uid == uid)
    }

    /// No session running and no query left to record.
    pub(crate) fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.finished.is_empty()
    }

    /// The next query or session end; `None` when nothing is left. Cancel-safe.
    pub(crate) async fn next(&mut self) -> Option<Event> {
        if self.tasks.is_empty() {
            return self.try_next();
        }
        tokio::select! {
            biased;
            Some(finished) = self.finished.recv() => Some(Event::Query(finished)),
            Some(done) = self.tasks.join_next_with_id() => Some(self.ended(done)),
        }
    }

    /// A query or session end that is already there, without waiting.
    pub(crate) fn try_next(&mut self) -> Option<Event> {
        if let Ok(finished) = self.finished.try_recv() {
            return Some(Event::Query(finished));
        }
        let done = self.tasks.try_join_next_with_id()?;
        Some(self.ended(done))
    }

    fn ended(&mut self, done: Result<(Id, Result<bool, ValidatorError>), JoinError>) -> Event {
        let (id, result) = match done {
            Ok((id, result)) => (id, Ok(result)),
            Err(e) => (e.id(), Err(e)),
        };
        let pending = self
            .pending
            .remove(&id)
            .expect("every task is spawned with its pending entry");
        Event::Ended(pending, result)
    }

    /// Aborts every session still running and returns whom they were querying.
    pub(crate) fn abandon(&mut self) -> Vec<Pending> {
        self.tasks.abort_all();
        self.tasks.detach_all();
        self.pending.drain().map(|(_, p)| p).collect()
    }
}
