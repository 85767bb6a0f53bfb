//! Replay protection: each request uuid is accepted once while its timestamp is inside
//! the window (after that the timestamp check rejects it anyway, so it is forgotten).
//!
//! A uuid is *reserved* when a request's headers pass, before its body arrives, so two
//! copies of one request racing each other cannot both pass. Only a request whose
//! signature then verifies *confirms* its reservation; an unauthenticated one releases
//! it when dropped. Confirmed entries are therefore bounded by honest senders' traffic in
//! one window, and pending ones by requests in flight; `capacity` caps both together.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use thiserror::Error;
use uuid::Uuid;

/// Why [`ReplayCache::reserve`] refused a uuid.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplayError {
    /// The uuid is already reserved or was confirmed within its window: a replay.
    #[error("uuid already used")]
    Replayed,
    /// `capacity` uuids are already held; the request should be retried later.
    #[error("replay cache is full")]
    Full,
}

#[derive(Default)]
struct Entries {
    /// `None` while pending, `Some(expiry)` once confirmed.
    by_uuid: HashMap<u128, Option<u64>>,
    /// Confirmed entries ordered by expiry (unix ms), for cheap purging.
    by_expiry: BTreeSet<(u64, u128)>,
}

impl Entries {
    fn purge_expired(&mut self, now_ms: u64) {
        while let Some(&(expiry, uuid)) = self.by_expiry.first() {
            if expiry > now_ms {
                break;
            }
            self.by_expiry.pop_first();
            self.by_uuid.remove(&uuid);
        }
    }
}

/// A bounded, time-windowed set of seen request uuids. Clones share one set.
#[derive(Clone)]
pub(crate) struct ReplayCache {
    entries: Arc<Mutex<Entries>>,
    capacity: usize,
}

impl ReplayCache {
    /// An empty cache holding at most `capacity` uuids (pending plus confirmed).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Arc::default(),
            capacity,
        }
    }

    /// Reserves `uuid` until its request is authenticated or given up. `expires_at_ms`
    /// is when the request's timestamp leaves the window.
    pub(crate) fn reserve(
        &self,
        uuid: Uuid,
        expires_at_ms: u64,
        now_ms: u64,
    ) -> Result<Reservation, ReplayError> {
        let key = uuid.as_u128();
        let mut entries = lock(&self.entries);
        entries.purge_expired(now_ms);
        if entries.by_uuid.contains_key(&key) {
            return Err(ReplayError::Replayed);
        }
        if entries.by_uuid.len() >= self.capacity {
            return Err(ReplayError::Full);
        }
        entries.by_uuid.insert(key, None);
        Ok(Reservation {
            entries: Arc::clone(&self.entries),
            key,
            expires_at_ms,
            confirmed: false,
        })
    }

    /// Uuids held (pending and confirmed, including expired ones not yet purged).
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.entries).by_uuid.len()
    }

    /// True when no uuid is held.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// The set stays consistent even if a holder panicked, so a poisoned lock is usable.
fn lock(entries: &Mutex<Entries>) -> MutexGuard<'_, Entries> {
    entries
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A uuid held for one request; released on drop unless confirmed.
pub(crate) struct Reservation {
    entries: Arc<Mutex<Entries>>,
    key: u128,
    expires_at_ms: u64,
    confirmed: bool,
}

impl Reservation {
    /// Marks the uuid as used until its expiry.
    pub(crate) fn confirm(mut self) {
        let mut entries = lock(&self.entries);
        entries.by_uuid.insert(self.key, Some(self.expires_at_ms));
        entries.by_expiry.insert((self.expires_at_ms, self.key));
        self.confirmed = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.confirmed {
            lock(&self.entries).by_uuid.remove(&self.key);
        }
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reservation({})", Uuid::from_u128(self.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmed_uuid_is_rejected_until_it_expires() {
        let cache = ReplayCache::new(10);
        let id = Uuid::new_v4();
        cache.reserve(id, 1_000, 0).unwrap().confirm();
        assert_eq!(
            cache.reserve(id, 1_000, 999).unwrap_err(),
            ReplayError::Replayed
        );
        // Past the expiry the entry is purged (the timestamp check now guards it).
        assert!(cache.reserve(id, 2_000, 1_000).is_ok());
    }

    #[test]
    fn pending_uuid_blocks_a_racing_copy_and_is_released_on_failure() {
        let cache = ReplayCache::new(10);
        let id = Uuid::new_v4();
        let pending = cache.reserve(id, 1_000, 0).unwrap();
        assert_eq!(
            cache.reserve(id, 1_000, 0).unwrap_err(),
            ReplayError::Replayed
        );
        drop(pending);
        assert!(cache.is_empty());
        assert!(cache.reserve(id, 1_000, 0).is_ok());
    }

    #[test]
    fn capacity_bounds_memory_and_expiry_frees_room() {
        let cache = ReplayCache::new(3);
        for _ in 0..3 {
            cache.reserve(Uuid::new_v4(), 100, 0).unwrap().confirm();
        }
        assert_eq!(
            cache.reserve(Uuid::new_v4(), 100, 50).unwrap_err(),
            ReplayError::Full
        );
        assert_eq!(cache.len(), 3);
        assert!(cache.reserve(Uuid::new_v4(), 200, 100).is_ok());
        assert_eq!(
            cache.len(),
            0,
            "expired entries purged, dropped reservation released"
        );
    }
}
