//! Evaluation keys customers uploaded, each the key of one session (see
//! [`crate::session`]): bounded per customer (oldest evicted), in total bytes (uploads
//! refused when full), in time (the session policy's key lifetime) and in use (its
//! most requests per key). A key is bound to the miner that served its first request,
//! so the miner sees one upload and then the session's requests, as in a synthetic
//! session.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brainlock_api::server::ApiError;
use brainlock_api::{ErrorCode, KeyId};
use brainlock_epistula::AccountId;
use bytes::Bytes;

use crate::config::GatewayLimits;
use crate::session::SessionModel;

/// One uploaded key, as a request sees it.
#[derive(Debug, Clone)]
pub(crate) struct StoredKey {
    /// The key's content id (SHA-256 of `bytes`), which the customer names it by.
    pub id: KeyId,
    /// The wire bytes exactly as uploaded (what the miner receives).
    pub bytes: Bytes,
    /// The miner that holds the key (it served the session's earlier requests).
    pub miner: Option<AccountId>,
}

#[derive(Debug)]
struct Session {
    customer: String,
    key: StoredKey,
    uploaded: Instant,
    requests: u32,
    /// Requests of the session still being answered.
    answering: u32,
    /// When the session's latest answer ended.
    last_answer: Option<Instant>,
}

/// Ids of keys whose sessions ran requests, remembered (the newest) so that a key is
/// never uploaded for a second session: a miner would see a key come back, which no
/// synthetic session does.
const RETIRED_CAPACITY: usize = 4096;

#[derive(Debug, Default)]
struct Store {
    /// Oldest first.
    sessions: VecDeque<Session>,
    total_bytes: u64,
    retired: VecDeque<KeyId>,
}

impl Store {
    /// Ends the session at `index`; what it did is observed by the model.
    fn end(&mut self, index: usize, model: &SessionModel) {
        if let Some(session) = self.sessions.remove(index) {
            self.total_bytes -= session.key.bytes.len() as u64;
            model.observe_session(session.requests);
            if session.requests > 0 {
                if self.retired.len() == RETIRED_CAPACITY {
                    self.retired.pop_front();
                }
                self.retired.push_back(session.key.id);
            }
        }
    }

    /// Whether the key `id` has served requests (in a live session or an ended one).
    fn used(&self, id: &KeyId) -> bool {
        self.retired.contains(id)
            || self
                .sessions
                .iter()
                .any(|s| s.key.id == *id && s.requests > 0)
    }

    fn expire(&mut self, model: &SessionModel, now: Instant) {
        let ttl = model.policy().key_ttl();
        while let Some(session) = self.sessions.front() {
            if now.saturating_duration_since(session.uploaded) < ttl {
                break;
            }
            self.end(0, model);
        }
    }

    fn find(&self, customer: &str, id: &KeyId) -> Option<usize> {
        self.sessions
            .iter()
            .position(|s| s.customer == customer && s.key.id == *id)
    }
}

/// One request of a customer's session being answered: dropping it (when the answer's
/// stream ends, however it ends) starts the customer's pause before the next one.
#[derive(Debug)]
pub(crate) struct RequestInFlight {
    store: KeyStore,
    customer: String,
    id: KeyId,
}

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        self.store
            .end_request(&self.customer, &self.id, Instant::now());
    }
}

/// The customers' sessions. Cloning shares the one store.
#[derive(Debug, Clone)]
pub(crate) struct KeyStore {
    inner: Arc<Mutex<Store>>,
    model: SessionModel,
}

fn unknown_key(id: &KeyId, why: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownKey,
        format!("evaluation key {id} {why}: upload a fresh key"),
    )
}

impl KeyStore {
    /// A store whose sessions follow `model`'s policy and are observed by it.
    pub(crate) fn new(model: SessionModel) -> Self {
        Self {
            inner: Arc::default(),
            model,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // Updates keep `total_bytes` consistent before anything can panic.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a session with a checked key for `customer`, ending its oldest sessions
    /// over the per-customer limit. A key that already served requests is refused:
    /// one key, one session. Re-uploading a key not used yet is harmless.
    pub(crate) fn insert(
        &self,
        customer: &str,
        bytes: Bytes,
        limits: &GatewayLimits,
        now: Instant,
    ) -> Result<KeyId, ApiError> {
        let id = KeyId::of(&bytes);
        let mut store = self.lock();
        store.expire(&self.model, now);
        if store.used(&id) {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "evaluation key {id} has served a session already: generate a fresh key \
                     for each session"
                ),
            ));
        }
        if let Some(index) = store.find(customer, &id) {
            store.end(index, &self.model);
        }
        while store
            .sessions
            .iter()
            .filter(|s| s.customer == customer)
            .count()
            >= limits.max_keys_per_customer as usize
        {
            let oldest = store
                .sessions
                .iter()
                .position(|s| s.customer == customer)
                .expect("counted above");
            store.end(oldest, &self.model);
        }
        let size = bytes.len() as u64;
        if store.total_bytes + size > limits.max_key_store_bytes {
            return Err(ApiError::new(
                ErrorCode::Busy,
                "the gateway holds as many evaluation keys as it can; retry later",
            ));
        }
        store.total_bytes += size;
        store.sessions.push_back(Session {
            customer: customer.to_string(),
            key: StoredKey {
                id,
                bytes,
                miner: None,
            },
            uploaded: now,
            requests: 0,
            answering: 0,
            last_answer: None,
        });
        Ok(id)
    }

    /// Counts one more infer request on the customer's key `id` and returns the key,
    /// with the guard that marks the end of its answer. Refused when the key is unknown
    /// (another customer's is as unknown as a missing one), expired, or has served its
    /// session's most requests.
    ///
    /// The pause observed is the customer's: from the end of the previous answer to
    /// this request (none while an answer is still streaming), which is what a
    /// synthetic session waits after each answer.
    pub(crate) fn begin_request(
        &self,
        customer: &str,
        id: &KeyId,
        now: Instant,
    ) -> Result<(StoredKey, RequestInFlight), ApiError> {
        let mut store = self.lock();
        store.expire(&self.model, now);
        let index = store
            .find(customer, id)
            .ok_or_else(|| unknown_key(id, "is not held for you (expired or never uploaded)"))?;
        let max = self.model.policy().max_requests;
        let session = &mut store.sessions[index];
        if session.requests >= max {
            // Kept until it expires, so that a canary report can still name its miner.
            return Err(unknown_key(id, &format!("has served its {max} requests")));
        }
        if session.requests > 0 {
            let pause = match session.last_answer {
                Some(end) if session.answering == 0 => now.saturating_duration_since(end),
                _ => Duration::ZERO,
            };
            self.model.observe_gap(pause);
        }
        session.requests += 1;
        session.answering += 1;
        let in_flight = RequestInFlight {
            store: self.clone(),
            customer: customer.to_owned(),
            id: *id,
        };
        Ok((session.key.clone(), in_flight))
    }

    /// The answer to one of the session's requests ended (streamed, failed or dropped).
    fn end_request(&self, customer: &str, id: &KeyId, now: Instant) {
        let mut store = self.lock();
        if let Some(index) = store.find(customer, id) {
            let session = &mut store.sessions[index];
            session.answering = session.answering.saturating_sub(1);
            session.last_answer = Some(now);
        }
    }

    /// Records that `miner` now holds the customer's key `id`, or that no miner does
    /// (`None`: the next request goes to a newly drawn miner, with the key).
    pub(crate) fn bind(&self, customer: &str, id: &KeyId, miner: Option<AccountId>) {
        let mut store = self.lock();
        if let Some(index) = store.find(customer, id) {
            store.sessions[index].key.miner = miner;
        }
    }

    /// The miner that holds the customer's key `id`, if the session is live and bound.
    pub(crate) fn bound_miner(&self, customer: &str, id: &KeyId) -> Option<AccountId> {
        let store = self.lock();
        store
            .find(customer, id)
            .and_then(|index| store.sessions[index].key.miner)
    }

    /// Bytes held for all customers.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.lock().total_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionPolicy;

    fn limits() -> GatewayLimits {
        GatewayLimits {
            max_keys_per_customer: 2,
            max_key_store_bytes: 10,
            ..Default::default()
        }
    }

    fn model() -> SessionModel {
        SessionModel::new(SessionPolicy {
            max_requests: 3,
            key_ttl_seconds: 60,
            ..SessionPolicy::default()
        })
    }

    #[test]
    fn keys_are_per_customer_bounded_and_expire() {
        let store = KeyStore::new(model());
        let t0 = Instant::now();
        let l = limits();
        let a1 = store
            .insert("a", Bytes::from_static(b"k1"), &l, t0)
            .unwrap();
        let a2 = store
            .insert("a", Bytes::from_static(b"k2"), &l, t0)
            .unwrap();
        assert!(store.begin_request("a", &a1, t0).is_ok());
        assert!(
            store.begin_request("b", &a1, t0).is_err(),
            "keys are private to their customer"
        );
        let again = store.insert("a", Bytes::from_static(b"k1"), &l, t0);
        assert_eq!(
            again.unwrap_err().status().as_u16(),
            400,
            "one key, one session"
        );
        let a3 = store
            .insert("a", Bytes::from_static(b"k3"), &l, t0)
            .unwrap();
        assert!(store.begin_request("a", &a1, t0).is_err(), "oldest evicted");
        let again = store.insert("b", Bytes::from_static(b"k1"), &l, t0);
        assert!(again.is_err(), "an ended session's key stays retired");
        assert!(store.begin_request("a", &a2, t0).is_ok());
        assert_eq!(store.total_bytes(), 4);
        // Re-uploading the same key does not count twice.
        store
            .insert("a", Bytes::from_static(b"k3"), &l, t0)
            .unwrap();
        assert_eq!(store.total_bytes(), 4);
        // The global cap refuses rather than evicting someone else's key.
        let err = store
            .insert("b", Bytes::from(vec![0u8; 7]), &l, t0)
            .unwrap_err();
        assert_eq!(err.status().as_u16(), 429);
        // Expiry.
        let later = t0 + Duration::from_secs(61);
        assert!(store.begin_request("a", &a3, later).is_err());
        assert_eq!(store.total_bytes(), 0);
        // Sessions observed: the evicted a1 and the expired a2 (one request each); the
        // a3s ran none.
        assert_eq!(store.model.observed().0, 2);
    }

    /// A store holding one key of customer "a", uploaded now.
    fn one_key() -> (SessionModel, KeyStore, Instant, KeyId) {
        let model = model();
        let store = KeyStore::new(model.clone());
        let t0 = Instant::now();
        let id = store
            .insert("a", Bytes::from_static(b"k"), &limits(), t0)
            .unwrap();
        (model, store, t0, id)
    }

    #[test]
    fn a_key_serves_one_session_bound_to_one_miner() {
        let (model, store, t0, id) = one_key();
        let miner = AccountId([7; 32]);
        assert_eq!(store.begin_request("a", &id, t0).unwrap().0.miner, None);
        store.bind("a", &id, Some(miner));
        let second = t0 + Duration::from_secs(2);
        assert_eq!(
            store.begin_request("a", &id, second).unwrap().0.miner,
            Some(miner)
        );
        store.bind("a", &id, None);
        assert_eq!(store.bound_miner("a", &id), None);
        // The third request is the policy's last; the session is kept (a report may
        // still name its miner) until it expires.
        store.bind("a", &id, Some(miner));
        assert!(store.begin_request("a", &id, second).is_ok());
        let refused = store.begin_request("a", &id, second).unwrap_err();
        assert_eq!(refused.status().as_u16(), 404, "{refused:?}");
        assert_eq!(store.bound_miner("a", &id), Some(miner));
        assert_eq!(model.observed(), (0, 2), "two pauses");
        assert!(
            store
                .begin_request("a", &id, t0 + Duration::from_secs(60))
                .is_err()
        );
        assert_eq!(store.total_bytes(), 0);
        assert_eq!(model.observed(), (1, 2), "one session of three requests");
    }

    #[test]
    fn pauses_are_measured_from_the_end_of_the_previous_answer() {
        let (model, store, t0, id) = one_key();
        let first = store.begin_request("a", &id, t0).unwrap();
        // Asked again while the first answer still streams: no pause.
        let overlapping = store.begin_request("a", &id, t0).unwrap();
        let tick = Duration::from_millis(50);
        std::thread::sleep(tick);
        drop(first);
        std::thread::sleep(tick);
        let answered = Instant::now();
        drop(overlapping);
        // The pause runs from the last answer's end: not from a request's start (0.1 s
        // longer) nor from the first answer's end (0.05 s longer).
        store
            .begin_request("a", &id, answered + Duration::from_secs(3))
            .unwrap();
        let gaps = model.observed_gaps();
        assert_eq!(gaps.len(), 2);
        assert_eq!(gaps[0], 0.0);
        assert!((2.9..=3.0).contains(&gaps[1]), "{gaps:?}");
    }
}
