//! The validator's side of the customer gateway: a checked customer request goes to the
//! best-standing miner under the validator's hotkey, through the very code of synthetic
//! queries ([`miner_client`], `upload_key` then `infer`, the same deadlines), so the
//! miner sees nothing that tells the two apart.

use std::net::SocketAddr;
use std::sync::Arc;

use brainlock_api::InferRequest;
use brainlock_api::MinerClient;
use brainlock_epistula::{AccountId, Keypair};
use brainlock_gateway::{FrameStream, Relay, RelayError, RelayRequest};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::leaderboard::{Leaderboard, MinerStanding};
use crate::query::{Deadlines, capped_client};

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

/// [`Relay`] to the miner that stands best on this validator's leaderboard.
pub struct MinerRelay {
    keypair: Arc<Keypair>,
    http: reqwest::Client,
    board: watch::Receiver<Leaderboard>,
    deadlines: Deadlines,
    /// Bound on one result frame ([`crate::query::result_frame_cap`]).
    frame_cap: usize,
}

impl MinerRelay {
    pub(crate) fn new(
        keypair: Arc<Keypair>,
        http: reqwest::Client,
        board: watch::Receiver<Leaderboard>,
        deadlines: Deadlines,
        frame_cap: usize,
    ) -> Self {
        Self {
            keypair,
            http,
            board,
            deadlines,
            frame_cap,
        }
    }

    /// The serving miner with the highest positive standing (ties: the lowest uid).
    /// Miners that never passed a check get no customer traffic.
    fn best_miner(&self) -> Result<(MinerStanding, SocketAddr), RelayError> {
        let board = self.board.borrow();
        board
            .miners
            .iter()
            .filter(|m| m.standing > 0.0)
            .filter_map(|m| m.axon.map(|addr| (m, addr)))
            .max_by(|(a, _), (b, _)| a.standing.total_cmp(&b.standing).then(b.uid.cmp(&a.uid)))
            .map(|(m, addr)| (m.clone(), addr))
            .ok_or_else(|| RelayError::NoMiner("no miner has passed a check yet".into()))
    }
}

impl Relay for MinerRelay {
    async fn relay(&self, request: RelayRequest) -> Result<FrameStream, RelayError> {
        let (miner, addr) = self.best_miner()?;
        let client = capped_client(
            miner_client(addr, miner.hotkey, self.keypair.clone(), self.http.clone()),
            self.frame_cap,
            request.inputs.len(),
        );
        let failed = |stage: &str, e: &dyn std::fmt::Display| {
            RelayError::Miner(format!("uid {} {stage}: {e}", miner.uid))
        };
        tracing::info!(customer = %request.customer, uid = miner.uid, items = request.inputs.len(), "relaying to miner");

        let key_id = tokio::time::timeout(
            self.deadlines.key_upload,
            client.upload_key(request.key_bytes),
        )
        .await
        .map_err(|_| failed("key upload", &"deadline passed"))?
        .map_err(|e| failed("key upload", &e))?;
        if key_id != request.key_id {
            return Err(failed("key upload", &"the miner computed another key id"));
        }
        let infer = InferRequest {
            key_id,
            circuit: request.circuit,
            profile: request.profile,
            inputs: request.inputs,
        };
        let deadline = Instant::now() + self.deadlines.infer;
        let stream = tokio::time::timeout_at(deadline, client.infer(&infer))
            .await
            .map_err(|_| failed("infer", &"deadline passed"))?
            .map_err(|e| failed("infer", &e))?;
        let uid = miner.uid;
        // Frames pass through as they arrive; the first error or the deadline ends it.
        Ok(Box::pin(futures_util::stream::unfold(
            Some(stream),
            move |stream| async move {
                let mut stream = stream?;
                let next = match tokio::time::timeout_at(deadline, stream.next_frame()).await {
                    Ok(Ok(Some(frame))) => Ok(frame),
                    Ok(Ok(None)) => return None,
                    Ok(Err(e)) => Err(RelayError::Miner(format!("uid {uid} stream: {e}"))),
                    Err(_) => Err(RelayError::Miner(format!(
                        "uid {uid} stream: deadline passed"
                    ))),
                };
                let keep = next.is_ok().then_some(stream);
                Some((next, keep))
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn standing(uid: u16, standing: f64, axon: Option<&str>) -> MinerStanding {
        MinerStanding {
            uid,
            hotkey: Keypair::from_seed(brainlock_epistula::CryptoType::Sr25519, &[uid as u8; 32])
                .account_id(),
            axon: axon.map(|a| a.parse().unwrap()),
            queries: 1,
            failure_rate: 0.0,
            last_outcome: None,
            latency: None,
            quality: None,
            score: standing,
            standing,
            sustained_latency: None,
            tier: None,
            weight: 0.0,
            bounty: None,
        }
    }

    fn relay_over(miners: Vec<MinerStanding>) -> MinerRelay {
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
        )
    }

    #[test]
    fn picks_the_best_standing_serving_miner() {
        let relay = relay_over(vec![
            standing(1, 0.4, Some("127.0.0.1:1001")),
            standing(2, 0.9, None),
            standing(3, 0.7, Some("127.0.0.1:1003")),
            standing(4, 0.7, Some("127.0.0.1:1004")),
        ]);
        let (miner, addr) = relay.best_miner().unwrap();
        assert_eq!((miner.uid, addr.port()), (3, 1003));
    }

    #[test]
    fn miners_that_never_passed_get_no_customers() {
        let relay = relay_over(vec![standing(1, 0.0, Some("127.0.0.1:1001"))]);
        assert!(matches!(relay.best_miner(), Err(RelayError::NoMiner(_))));
    }
}
