//! What the round's query tasks and the weight timer share: the history database, each
//! miner's standing window, the circuit's speed record and bounties, the leaderboard
//! and the metrics. The state sits behind a mutex held only for in-memory updates,
//! never across an await, so a round full of hanging miners never delays the weight
//! timer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use brainlock_chain::Metagraph;
use brainlock_epistula::AccountId;
use brainlock_scoring::{
    HISTORY_LEN, MinerHistory, QueryRecord as ScoreRecord, RecordBook, RecordEvent, RewardPolicy,
    reward_weights,
};
use tokio::sync::watch;

use crate::clock::now_ms;
use crate::leaderboard::{BountyStatus, Leaderboard, MinerStanding, RecordStanding};
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
        self.history.push(match (outcome.passed(), latency) {
            (true, Some(latency)) => ScoreRecord::passed(score, latency),
            // A pass always has its time; without one it cannot count for speed.
            (true, None) => ScoreRecord::passed(score, f64::NAN),
            (false, _) => ScoreRecord::failed(),
        });
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
    /// The circuit's speed record and running bounties, keyed by SS58 hotkey.
    book: RecordBook<String>,
    /// Blocks per tempo, as the chain last said (bounties run a number of tempos).
    tempo: u64,
}

/// Blocks per tempo until the chain has been asked: subtensor's default.
const DEFAULT_TEMPO: u64 = 360;

/// Standings shared by the round, its query tasks and the weight timer.
pub(crate) struct Standings {
    store: Store,
    /// The circuit whose speed record this is.
    circuit: String,
    policy: RewardPolicy,
    metrics: Arc<Metrics>,
    board: watch::Sender<Leaderboard>,
    state: Mutex<State>,
}

impl Standings {
    /// Rebuilds every known miner's standing window, and `circuit`'s speed record and
    /// bounties, from the database.
    pub(crate) async fn restore(
        store: Store,
        circuit: &str,
        policy: RewardPolicy,
    ) -> Result<Self, StoreError> {
        let mut state = State {
            last_weights_block: store.last_weights_block().await?,
            book: store.record_book(circuit).await?,
            tempo: DEFAULT_TEMPO,
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
            circuit: circuit.to_string(),
            policy,
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

    /// Blocks per tempo, as the chain reports it.
    pub(crate) fn set_tempo(&self, tempo: u16) {
        self.state().tempo = u64::from(tempo).max(1);
    }

    /// Current weights of the metagraph's serving miners at `block`: the Pareto
    /// allocation of their standings plus running bounties.
    pub(crate) fn weights(&self, metagraph: &Metagraph, block: u64) -> Vec<(u16, f64)> {
        let state = self.state();
        let (uids, rewards) = self.rewards(&state, metagraph, block);
        uids.into_iter().zip(rewards.weights).collect()
    }

    fn rewards(
        &self,
        state: &State,
        metagraph: &Metagraph,
        block: u64,
    ) -> (Vec<u16>, brainlock_scoring::Rewards) {
        let miners: Vec<_> = metagraph.serving_miners().collect();
        let (standings, bounties): (Vec<f64>, Vec<f64>) = miners
            .iter()
            .map(|n| {
                let hotkey = n.hotkey.to_string();
                let standing = state
                    .miners
                    .get(&hotkey)
                    .map_or(0.0, |m| m.history.standing());
                (standing, state.book.remaining(&hotkey, block))
            })
            .unzip();
        let rewards = reward_weights(&standings, &bounties, &self.policy);
        (miners.iter().map(|n| n.uid).collect(), rewards)
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
        let (standing, event) = {
            let mut state = self.state();
            let state = &mut *state;
            state.version += 1;
            let miner = state.miners.entry(record.miner_hotkey.clone()).or_default();
            miner.record(
                &report.outcome,
                report.score,
                report.seconds_per_item,
                report.quality,
            );
            let event = state.book.observe(
                &record.miner_hotkey,
                &miner.history,
                record.block,
                state.tempo,
                &self.policy.bounty,
            );
            (miner.history.standing(), event)
        };
        if let Some(event) = event {
            self.persist(&event, record).await?;
        }
        Ok(standing)
    }

    /// Stores and announces what a query changed in the record book.
    async fn persist(
        &self,
        event: &RecordEvent<String>,
        query: &QueryRecord,
    ) -> Result<(), StoreError> {
        let uid = query.uid;
        match event {
            RecordEvent::NewRecord {
                record,
                previous,
                bounty,
            } => {
                self.store
                    .insert_speed_record(&self.circuit, record, *previous, bounty.as_ref())
                    .await?;
                tracing::info!(
                    circuit = %self.circuit,
                    uid,
                    hotkey = %record.holder,
                    seconds_per_item = record.seconds_per_item,
                    previous = ?previous,
                    bounty_until_block = ?bounty.as_ref().map(|b| b.expires_block),
                    "new speed record"
                );
            }
            RecordEvent::BountyAwarded(bounty) => {
                self.store.award_bounty(&self.circuit, bounty).await?;
                tracing::info!(
                    circuit = %self.circuit,
                    uid,
                    hotkey = %bounty.holder,
                    bounty_until_block = bounty.expires_block,
                    "bounty awarded: the record holder confirmed its record"
                );
            }
            RecordEvent::Forfeited { holder, bounty } => {
                self.store
                    .forfeit_bounty(&self.circuit, holder, query.block)
                    .await?;
                tracing::warn!(
                    circuit = %self.circuit,
                    uid,
                    hotkey = %holder,
                    running = bounty.is_some(),
                    "bounty forfeited: its holder failed a query"
                );
            }
        }
        Ok(())
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
        let state = self.state();
        let (uids, rewards) = self.rewards(&state, metagraph, block);
        let weights: HashMap<u16, (f64, Option<usize>)> = uids
            .into_iter()
            .zip(rewards.weights.into_iter().zip(rewards.tiers))
            .collect();
        let miners = metagraph
            .serving_miners()
            .map(|n| {
                let hotkey = n.hotkey.to_string();
                let miner = state.miners.get(&hotkey).cloned().unwrap_or_default();
                let (weight, tier) = weights.get(&n.uid).copied().unwrap_or((0.0, None));
                let remaining = state.book.remaining(&hotkey, block);
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
                    sustained_latency: miner.history.sustained_latency(self.policy.bounty.queries),
                    tier,
                    weight,
                    bounty: (remaining > 0.0).then(|| BountyStatus {
                        remaining,
                        tempos_left: remaining * f64::from(self.policy.bounty.tempos),
                    }),
                }
            })
            .collect();
        let record = state.book.record().map(|r| RecordStanding {
            circuit: self.circuit.clone(),
            hotkey: r.holder.clone(),
            uid: metagraph
                .serving_miners()
                .find(|n| n.hotkey.to_string() == r.holder)
                .map(|n| n.uid),
            seconds_per_item: r.seconds_per_item,
            block: r.block,
        });
        self.board.send_replace(Leaderboard {
            block,
            rounds: state.rounds,
            updated_at_ms: now_ms(),
            miners,
            last_weights_block: state.last_weights_block,
            record,
        });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::SocketAddr;

    use brainlock_chain::Neuron;
    use brainlock_epistula::{CryptoType, Keypair};

    use super::*;
    use crate::query::ClientCost;
    use crate::store::test_db::TestPostgres;

    const CIRCUIT: &str = "conv3x3";

    fn policy() -> RewardPolicy {
        let mut policy = RewardPolicy::default();
        policy.bounty.queries = 10;
        policy.bounty.share = 0.2;
        policy.bounty.tempos = 4;
        policy
    }

    pub(crate) fn hotkey(uid: u16) -> AccountId {
        Keypair::from_seed(CryptoType::Sr25519, &[uid as u8; 32]).account_id()
    }

    fn metagraph() -> Metagraph {
        let axon: SocketAddr = "127.0.0.1:8091".parse().unwrap();
        Metagraph {
            netuid: 55,
            block: 100,
            neurons: (1..=3)
                .map(|uid| Neuron {
                    uid,
                    hotkey: hotkey(uid),
                    coldkey: hotkey(0),
                    axon: Some(axon),
                    validator_permit: false,
                    stake: 0.0,
                    last_update: 0,
                })
                .collect(),
        }
    }

    /// One query of miner `uid` at `block`: passed in `seconds` per item, or failed.
    pub(crate) async fn query(standings: &Standings, uid: u16, block: u64, seconds: Option<f64>) {
        let report = match seconds {
            Some(seconds) => QueryReport {
                outcome: Outcome::Passed,
                quality: Some(1.0),
                seconds_per_item: Some(seconds),
                key_upload_seconds: Some(0.1),
                score: 1.0 / seconds,
                frame_seconds: vec![seconds],
                cost: ClientCost::default(),
            },
            None => QueryReport::failed(
                crate::store::FailureKind::CheckFailed,
                "wrong output",
                ClientCost::default(),
            ),
        };
        let record = QueryRecord {
            miner_hotkey: hotkey(uid).to_string(),
            uid,
            circuit: CIRCUIT.into(),
            profile: "p".into(),
            batch_size: 1,
            outcome: report.outcome.clone(),
            quality: report.quality,
            seconds_per_item: report.seconds_per_item,
            key_upload_seconds: report.key_upload_seconds,
            score: report.score,
            block,
            started_at_ms: 0,
            finished_at_ms: 0,
        };
        standings.record(&record, &report).await.unwrap();
    }

    fn board(standings: &Standings, block: u64) -> Leaderboard {
        standings.publish(&metagraph(), block);
        standings.leaderboard().borrow().clone()
    }

    /// Miner 1 sets the baseline record, miner 2 beats it and confirms it (a bounty),
    /// miner 3 beats that, then fails a query and forfeits the bounty it was owed. A
    /// restarted validator shows the same record, bounties and weights; a bounty owed
    /// before a restart is awarded after it.
    async fn records_and_bounties_survive_a_restart(spec: &str) {
        let open = || async {
            let store = Store::open(spec).await.unwrap();
            Standings::restore(store, CIRCUIT, policy()).await.unwrap()
        };
        let standings = open().await;
        standings.set_tempo(100);
        for (uid, block, seconds, queries) in [(1, 10, 2.0, 10), (2, 20, 1.0, 20), (3, 30, 0.5, 10)]
        {
            for _ in 0..queries {
                query(&standings, uid, block, Some(seconds)).await;
            }
        }
        query(&standings, 3, 31, None).await;
        let before = board(&standings, 100);
        let record = before.record.clone().expect("a record");
        assert_eq!(
            (record.uid, record.seconds_per_item, record.block),
            (Some(3), 0.5, 30)
        );
        let bounties: Vec<_> = before.miners.iter().map(|m| m.bounty).collect();
        // Miner 2's bounty runs from block 20 to 20 + 4 tempos of 100 blocks.
        let expected = BountyStatus {
            remaining: 0.8,
            tempos_left: 3.2,
        };
        assert_eq!(bounties, vec![None, Some(expected), None]);
        let weights = standings.weights(&metagraph(), 100);
        standings.store().close().await;

        let restarted = open().await;
        let after = board(&restarted, 100);
        assert_eq!(after.record, before.record);
        assert_eq!(after.miners, before.miners);
        assert_eq!(restarted.weights(&metagraph(), 100), weights);
        restarted.set_tempo(100);
        for _ in 0..10 {
            query(&restarted, 1, 40, Some(0.4)).await;
        }
        assert_eq!(board(&restarted, 100).record.unwrap().uid, Some(1));
        restarted.store().close().await;

        let restarted = open().await;
        restarted.set_tempo(100);
        for _ in 0..10 {
            query(&restarted, 1, 50, Some(0.4)).await;
        }
        // Owed across the restart, confirmed by ten passes after it: from block 50.
        let bounties: Vec<_> = board(&restarted, 100)
            .miners
            .iter()
            .map(|m| m.bounty)
            .collect();
        let confirmed = BountyStatus {
            remaining: 0.875,
            tempos_left: 3.5,
        };
        assert_eq!(bounties, vec![Some(confirmed), Some(expected), None]);
        restarted.store().close().await;
        let other = Standings::restore(Store::open(spec).await.unwrap(), "vgg9", policy())
            .await
            .unwrap();
        assert_eq!(board(&other, 100).record, None, "records are per circuit");
        other.store().close().await;
    }

    #[tokio::test]
    async fn sqlite_records_and_bounties_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        records_and_bounties_survive_a_restart(path.to_str().unwrap()).await;
    }

    #[tokio::test]
    async fn postgres_records_and_bounties_survive_a_restart() {
        let Some(database) = TestPostgres::create("standings").await else {
            return;
        };
        records_and_bounties_survive_a_restart(&database.url).await;
        database.drop().await;
    }
}
