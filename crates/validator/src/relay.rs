//! The validator's side of the customer gateway. A checked customer request goes to a
//! miner under the validator's hotkey, through the very code of synthetic queries
//! ([`miner_client`], the same deadlines, the same per-miner [`MinerScheduler`]), so
//! the miner sees nothing that tells the two apart.
//!
//! Routing (DESIGN section 5, "Organic traffic"): a customer's session stays on the
//! miner that holds its key, as a synthetic session does; a new session goes to a miner
//! drawn with probability proportional to its weight among the `top_k` heaviest, never
//! only to the best, and never to a miner the customer reported. A report makes the
//! miner a suspect, owed extra scored sessions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use brainlock_api::{ErrorCode, InferRequest, MinerClient};
use brainlock_epistula::{AccountId, Keypair};
use brainlock_gateway::{Relay, RelayError, RelayRequest, Relayed, Route};
use rand::Rng;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::leaderboard::{Leaderboard, MinerStanding};
use crate::query::{Deadlines, capped_client};
use crate::scheduler::MinerScheduler;

/// The client the validator talks to one miner with, for scored and relayed queries
/// alike.
pub(crate) fn miner_client(
    addr: SocketAddr,
    hotkey: AccountId,
    keypair: Arc<Keypair>,
    http: reqwest::Client,
) -> MinerClient {
    MinerClient::new(format!("http://{addr}"), hotkey, keypair, http)
}

/// Miners owed extra scored sessions because customers' canaries failed on them.
#[derive(Debug, Default)]
pub(crate) struct Suspects(Mutex<HashMap<AccountId, u32>>);

impl Suspects {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, u32>> {
        // Single inserts and a swap: a poisoned map is still consistent.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `miner` is owed `sessions` extra sessions. Reports do not add up: many
    /// customers reporting one miner cost it no more checks than one (and cost us no
    /// more queries).
    pub(crate) fn add(&self, miner: AccountId, sessions: u32) {
        let mut owed = self.lock();
        let entry = owed.entry(miner).or_default();
        *entry = (*entry).max(sessions);
    }

    /// The extra sessions owed, now handed to a round.
    pub(crate) fn take(&self) -> HashMap<AccountId, u32> {
        std::mem::take(&mut *self.lock())
    }
}

/// Where a relayed request goes, and whether the miner needs the key first.
struct Choice {
    miner: MinerStanding,
    addr: SocketAddr,
    upload: bool,
}

/// [`Relay`] to the miners on this validator's leaderboard.
pub struct MinerRelay {
    keypair: Arc<Keypair>,
    http: reqwest::Client,
    board: watch::Receiver<Leaderboard>,
    deadlines: Deadlines,
    /// Bound on one result frame ([`crate::query::result_frame_cap`]).
    frame_cap: usize,
    scheduler: Arc<MinerScheduler>,
    suspects: Arc<Suspects>,
}

impl MinerRelay {
    pub(crate) fn new(
        keypair: Arc<Keypair>,
        http: reqwest::Client,
        board: watch::Receiver<Leaderboard>,
        deadlines: Deadlines,
        frame_cap: usize,
        scheduler: Arc<MinerScheduler>,
        suspects: Arc<Suspects>,
    ) -> Self {
        Self {
            keypair,
            http,
            board,
            deadlines,
            frame_cap,
            scheduler,
            suspects,
        }
    }

    /// The session's holder while it serves and is not avoided; otherwise a miner
    /// drawn by weight among the `top_k` heaviest allowed ones, preferring those with a
    /// free relay lane. Miners that never passed a check get no customer traffic.
    fn choose(&self, route: &Route, rng: &mut impl Rng) -> Result<Choice, RelayError> {
        let board = self.board.borrow();
        let mut allowed: Vec<(&MinerStanding, SocketAddr)> = board
            .miners
            .iter()
            .filter(|m| m.standing > 0.0 && !route.avoid.contains(&m.hotkey))
            .filter_map(|m| m.axon.map(|addr| (m, addr)))
            .collect();
        if let Some((miner, addr)) = allowed.iter().find(|(m, _)| Some(m.hotkey) == route.holder) {
            return Ok(Choice {
                miner: (*miner).clone(),
                addr: *addr,
                upload: false,
            });
        }
        if allowed.is_empty() {
            return Err(RelayError::NoMiner(
                "no miner you may use has passed a check yet".into(),
            ));
        }
        // Before the first weights are set, standings stand in for them.
        let by_weight = allowed.iter().any(|(m, _)| m.weight > 0.0);
        let mass = |m: &MinerStanding| if by_weight { m.weight } else { m.standing };
        allowed.sort_by(|(a, _), (b, _)| mass(b).total_cmp(&mass(a)).then(a.uid.cmp(&b.uid)));
        let top_k = self.scheduler.policy().top_k;
        if top_k > 0 {
            allowed.truncate(top_k);
        }
        let free: Vec<_> = allowed
            .iter()
            .copied()
            .filter(|(m, _)| self.scheduler.relay_free(&m.hotkey))
            .collect();
        let pool = if free.is_empty() { allowed } else { free };
        let total: f64 = pool.iter().map(|(m, _)| mass(m)).sum();
        let mut ticket = rng.random::<f64>() * total;
        let (miner, addr) = pool
            .iter()
            .find(|(m, _)| {
                ticket -= mass(m);
                ticket < 0.0
            })
            .unwrap_or_else(|| pool.last().expect("not empty"));
        Ok(Choice {
            miner: (*miner).clone(),
            addr: *addr,
            upload: true,
        })
    }
}

impl Relay for MinerRelay {
    async fn relay(&self, request: RelayRequest) -> Result<Relayed, RelayError> {
        let Choice {
            miner,
            addr,
            upload,
        } = self.choose(&request.route, &mut rand::rng())?;
        let uid = miner.uid;
        let failed = |stage: &str, e: &dyn std::fmt::Display| {
            RelayError::Miner(format!("uid {uid} {stage}: {e}"))
        };
        let slot = tokio::time::timeout(
            self.deadlines.key_upload,
            self.scheduler.relayed(&miner.hotkey),
        )
        .await
        .map_err(|_| RelayError::NoMiner(format!("uid {uid} stayed busy")))?;
        let client = capped_client(
            miner_client(addr, miner.hotkey, self.keypair.clone(), self.http.clone()),
            self.frame_cap,
            request.inputs.len(),
        );
        tracing::info!(customer = %request.customer, uid, items = request.inputs.len(), upload, "relaying to miner");

        let upload_key = || async {
            let _lane = self.scheduler.upload(&miner.hotkey).await;
            let key_id = tokio::time::timeout(
                self.deadlines.key_upload,
                client.upload_key(request.key_bytes.clone()),
            )
            .await
            .map_err(|_| failed("key upload", &"deadline passed"))?
            .map_err(|e| failed("key upload", &e))?;
            if key_id != request.key_id {
                return Err(failed("key upload", &"the miner computed another key id"));
            }
            Ok(())
        };
        if upload {
            upload_key().await?;
        }
        let infer = InferRequest {
            key_id: request.key_id,
            circuit: request.circuit,
            profile: request.profile,
            inputs: request.inputs,
        };
        let deadline = Instant::now() + self.deadlines.infer;
        let mut answer = tokio::time::timeout_at(deadline, client.infer(&infer))
            .await
            .map_err(|_| failed("infer", &"deadline passed"))?;
        if !upload
            && let Err(e) = &answer
            && e.code() == Some(ErrorCode::UnknownKey)
        {
            // The holder let the key go (its cache is bounded): upload it again once.
            upload_key().await?;
            answer = tokio::time::timeout_at(deadline, client.infer(&infer))
                .await
                .map_err(|_| failed("infer", &"deadline passed"))?;
        }
        let stream = answer.map_err(|e| failed("infer", &e))?;
        // Frames pass through as they arrive; the first error or the deadline ends it,
        // and the miner's lane is held until then.
        let frames = futures_util::stream::unfold(Some((stream, slot)), move |state| async move {
            let (mut stream, slot) = state?;
            let next = match tokio::time::timeout_at(deadline, stream.next_frame()).await {
                Ok(Ok(Some(frame))) => Ok(frame),
                Ok(Ok(None)) => return None,
                Ok(Err(e)) => Err(RelayError::Miner(format!("uid {uid} stream: {e}"))),
                Err(_) => Err(RelayError::Miner(format!(
                    "uid {uid} stream: deadline passed"
                ))),
            };
            let keep = next.is_ok().then_some((stream, slot));
            Some((next, keep))
        });
        Ok(Relayed {
            miner: miner.hotkey,
            frames: Box::pin(frames),
        })
    }

    fn suspect(&self, miner: AccountId) {
        let sessions = self.scheduler.policy().extra_checks;
        tracing::warn!(%miner, sessions, "a customer's canaries failed on this miner: checking it");
        self.suspects.add(miner, sessions);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::OrganicPolicy;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::time::Duration;

    fn standing(uid: u16, weight: f64, axon: Option<&str>) -> MinerStanding {
        MinerStanding {
            uid,
            hotkey: AccountId([uid as u8; 32]),
            axon: axon.map(|a| a.parse().unwrap()),
            queries: 1,
            failure_rate: 0.0,
            last_outcome: None,
            latency: None,
            quality: None,
            score: weight,
            standing: weight,
            sustained_latency: None,
            tier: None,
            weight,
            bounty: None,
        }
    }

    fn relay_over(miners: Vec<MinerStanding>, top_k: usize) -> MinerRelay {
        let (_, board) = watch::channel(Leaderboard {
            miners,
            ..Leaderboard::default()
        });
        MinerRelay::new(
            Arc::new(Keypair::from_seed(
                brainlock_epistula::CryptoType::Sr25519,
                &[9; 32],
            )),
            reqwest::Client::new(),
            board,
            Deadlines {
                key_upload: Duration::from_secs(1),
                infer: Duration::from_secs(1),
            },
            1 << 20,
            Arc::new(MinerScheduler::new(OrganicPolicy {
                top_k,
                ..OrganicPolicy::default()
            })),
            Arc::default(),
        )
    }

    fn draws(relay: &MinerRelay, route: &Route, n: usize) -> HashMap<u16, usize> {
        let mut rng = StdRng::seed_from_u64(5);
        let mut counts = HashMap::new();
        for _ in 0..n {
            let choice = relay.choose(route, &mut rng).unwrap();
            assert!(choice.upload);
            *counts.entry(choice.miner.uid).or_default() += 1;
        }
        counts
    }

    #[test]
    fn new_sessions_go_to_miners_in_proportion_to_weight() {
        let relay = relay_over(
            vec![
                standing(1, 0.1, Some("127.0.0.1:1001")),
                standing(2, 0.9, None),
                standing(3, 0.3, Some("127.0.0.1:1003")),
                standing(4, 0.6, Some("127.0.0.1:1004")),
                standing(5, 0.0, Some("127.0.0.1:1005")),
            ],
            0,
        );
        let counts = draws(&relay, &Route::default(), 10_000);
        assert_eq!(counts.get(&2), None, "no axon, no customers");
        assert_eq!(counts.get(&5), None, "never passed, no customers");
        let share = |uid| counts.get(&uid).copied().unwrap_or(0) as f64 / 10_000.0;
        for (uid, expected) in [(1, 0.1), (3, 0.3), (4, 0.6)] {
            assert!(
                (share(uid) - expected).abs() < 0.02,
                "uid {uid}: {counts:?}"
            );
        }
    }

    #[test]
    fn top_k_holders_and_avoidance_steer_the_draw() {
        let miners = vec![
            standing(1, 0.1, Some("127.0.0.1:1001")),
            standing(3, 0.3, Some("127.0.0.1:1003")),
            standing(4, 0.6, Some("127.0.0.1:1004")),
        ];
        let top2 = relay_over(miners.clone(), 2);
        let counts = draws(&top2, &Route::default(), 2_000);
        assert_eq!(counts.get(&1), None, "outside the top 2");
        assert!(counts[&3] > 0 && counts[&4] > counts[&3]);

        let relay = relay_over(miners, 0);
        let avoid = Route {
            holder: None,
            avoid: vec![AccountId([4; 32]), AccountId([3; 32])],
        };
        assert_eq!(draws(&relay, &avoid, 100).keys().collect::<Vec<_>>(), [&1]);
        let mut rng = StdRng::seed_from_u64(1);
        let held = Route {
            holder: Some(AccountId([1; 32])),
            avoid: Vec::new(),
        };
        let choice = relay.choose(&held, &mut rng).unwrap();
        assert_eq!((choice.miner.uid, choice.upload), (1, false));
        // An avoided holder loses the session.
        let both = Route {
            holder: Some(AccountId([1; 32])),
            avoid: vec![AccountId([1; 32])],
        };
        let choice = relay.choose(&both, &mut rng).unwrap();
        assert!(choice.upload && choice.miner.uid != 1);
        let all = Route {
            holder: None,
            avoid: [1, 3, 4].map(|u| AccountId([u; 32])).to_vec(),
        };
        assert!(matches!(
            relay.choose(&all, &mut rng),
            Err(RelayError::NoMiner(_))
        ));
    }

    #[test]
    fn suspects_are_owed_the_largest_count_once() {
        let suspects = Suspects::default();
        let m = AccountId([1; 32]);
        suspects.add(m, 2);
        suspects.add(m, 1);
        assert_eq!(suspects.take(), HashMap::from([(m, 2)]));
        assert!(suspects.take().is_empty());
    }
}
