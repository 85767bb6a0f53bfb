//! Per-customer quotas: token buckets for requests and items, and a cap on requests
//! in flight (released when the relayed stream ends, however it ends).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brainlock_api::ErrorCode;
use brainlock_api::server::ApiError;

use crate::config::QuotaConfig;

const SECONDS_PER_HOUR: f64 = 3600.0;

/// A quota refusal; with the refill wait as `Retry-After` when waiting would help.
fn spent(message: String, wait_seconds: Option<f64>) -> ApiError {
    let error = ApiError::new(ErrorCode::QuotaExceeded, message);
    match wait_seconds {
        // An unlimited wait (a zero quota) is advertised as an hour.
        Some(wait) => error.retry_after(
            Duration::try_from_secs_f64(wait.max(1.0).ceil()).unwrap_or(Duration::from_secs(3600)),
        ),
        None => error,
    }
}

/// A bucket that holds up to `per_hour` tokens and refills `per_hour` per hour.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(per_hour: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(per_hour),
            updated: now,
        }
    }

    fn refill(&mut self, per_hour: u32, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        let capacity = f64::from(per_hour);
        self.tokens = (self.tokens + elapsed * capacity / SECONDS_PER_HOUR).min(capacity);
        self.updated = now;
    }

    /// Seconds until `amount` tokens are there (0 if they already are).
    fn wait_seconds(&self, per_hour: u32, amount: f64) -> f64 {
        let missing = amount - self.tokens;
        if missing <= 0.0 || per_hour == 0 {
            return 0.0;
        }
        missing * SECONDS_PER_HOUR / f64::from(per_hour)
    }
}

#[derive(Debug)]
struct Usage {
    requests: Bucket,
    items: Bucket,
    inflight: u32,
}

/// Quota state of every customer, keyed by customer name.
#[derive(Debug, Clone, Default)]
pub(crate) struct QuotaBook {
    usage: Arc<Mutex<HashMap<String, Usage>>>,
}

/// Holds one in-flight slot of a customer; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct InflightGuard {
    book: QuotaBook,
    customer: String,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        let mut usage = self.book.lock();
        if let Some(entry) = usage.get_mut(&self.customer) {
            entry.inflight = entry.inflight.saturating_sub(1);
        }
    }
}

impl QuotaBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Usage>> {
        // A panic while holding the lock cannot leave the counters inconsistent
        // (every update is a single assignment), so a poisoned lock is still usable.
        self.usage
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn with_usage<T>(
        &self,
        customer: &str,
        quota: &QuotaConfig,
        now: Instant,
        f: impl FnOnce(&mut Usage) -> T,
    ) -> T {
        let mut usage = self.lock();
        let entry = usage.entry(customer.to_string()).or_insert_with(|| Usage {
            requests: Bucket::full(quota.requests_per_hour, now),
            items: Bucket::full(quota.items_per_hour, now),
            inflight: 0,
        });
        entry.requests.refill(quota.requests_per_hour, now);
        entry.items.refill(quota.items_per_hour, now);
        f(entry)
    }

    /// Spends one request token.
    pub(crate) fn charge_request(
        &self,
        customer: &str,
        quota: &QuotaConfig,
        now: Instant,
    ) -> Result<(), ApiError> {
        self.with_usage(customer, quota, now, |usage| {
            if usage.requests.tokens < 1.0 {
                let wait = usage.requests.wait_seconds(quota.requests_per_hour, 1.0);
                return Err(spent(
                    format!(
                        "request quota of {} per hour spent; retry in {wait:.0} s",
                        quota.requests_per_hour
                    ),
                    Some(wait),
                ));
            }
            usage.requests.tokens -= 1.0;
            Ok(())
        })
    }

    /// Spends `items` item tokens and takes an in-flight slot, both or neither.
    pub(crate) fn start_inference(
        &self,
        customer: &str,
        quota: &QuotaConfig,
        items: u32,
        now: Instant,
    ) -> Result<InflightGuard, ApiError> {
        self.with_usage(customer, quota, now, |usage| {
            if items > quota.items_per_hour {
                return Err(spent(
                    format!(
                        "{items} inputs exceed the quota of {} per hour",
                        quota.items_per_hour
                    ),
                    None,
                ));
            }
            if usage.items.tokens < f64::from(items) {
                let wait = usage
                    .items
                    .wait_seconds(quota.items_per_hour, f64::from(items));
                return Err(spent(
                    format!(
                        "item quota of {} per hour spent; retry in {wait:.0} s",
                        quota.items_per_hour
                    ),
                    Some(wait),
                ));
            }
            if usage.inflight >= quota.max_inflight {
                return Err(spent(
                    format!(
                        "{} requests already in flight, the most allowed",
                        usage.inflight
                    ),
                    None,
                ));
            }
            usage.items.tokens -= f64::from(items);
            usage.inflight += 1;
            Ok(())
        })?;
        Ok(InflightGuard {
            book: self.clone(),
            customer: customer.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const QUOTA: QuotaConfig = QuotaConfig {
        requests_per_hour: 2,
        items_per_hour: 3,
        max_inflight: 1,
    };

    #[test]
    fn requests_refill_over_the_hour() {
        let book = QuotaBook::default();
        let t0 = Instant::now();
        book.charge_request("a", &QUOTA, t0).unwrap();
        book.charge_request("a", &QUOTA, t0).unwrap();
        let err = book.charge_request("a", &QUOTA, t0).unwrap_err();
        assert_eq!(err.status().as_u16(), 429);
        assert!(err.message.contains("retry in 1800 s"), "{}", err.message);
        // Another customer has its own bucket.
        book.charge_request("b", &QUOTA, t0).unwrap();
        // Half an hour later one request (2 per hour) is back, not two.
        let later = t0 + Duration::from_secs(1800);
        book.charge_request("a", &QUOTA, later).unwrap();
        assert!(book.charge_request("a", &QUOTA, later).is_err());
    }

    #[test]
    fn items_and_inflight_are_taken_together() {
        let book = QuotaBook::default();
        let t0 = Instant::now();
        assert!(
            book.start_inference("a", &QUOTA, 4, t0)
                .unwrap_err()
                .message
                .contains("exceed")
        );
        let guard = book.start_inference("a", &QUOTA, 2, t0).unwrap();
        // In flight: refused, and the refused request spends no items.
        assert!(
            book.start_inference("a", &QUOTA, 1, t0)
                .unwrap_err()
                .message
                .contains("in flight")
        );
        drop(guard);
        let guard = book.start_inference("a", &QUOTA, 1, t0).unwrap();
        drop(guard);
        assert!(
            book.start_inference("a", &QUOTA, 1, t0)
                .unwrap_err()
                .message
                .contains("item quota")
        );
    }
}
