//! Sessions: how a client key is used (DESIGN section 5, "Organic traffic").
//!
//! A miner must not tell a customer's request from a scored one, and the way a key is
//! used is what it sees first: a key uploaded, then some infer requests with some
//! pauses. So the validator's synthetic queries and customers' keys follow one
//! [`SessionPolicy`]: the same most requests per key, the same key lifetime; and the
//! validator draws its sessions' lengths and pauses from a [`SessionModel`] that
//! starts from the configured distribution and, once its gateway has seen enough
//! customer sessions, resamples what customers actually do.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Customer sessions and pauses the model remembers (the newest).
const OBSERVED_CAPACITY: usize = 512;
/// Observations needed before the model resamples them instead of the configured
/// distribution.
pub(crate) const MIN_OBSERVED: usize = 32;

/// Longest pause or window a policy may set, in seconds: a day.
pub(crate) const MAX_SECONDS: f64 = 86_400.0;

/// Why a session policy was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionPolicyError {
    /// A field is zero, negative or not a number; its name.
    #[error("sessions.{0} must be positive")]
    NotPositive(&'static str),
    /// A pause or window is longer than a day; its name.
    #[error("sessions.{0} must be at most {MAX_SECONDS} seconds (a day)")]
    TooLong(&'static str),
    /// `min_gap_seconds` exceeds `max_gap_seconds`.
    #[error("sessions.min_gap_seconds ({min}) exceeds sessions.max_gap_seconds ({max})")]
    GapRange {
        /// `min_gap_seconds`.
        min: f64,
        /// `max_gap_seconds`.
        max: f64,
    },
    /// `mean_requests` is outside `1..=max_requests`.
    #[error("sessions.mean_requests ({mean}) must lie in 1..=max_requests ({max})")]
    MeanRequests {
        /// `mean_requests`.
        mean: f64,
        /// `max_requests`.
        max: u32,
    },
}

/// One policy for every client key: the validator's own and its customers'.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionPolicy {
    /// Most infer requests one key serves; the gateway refuses a customer's key after
    /// that many (a fresh key per session), and no synthetic session is longer.
    pub max_requests: u32,
    /// Mean infer requests of a synthetic session until customers' sessions are
    /// observed (a geometric distribution cut at `max_requests`).
    pub mean_requests: f64,
    /// Shortest pause between two requests of a synthetic session, seconds.
    pub min_gap_seconds: f64,
    /// Longest pause, seconds (pauses are uniform in between until customers' are
    /// observed; observed ones are capped here).
    pub max_gap_seconds: f64,
    /// Seconds a key is usable after its upload, for customers and the validator.
    pub key_ttl_seconds: u64,
    /// A synthetic session starts after a pause drawn uniformly up to this many
    /// seconds: sessions of one round do not reach every miner at the same moment
    /// (colluding miners would see a round start; customers' sessions do not start
    /// together). 0: no pause.
    pub start_spread_seconds: f64,
    /// For this many seconds from a round's start, a miner whose session passed gets
    /// its next one (after its own start pause), instead of one session per miner per
    /// round. Within the fill each miner's sessions run on its own clock, as customers'
    /// do, so colluding miners see rounds only at the fill's edges; worth it where
    /// there are customers to hide among (a gateway), at a key per session. 0: one
    /// session per miner per round.
    pub round_fill_seconds: f64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            max_requests: 4,
            mean_requests: 2.0,
            min_gap_seconds: 0.5,
            max_gap_seconds: 5.0,
            key_ttl_seconds: 900,
            start_spread_seconds: 10.0,
            round_fill_seconds: 0.0,
        }
    }
}

impl SessionPolicy {
    /// Checks what serde cannot: positive, ordered, finite values.
    pub fn validate(&self) -> Result<(), SessionPolicyError> {
        let positive = |value: f64, name| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(SessionPolicyError::NotPositive(name))
            }
        };
        // Pauses and windows: zero allowed where `zero` says so, and at most a day.
        let seconds = |value: f64, name, zero: bool| {
            if !(value.is_finite() && (value > 0.0 || (zero && value == 0.0))) {
                Err(SessionPolicyError::NotPositive(name))
            } else if value > MAX_SECONDS {
                Err(SessionPolicyError::TooLong(name))
            } else {
                Ok(())
            }
        };
        positive(f64::from(self.max_requests), "max_requests")?;
        positive(self.key_ttl_seconds as f64, "key_ttl_seconds")?;
        seconds(self.max_gap_seconds, "max_gap_seconds", false)?;
        seconds(self.min_gap_seconds, "min_gap_seconds", true)?;
        seconds(self.start_spread_seconds, "start_spread_seconds", true)?;
        seconds(self.round_fill_seconds, "round_fill_seconds", true)?;
        if self.min_gap_seconds > self.max_gap_seconds {
            return Err(SessionPolicyError::GapRange {
                min: self.min_gap_seconds,
                max: self.max_gap_seconds,
            });
        }
        if !(1.0..=f64::from(self.max_requests)).contains(&self.mean_requests) {
            return Err(SessionPolicyError::MeanRequests {
                mean: self.mean_requests,
                max: self.max_requests,
            });
        }
        Ok(())
    }

    /// How long a key is usable after its upload.
    pub fn key_ttl(&self) -> Duration {
        Duration::from_secs(self.key_ttl_seconds)
    }

    /// The longest a synthetic session can take besides its requests themselves: its
    /// start pause and its pauses between requests.
    pub fn longest_pauses(&self) -> Duration {
        Duration::from_secs_f64(
            self.start_spread_seconds
                + self.max_gap_seconds * f64::from(self.max_requests.saturating_sub(1)),
        )
    }

    /// How long after a round's start a miner's ended session is followed by another.
    pub fn round_fill(&self) -> Duration {
        Duration::from_secs_f64(self.round_fill_seconds)
    }
}

/// One session's plan: when it starts, how many infer requests, and the pause before
/// each after the first.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionShape {
    /// Pause before the session starts (its key is generated and uploaded).
    pub start: Duration,
    /// Pauses before requests 2, 3, ...: `requests - 1` of them.
    pub gaps: Vec<Duration>,
}

impl SessionShape {
    /// A session of one request, now.
    pub fn single() -> Self {
        Self {
            start: Duration::ZERO,
            gaps: Vec::new(),
        }
    }

    /// Infer requests in the session.
    pub fn requests(&self) -> usize {
        self.gaps.len() + 1
    }
}

#[derive(Debug, Default)]
struct Observed {
    /// Requests per finished customer session, newest last.
    lengths: VecDeque<u32>,
    /// Pauses between a customer's consecutive requests on one key, seconds.
    gaps: VecDeque<f64>,
}

fn remember<T>(queue: &mut VecDeque<T>, value: T) {
    if queue.len() == OBSERVED_CAPACITY {
        queue.pop_front();
    }
    queue.push_back(value);
}

/// The distribution sessions are drawn from. Cloning shares the one model: the gateway
/// observes customers through its clone, the validator draws through its own.
#[derive(Debug, Clone)]
pub struct SessionModel {
    policy: SessionPolicy,
    observed: Arc<Mutex<Observed>>,
}

impl SessionModel {
    /// A model of `policy` with nothing observed yet.
    pub fn new(policy: SessionPolicy) -> Self {
        Self {
            policy,
            observed: Arc::default(),
        }
    }

    /// The policy every key follows.
    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Observed> {
        // Every update is a single push or pop: a poisoned lock is still consistent.
        self.observed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A customer's session ended (its key expired, was replaced or used up) after
    /// `requests` infer requests; sessions that never ran a request say nothing.
    pub fn observe_session(&self, requests: u32) {
        if requests > 0 {
            remember(
                &mut self.lock().lengths,
                requests.min(self.policy.max_requests),
            );
        }
    }

    /// A customer paused `gap` between two requests on one key.
    pub fn observe_gap(&self, gap: Duration) {
        remember(
            &mut self.lock().gaps,
            gap.as_secs_f64().min(self.policy.max_gap_seconds),
        );
    }

    /// The customer pauses the model holds, in seconds, oldest first.
    #[cfg(test)]
    pub(crate) fn observed_gaps(&self) -> Vec<f64> {
        self.lock().gaps.iter().copied().collect()
    }

    /// How many customer sessions and pauses the model holds.
    pub fn observed(&self) -> (usize, usize) {
        let observed = self.lock();
        (observed.lengths.len(), observed.gaps.len())
    }

    /// A session to run: its length and pauses resampled from customers' once
    /// [`MIN_OBSERVED`] of each are known, from the configured distribution until then.
    pub fn draw(&self, rng: &mut impl Rng) -> SessionShape {
        let observed = self.lock();
        let policy = &self.policy;
        let requests = if observed.lengths.len() >= MIN_OBSERVED {
            observed.lengths[rng.random_range(0..observed.lengths.len())]
        } else {
            // Geometric on 1, 2, ... with mean `mean_requests`, cut at the maximum.
            let stop = 1.0 / policy.mean_requests;
            let mut requests = 1;
            while requests < policy.max_requests && rng.random::<f64>() >= stop {
                requests += 1;
            }
            requests
        };
        let gaps = (1..requests)
            .map(|_| {
                let seconds = if observed.gaps.len() >= MIN_OBSERVED {
                    observed.gaps[rng.random_range(0..observed.gaps.len())]
                } else {
                    rng.random_range(policy.min_gap_seconds..=policy.max_gap_seconds)
                };
                Duration::from_secs_f64(seconds)
            })
            .collect();
        let start = Duration::from_secs_f64(rng.random_range(0.0..=policy.start_spread_seconds));
        SessionShape { start, gaps }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn the_configured_distribution_has_its_mean_and_bounds() {
        let model = SessionModel::new(SessionPolicy::default());
        let mut rng = StdRng::seed_from_u64(1);
        let shapes: Vec<_> = (0..20_000).map(|_| model.draw(&mut rng)).collect();
        let mean = shapes.iter().map(|s| s.requests() as f64).sum::<f64>() / shapes.len() as f64;
        // Geometric(1/2) cut at 4: 1 + 1/2 + 1/4 + 1/8 = 1.875.
        assert!((mean - 1.875).abs() < 0.03, "{mean}");
        assert!(shapes.iter().all(|s| (1..=4).contains(&s.requests())));
        let gaps: Vec<f64> = shapes
            .iter()
            .flat_map(|s| s.gaps.iter().map(Duration::as_secs_f64))
            .collect();
        assert!(gaps.iter().all(|g| (0.5..=5.0).contains(g)));
        assert!(shapes.iter().all(|s| s.start <= Duration::from_secs(10)));
        let mean_start = shapes.iter().map(|s| s.start.as_secs_f64()).sum::<f64>() / 20_000.0;
        assert!((mean_start - 5.0).abs() < 0.1, "{mean_start}");
        let mean_gap = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean_gap - 2.75).abs() < 0.05, "{mean_gap}");
    }

    #[test]
    fn observed_customers_replace_the_configured_distribution() {
        let model = SessionModel::new(SessionPolicy::default());
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..MIN_OBSERVED {
            model.observe_session(3);
            model.observe_gap(Duration::from_millis(1200));
        }
        // Out-of-policy observations are capped, empty sessions ignored.
        model.observe_session(0);
        model.observe_session(9);
        model.observe_gap(Duration::from_secs(60));
        assert_eq!(model.observed(), (MIN_OBSERVED + 1, MIN_OBSERVED + 1));
        for _ in 0..200 {
            let shape = model.draw(&mut rng);
            assert!(matches!(shape.requests(), 3 | 4), "{shape:?}");
            for gap in shape.gaps {
                assert!(gap == Duration::from_millis(1200) || gap == Duration::from_secs(5));
            }
        }
        // The clone shares what was observed.
        assert_eq!(model.clone().observed(), model.observed());
    }

    #[test]
    fn validation_names_the_bad_field() {
        SessionPolicy::default().validate().unwrap();
        let bad = |f: fn(&mut SessionPolicy)| {
            let mut policy = SessionPolicy::default();
            f(&mut policy);
            policy.validate().unwrap_err()
        };
        assert_eq!(
            bad(|p| p.max_requests = 0),
            SessionPolicyError::NotPositive("max_requests")
        );
        assert!(matches!(
            bad(|p| p.min_gap_seconds = 9.0),
            SessionPolicyError::GapRange { .. }
        ));
        assert!(matches!(
            bad(|p| p.mean_requests = 5.0),
            SessionPolicyError::MeanRequests { .. }
        ));
        assert_eq!(
            bad(|p| p.max_gap_seconds = f64::NAN),
            SessionPolicyError::NotPositive("max_gap_seconds")
        );
        assert_eq!(
            bad(|p| p.start_spread_seconds = -1.0),
            SessionPolicyError::NotPositive("start_spread_seconds")
        );
        // Durations are built from these: a huge value is refused, not a panic later.
        assert_eq!(
            bad(|p| p.round_fill_seconds = 1e300),
            SessionPolicyError::TooLong("round_fill_seconds")
        );
        assert_eq!(
            bad(|p| p.round_fill_seconds = f64::INFINITY),
            SessionPolicyError::NotPositive("round_fill_seconds")
        );
        let single = SessionPolicy {
            max_requests: 1,
            mean_requests: 1.0,
            start_spread_seconds: 0.0,
            ..SessionPolicy::default()
        };
        single.validate().unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(
            SessionModel::new(single).draw(&mut rng),
            SessionShape::single()
        );
    }
}
