//! A customer flooding a validator's gateway at its quota cannot make the best miner
//! fail another validator's scored queries (DESIGN section 5, "Organic traffic").
//!
//! One real miner with room for two requests (one running on its one worker, one
//! waiting: `workers`, `limits.queue_items`) and two key uploads at once
//! (`limits.concurrent_key_uploads`).
//! Validator A serves a gateway; its customer keeps four requests in flight, the most
//! its quota allows, all relayed to that miner. Validator B scores the miner meanwhile.
//! A relays at most one request to a miner at a time (`organic.relays_per_miner`) and
//! uploads one key at a time, so the miner always has room for B: every one of B's queries passes, while the
//! customer's extra requests wait at A's gateway or are told to come back later.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use brainlock_api::{CircuitId, InferRequest, MinerClient, ProfileId};
use brainlock_chain::{Chain, Role};
use brainlock_fhe::{ClientKey, Profile};
use brainlock_gateway::{GatewayLimits, QuotaConfig, SessionPolicy};
use brainlock_validator::{Validator, ValidatorConfig};
use bytes::Bytes;
use tokio::sync::Mutex;

use common::*;

const API_KEY: &str = "blk_flooding_customer";
/// The customer's requests in flight at once: its quota.
const IN_FLIGHT: usize = 4;
/// Requests one customer key serves at A's gateway.
const SESSION_REQUESTS: u32 = 8;

/// One customer session's material: a fresh key and one encrypted input under it.
struct SessionMaterial {
    key: Bytes,
    input: Bytes,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flooding_customer_cannot_make_the_miner_fail_another_validator() {
    let TestSubnet {
        dir,
        registry,
        validator: validator_a,
    } = test_subnet().await;
    let validator_b = keypair(2);
    register(&registry, &validator_b, Role::Validator, 0.0).await;

    let miner_kp = keypair(40);
    register(&registry, &miner_kp, Role::Miner, 0.0).await;
    let mut miner = miner_config(&registry, validator_a.account_id());
    miner.auth.allow.push(validator_b.account_id().to_string());
    miner.workers = 1;
    miner.limits.queue_items = 1;
    miner.limits.max_batch = 1;
    miner.limits.concurrent_key_uploads = Some(2);
    let miner_addr = start_miner(&miner, &registry, &miner_kp).await;
    announce(&registry, &miner_kp, miner_addr).await;

    let sessions = SessionPolicy {
        max_requests: SESSION_REQUESTS,
        mean_requests: 1.0,
        start_spread_seconds: 0.0,
        ..SessionPolicy::default()
    };
    let config_a = ValidatorConfig {
        infer_timeout: Some(Duration::from_secs(60)),
        key_upload_timeout: Duration::from_secs(60),
        sessions,
        gateway: Some(one_customer_gateway(
            "flood",
            API_KEY,
            Some(QuotaConfig {
                requests_per_hour: 100_000,
                items_per_hour: 100_000,
                max_inflight: IN_FLIGHT as u32,
            }),
            GatewayLimits {
                max_keys_per_customer: IN_FLIGHT as u32,
                ..GatewayLimits::default()
            },
        )),
        ..validator_config(&dir.path().join("a"), &registry)
    };
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    let gateway_settings = config_a.gateway.clone().unwrap();
    let chain_a: Arc<dyn Chain> = Arc::new(chain_as(&registry, &validator_a));
    let mut a = Validator::new(config_a, chain_a, Arc::new(keypair(1)))
        .await
        .unwrap();
    // One scored round: the miner passes, so A's gateway may relay to it.
    let round = a.round_once().await.unwrap();
    assert_eq!(round.passed, 1, "{round:?}");
    let (gateway_addr, stop, gateway_task) =
        serve_gateway(&a, gateway_settings, validator_a.account_id()).await;

    // The customer's keys and inputs, made before the flood starts.
    let circuit = brainlock_circuit::test_tiny();
    let profile = Profile::default_for(&circuit.id);
    let material: Vec<SessionMaterial> = (0..IN_FLIGHT as u128)
        .map(|seed| {
            let (client, compressed) = ClientKey::generate(profile, Some(100 + seed));
            let values = vec![1i64; circuit.input_shape.len()];
            SessionMaterial {
                key: Bytes::from(compressed.to_bytes()),
                input: Bytes::from(client.encrypt_input(&circuit, &values).unwrap().to_bytes()),
            }
        })
        .collect();
    let material = Arc::new(Mutex::new(material));

    // The flood: each lane takes a session and sends its requests back to back, until
    // B is done or the sessions run out.
    let flooding = Arc::new(AtomicBool::new(true));
    let served = Arc::new(AtomicUsize::new(0));
    let refused: Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>> = Arc::default();
    let gateway = MinerClient::with_api_key(
        format!("http://{gateway_addr}"),
        API_KEY,
        reqwest::Client::new(),
    );
    let mut lanes = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (gateway, material, flooding) = (gateway.clone(), material.clone(), flooding.clone());
        let (served, refused) = (served.clone(), refused.clone());
        let circuit_id = CircuitId::new(circuit.id.clone()).unwrap();
        let profile_id = ProfileId::new(profile.id).unwrap();
        lanes.push(tokio::spawn(async move {
            loop {
                // Taken in its own statement: the lock is not held for the session.
                let next = material.lock().await.pop();
                let Some(session) = next else { break };
                let key_id = gateway.upload_key(session.key).await.unwrap();
                let request = InferRequest {
                    key_id,
                    circuit: circuit_id.clone(),
                    profile: profile_id.clone(),
                    inputs: vec![session.input],
                };
                for _ in 0..SESSION_REQUESTS {
                    if !flooding.load(Ordering::SeqCst) {
                        return;
                    }
                    let answered = async {
                        let mut frames = gateway.infer(&request).await?;
                        while frames.next_frame().await?.is_some() {}
                        Ok::<_, brainlock_api::ClientError>(())
                    };
                    match answered.await {
                        Ok(()) => {
                            served.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            let code = e.code().map_or_else(|| e.to_string(), |c| c.to_string());
                            *refused.lock().unwrap().entry(code).or_default() += 1;
                        }
                    }
                }
            }
        }));
    }

    // B scores the miner while the flood runs.
    let chain_b: Arc<dyn Chain> = Arc::new(chain_as(&registry, &validator_b));
    let config_b = ValidatorConfig {
        infer_timeout: Some(Duration::from_secs(60)),
        ..validator_config(&dir.path().join("b"), &registry)
    };
    let mut b = Validator::new(config_b, chain_b, Arc::new(validator_b))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let served_before_b = served.load(Ordering::SeqCst);
    let mut b_rounds = Vec::new();
    for _ in 0..3 {
        b_rounds.push(b.round_once().await.unwrap());
    }
    let served_during_b = served.load(Ordering::SeqCst) - served_before_b;
    flooding.store(false, Ordering::SeqCst);
    for lane in lanes {
        lane.await.unwrap();
    }
    println!(
        "B's rounds {b_rounds:?}; customer requests served {} (during B's rounds {served_during_b}), refused {:?}",
        served.load(Ordering::SeqCst),
        refused.lock().unwrap()
    );
    for round in &b_rounds {
        assert_eq!((round.queried, round.passed), (1, 1), "{round:?}");
    }
    assert!(
        served_during_b > 0,
        "the flood was served while B scored the miner"
    );

    stop.send(true).unwrap();
    gateway_task.await.unwrap().unwrap();
    a.close().await;
    b.close().await;
}
