//! Weight setting, on its own timer: it reads the shared standings and never waits for
//! a round, so a slow or hanging miner cannot delay weights.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use brainlock_chain::{Chain, ChainError, Metagraph, PalletError, WeightRules, WeightsReceipt};
use brainlock_daemon::logging::error_chain;
use tokio::task::JoinHandle;

use crate::clock::now_ms;
use crate::standings::Standings;
use crate::store::WeightSetting;

/// What the last attempts leave for the next.
#[derive(Debug, Default)]
struct Attempts {
    /// Block of the last attempt, so that no block sees two (a failed attempt is retried
    /// at a later block, not at once).
    last: Option<u64>,
    /// After a refusal this validator cannot fix, the timer waits for this block.
    hold_until: u64,
    /// Refusals in a row since the last setting.
    refusals: u32,
}

/// Refusals in a row after which even one that fresh rules may fix holds the timer: each
/// is a failed extrinsic on chain.
const MAX_RETRIES: u32 = 3;

/// Sets weights from the shared standings, at most one setting at a time.
pub(crate) struct WeightSetter {
    chain: Arc<dyn Chain>,
    netuid: u16,
    /// Blocks between two settings; `None`: the subnet's tempo.
    interval: Option<u64>,
    standings: Arc<Standings>,
    /// The round's end and the timer may find weights due together: one sets them,
    /// holding this lock over the attempts so far.
    setting: tokio::sync::Mutex<Attempts>,
}

impl WeightSetter {
    pub(crate) fn new(
        chain: Arc<dyn Chain>,
        netuid: u16,
        interval: Option<u64>,
        standings: Arc<Standings>,
    ) -> Self {
        Self {
            chain,
            netuid,
            interval,
            standings,
            setting: tokio::sync::Mutex::new(Attempts::default()),
        }
    }

    /// Sets weights when `interval` blocks have passed since the last successful
    /// setting and the chain's rate limit allows a setting applied at the next block, so
    /// that after a refusal for the rate limit they land at the first block it allows.
    pub(crate) async fn maybe_set(
        &self,
        metagraph: &Metagraph,
        block: u64,
    ) -> Option<WeightsReceipt> {
        let mut attempts = self.setting.lock().await;
        let rules = self.rules().await?;
        let interval = self.interval(&rules);
        if let Some(last) = self.standings.last_weights_block()
            && block < last.saturating_add(interval)
        {
            return None;
        }
        if block < attempts.hold_until {
            return None;
        }
        let last_update = metagraph
            .by_hotkey(self.chain.hotkey())
            .map_or(0, |n| n.last_update);
        let wait = rules.blocks_until_allowed(last_update, self.chain.applied_at(block));
        if wait > 0 {
            tracing::debug!(blocks = wait, "weights rate-limited");
            return None;
        }
        self.submit(&mut attempts, metagraph, block, &rules).await
    }

    /// Sets the current weights now, with the subnet's version key (the chain still
    /// applies its rules).
    pub(crate) async fn set(&self, metagraph: &Metagraph, block: u64) -> Option<WeightsReceipt> {
        let mut attempts = self.setting.lock().await;
        let rules = self.rules().await?;
        self.submit(&mut attempts, metagraph, block, &rules).await
    }

    fn interval(&self, rules: &WeightRules) -> u64 {
        self.interval.unwrap_or(u64::from(rules.tempo))
    }

    /// The subnet's weight rules, read afresh: a changed version key or minimum count
    /// is followed at the next setting.
    async fn rules(&self) -> Option<WeightRules> {
        match self.chain.weight_rules(self.netuid).await {
            Ok(rules) => {
                self.standings.set_tempo(rules.tempo);
                Some(rules)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read weight rules; weights not set");
                None
            }
        }
    }

    /// One timer tick: the current block and metagraph, then [`Self::maybe_set`].
    pub(crate) async fn tick(&self) -> anyhow::Result<Option<WeightsReceipt>> {
        let block = self
            .chain
            .current_block()
            .await
            .context("reading the block")?;
        let metagraph = self
            .chain
            .metagraph(self.netuid)
            .await
            .context("syncing the metagraph")?;
        let receipt = self.maybe_set(&metagraph, block).await;
        if receipt.is_some() {
            self.standings.publish(&metagraph, block);
        }
        Ok(receipt)
    }

    /// Ticks every `period` until the handle is aborted.
    pub(crate) fn spawn_timer(self: Arc<Self>, period: Duration) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut timer = tokio::time::interval(period);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                timer.tick().await;
                if let Err(e) = self.tick().await {
                    tracing::warn!(error = error_chain(e.as_ref()), "weight timer tick failed");
                }
            }
        })
    }

    async fn submit(
        &self,
        attempts: &mut Attempts,
        metagraph: &Metagraph,
        block: u64,
        rules: &WeightRules,
    ) -> Option<WeightsReceipt> {
        if attempts.last == Some(block) {
            tracing::debug!(block, "weights already submitted at this block");
            return None;
        }
        let version = self.standings.version();
        let weights: Vec<(u16, f32)> = self
            .standings
            .weights(metagraph, block)
            .into_iter()
            .map(|(uid, w)| (uid, w as f32))
            .collect();
        if weights.is_empty() {
            tracing::info!("no miner is serving; weights not set");
            return None;
        }
        attempts.last = Some(block);
        let result = self
            .chain
            .set_weights(self.netuid, &weights, rules.version_key)
            .await;
        let (receipt, outcome) = match result {
            Ok(receipt) => {
                attempts.refusals = 0;
                tracing::info!(block = receipt.block, uids = ?receipt.uids, weights = ?receipt.weights, submission = ?receipt.submission, "weights set");
                self.standings.weights_set(block, version);
                (Some(receipt), "ok".to_string())
            }
            Err(ChainError::NothingToSet) => {
                tracing::info!("no miner has a positive standing yet; weights not set");
                return None;
            }
            Err(ChainError::Refused(error)) => {
                attempts.refusals += 1;
                let next = match reaction(&error) {
                    Reaction::RetryNextBlock(next) if attempts.refusals < MAX_RETRIES => next,
                    Reaction::RetryNextBlock(_) | Reaction::Hold => {
                        // At least a tempo: a refusal is a failed extrinsic, and no tempo
                        // goes by without the rules having a chance to change.
                        let hold = self.interval(rules).max(u64::from(rules.tempo));
                        attempts.hold_until = block.saturating_add(hold);
                        "tried again after the weights interval (at least a tempo)"
                    }
                };
                tracing::warn!(%error, next, "the chain refused the weights");
                (None, format!("refused: {}", error.name()))
            }
            Err(e) => {
                tracing::warn!(error = %e, "setting weights failed");
                (None, e.to_string())
            }
        };
        self.record(block, receipt.as_ref(), outcome).await;
        receipt
    }

    async fn record(&self, block: u64, receipt: Option<&WeightsReceipt>, outcome: String) {
        self.standings.metrics().record_weights(receipt.is_some());
        let setting = WeightSetting {
            block,
            set_at_ms: now_ms(),
            uids: receipt.map(|r| r.uids.clone()).unwrap_or_default(),
            weights: receipt.map(|r| r.weights.clone()).unwrap_or_default(),
            outcome,
        };
        if let Err(e) = self.standings.store().insert_weight_setting(&setting).await {
            let error = error_chain(&e);
            tracing::warn!(error, "cannot store the weight setting");
        }
    }
}

/// What the validator does after a refusal, and the log's words for it. Rounds go on
/// either way.
enum Reaction {
    /// The timer tries again at its next tick, with the rules read afresh.
    RetryNextBlock(&'static str),
    /// Nothing this validator changes fixes it: the timer waits the weights interval,
    /// at least a tempo.
    Hold,
}

fn reaction(error: &PalletError) -> Reaction {
    match error {
        e if e.is_rate_limit() => Reaction::RetryNextBlock(
            "the weight timer sets them at the first block the rate limit allows",
        ),
        PalletError::IncorrectWeightVersionKey
        | PalletError::WeightVecLengthIsLow
        | PalletError::CommitRevealEnabled
        | PalletError::CommitRevealDisabled => Reaction::RetryNextBlock(
            "the subnet's rules changed; the next setting reads and follows them",
        ),
        _ => Reaction::Hold,
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use brainlock_chain::local::read_ledger;
    use brainlock_chain::{AxonInfo, LocalRegistry, Registration, Role};
    use brainlock_scoring::RewardPolicy;

    use super::*;
    use crate::standings::tests::{hotkey, query};
    use crate::store::Store;

    /// Standings in a fresh database under `dir`, where uid 1 passed one query.
    async fn standings_with_a_passed_miner(dir: &std::path::Path) -> Arc<Standings> {
        let store = Store::open(dir.join("history.sqlite").to_str().unwrap())
            .await
            .unwrap();
        let standings = Arc::new(
            Standings::restore(store, "conv3x3", RewardPolicy::default())
                .await
                .unwrap(),
        );
        query(&standings, 1, 1, Some(1.0)).await;
        standings
    }

    #[tokio::test]
    async fn no_block_sees_two_submissions() {
        let dir = tempfile::tempdir().unwrap();
        // A clock that never moves: every call sees the same block.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let open = |key| {
            LocalRegistry::open_with_clock(
                dir.path().join("registry.json"),
                55,
                key,
                Arc::new(move || now),
            )
            .unwrap()
        };
        let registry = open(hotkey(9));
        for (key, role, stake) in [
            (hotkey(9), Role::Validator, 1_000.0),
            (hotkey(1), Role::Miner, 0.0),
        ] {
            let registration = Registration {
                hotkey: key,
                coldkey: None,
                role,
                stake,
            };
            registry.register(registration).await.unwrap();
        }
        let axon = AxonInfo::new("127.0.0.1:8091".parse().unwrap(), 1);
        open(hotkey(1)).serve_axon(55, axon).await.unwrap();
        // No rate limit: the guard alone keeps a block to one setting.
        registry
            .set_weight_rules(WeightRules::default())
            .await
            .unwrap();
        let standings = standings_with_a_passed_miner(dir.path()).await;
        let setter = WeightSetter::new(Arc::new(registry.clone()), 55, Some(1), standings.clone());
        let metagraph = registry.metagraph(55).await.unwrap();
        let block = registry.current_block().await.unwrap();

        assert!(setter.set(&metagraph, block).await.is_some());
        // The round's end and the timer, at the same block.
        assert!(setter.maybe_set(&metagraph, block).await.is_none());
        assert!(setter.set(&metagraph, block).await.is_none());
        let ledger = read_ledger(registry.ledger_path()).unwrap();
        assert_eq!(ledger.len(), 1, "{ledger:?}");
        assert_eq!(
            standings.store().last_weights_block().await.unwrap(),
            Some(block)
        );
        standings.store().close().await;
    }

    /// What the rules' tests share: a validator whose chain is the test node (a double of
    /// a subtensor node that applies the pallet's rules), as this validator's uid 0 on a
    /// subnet where uid 1 is a serving miner with a standing.
    struct OnTestNode {
        node: brainlock_test_node::TestNode,
        chain: Arc<dyn Chain>,
        setter: WeightSetter,
        standings: Arc<Standings>,
        _dir: tempfile::TempDir,
    }

    const NETUID: u16 = 21;
    const HEAD: u64 = 1000;

    impl OnTestNode {
        async fn start(edit: impl FnOnce(&mut brainlock_test_node::TestSubnet)) -> Self {
            use brainlock_subtensor::{HotkeySigner, Network, SubtensorChain, SubtensorOptions};
            use brainlock_test_node::{TestNeuron, TestNode, TestSubnet, metadata_path};

            let neuron = |uid: u16, permit| TestNeuron {
                uid,
                hotkey: hotkey(uid).0,
                coldkey: [0xc0; 32],
                axon: Some("10.0.0.1:8091".parse().unwrap()),
                stake_rao: 1_000_000_000_000,
                last_update: 0,
                validator_permit: permit,
            };
            let mut subnet = TestSubnet {
                netuid: NETUID,
                tempo: 360,
                weights_rate_limit: 20,
                weights_version_key: 3,
                min_allowed_weights: 1,
                max_weights_limit: u16::MAX,
                commit_reveal: false,
                reveal_period_epochs: 1,
                serving_rate_limit: 50,
                owner_hotkey: None,
                neurons: vec![neuron(0, true), neuron(1, false), neuron(2, false)],
            };
            edit(&mut subnet);
            let metadata = std::fs::read(metadata_path()).unwrap();
            let node = TestNode::start(metadata, HEAD).await;
            node.set_subnet(subnet);
            let signer = HotkeySigner::from_seed([0; 32]).unwrap();
            let options = SubtensorOptions::new(Network::Url(node.url()));
            let chain: Arc<dyn Chain> =
                Arc::new(SubtensorChain::connect(options, signer).await.unwrap());
            assert_eq!(*chain.hotkey(), hotkey(0));

            let dir = tempfile::tempdir().unwrap();
            let standings = standings_with_a_passed_miner(dir.path()).await;
            let setter = WeightSetter::new(chain.clone(), NETUID, Some(1), standings.clone());
            Self {
                node,
                chain,
                setter,
                standings,
                _dir: dir,
            }
        }

        /// The round's end: weights set at once.
        async fn set_now(&self) -> Option<WeightsReceipt> {
            let block = self.chain.current_block().await.unwrap();
            let metagraph = self.chain.metagraph(NETUID).await.unwrap();
            self.setter.set(&metagraph, block).await
        }

        /// Timer ticks, one block apart, until weights are set; their block.
        async fn tick_until_set(&self, most_blocks: u64) -> u64 {
            for _ in 0..most_blocks {
                if let Some(receipt) = self.setter.tick().await.unwrap() {
                    return receipt.block + 1;
                }
                self.node.advance(1);
            }
            panic!("no weights within {most_blocks} blocks");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn weights_the_rate_limit_refused_land_at_the_first_block_it_allows() {
        let t = OnTestNode::start(|s| s.neurons[0].last_update = HEAD - 5).await;
        // The round's end sets at once: the chain refuses (the pool's code 6), and the
        // validator goes on.
        assert!(t.set_now().await.is_none());
        assert_eq!(t.node.rejections(), ["Custom error: 6"]);
        // The timer sets them at block 995 + 20, not one later.
        let block = t.tick_until_set(40).await;
        let included = t.node.included();
        assert_eq!(included.len(), 1);
        assert_eq!(included[0].block, HEAD - 5 + 20);
        // The timer waited instead of knocking: the round's end was the only refusal.
        assert_eq!(t.node.rejections().len(), 1);
        assert_eq!(block, included[0].block);
        assert_eq!(included[0].error, None);
        t.standings.store().close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_subnets_version_key_and_minimum_count_are_followed() {
        // Three weights at least, where one miner has a standing.
        let t = OnTestNode::start(|s| s.min_allowed_weights = 3).await;
        let receipt = t.set_now().await.expect("weights set");
        assert_eq!(receipt.uids, [1, 2, 0]);
        assert_eq!(receipt.weights, [65535, 0, 0]);
        assert_eq!(t.node.included()[0].arg_u128("version_key"), 3);

        // The subnet owner raises the version key: the next setting carries it.
        let mut subnet = t.node.subnet(NETUID);
        subnet.weights_version_key = 9;
        t.node.set_subnet(subnet);
        t.node.advance(20);
        assert!(t.set_now().await.is_some());
        let included = t.node.included();
        assert_eq!(included[1].arg_u128("version_key"), 9);
        assert!(included.iter().all(|c| c.error.is_none()));
        t.standings.store().close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refusal_it_cannot_fix_holds_the_timer_for_a_tempo() {
        // No validator permit: only weight on oneself would pass. The timer's interval
        // is 1 block, the tempo 10.
        let t = OnTestNode::start(|s| {
            s.neurons[0].validator_permit = false;
            s.tempo = 10;
        })
        .await;
        assert!(t.setter.tick().await.unwrap().is_none());
        assert_eq!(
            t.node.included()[0].error.as_deref(),
            Some("NeuronNoValidatorPermit")
        );
        // Refused at head 1000: the timer waits until head 1010, then tries once more.
        while t.node.head() < HEAD + 9 {
            t.node.advance(1);
            assert!(t.setter.tick().await.unwrap().is_none());
        }
        assert_eq!(t.node.included().len(), 1);
        t.node.advance(1);
        assert!(t.setter.tick().await.unwrap().is_none());
        assert_eq!(t.node.included().len(), 2);
        assert_eq!(t.standings.last_weights_block(), None);
        t.standings.store().close().await;
    }

    #[test]
    fn rate_limits_and_changed_rules_retry_the_rest_holds() {
        let retries = |e: PalletError| matches!(reaction(&e), Reaction::RetryNextBlock(_));
        assert!(retries(PalletError::SettingWeightsTooFast));
        assert!(retries(PalletError::CommittingWeightsTooFast));
        assert!(retries(PalletError::IncorrectWeightVersionKey));
        assert!(retries(PalletError::WeightVecLengthIsLow));
        assert!(retries(PalletError::CommitRevealEnabled));
        assert!(!retries(PalletError::NeuronNoValidatorPermit));
        assert!(!retries(PalletError::HotKeyNotRegisteredInSubNet));
        assert!(!retries(PalletError::Other(
            "custom validity code 255".into()
        )));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refusals_that_fresh_rules_should_fix_hold_after_three() {
        // Settings with a stale version key (1; the subnet's is 3), as if the owner kept
        // raising it between the validator's read and the chain: each fails in its block;
        // the third holds the timer for a tempo.
        let t = OnTestNode::start(|s| s.tempo = 10).await;
        let stale = WeightRules {
            version_key: 1,
            tempo: 10,
            ..WeightRules::default()
        };
        for attempt in 1..=3 {
            let block = t.chain.current_block().await.unwrap();
            let metagraph = t.chain.metagraph(NETUID).await.unwrap();
            let mut attempts = t.setter.setting.lock().await;
            let receipt = t
                .setter
                .submit(&mut attempts, &metagraph, block, &stale)
                .await;
            assert!(receipt.is_none());
            assert_eq!(attempts.refusals, attempt);
            assert_eq!(
                attempts.hold_until > block,
                attempt == 3,
                "attempt {attempt}"
            );
        }
        let errors: Vec<_> = t.node.included().into_iter().map(|c| c.error).collect();
        assert_eq!(
            errors,
            vec![Some("IncorrectWeightVersionKey".to_string()); 3]
        );
        t.standings.store().close().await;
    }
}
