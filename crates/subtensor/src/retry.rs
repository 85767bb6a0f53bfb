//! Retry with exponential backoff for requests that failed on the connection.

use std::future::Future;
use std::time::Duration;

use brainlock_chain::ChainError;
use tracing::warn;

/// How often and how patiently to retry a request whose connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// Wait after the first failed attempt; doubled after each further one.
    pub initial_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `n + 1` (n counted from 0): doubling, capped.
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.min(20));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// Runs `attempt` until it succeeds, fails with a non-transient error, or the attempts
    /// run out. `on_transient` runs between attempts (to reconnect).
    pub async fn run<T, F, Fut, R, RFut>(
        &self,
        what: &str,
        mut attempt: F,
        mut on_transient: R,
    ) -> Result<T, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ChainError>>,
        R: FnMut() -> RFut,
        RFut: Future<Output = ()>,
    {
        let attempts = self.attempts.max(1);
        let mut n = 0;
        loop {
            match attempt().await {
                Err(e) if e.is_transient() && n + 1 < attempts => {
                    let wait = self.backoff(n);
                    warn!(what, attempt = n + 1, ?wait, error = %e, "chain request failed; retrying");
                    tokio::time::sleep(wait).await;
                    on_transient().await;
                    n += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        assert_eq!(p.backoff(0), Duration::from_millis(100));
        assert_eq!(p.backoff(1), Duration::from_millis(200));
        assert_eq!(p.backoff(2), Duration::from_millis(350));
        assert_eq!(p.backoff(60), Duration::from_millis(350));
    }

    #[tokio::test]
    async fn retries_only_transient_errors() {
        let p = RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        };
        let calls = AtomicU32::new(0);
        let reconnects = AtomicU32::new(0);
        let result: Result<(), _> = p
            .run(
                "test",
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(ChainError::Connection("down".into()))
                },
                || async {
                    reconnects.fetch_add(1, Ordering::SeqCst);
                },
            )
            .await;
        assert!(matches!(result, Err(ChainError::Connection(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(reconnects.load(Ordering::SeqCst), 2);

        calls.store(0, Ordering::SeqCst);
        let result: Result<(), _> = p
            .run(
                "test",
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(ChainError::Rejected("bad".into()))
                },
                || async {},
            )
            .await;
        assert!(matches!(result, Err(ChainError::Rejected(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
