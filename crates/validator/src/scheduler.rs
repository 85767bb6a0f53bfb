//! One scheduler per miner for scored and relayed requests (DESIGN section 5,
//! "Organic traffic"): each miner gets at most `requests_per_miner` of our requests at
//! once, whichever kind, and relayed ones take at most `relays_per_miner` of those;
//! our key uploads to one miner go one at a time (a miner expands keys in a few slots
//! and refuses an upload beyond them: our own concurrency must not fail its queries).
//! So a miner sees one validator's load the same whoever it carries, customers cannot
//! crowd out our own checks, and a customer flooding the gateway holds only a bounded
//! share of any miner: the rest of its capacity stays free for other validators.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use brainlock_epistula::AccountId;
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// `[organic]`: how relayed and scored requests share miners.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrganicPolicy {
    /// Customers' sessions go to a miner drawn with probability proportional to its
    /// weight among the `top_k` heaviest serving miners; 0 draws among all.
    pub top_k: usize,
    /// Our requests (scored or relayed) in flight to one miner at once.
    pub requests_per_miner: usize,
    /// Of those, relayed ones.
    pub relays_per_miner: usize,
    /// Extra scored sessions of a miner a customer's canaries caught.
    pub extra_checks: u32,
}

impl Default for OrganicPolicy {
    fn default() -> Self {
        Self {
            top_k: 8,
            requests_per_miner: 2,
            relays_per_miner: 1,
            extra_checks: 2,
        }
    }
}

impl OrganicPolicy {
    /// Checks the bounds serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.requests_per_miner == 0 || self.relays_per_miner == 0 {
            return Err(
                "organic.requests_per_miner and organic.relays_per_miner must be positive".into(),
            );
        }
        if self.relays_per_miner >= self.requests_per_miner {
            return Err(format!(
                "organic.relays_per_miner ({}) must be below organic.requests_per_miner ({}): \
                 relayed requests must leave room for scored ones",
                self.relays_per_miner, self.requests_per_miner
            ));
        }
        Ok(())
    }
}

struct Lanes {
    requests: Arc<Semaphore>,
    relays: Arc<Semaphore>,
    uploads: Arc<Semaphore>,
}

/// The right to send one request to a miner; released when dropped.
pub(crate) struct Slot {
    _request: OwnedSemaphorePermit,
    _relay: Option<OwnedSemaphorePermit>,
}

/// The per-miner lanes of every miner we talk to.
pub(crate) struct MinerScheduler {
    policy: OrganicPolicy,
    miners: Mutex<HashMap<AccountId, Arc<Lanes>>>,
}

impl MinerScheduler {
    pub(crate) fn new(policy: OrganicPolicy) -> Self {
        Self {
            policy,
            miners: Mutex::default(),
        }
    }

    pub(crate) fn policy(&self) -> &OrganicPolicy {
        &self.policy
    }

    fn lanes(&self, miner: &AccountId) -> Arc<Lanes> {
        // A poisoned map still holds valid lanes: nothing is half-inserted.
        let mut miners = self
            .miners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        miners
            .entry(*miner)
            .or_insert_with(|| {
                Arc::new(Lanes {
                    requests: Arc::new(Semaphore::new(self.policy.requests_per_miner)),
                    relays: Arc::new(Semaphore::new(self.policy.relays_per_miner)),
                    uploads: Arc::new(Semaphore::new(1)),
                })
            })
            .clone()
    }

    /// Waits for a slot for one of our scored requests. Cancel-safe.
    pub(crate) async fn scored(&self, miner: &AccountId) -> Slot {
        let lanes = self.lanes(miner);
        let request = lanes.requests.clone().acquire_owned().await;
        Slot {
            _request: request.expect("lanes are never closed"),
            _relay: None,
        }
    }

    /// Waits for a slot for a relayed request (a relay lane, then a request lane).
    /// Cancel-safe.
    pub(crate) async fn relayed(&self, miner: &AccountId) -> Slot {
        let lanes = self.lanes(miner);
        let relay = lanes.relays.clone().acquire_owned().await;
        let request = lanes.requests.clone().acquire_owned().await;
        Slot {
            _request: request.expect("lanes are never closed"),
            _relay: Some(relay.expect("lanes are never closed")),
        }
    }

    /// Waits for the miner's upload lane: hold it while uploading a key. Cancel-safe.
    pub(crate) async fn upload(&self, miner: &AccountId) -> OwnedSemaphorePermit {
        let lanes = self.lanes(miner);
        let upload = lanes.uploads.clone().acquire_owned().await;
        upload.expect("lanes are never closed")
    }

    /// Whether a relayed request to `miner` would start now.
    pub(crate) fn relay_free(&self, miner: &AccountId) -> bool {
        let lanes = self.lanes(miner);
        lanes.relays.available_permits() > 0 && lanes.requests.available_permits() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn relays_never_take_the_last_lane_of_a_miner() {
        let scheduler = MinerScheduler::new(OrganicPolicy::default());
        let (a, b) = (AccountId([1; 32]), AccountId([2; 32]));
        let relayed = scheduler.relayed(&a).await;
        assert!(!scheduler.relay_free(&a), "one relay per miner");
        assert!(scheduler.relay_free(&b), "lanes are per miner");
        // A second relay waits; a scored request still gets in.
        let second = tokio::time::timeout(Duration::from_millis(50), scheduler.relayed(&a)).await;
        assert!(second.is_err());
        let scored = scheduler.scored(&a).await;
        // Both lanes busy: scored requests wait too, until one ends.
        let waiting = tokio::time::timeout(Duration::from_millis(50), scheduler.scored(&a)).await;
        assert!(waiting.is_err());
        drop(relayed);
        let third = scheduler.scored(&a).await;
        assert!(
            !scheduler.relay_free(&a),
            "the relay lane is free, no request lane is"
        );
        drop((scored, third));
        assert!(scheduler.relay_free(&a));
        // Uploads to one miner go one at a time.
        let upload = scheduler.upload(&a).await;
        let second = tokio::time::timeout(Duration::from_millis(50), scheduler.upload(&a)).await;
        assert!(second.is_err());
        let _other_miner = scheduler.upload(&b).await;
        drop(upload);
        let _next = scheduler.upload(&a).await;
    }

    #[test]
    fn validation_keeps_room_for_scored_requests() {
        OrganicPolicy::default().validate().unwrap();
        let bad = OrganicPolicy {
            relays_per_miner: 2,
            ..OrganicPolicy::default()
        };
        assert!(bad.validate().unwrap_err().contains("room for scored"));
    }
}
