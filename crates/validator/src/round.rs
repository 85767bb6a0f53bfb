//! The moving parts of a round: admission of queries (a bound on how many run at once
//! and a memory budget they reserve from), and the set of query tasks in flight, each
//! remembered with the miner it queries so that one abandoned at the round's deadline
//! can still be recorded as a timeout.

use std::collections::HashMap;
use std::sync::Arc;

use brainlock_chain::Neuron;
use brainlock_epistula::Keypair;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{Id, JoinError, JoinSet};

use crate::circuit::Workload;
use crate::clock::now_ms;
use crate::query::{self, Deadlines, PreparedQuery, QueryReport, capped_client};
use crate::relay::miner_client;
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

/// Everything a query task needs, shared by all of them.
pub(crate) struct QueryContext {
    pub workload: Arc<Workload>,
    pub keypair: Arc<Keypair>,
    pub http: reqwest::Client,
    pub deadlines: Deadlines,
    /// Bound on one result frame ([`query::result_frame_cap`]).
    pub frame_cap: usize,
}

/// One query of `neuron` with `inputs`: fresh keys, key upload, infer, check. Only
/// validator-side problems (a bad metagraph entry, our own key generation) are errors.
pub(crate) async fn run_query(
    context: Arc<QueryContext>,
    neuron: Neuron,
    inputs: Vec<Vec<i64>>,
) -> Result<QueryReport, ValidatorError> {
    let Some(addr) = neuron.axon else {
        return Err(ValidatorError::NoAxon(neuron.uid));
    };
    let miner = neuron.hotkey;
    let workload = context.workload.clone();
    let prepared = tokio::task::spawn_blocking(move || PreparedQuery::prepare(&workload, &inputs))
        .await
        .map_err(|e| ValidatorError::Task("query preparation", e))??;
    let client = capped_client(
        miner_client(addr, miner, context.keypair.clone(), context.http.clone()),
        context.frame_cap,
        prepared.batch_size(),
    );
    Ok(query::run(
        &client,
        context.workload.clone(),
        prepared,
        context.deadlines,
    )
    .await)
}

/// A query in flight: whom it asks, since when, at which block.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub neuron: Neuron,
    pub block: u64,
    pub started_at_ms: i64,
}

/// What a finished task hands back.
pub(crate) type Finished = (
    Pending,
    Result<Result<QueryReport, ValidatorError>, JoinError>,
);

/// The query tasks of one round.
#[derive(Default)]
pub(crate) struct InFlight {
    tasks: JoinSet<Result<QueryReport, ValidatorError>>,
    pending: HashMap<Id, Pending>,
}

impl InFlight {
    /// Starts a query task that holds `admitted` until it ends.
    pub(crate) fn spawn(
        &mut self,
        context: Arc<QueryContext>,
        neuron: Neuron,
        inputs: Vec<Vec<i64>>,
        block: u64,
        admitted: Admitted,
    ) {
        let pending = Pending {
            neuron: neuron.clone(),
            block,
            started_at_ms: now_ms(),
        };
        let task = self.tasks.spawn(async move {
            let _admitted = admitted;
            run_query(context, neuron, inputs).await
        });
        self.pending.insert(task.id(), pending);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The next task to finish; `None` when none is running. Cancel-safe.
    pub(crate) async fn next(&mut self) -> Option<Finished> {
        let done = self.tasks.join_next_with_id().await?;
        Some(self.finished(done))
    }

    /// A task that has already finished, without waiting.
    pub(crate) fn try_next(&mut self) -> Option<Finished> {
        let done = self.tasks.try_join_next_with_id()?;
        Some(self.finished(done))
    }

    fn finished(
        &mut self,
        done: Result<(Id, Result<QueryReport, ValidatorError>), JoinError>,
    ) -> Finished {
        let (id, result) = match done {
            Ok((id, report)) => (id, Ok(report)),
            Err(e) => (e.id(), Err(e)),
        };
        let pending = self
            .pending
            .remove(&id)
            .expect("every task is spawned with its pending entry");
        (pending, result)
    }

    /// Aborts every task still running and returns whom they were querying.
    pub(crate) fn abandon(&mut self) -> Vec<Pending> {
        self.tasks.abort_all();
        self.tasks.detach_all();
        self.pending.drain().map(|(_, p)| p).collect()
    }
}
