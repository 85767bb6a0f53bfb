//! Evaluation keys customers uploaded, held until they are relayed. Bounded per
//! customer (oldest evicted), in total bytes (uploads refused when full) and in time
//! (keys expire: customers use fresh keys per session).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use brainlock_api::{ErrorCode, KeyId};
use brainlock_fhe::Profile;
use bytes::Bytes;

use crate::config::GatewayLimits;
use brainlock_api::server::ApiError;

/// One uploaded key.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// The key's content id (SHA-256 of `bytes`), which the customer names it by.
    pub id: KeyId,
    /// The parameter profile the key was checked against.
    pub profile: &'static Profile,
    /// The wire bytes exactly as uploaded (what the miner receives).
    pub bytes: Bytes,
    uploaded: Instant,
}

#[derive(Debug, Default)]
struct Store {
    /// (customer, key), oldest first.
    keys: VecDeque<(String, StoredKey)>,
    total_bytes: u64,
}

impl Store {
    fn remove_at(&mut self, index: usize) {
        if let Some((_, key)) = self.keys.remove(index) {
            self.total_bytes -= key.bytes.len() as u64;
        }
    }

    fn expire(&mut self, limits: &GatewayLimits, now: Instant) {
        let ttl = limits.key_ttl();
        while let Some((_, key)) = self.keys.front() {
            if now.saturating_duration_since(key.uploaded) < ttl {
                break;
            }
            self.remove_at(0);
        }
    }
}

/// The evaluation keys customers have uploaded, each held until its TTL runs out
/// or newer keys evict it. Cloning shares the one store.
#[derive(Debug, Clone, Default)]
pub struct KeyStore {
    inner: Arc<Mutex<Store>>,
}

impl KeyStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // Updates keep `total_bytes` consistent before anything can panic.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores a checked key for `customer`, evicting its oldest keys over the
    /// per-customer limit. Re-uploading a held key refreshes it.
    pub fn insert(
        &self,
        customer: &str,
        profile: &'static Profile,
        bytes: Bytes,
        limits: &GatewayLimits,
        now: Instant,
    ) -> Result<KeyId, ApiError> {
        let id = KeyId::of(&bytes);
        let mut store = self.lock();
        store.expire(limits, now);
        if let Some(index) = store
            .keys
            .iter()
            .position(|(c, k)| c == customer && k.id == id)
        {
            store.remove_at(index);
        }
        while store.keys.iter().filter(|(c, _)| c == customer).count()
            >= limits.max_keys_per_customer as usize
        {
            let oldest = store
                .keys
                .iter()
                .position(|(c, _)| c == customer)
                .expect("counted above");
            store.remove_at(oldest);
        }
        let size = bytes.len() as u64;
        if store.total_bytes + size > limits.max_key_store_bytes {
            return Err(ApiError::new(
                ErrorCode::Busy,
                "the gateway holds as many evaluation keys as it can; retry later",
            ));
        }
        store.total_bytes += size;
        store.keys.push_back((
            customer.to_string(),
            StoredKey {
                id,
                profile,
                bytes,
                uploaded: now,
            },
        ));
        Ok(id)
    }

    /// The customer's key `id`; another customer's key is as unknown as a missing one.
    pub fn get(
        &self,
        customer: &str,
        id: &KeyId,
        limits: &GatewayLimits,
        now: Instant,
    ) -> Option<StoredKey> {
        let mut store = self.lock();
        store.expire(limits, now);
        store
            .keys
            .iter()
            .find(|(c, k)| c == customer && k.id == *id)
            .map(|(_, k)| k.clone())
    }

    /// Bytes held for all customers.
    pub fn total_bytes(&self) -> u64 {
        self.lock().total_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> GatewayLimits {
        GatewayLimits {
            max_keys_per_customer: 2,
            max_key_store_bytes: 10,
            key_ttl_seconds: 60,
            ..Default::default()
        }
    }

    fn profile() -> &'static Profile {
        &Profile::all()[0]
    }

    #[test]
    fn keys_are_per_customer_bounded_and_expire() {
        let store = KeyStore::default();
        let t0 = Instant::now();
        let l = limits();
        let a1 = store
            .insert("a", profile(), Bytes::from_static(b"k1"), &l, t0)
            .unwrap();
        let a2 = store
            .insert("a", profile(), Bytes::from_static(b"k2"), &l, t0)
            .unwrap();
        assert!(store.get("a", &a1, &l, t0).is_some());
        assert!(
            store.get("b", &a1, &l, t0).is_none(),
            "keys are private to their customer"
        );
        let a3 = store
            .insert("a", profile(), Bytes::from_static(b"k3"), &l, t0)
            .unwrap();
        assert!(store.get("a", &a1, &l, t0).is_none(), "oldest evicted");
        assert!(store.get("a", &a2, &l, t0).is_some() && store.get("a", &a3, &l, t0).is_some());
        assert_eq!(store.total_bytes(), 4);
        // Re-uploading the same key does not count twice.
        store
            .insert("a", profile(), Bytes::from_static(b"k3"), &l, t0)
            .unwrap();
        assert_eq!(store.total_bytes(), 4);
        // The global cap refuses rather than evicting someone else's key.
        let err = store
            .insert("b", profile(), Bytes::from(vec![0u8; 7]), &l, t0)
            .unwrap_err();
        assert_eq!(err.status().as_u16(), 429);
        // Expiry.
        let later = t0 + Duration::from_secs(61);
        assert!(store.get("a", &a3, &l, later).is_none());
        assert_eq!(store.total_bytes(), 0);
    }
}
