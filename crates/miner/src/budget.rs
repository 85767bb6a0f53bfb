//! A memory budget counted in bytes: admission control reserves what a request will
//! hold (in expanded, in-memory sizes) before any of it is allocated, and the
//! reservation gives the bytes back when dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A shared cap and the bytes reserved against it.
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cap: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(cap: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                cap,
                used: AtomicUsize::new(0),
            }),
        }
    }

    pub fn cap(&self) -> usize {
        self.inner.cap
    }

    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// Reserves `bytes`, or `None` if that would exceed the cap. Never blocks.
    pub fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        self.inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes)
                    .filter(|&total| total <= self.inner.cap)
            })
            .ok()?;
        Some(Reservation {
            budget: self.clone(),
            bytes,
        })
    }
}

/// Bytes held against a [`MemoryBudget`] until dropped.
#[derive(Debug)]
#[must_use = "dropping a reservation releases it at once"]
pub struct Reservation {
    budget: MemoryBudget,
    bytes: usize,
}

impl Reservation {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Moves `bytes` of this reservation into a new one (both still count against the
    /// budget), so parts can be released separately. Takes at most what is held.
    pub fn split(&mut self, bytes: usize) -> Reservation {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        Reservation {
            budget: self.budget.clone(),
            bytes,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget
            .inner
            .used
            .fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_capped_and_released() {
        let budget = MemoryBudget::new(100);
        let a = budget.try_reserve(60).unwrap();
        assert!(budget.try_reserve(41).is_none());
        let b = budget.try_reserve(40).unwrap();
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        drop(b);
        assert_eq!(budget.used(), 0);
        assert!(budget.try_reserve(usize::MAX).is_none());
    }

    #[test]
    fn split_parts_release_independently() {
        let budget = MemoryBudget::new(100);
        let mut whole = budget.try_reserve(90).unwrap();
        let parts: Vec<_> = (0..3).map(|_| whole.split(30)).collect();
        assert_eq!(whole.bytes(), 0);
        assert_eq!(budget.used(), 90);
        drop(whole);
        assert_eq!(budget.used(), 90);
        for (i, part) in parts.into_iter().enumerate() {
            drop(part);
            assert_eq!(budget.used(), 60 - 30 * i);
        }
    }
}
