//! Customers' canary reports. A relayed answer cannot be checked by the validator (it
//! is under the customer's key), so customers check it themselves with canary items
//! and report a failed one. A report costs an honest miner nothing it can lose: the
//! reporting customer's requests avoid the miner for a while (and only that
//! customer's), and the validator checks the miner more often with scored queries,
//! which an honest miner passes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brainlock_epistula::AccountId;

/// Miners one customer avoids at most; the oldest is forgotten past it.
const MAX_AVOIDED_PER_CUSTOMER: usize = 64;

/// Per customer name: the miners avoided and until when.
type Avoided = HashMap<String, Vec<(AccountId, Instant)>>;

/// Which miners each customer's requests avoid, and until when. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Avoidance {
    inner: Arc<Mutex<Avoided>>,
}

impl Avoidance {
    fn lock(&self) -> std::sync::MutexGuard<'_, Avoided> {
        // Every update is a push or a retain on one list: a poisoned lock is consistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `customer`'s requests avoid `miner` for `period` from `now`.
    pub(crate) fn avoid(&self, customer: &str, miner: AccountId, period: Duration, now: Instant) {
        let mut all = self.lock();
        let list = all.entry(customer.to_string()).or_default();
        list.retain(|(m, until)| *m != miner && *until > now);
        if list.len() == MAX_AVOIDED_PER_CUSTOMER {
            list.remove(0);
        }
        list.push((miner, now + period));
    }

    /// The miners `customer`'s requests avoid at `now`.
    pub(crate) fn avoided(&self, customer: &str, now: Instant) -> Vec<AccountId> {
        let mut all = self.lock();
        let Some(list) = all.get_mut(customer) else {
            return Vec::new();
        };
        list.retain(|(_, until)| *until > now);
        list.iter().map(|(miner, _)| *miner).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avoidance_is_per_customer_bounded_and_ends() {
        let avoidance = Avoidance::default();
        let t0 = Instant::now();
        let hour = Duration::from_secs(3600);
        let (m1, m2) = (AccountId([1; 32]), AccountId([2; 32]));
        avoidance.avoid("alice", m1, hour, t0);
        avoidance.avoid("alice", m1, hour, t0);
        avoidance.avoid("alice", m2, 2 * hour, t0);
        assert_eq!(avoidance.avoided("alice", t0), vec![m1, m2]);
        assert!(avoidance.avoided("bob", t0).is_empty());
        assert_eq!(avoidance.avoided("alice", t0 + hour), vec![m2]);
        for i in 0..100u8 {
            avoidance.avoid("bob", AccountId([i; 32]), hour, t0);
        }
        let bob = avoidance.avoided("bob", t0);
        assert_eq!(bob.len(), MAX_AVOIDED_PER_CUSTOMER);
        assert_eq!(bob.last(), Some(&AccountId([99; 32])));
    }
}
