//! The validator loop: rounds over the serving miners, standings, weights.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use brainlock_chain::{Chain, ChainError, Metagraph, Neuron, WeightsReceipt};
use brainlock_epistula::{AccountId, Keypair};
use brainlock_scoring::{HISTORY_LEN, MinerHistory, QueryRecord as ScoreRecord, normalize_weights};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::watch;

use crate::circuit::Workload;
use crate::clock::now_ms;
use crate::config::ValidatorConfig;
use crate::images::{Augmentation, ImageSource, augment, circuit_input, synthetic};
use crate::leaderboard::{Leaderboard, MinerStanding};
use crate::metrics::Metrics;
use crate::query::{self, Deadlines, PreparedQuery, QueryReport};
use crate::relay::{MinerRelay, miner_client};
use crate::schedule::round_order;
use crate::store::{Outcome, QueryRecord, Store, WeightSetting};

/// Per miner (by hotkey): the standing window and the last query's figures.
#[derive(Clone, Debug, Default)]
struct MinerState {
    history: MinerHistory,
    last_outcome: Option<String>,
    last_latency: Option<f64>,
    last_quality: Option<f64>,
    last_score: f64,
}

impl MinerState {
    fn record(
        &mut self,
        outcome: &Outcome,
        score: f64,
        latency: Option<f64>,
        quality: Option<f64>,
    ) {
        self.history
            .push(ScoreRecord::new(score, !outcome.passed()));
        self.last_outcome = Some(match outcome {
            Outcome::Passed => "passed".into(),
            Outcome::Failed { kind, .. } => kind.as_str().into(),
        });
        self.last_score = score;
        if outcome.passed() {
            self.last_latency = latency;
            self.last_quality = quality;
        }
    }
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoundSummary {
    pub block: u64,
    pub queried: usize,
    pub passed: usize,
    pub weights: Option<WeightsReceipt>,
}

pub struct Validator {
    config: ValidatorConfig,
    chain: Arc<dyn Chain>,
    keypair: Arc<Keypair>,
    store: Store,
    workload: Arc<Workload>,
    source: ImageSource,
    augmentation: Augmentation,
    http: reqwest::Client,
    miners: HashMap<String, MinerState>,
    board: watch::Sender<Leaderboard>,
    metrics: Arc<Metrics>,
    rng: StdRng,
    last_weights_block: Option<u64>,
    /// A query changed a standing since weights were last set.
    standings_changed: bool,
    rounds: u64,
}

impl Validator {
    /// Opens the database (rebuilding standings from it), the image source and the
    /// circuit. `chain` is the subtensor or the local registry, acting as our hotkey.
    pub async fn new(
        config: ValidatorConfig,
        chain: Arc<dyn Chain>,
        keypair: Arc<Keypair>,
    ) -> anyhow::Result<Self> {
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
            .context("building the circuit")??
        };
        let source = ImageSource::open(&config.dataset, &config.dataset_endpoint)
            .context("opening the image source")?;
        let store = Store::open(&config.database)
            .await
            .context("opening the history database")?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        let (board, board_rx) = watch::channel(Leaderboard::default());
        let metrics = Arc::new(Metrics::new(board_rx));
        let last_weights_block = store.last_weights_block().await?;
        let mut validator = Self {
            config,
            chain,
            keypair,
            store,
            workload: Arc::new(workload),
            source,
            augmentation: Augmentation::default(),
            http,
            miners: HashMap::new(),
            board,
            metrics,
            rng: StdRng::from_os_rng(),
            last_weights_block,
            // Standings rebuilt from the database may not be on chain yet.
            standings_changed: true,
            rounds: 0,
        };
        validator.restore_standings().await?;
        tracing::info!(
            circuit = validator.workload.id(),
            profile = validator.workload.profile.id,
            images = %validator.source.describe(),
            database = ?validator.store.backend(),
            miners_restored = validator.miners.len(),
            "validator ready"
        );
        Ok(validator)
    }

    /// Rebuilds every known miner's standing window from the database.
    async fn restore_standings(&mut self) -> anyhow::Result<()> {
        for hotkey in self.store.known_miners().await? {
            let mut recent = self.store.recent_queries(&hotkey, HISTORY_LEN).await?;
            recent.reverse();
            let mut state = MinerState::default();
            for q in &recent {
                state.record(&q.outcome, q.score, q.seconds_per_item, q.quality);
            }
            self.miners.insert(hotkey, state);
        }
        Ok(())
    }

    pub fn leaderboard(&self) -> watch::Receiver<Leaderboard> {
        self.board.subscribe()
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The relay the customer gateway hands checked requests to: it follows this
    /// validator's leaderboard and uses the client and deadlines of its own queries.
    pub fn relay(&self) -> MinerRelay {
        MinerRelay::new(
            self.keypair.clone(),
            self.http.clone(),
            self.board.subscribe(),
            self.deadlines(),
        )
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn workload(&self) -> &Workload {
        &self.workload
    }

    /// The standing of a miner hotkey (0 when never queried).
    pub fn standing(&self, hotkey: &str) -> f64 {
        self.miners
            .get(hotkey)
            .map_or(0.0, |m| m.history.standing())
    }

    fn deadlines(&self) -> Deadlines {
        let batch = self.config.batch_size as f64;
        let infer = self.config.infer_timeout.unwrap_or_else(|| {
            Duration::from_secs_f64(
                (10.0 * self.workload.params.t_ref * batch).clamp(10.0, 6.0 * 3600.0),
            )
        });
        Deadlines {
            key_upload: self.config.key_upload_timeout,
            infer,
        }
    }

    /// One pass over every serving miner, in this validator's seeded order; weights are
    /// set whenever the interval has passed (also mid-round).
    pub async fn round_once(&mut self) -> anyhow::Result<RoundSummary> {
        let netuid = self.config.neuron.netuid;
        let block = self
            .chain
            .current_block()
            .await
            .context("reading the block")?;
        let metagraph = self
            .chain
            .metagraph(netuid)
            .await
            .context("syncing the metagraph")?;
        let rules = self
            .chain
            .weight_rules(netuid)
            .await
            .context("reading the weight rules")?;
        let me = metagraph.by_hotkey(self.chain.hotkey()).map(|n| n.uid);
        let miners: Vec<u16> = metagraph.serving_miners().map(|n| n.uid).collect();
        let validators: Vec<u16> = metagraph.validators().map(|n| n.uid).collect();
        let order = round_order(
            netuid,
            block,
            u64::from(rules.tempo),
            &miners,
            &validators,
            me,
        );
        tracing::info!(
            block,
            miners = order.len(),
            validators = validators.len(),
            "round starts"
        );
        let mut summary = RoundSummary {
            block,
            ..RoundSummary::default()
        };
        self.publish(&metagraph, block);
        for uid in order {
            let Some(neuron) = metagraph.by_uid(uid).cloned() else {
                continue;
            };
            let block = self.chain.current_block().await.unwrap_or(block);
            let report = match self.query_neuron(&neuron, block).await {
                Ok(report) => report,
                Err(e) => {
                    // Our side failed (database, bad metagraph entry): skip, never score.
                    tracing::error!(uid, error = format!("{e:#}"), "query not made");
                    continue;
                }
            };
            summary.queried += 1;
            summary.passed += usize::from(report.outcome.passed());
            self.publish(&metagraph, block);
            if let Some(receipt) = self.maybe_set_weights(&metagraph, block).await {
                summary.weights = Some(receipt);
                self.publish(&metagraph, block);
            }
        }
        if summary.queried == 0
            && let Some(receipt) = self.maybe_set_weights(&metagraph, block).await
        {
            summary.weights = Some(receipt);
        }
        self.rounds += 1;
        self.metrics.record_round();
        self.publish(&metagraph, block);
        Ok(summary)
    }

    /// Queries one miner, stores the result, updates its standing and logs one line.
    /// Only validator-side problems (database, our own key generation) are errors.
    pub async fn query_neuron(
        &mut self,
        neuron: &Neuron,
        block: u64,
    ) -> anyhow::Result<QueryReport> {
        let Some(addr) = neuron.axon else {
            anyhow::bail!("uid {} serves no axon", neuron.uid)
        };
        let started_at_ms = now_ms();
        let inputs = self.draw_inputs().await;
        let workload = self.workload.clone();
        let prepared =
            tokio::task::spawn_blocking(move || PreparedQuery::prepare(&workload, &inputs))
                .await
                .context("preparing a query")??;
        let miner = AccountId::from_ss58(&neuron.hotkey).with_context(|| {
            format!(
                "uid {} has an invalid hotkey {:?}",
                neuron.uid, neuron.hotkey
            )
        })?;
        let client = miner_client(addr, miner, self.keypair.clone(), self.http.clone());
        let batch = prepared.batch_size();
        let report = query::run(&client, self.workload.clone(), prepared, self.deadlines()).await;
        let record = QueryRecord {
            miner_hotkey: neuron.hotkey.clone(),
            uid: neuron.uid,
            circuit: self.workload.id().to_string(),
            profile: self.workload.profile.id.to_string(),
            batch_size: batch,
            outcome: report.outcome.clone(),
            quality: report.quality,
            seconds_per_item: report.seconds_per_item,
            key_upload_seconds: report.key_upload_seconds,
            score: report.score,
            block,
            started_at_ms,
            finished_at_ms: now_ms(),
        };
        self.store
            .insert_query(&record)
            .await
            .context("storing a query")?;
        self.metrics.record_query(&report.outcome, &report.cost);
        self.standings_changed = true;
        let state = self.miners.entry(neuron.hotkey.clone()).or_default();
        state.record(
            &report.outcome,
            report.score,
            report.seconds_per_item,
            report.quality,
        );
        log_query(neuron, &report, state.history.standing());
        Ok(report)
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

    /// Current weights: normalized standings of the metagraph's serving miners.
    pub fn weights(&self, metagraph: &Metagraph) -> Vec<(u16, f64)> {
        let miners: Vec<&Neuron> = metagraph.serving_miners().collect();
        let standings: Vec<f64> = miners.iter().map(|n| self.standing(&n.hotkey)).collect();
        miners
            .iter()
            .map(|n| n.uid)
            .zip(normalize_weights(&standings))
            .collect()
    }

    /// Sets weights when `weights_interval` blocks (default: the tempo) have passed since
    /// the last successful setting and the chain's rate limit allows it.
    async fn maybe_set_weights(
        &mut self,
        metagraph: &Metagraph,
        block: u64,
    ) -> Option<WeightsReceipt> {
        let netuid = self.config.neuron.netuid;
        let rules = match self.chain.weight_rules(netuid).await {
            Ok(rules) => rules,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read weight rules; weights not set");
                return None;
            }
        };
        let interval = self
            .config
            .weights_interval
            .unwrap_or(u64::from(rules.tempo));
        if let Some(last) = self.last_weights_block
            && block < last.saturating_add(interval)
        {
            return None;
        }
        let last_update = metagraph
            .by_hotkey(self.chain.hotkey())
            .map_or(0, |n| n.last_update);
        let wait = rules.blocks_until_allowed(last_update, block);
        if wait > 0 {
            tracing::debug!(blocks = wait, "weights rate-limited");
            return None;
        }
        self.set_weights(metagraph, block, rules.version_key).await
    }

    /// Whether a query has changed a standing since weights were last set, so that
    /// setting them again would say something new.
    pub fn weights_outdated(&self) -> bool {
        self.standings_changed
    }

    /// Sets the current weights now (the chain still applies its rules).
    pub async fn set_weights(
        &mut self,
        metagraph: &Metagraph,
        block: u64,
        version_key: u64,
    ) -> Option<WeightsReceipt> {
        let weights: Vec<(u16, f32)> = self
            .weights(metagraph)
            .into_iter()
            .map(|(uid, w)| (uid, w as f32))
            .collect();
        if weights.is_empty() {
            tracing::info!("no miner is serving; weights not set");
            return None;
        }
        let result = self
            .chain
            .set_weights(self.config.neuron.netuid, &weights, version_key)
            .await;
        let (receipt, outcome) = match result {
            Ok(receipt) => {
                tracing::info!(block = receipt.block, uids = ?receipt.uids, weights = ?receipt.weights, submission = ?receipt.submission, "weights set");
                self.last_weights_block = Some(block);
                self.standings_changed = false;
                (Some(receipt), "ok".to_string())
            }
            Err(ChainError::NothingToSet) => {
                tracing::info!("no miner has a positive standing yet; weights not set");
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "setting weights failed");
                (None, e.to_string())
            }
        };
        self.metrics.record_weights(receipt.is_some());
        let setting = WeightSetting {
            block,
            set_at_ms: now_ms(),
            uids: receipt.as_ref().map(|r| r.uids.clone()).unwrap_or_default(),
            weights: receipt
                .as_ref()
                .map(|r| r.weights.clone())
                .unwrap_or_default(),
            outcome,
        };
        if let Err(e) = self.store.insert_weight_setting(&setting).await {
            tracing::warn!(error = %e, "cannot store the weight setting");
        }
        receipt
    }

    fn publish(&self, metagraph: &Metagraph, block: u64) {
        let weights: HashMap<u16, f64> = self.weights(metagraph).into_iter().collect();
        let miners = metagraph
            .serving_miners()
            .map(|n| {
                let state = self.miners.get(&n.hotkey).cloned().unwrap_or_default();
                MinerStanding {
                    uid: n.uid,
                    hotkey: n.hotkey.clone(),
                    axon: n.axon,
                    queries: state.history.len(),
                    failure_rate: state.history.failure_rate(),
                    last_outcome: state.last_outcome,
                    latency: state.last_latency,
                    quality: state.last_quality,
                    score: state.last_score,
                    standing: state.history.standing(),
                    weight: weights.get(&n.uid).copied().unwrap_or(0.0),
                }
            })
            .collect();
        self.board.send_replace(Leaderboard {
            block,
            rounds: self.rounds,
            updated_at_ms: now_ms(),
            miners,
            last_weights_block: self.last_weights_block,
        });
    }

    pub async fn close(&self) {
        self.store.close().await;
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
    let hotkey = keypair.account_id().to_ss58();
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
        let metrics = validator.metrics();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = metrics.serve(addr, stopped).await {
                tracing::error!(error = %e, %addr, "metrics server failed");
            }
        });
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
            validator.relay(),
            stopped,
        )
        .await?;
    }
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
                tracing::error!(error = format!("{e:#}"), "round failed; retrying");
                Duration::from_secs(12)
            }
        };
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "round done");
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop_rx.wait_for(|s| *s) => break,
        }
    }
    validator.close().await;
    tracing::info!("validator stopped");
    Ok(())
}
