//! What the round's query tasks and the weight timer share: the history database, each
//! miner's standing window, the leaderboard and the metrics. The miner states sit behind
//! a mutex held only for in-memory updates, never across an await, so a round full of
//! hanging miners never delays the weight timer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use brainlock_chain::Metagraph;
use brainlock_epistula::AccountId;
use brainlock_scoring::{HISTORY_LEN, MinerHistory, QueryRecord as ScoreRecord, normalize_weights};
use tokio::sync::watch;

use crate::clock::now_ms;
use crate::leaderboard::{Leaderboard, MinerStanding};
use crate::metrics::Metrics;
use crate::query::QueryReport;
use crate::store::{Outcome, QueryRecord, Store, StoreError};

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

#[derive(Debug, Default)]
struct State {
    /// Keyed by SS58 hotkey, as the database stores it.
    miners: HashMap<String, MinerState>,
    /// Bumped by every recorded query.
    version: u64,
    /// `version` when weights were last set; `None`: not since this process started.
    weights_version: Option<u64>,
    last_weights_block: Option<u64>,
    rounds: u64,
}

/// Standings shared by the round, its query tasks and the weight timer.
pub(crate) struct Standings {
    store: Store,
    metrics: Arc<Metrics>,
    board: watch::Sender<Leaderboard>,
    state: Mutex<State>,
}

impl Standings {
    /// Rebuilds every known miner's standing window from the database.
    pub(crate) async fn restore(store: Store) -> Result<Self, StoreError> {
        let mut state = State {
            last_weights_block: store.last_weights_block().await?,
            ..State::default()
        };
        for hotkey in store.known_miners().await? {
            let mut recent = store.recent_queries(&hotkey, HISTORY_LEN).await?;
            recent.reverse();
            let mut miner = MinerState::default();
            for q in &recent {
                miner.record(&q.outcome, q.score, q.seconds_per_item, q.quality);
            }
            state.miners.insert(hotkey, miner);
        }
        let (board, board_rx) = watch::channel(Leaderboard::default());
        Ok(Self {
            store,
            metrics: Arc::new(Metrics::new(board_rx)),
            board,
            state: Mutex::new(state),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent plain data: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub(crate) fn leaderboard(&self) -> watch::Receiver<Leaderboard> {
        self.board.subscribe()
    }

    pub(crate) fn known_miners(&self) -> usize {
        self.state().miners.len()
    }

    /// The standing of a miner hotkey (0 when never queried).
    pub(crate) fn standing(&self, hotkey: &AccountId) -> f64 {
        self.state()
            .miners
            .get(&hotkey.to_string())
            .map_or(0.0, |m| m.history.standing())
    }

    /// Current weights: normalized standings of the metagraph's serving miners.
    pub(crate) fn weights(&self, metagraph: &Metagraph) -> Vec<(u16, f64)> {
        let state = self.state();
        let miners: Vec<_> = metagraph.serving_miners().collect();
        let standings: Vec<f64> = miners
            .iter()
            .map(|n| {
                state
                    .miners
                    .get(&n.hotkey.to_string())
                    .map_or(0.0, |m| m.history.standing())
            })
            .collect();
        miners
            .iter()
            .map(|n| n.uid)
            .zip(normalize_weights(&standings))
            .collect()
    }

    /// Stores one query, then counts it in the miner's standing; returns the new
    /// standing.
    pub(crate) async fn record(
        &self,
        record: &QueryRecord,
        report: &QueryReport,
    ) -> Result<f64, StoreError> {
        self.store.insert_query(record).await?;
        self.metrics.record_query(&report.outcome, &report.cost);
        let mut state = self.state();
        state.version += 1;
        let miner = state.miners.entry(record.miner_hotkey.clone()).or_default();
        miner.record(
            &report.outcome,
            report.score,
            report.seconds_per_item,
            report.quality,
        );
        Ok(miner.history.standing())
    }

    /// The standings version a weight setting is about to reflect.
    pub(crate) fn version(&self) -> u64 {
        self.state().version
    }

    /// Whether a query has changed a standing since weights were last set, so that
    /// setting them again would say something new.
    pub(crate) fn weights_outdated(&self) -> bool {
        let state = self.state();
        state.weights_version != Some(state.version)
    }

    pub(crate) fn last_weights_block(&self) -> Option<u64> {
        self.state().last_weights_block
    }

    /// Weights reflecting standings `version` went on chain at `block`.
    pub(crate) fn weights_set(&self, block: u64, version: u64) {
        let mut state = self.state();
        state.last_weights_block = Some(block);
        state.weights_version = Some(version);
    }

    pub(crate) fn finish_round(&self) {
        self.state().rounds += 1;
        self.metrics.record_round();
    }

    /// Publishes the leaderboard of the metagraph's serving miners.
    pub(crate) fn publish(&self, metagraph: &Metagraph, block: u64) {
        let weights: HashMap<u16, f64> = self.weights(metagraph).into_iter().collect();
        let state = self.state();
        let miners = metagraph
            .serving_miners()
            .map(|n| {
                let miner = state
                    .miners
                    .get(&n.hotkey.to_string())
                    .cloned()
                    .unwrap_or_default();
                MinerStanding {
                    uid: n.uid,
                    hotkey: n.hotkey,
                    axon: n.axon,
                    queries: miner.history.len(),
                    failure_rate: miner.history.failure_rate(),
                    last_outcome: miner.last_outcome,
                    latency: miner.last_latency,
                    quality: miner.last_quality,
                    score: miner.last_score,
                    standing: miner.history.standing(),
                    weight: weights.get(&n.uid).copied().unwrap_or(0.0),
                }
            })
            .collect();
        self.board.send_replace(Leaderboard {
            block,
            rounds: state.rounds,
            updated_at_ms: now_ms(),
            miners,
            last_weights_block: state.last_weights_block,
        });
    }
}
