//! Weight setting, on its own timer: it reads the shared standings and never waits for
//! a round, so a slow or hanging miner cannot delay weights.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use brainlock_chain::{Chain, ChainError, Metagraph, WeightsReceipt};
use tokio::task::JoinHandle;

use crate::clock::now_ms;
use crate::standings::Standings;
use crate::store::WeightSetting;

/// Sets weights from the shared standings, at most one setting at a time.
pub(crate) struct WeightSetter {
    chain: Arc<dyn Chain>,
    netuid: u16,
    /// Blocks between two settings; `None`: the subnet's tempo.
    interval: Option<u64>,
    standings: Arc<Standings>,
    /// The round's end and the timer may find weights due together: one sets them,
    /// holding this lock, which keeps the block of the last attempt so that no block
    /// sees two (a failed attempt is retried at a later block, not at once).
    setting: tokio::sync::Mutex<Option<u64>>,
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
            setting: tokio::sync::Mutex::new(None),
        }
    }

    /// Sets weights when `interval` blocks have passed since the last successful
    /// setting and the chain's rate limit allows it.
    pub(crate) async fn maybe_set(
        &self,
        metagraph: &Metagraph,
        block: u64,
    ) -> Option<WeightsReceipt> {
        let mut last_attempt = self.setting.lock().await;
        let rules = match self.chain.weight_rules(self.netuid).await {
            Ok(rules) => rules,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read weight rules; weights not set");
                return None;
            }
        };
        self.standings.set_tempo(rules.tempo);
        let interval = self.interval.unwrap_or(u64::from(rules.tempo));
        if let Some(last) = self.standings.last_weights_block()
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
        self.submit(&mut last_attempt, metagraph, block, rules.version_key)
            .await
    }

    /// Sets the current weights now (the chain still applies its rules).
    pub(crate) async fn set(
        &self,
        metagraph: &Metagraph,
        block: u64,
        version_key: u64,
    ) -> Option<WeightsReceipt> {
        let mut last_attempt = self.setting.lock().await;
        self.submit(&mut last_attempt, metagraph, block, version_key)
            .await
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
                    tracing::warn!(error = format!("{e:#}"), "weight timer tick failed");
                }
            }
        })
    }

    async fn submit(
        &self,
        last_attempt: &mut Option<u64>,
        metagraph: &Metagraph,
        block: u64,
        version_key: u64,
    ) -> Option<WeightsReceipt> {
        if *last_attempt == Some(block) {
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
        *last_attempt = Some(block);
        let result = self
            .chain
            .set_weights(self.netuid, &weights, version_key)
            .await;
        let (receipt, outcome) = match result {
            Ok(receipt) => {
                tracing::info!(block = receipt.block, uids = ?receipt.uids, weights = ?receipt.weights, submission = ?receipt.submission, "weights set");
                self.standings.weights_set(block, version);
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
            tracing::warn!(error = %e, "cannot store the weight setting");
        }
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
        let store = Store::open(dir.path().join("history.sqlite").to_str().unwrap())
            .await
            .unwrap();
        let standings = Arc::new(
            Standings::restore(store, "conv3x3", RewardPolicy::default())
                .await
                .unwrap(),
        );
        query(&standings, 1, 1, Some(1.0)).await;
        let setter = WeightSetter::new(Arc::new(registry.clone()), 55, Some(1), standings.clone());
        let metagraph = registry.metagraph(55).await.unwrap();
        let block = registry.current_block().await.unwrap();

        assert!(setter.set(&metagraph, block, 0).await.is_some());
        // The round's end and the timer, at the same block.
        assert!(setter.maybe_set(&metagraph, block).await.is_none());
        assert!(setter.set(&metagraph, block, 0).await.is_none());
        let ledger = read_ledger(registry.ledger_path()).unwrap();
        assert_eq!(ledger.len(), 1, "{ledger:?}");
        assert_eq!(
            standings.store().last_weights_block().await.unwrap(),
            Some(block)
        );
        standings.store().close().await;
    }
}
