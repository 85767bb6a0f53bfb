//! The validator loop: rounds over the serving miners, standings, weights.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use brainlock_chain::{Chain, ChainError, Metagraph, Neuron, WeightsReceipt};
use brainlock_daemon::logging::error_chain;
use brainlock_epistula::{AccountId, Keypair};
use brainlock_gateway::{SessionModel, SessionShape};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::circuit::{CircuitError, Workload};
use crate::clock::now_ms;
use crate::config::ValidatorConfig;
use crate::images::{Augmentation, ImageError, ImageSource, augment, circuit_input, synthetic};
use crate::leaderboard::Leaderboard;
use crate::metrics::Metrics;
use crate::query::{self, Deadlines, PrepareError, QueryReport};
use crate::relay::{MinerRelay, Suspects};
use crate::round::{Admission, Event, Finished, InFlight, Pending, QueryContext, run_session};
use crate::schedule::round_order;
use crate::scheduler::MinerScheduler;
use crate::standings::Standings;
use crate::store::{FailureKind, Outcome, QueryRecord, Store, StoreError};
use crate::weights::WeightSetter;

/// Added to the key-upload and infer deadlines to make the default round deadline.
const ROUND_MARGIN: Duration = Duration::from_secs(30);
/// Longest derived infer deadline, unless the circuit's own reference needs more.
const MAX_DERIVED_INFER: Duration = Duration::from_secs(6 * 3600);

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoundSummary {
    /// Block of the round's metagraph sync.
    pub block: u64,
    /// Queries recorded (finished, failed or abandoned at the deadline).
    pub queried: usize,
    /// Queries that passed.
    pub passed: usize,
    /// Queries still running at the round's deadline, recorded as timeouts.
    pub abandoned: usize,
    /// The weight setting done during the round, if any.
    pub weights: Option<WeightsReceipt>,
}

/// The block, metagraph and miner order a round works through.
struct RoundPlan {
    block: u64,
    metagraph: Metagraph,
    order: Vec<u16>,
}

/// The running validator: configuration, workload, image source, history store, standings and metrics.
pub struct Validator {
    config: ValidatorConfig,
    chain: Arc<dyn Chain>,
    keypair: Arc<Keypair>,
    workload: Arc<Workload>,
    source: ImageSource,
    augmentation: Augmentation,
    http: reqwest::Client,
    rng: StdRng,
    standings: Arc<Standings>,
    weights: Arc<WeightSetter>,
    admission: Admission,
    context: Arc<QueryContext>,
    sessions: SessionModel,
    suspects: Arc<Suspects>,
}

/// What stops the validator (never a miner's misbehaviour, which is a scored outcome).
#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    /// The configured circuit could not be built into a workload.
    #[error("building the circuit")]
    Workload(#[from] CircuitError),
    /// A background task (named) panicked or was cancelled.
    #[error("the {0} task failed")]
    Task(&'static str, #[source] tokio::task::JoinError),
    /// The image source could not be opened.
    #[error("opening the image source")]
    Images(#[from] ImageError),
    /// A history-database operation (described) failed.
    #[error("{what}")]
    Store {
        /// What was being done.
        what: &'static str,
        /// The database error.
        #[source]
        source: StoreError,
    },
    /// The HTTP client for miners could not be built.
    #[error("building the HTTP client")]
    Http(#[from] reqwest::Error),
    /// A chain or registry operation (described) failed.
    #[error("{what}")]
    Chain {
        /// What was being done.
        what: &'static str,
        /// The chain error.
        #[source]
        source: ChainError,
    },
    /// The miner with this uid advertises no axon address.
    #[error("uid {0} serves no axon")]
    NoAxon(u16),
    /// A query could not be prepared (keys, encryption, simulation).
    #[error("preparing a query")]
    Prepare(#[from] PrepareError),
}

/// A chain call's error, saying which step failed.
fn chain_step(what: &'static str) -> impl FnOnce(ChainError) -> ValidatorError {
    move |source| ValidatorError::Chain { what, source }
}

/// A database call's error, saying which step failed.
fn store_step(what: &'static str) -> impl FnOnce(StoreError) -> ValidatorError {
    move |source| ValidatorError::Store { what, source }
}

impl Validator {
    /// Opens the database (rebuilding standings from it), the image source and the
    /// circuit. `chain` is the subtensor or the local registry, acting as our hotkey.
    pub async fn new(
        config: ValidatorConfig,
        chain: Arc<dyn Chain>,
        keypair: Arc<Keypair>,
    ) -> Result<Self, ValidatorError> {
        let workload = {
            let (name, profile, scoring, batch) = (
                config.circuit.clone(),
                config.profile.clone(),
                config.scoring,
                config.batch_size,
            );
            tokio::task::spawn_blocking(move || {
                Workload::resolve(&name, profile.as_deref(), &scoring, batch)
            })
            .await
            .map_err(|e| ValidatorError::Task("circuit building", e))??
        };
        let workload = Arc::new(workload);
        let source = ImageSource::open(&config.dataset, &config.dataset_endpoint)?;
        let store = Store::open(&config.database)
            .await
            .map_err(store_step("opening the history database"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let standings = Arc::new(
            Standings::restore(store, workload.id(), config.rewards)
                .await
                .map_err(store_step("restoring standings"))?,
        );
        let weights = Arc::new(WeightSetter::new(
            chain.clone(),
            config.neuron.netuid,
            config.weights_interval,
            standings.clone(),
        ));
        let context = Arc::new(QueryContext {
            workload: workload.clone(),
            keypair: keypair.clone(),
            http: http.clone(),
            deadlines: deadlines(&config, &workload),
            frame_cap: query::result_frame_cap(&workload),
            scheduler: Arc::new(MinerScheduler::new(config.organic)),
        });
        let sessions = SessionModel::new(config.sessions);
        let validator = Self {
            admission: Admission::new(config.max_concurrent_queries, config.query_memory_bytes),
            config,
            chain,
            keypair,
            workload,
            source,
            augmentation: Augmentation::default(),
            http,
            rng: StdRng::from_os_rng(),
            standings,
            weights,
            context,
            sessions,
            suspects: Arc::default(),
        };
        tracing::info!(
            circuit = validator.workload.id(),
            profile = validator.workload.profile.id,
            images = %validator.source.describe(),
            database = ?validator.store().backend(),
            miners_restored = validator.standings.known_miners(),
            max_concurrent_queries = validator.config.max_concurrent_queries,
            query_memory_mib = validator.config.query_memory_bytes >> 20,
            query_estimate_mib = validator.query_memory() >> 20,
            round_timeout_s = validator.round_timeout().as_secs_f64(),
            "validator ready"
        );
        Ok(validator)
    }

    /// Subscribes to the leaderboard, republished after every query.
    pub fn leaderboard(&self) -> watch::Receiver<Leaderboard> {
        self.standings.leaderboard()
    }

    /// The validator's Prometheus metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.standings.metrics()
    }

    /// The relay the customer gateway hands checked requests to: it follows this
    /// validator's leaderboard and uses the client, caps, deadlines and per-miner lanes
    /// of its own queries; the miners it is told about get extra scored sessions.
    pub fn relay(&self) -> MinerRelay {
        MinerRelay::new(
            self.keypair.clone(),
            self.http.clone(),
            self.leaderboard(),
            self.context.deadlines,
            self.context.frame_cap,
            self.context.scheduler.clone(),
            self.suspects.clone(),
        )
    }

    /// The session model synthetic sessions are drawn from; the gateway's customers
    /// follow its policy and are observed by it.
    pub fn sessions(&self) -> &SessionModel {
        &self.sessions
    }

    /// The history database.
    pub fn store(&self) -> &Store {
        self.standings.store()
    }

    /// The circuit, profile and scoring this validator queries with.
    pub fn workload(&self) -> &Workload {
        &self.workload
    }

    /// The standing of a miner hotkey (0 when never queried).
    pub fn standing(&self, hotkey: &AccountId) -> f64 {
        self.standings.standing(hotkey)
    }

    /// The deadline of one round: sessions still running then are recorded as
    /// timeouts. By default the longest session fits after the round fill: its key
    /// upload, every request and every pause.
    pub fn round_timeout(&self) -> Duration {
        self.config.round_timeout.unwrap_or_else(|| {
            let d = self.context.deadlines;
            let policy = self.sessions.policy();
            policy.round_fill()
                + d.key_upload
                + d.infer * policy.max_requests
                + policy.longest_pauses()
                + ROUND_MARGIN
        })
    }

    /// Memory one query reserves from `--neuron.query_memory_mib`.
    fn query_memory(&self) -> usize {
        query::query_memory_bytes(&self.workload, self.config.batch_size)
    }

    /// Sets weights every `weights.poll` whenever the interval and the chain's rate
    /// limit allow, independently of rounds; abort the handle to stop it.
    pub fn spawn_weight_timer(&self) -> JoinHandle<()> {
        self.weights.clone().spawn_timer(self.config.weights_poll)
    }

    /// One pass over every serving miner, in this validator's seeded order: queries run
    /// concurrently (bounded by slots and memory), each recorded as it finishes; those
    /// still running at the round's deadline are abandoned and recorded as timeouts.
    /// Weights are set at the end if due (the weight timer also sets them mid-round).
    pub async fn round_once(&mut self) -> Result<RoundSummary, ValidatorError> {
        let start = tokio::time::Instant::now();
        let deadline = start + self.round_timeout();
        let fill_until = start + self.sessions.policy().round_fill();
        let RoundPlan {
            block,
            metagraph,
            order,
        } = self.plan_round().await?;
        let mut summary = RoundSummary {
            block,
            ..RoundSummary::default()
        };
        self.standings.publish(&metagraph, block);
        self.drive(
            &metagraph,
            block,
            order,
            (fill_until, deadline),
            &mut summary,
        )
        .await;
        // With the block and metagraph of now, not of the round's start: the round may
        // have lasted many blocks, and the rate limit counts them.
        summary.weights = self.weights.tick().await.unwrap_or_else(|e| {
            tracing::warn!(
                error = error_chain(e.as_ref()),
                "weights not set at the round's end"
            );
            None
        });
        self.standings.finish_round();
        self.standings.publish(&metagraph, block);
        Ok(summary)
    }

    async fn plan_round(&self) -> Result<RoundPlan, ValidatorError> {
        let netuid = self.config.neuron.netuid;
        let block = self
            .chain
            .current_block()
            .await
            .map_err(chain_step("reading the block"))?;
        let metagraph = self
            .chain
            .metagraph(netuid)
            .await
            .map_err(chain_step("syncing the metagraph"))?;
        let rules = self
            .chain
            .weight_rules(netuid)
            .await
            .map_err(chain_step("reading the weight rules"))?;
        self.standings.set_tempo(rules.tempo);
        let me = metagraph.by_hotkey(self.chain.hotkey()).map(|n| n.uid);
        let miners: Vec<u16> = metagraph.serving_miners().map(|n| n.uid).collect();
        let validators: Vec<u16> = metagraph.validators().map(|n| n.uid).collect();
        let mut order = round_order(
            netuid,
            block,
            u64::from(rules.tempo),
            &miners,
            &validators,
            me,
        );
        let scheduled = order.len();
        // Miners customers' canaries caught get extra sessions, after everyone's first.
        for (hotkey, sessions) in self.suspects.take() {
            if let Some(neuron) = metagraph.by_hotkey(&hotkey).filter(|n| n.axon.is_some()) {
                order.extend(std::iter::repeat_n(neuron.uid, sessions as usize));
            }
        }
        tracing::info!(
            block,
            miners = scheduled,
            extra_checks = order.len() - scheduled,
            validators = validators.len(),
            "round starts"
        );
        Ok(RoundPlan {
            block,
            metagraph,
            order,
        })
    }

    /// Starts sessions as admission allows and records each query as it finishes, until
    /// all are done or the deadline passes. Until `fill_until`, a miner whose session
    /// passed gets its next one (one chain per miner: a suspect's extra sessions run
    /// once); a failed session is not followed, so a failing miner is not queried more
    /// than a passing one. Recording never races the deadline: the deadline only
    /// interrupts waiting.
    async fn drive(
        &mut self,
        metagraph: &Metagraph,
        block: u64,
        order: Vec<u16>,
        (fill_until, deadline): (tokio::time::Instant, tokio::time::Instant),
        summary: &mut RoundSummary,
    ) {
        // Each entry: the miner, and whether it follows the miner's previous session.
        let mut queue: VecDeque<(Neuron, bool)> = order
            .into_iter()
            .filter_map(|uid| metagraph.by_uid(uid).cloned())
            .map(|neuron| (neuron, false))
            .collect();
        let mut in_flight = InFlight::default();
        let bytes = self.query_memory();
        loop {
            if queue.is_empty() && in_flight.is_empty() {
                return;
            }
            tokio::select! {
                biased;
                Some(event) = in_flight.next() => {
                    if let Event::Ended(pending, Ok(Ok(true))) = &event {
                        let uid = pending.neuron.uid;
                        if tokio::time::Instant::now() < fill_until
                            && !in_flight.running(uid)
                            && !queue.iter().any(|(n, _)| n.uid == uid)
                        {
                            queue.push_back((pending.neuron.clone(), true));
                        }
                    }
                    self.finish(event, metagraph, summary).await;
                }
                admitted = self.admission.admit(bytes), if !queue.is_empty() => {
                    let (neuron, follows) = queue.pop_front().expect("not empty");
                    if follows && tokio::time::Instant::now() >= fill_until {
                        continue;
                    }
                    let block = self.chain.current_block().await.unwrap_or(block);
                    let session = self.draw_session().await;
                    in_flight.spawn(self.context.clone(), neuron, session, block, admitted);
                }
                () = tokio::time::sleep_until(deadline) => {
                    self.abandon(&mut in_flight, metagraph, summary).await;
                    let skipped = queue.iter().filter(|(_, follows)| !follows).count();
                    if skipped > 0 {
                        tracing::warn!(skipped, "round deadline passed before every miner was queried");
                    }
                    return;
                }
            }
        }
    }

    /// Records a finished query, or logs a session that ended with our own error.
    async fn finish(&self, event: Event, metagraph: &Metagraph, summary: &mut RoundSummary) {
        match event {
            Event::Query((pending, report)) => {
                self.count(&pending, &report, summary).await;
                self.standings.publish(metagraph, pending.block);
            }
            Event::Ended(_, Ok(Ok(_))) => {}
            Event::Ended(pending, Ok(Err(e))) => {
                // Our side failed (bad metagraph entry, key generation): never scored.
                let uid = pending.neuron.uid;
                tracing::error!(uid, error = error_chain(&e), "query not made");
            }
            Event::Ended(pending, Err(e)) => {
                let uid = pending.neuron.uid;
                tracing::error!(uid, error = %e, "session task crashed; not scored");
            }
        }
    }

    /// Sessions still running at the deadline: queries that finished meanwhile are
    /// recorded as they are, each session's running one aborted and recorded as a
    /// timeout.
    async fn abandon(
        &self,
        in_flight: &mut InFlight,
        metagraph: &Metagraph,
        summary: &mut RoundSummary,
    ) {
        while let Some(finished) = in_flight.try_next() {
            self.finish(finished, metagraph, summary).await;
        }
        let round = self.round_timeout().as_secs_f64();
        for pending in in_flight.abandon() {
            let seconds = (now_ms() - pending.started_at_ms) as f64 / 1e3;
            let reason =
                format!("round deadline ({round:.1} s) passed after {seconds:.1} s: abandoned");
            let report = QueryReport::failed(FailureKind::Timeout, reason, Default::default());
            self.count(&pending, &report, summary).await;
            summary.abandoned += 1;
        }
        self.standings.publish(metagraph, summary.block);
    }

    /// Stores a query, updates the standing, counts it in the summary, logs one line.
    async fn count(&self, pending: &Pending, report: &QueryReport, summary: &mut RoundSummary) {
        match self.record(pending, report).await {
            Ok(()) => {
                summary.queried += 1;
                summary.passed += usize::from(report.outcome.passed());
            }
            Err(e) => {
                let uid = pending.neuron.uid;
                tracing::error!(uid, error = error_chain(&e), "query not stored");
            }
        }
    }

    async fn record(&self, pending: &Pending, report: &QueryReport) -> Result<(), ValidatorError> {
        let neuron = &pending.neuron;
        let record = QueryRecord {
            miner_hotkey: neuron.hotkey.to_string(),
            uid: neuron.uid,
            circuit: self.workload.id().to_string(),
            profile: self.workload.profile.id.to_string(),
            batch_size: self.config.batch_size,
            outcome: report.outcome.clone(),
            quality: report.quality,
            seconds_per_item: report.seconds_per_item,
            key_upload_seconds: report.key_upload_seconds,
            score: report.score,
            block: pending.block,
            started_at_ms: pending.started_at_ms,
            finished_at_ms: now_ms(),
        };
        let standing = self
            .standings
            .record(&record, report)
            .await
            .map_err(store_step("storing a query"))?;
        log_query(neuron, report, standing);
        Ok(())
    }

    /// Queries one miner now (outside any round) with a session of one request,
    /// stores the result, updates its standing and logs one line. Only validator-side
    /// problems are errors.
    pub async fn query_neuron(
        &mut self,
        neuron: &Neuron,
        block: u64,
    ) -> Result<QueryReport, ValidatorError> {
        let batches = vec![self.draw_inputs().await];
        let (reports, mut finished) = tokio::sync::mpsc::unbounded_channel();
        let shape = SessionShape::single();
        run_session(
            self.context.clone(),
            neuron.clone(),
            shape,
            batches,
            block,
            reports,
        )
        .await?;
        let (pending, report): Finished = finished
            .recv()
            .await
            .expect("a session reports its first query");
        self.record(&pending, &report).await?;
        Ok(report)
    }

    /// A session's plan from the session model, and fresh inputs for each request.
    async fn draw_session(&mut self) -> (SessionShape, Vec<Vec<Vec<i64>>>) {
        let shape = self.sessions.draw(&mut self.rng);
        let mut batches = Vec::with_capacity(shape.requests());
        for _ in 0..shape.requests() {
            batches.push(self.draw_inputs().await);
        }
        (shape, batches)
    }

    /// Fresh, augmented images as circuit inputs. A source failure (network, corrupt
    /// file) falls back to a synthetic image: the query still happens, unpredictable.
    async fn draw_inputs(&mut self) -> Vec<Vec<i64>> {
        let shape = self.workload.circuit.input_shape;
        let bits = self.workload.circuit.input_bits;
        let mut inputs = Vec::with_capacity(self.config.batch_size);
        for _ in 0..self.config.batch_size {
            let image = match self
                .source
                .draw(shape.height, shape.width, &mut self.rng)
                .await
            {
                Ok(image) => image,
                Err(e) => {
                    tracing::warn!(error = %e, "image source failed; using a synthetic image");
                    synthetic::draw(shape.height, shape.width, &mut self.rng)
                }
            };
            let image = augment(&image, &self.augmentation, &mut self.rng);
            inputs.push(circuit_input(&image, shape.channels, bits));
        }
        inputs
    }

    /// Current weights of the metagraph's serving miners at `block`: the Pareto
    /// allocation of their standings plus running bounties.
    pub fn weights(&self, metagraph: &Metagraph, block: u64) -> Vec<(u16, f64)> {
        self.standings.weights(metagraph, block)
    }

    /// Whether a query has changed a standing since weights were last set, so that
    /// setting them again would say something new.
    pub fn weights_outdated(&self) -> bool {
        self.standings.weights_outdated()
    }

    /// Sets the current weights now, with the subnet's version key (the chain still
    /// applies its rules).
    pub async fn set_weights(
        &mut self,
        metagraph: &Metagraph,
        block: u64,
    ) -> Option<WeightsReceipt> {
        let receipt = self.weights.set(metagraph, block).await;
        self.standings.publish(metagraph, block);
        receipt
    }

    /// Closes the history database.
    pub async fn close(&self) {
        self.store().close().await;
    }
}

/// Per-query deadlines. The derived infer deadline is 10 x t_ref per item, at least
/// 10 s, at most 6 h unless twice the circuit's reference needs more: no item ever gets
/// less than its t_ref (VGG9: 2,500 s per item).
pub(crate) fn deadlines(config: &ValidatorConfig, workload: &Workload) -> Deadlines {
    let reference = workload.params.t_ref * config.batch_size as f64;
    let infer = config.infer_timeout.unwrap_or_else(|| {
        let ceiling = MAX_DERIVED_INFER.as_secs_f64().max(2.0 * reference);
        Duration::from_secs_f64((10.0 * reference).clamp(10.0, ceiling))
    });
    if infer.as_secs_f64() < reference {
        tracing::warn!(
            infer_s = infer.as_secs_f64(),
            t_ref_s = reference,
            "the infer deadline is below the circuit's reference time for the batch"
        );
    }
    Deadlines {
        key_upload: config.key_upload_timeout,
        infer,
    }
}

/// One readable line per query.
fn log_query(neuron: &Neuron, report: &QueryReport, standing: f64) {
    let cost = &report.cost;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    match &report.outcome {
        Outcome::Passed => tracing::info!(
            "query uid={} hotkey={} PASSED {:.3}s/item quality={:.4} score={:.4} standing={:.4} key_upload={:.2}s frames={} (own cost: keygen {:.0}ms, encrypt {:.0}ms, simulate {:.0}ms, decrypt {:.0}ms)",
            neuron.uid,
            neuron.hotkey,
            report.seconds_per_item.unwrap_or_default(),
            report.quality.unwrap_or_default(),
            report.score,
            standing,
            report.key_upload_seconds.unwrap_or_default(),
            report.frame_seconds.len(),
            ms(cost.keygen),
            ms(cost.encrypt),
            ms(cost.simulate),
            ms(cost.decrypt),
        ),
        Outcome::Failed { kind, reason } => tracing::warn!(
            "query uid={} hotkey={} FAILED {}: {} (score 0, standing={:.4})",
            neuron.uid,
            neuron.hotkey,
            kind,
            reason,
            standing
        ),
    }
}

/// Loads the hotkey, opens the chain (or local registry), serves metrics, and runs
/// rounds until `shutdown`.
pub async fn run(
    config: ValidatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let keypair = config.neuron.load_hotkey()?;
    let hotkey = keypair.account_id();
    let chain = config.neuron.open_chain(&keypair).await?;
    if chain
        .uid_of(config.neuron.netuid, &hotkey)
        .await
        .context("checking registration")?
        .is_none()
    {
        anyhow::bail!(
            "hotkey {hotkey} is not registered on subnet {}: register it first",
            config.neuron.netuid
        );
    }
    let metrics_addr = config.metrics_addr;
    let gateway = config.gateway.clone();
    let me = keypair.account_id();
    let mut validator = Validator::new(config, chain, Arc::new(keypair)).await?;
    let (stop_tx, mut stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    if let Some(addr) = metrics_addr {
        let mut stop = stop_rx.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        brainlock_daemon::metrics::serve(validator.metrics().registry(), addr, stopped)
            .await
            .with_context(|| format!("serving metrics on {addr}"))?;
    }
    if let Some(settings) = gateway {
        let mut stop = stop_rx.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        crate::gateway::serve(
            settings,
            me,
            validator.workload(),
            validator.sessions().clone(),
            validator.relay(),
            stopped,
        )
        .await?;
    }
    let weight_timer = validator.spawn_weight_timer();
    while !*stop_rx.borrow() {
        let started = Instant::now();
        let round = tokio::select! {
            round = validator.round_once() => round,
            _ = stop_rx.wait_for(|s| *s) => break,
        };
        let pause = match round {
            Ok(summary) if summary.queried > 0 => Duration::from_secs(1),
            Ok(_) => Duration::from_secs(12),
            Err(e) => {
                tracing::error!(error = error_chain(&e), "round failed; retrying");
                Duration::from_secs(12)
            }
        };
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "round done");
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop_rx.wait_for(|s| *s) => break,
        }
    }
    weight_timer.abort();
    validator.close().await;
    tracing::info!("validator stopped");
    Ok(())
}
