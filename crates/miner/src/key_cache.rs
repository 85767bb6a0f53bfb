//! Expanded evaluation keys by id, bounded in expanded bytes, least recently used
//! evicted first. Keys still used by a running request are never evicted, so the
//! bytes the cache reports are all the key memory there is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use brainlock_api::KeyId;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CacheError {
    #[error("a key of {bytes} expanded bytes exceeds the whole key cache ({cap} bytes)")]
    TooLarge { bytes: usize, cap: usize },
    #[error("the key cache is full of keys in use; retry later")]
    Full,
}

/// Bounded LRU of shared values (expanded keys) keyed by [`KeyId`].
#[derive(Debug)]
pub struct KeyCache<V> {
    cap: usize,
    inner: Mutex<Inner<V>>,
}

#[derive(Debug)]
struct Inner<V> {
    entries: HashMap<KeyId, Entry<V>>,
    used: usize,
    clock: u64,
}

#[derive(Debug)]
struct Entry<V> {
    value: Arc<V>,
    bytes: usize,
    last_used: u64,
}

impl<V> KeyCache<V> {
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                used: 0,
                clock: 0,
            }),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Expanded bytes of the cached keys.
    pub fn used_bytes(&self) -> usize {
        self.lock().used
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key, marked as most recently used.
    pub fn get(&self, id: &KeyId) -> Option<Arc<V>> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner.entries.get_mut(id)?;
        entry.last_used = now;
        Some(entry.value.clone())
    }

    pub fn contains(&self, id: &KeyId) -> bool {
        self.lock().entries.contains_key(id)
    }

    /// Whether a key of `bytes` could be inserted now (room exists or can be made by
    /// evicting unused keys). Checked before an expensive expansion; [`Self::insert`]
    /// checks again.
    pub fn has_room_for(&self, bytes: usize) -> Result<(), CacheError> {
        if bytes > self.cap {
            return Err(CacheError::TooLarge {
                bytes,
                cap: self.cap,
            });
        }
        let inner = self.lock();
        let evictable: usize = inner
            .entries
            .values()
            .filter(|e| Arc::strong_count(&e.value) == 1)
            .map(|e| e.bytes)
            .sum();
        if inner.used - evictable + bytes > self.cap {
            return Err(CacheError::Full);
        }
        Ok(())
    }

    /// Inserts a key of `bytes` expanded bytes, evicting least recently used keys that
    /// no request holds. Returns the ids evicted. Re-inserting an id refreshes it.
    pub fn insert(&self, id: KeyId, value: Arc<V>, bytes: usize) -> Result<Vec<KeyId>, CacheError> {
        if bytes > self.cap {
            return Err(CacheError::TooLarge {
                bytes,
                cap: self.cap,
            });
        }
        let mut inner = self.lock();
        if let Some(old) = inner.entries.remove(&id) {
            inner.used -= old.bytes;
        }
        let mut evicted = Vec::new();
        while inner.used + bytes > self.cap {
            let victim = inner
                .entries
                .iter()
                .filter(|(_, e)| Arc::strong_count(&e.value) == 1)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| *id);
            let Some(victim) = victim else {
                return Err(CacheError::Full);
            };
            let entry = inner.entries.remove(&victim).expect("victim is present");
            inner.used -= entry.bytes;
            evicted.push(victim);
        }
        inner.clock += 1;
        let last_used = inner.clock;
        inner.used += bytes;
        inner.entries.insert(
            id,
            Entry {
                value,
                bytes,
                last_used,
            },
        );
        Ok(evicted)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        // A panic while holding this lock cannot leave the map inconsistent (every
        // mutation is a single insert/remove with its byte count), so poisoning is moot.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> KeyId {
        KeyId::of(&[n])
    }

    #[test]
    fn least_recently_used_goes_first() {
        let cache = KeyCache::new(300);
        for n in 0..3 {
            assert_eq!(cache.insert(id(n), Arc::new(n), 100), Ok(vec![]));
        }
        // Touch 0: 1 is now the least recently used.
        assert_eq!(cache.get(&id(0)).as_deref(), Some(&0));
        assert_eq!(cache.insert(id(3), Arc::new(3), 100), Ok(vec![id(1)]));
        assert!(!cache.contains(&id(1)));
        assert_eq!(cache.used_bytes(), 300);
        // A big key evicts as many as needed.
        assert_eq!(
            cache.insert(id(4), Arc::new(4), 250).map(|v| v.len()),
            Ok(3)
        );
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.used_bytes(), 250);
    }

    #[test]
    fn keys_in_use_are_not_evicted() {
        let cache = KeyCache::new(200);
        cache.insert(id(0), Arc::new(0), 100).unwrap();
        cache.insert(id(1), Arc::new(1), 100).unwrap();
        let held0 = cache.get(&id(0)).unwrap();
        let held1 = cache.get(&id(1)).unwrap();
        assert_eq!(cache.has_room_for(100), Err(CacheError::Full));
        assert_eq!(cache.insert(id(2), Arc::new(2), 100), Err(CacheError::Full));
        assert_eq!(cache.used_bytes(), 200);
        drop(held1);
        assert_eq!(cache.has_room_for(100), Ok(()));
        assert_eq!(cache.insert(id(2), Arc::new(2), 100), Ok(vec![id(1)]));
        drop(held0);
    }

    #[test]
    fn oversize_and_reinsert() {
        let cache = KeyCache::new(100);
        assert_eq!(
            cache.insert(id(0), Arc::new(0), 101),
            Err(CacheError::TooLarge {
                bytes: 101,
                cap: 100
            })
        );
        cache.insert(id(0), Arc::new(0), 60).unwrap();
        cache.insert(id(0), Arc::new(0), 60).unwrap();
        assert_eq!(cache.used_bytes(), 60);
        assert!(cache.get(&id(9)).is_none());
    }
}
