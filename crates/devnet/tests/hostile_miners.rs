//! A validator facing ten hostile miners and one honest one, on loopback HTTP with the
//! local registry as the chain. The hostile ones hang (accept, never answer), trickle
//! bytes (one a second), or stream endlessly (well-formed frames forever, garbage
//! forever). The validator must still finish every round by its deadline, set weights
//! while the hanging queries are still running, score the honest miner, and keep its
//! resident memory bounded. Its own test binary, so no other test's memory is counted.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use brainlock_api::{Frame, FramePayload, KeyId, KeyUploadResponse, encode_frame, routes};
use brainlock_chain::{Chain, Role};
use brainlock_epistula::{AccountId, Keypair};
use brainlock_testkit::rss::{RssSampler, resident_bytes};
use brainlock_validator::config::ScoringTable;
use brainlock_validator::store::{FailureKind, Outcome, Store};
use brainlock_validator::{Validator, ValidatorConfig};
use bytes::Bytes;
use futures_util::stream;
use rand::RngCore;

use common::*;

/// Eleven fresh client keys (about 4 s of CPU each with the packing key) on a 2-core
/// machine, plus the honest miner's key expansion, with room to spare.
const ROUND_DEADLINE: Duration = Duration::from_secs(60);
/// Longer than the round: a query stuck in its infer stream is cut by the round.
const INFER_DEADLINE: Duration = Duration::from_secs(90);
const KEY_UPLOAD_DEADLINE: Duration = Duration::from_secs(6);
const QUERY_MEMORY: usize = 800 << 20;
/// Slack over the two memory budgets (validator queries, honest miner) for allocator
/// and runtime overhead.
const RSS_SLACK: usize = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Hostile {
    /// Accepts the TCP connection, never reads nor answers.
    Hang,
    /// Answers the key upload one byte a second.
    TrickleKeyReply,
    /// Acknowledges the key, then sends a result frame one byte a second.
    TrickleFrame,
    /// Acknowledges the key, then streams well-formed result frames forever.
    EndlessFrames,
    /// Acknowledges the key, then streams random bytes forever.
    EndlessGarbage,
}

const HOSTILE: [Hostile; 10] = [
    Hostile::Hang,
    Hostile::Hang,
    Hostile::Hang,
    Hostile::TrickleKeyReply,
    Hostile::TrickleFrame,
    Hostile::TrickleFrame,
    Hostile::EndlessFrames,
    Hostile::EndlessFrames,
    Hostile::EndlessGarbage,
    Hostile::EndlessGarbage,
];

impl Hostile {
    fn expected_failure(self) -> FailureKind {
        match self {
            Hostile::Hang | Hostile::TrickleKeyReply | Hostile::TrickleFrame => {
                FailureKind::Timeout
            }
            Hostile::EndlessFrames | Hostile::EndlessGarbage => FailureKind::MalformedFrame,
        }
    }
}

/// A real miner for `kp` on loopback, accepting the validator's hotkey; returns its
/// address and the memory cap of its limits.
async fn honest_miner(registry: &Path, kp: &Keypair, validator: AccountId) -> (SocketAddr, usize) {
    let mut config = miner_config(registry, validator);
    // One expanded key (186 MiB under n2048-gauss) cached at a time.
    config.limits.key_cache_bytes = 190 << 20;
    config.limits.inflight_bytes = 64 << 20;
    let addr = start_miner(&config, registry, kp).await;
    let profile = brainlock_fhe::Profile::default_for(CIRCUIT);
    let cap = config
        .limits
        .memory_cap_bytes(brainlock_miner::circuits::key_expansion_bytes(profile));
    (addr, cap)
}

/// Accepts connections and holds them open without reading or writing a byte.
async fn hanging_listener() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// `bytes` one at a time, one a second.
fn trickle(bytes: Vec<u8>) -> Body {
    Body::from_stream(stream::unfold(bytes.into_iter(), |mut rest| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let byte = rest.next()?;
        Some((Ok::<_, std::io::Error>(Bytes::from(vec![byte])), rest))
    }))
}

/// Result frames for items 0, 1, 2, ... forever, each with a 16 KiB payload.
fn endless_frames() -> Body {
    Body::from_stream(stream::unfold(0u32, |index| async move {
        let frame = encode_frame(&Frame {
            index,
            payload: FramePayload::Result(Bytes::from(vec![0x5a; 16 << 10])),
        })
        .unwrap();
        Some((Ok::<_, std::io::Error>(frame), index.wrapping_add(1)))
    }))
}

/// Random 64 KiB chunks forever.
fn endless_garbage() -> Body {
    Body::from_stream(stream::unfold((), |()| async move {
        let mut junk = vec![0u8; 64 << 10];
        rand::rng().fill_bytes(&mut junk);
        Some((Ok::<_, std::io::Error>(Bytes::from(junk)), ()))
    }))
}

async fn front_handler(State(behaviour): State<Hostile>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    // Read what the validator sends, as a miner would, then misbehave.
    let body = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    if path == routes::KEYS {
        let reply = serde_json::to_vec(&KeyUploadResponse {
            key_id: KeyId::of(&body),
        })
        .unwrap();
        return match behaviour {
            Hostile::TrickleKeyReply => trickle(reply).into_response(),
            _ => ([("content-type", "application/json")], reply).into_response(),
        };
    }
    let body = match behaviour {
        Hostile::TrickleFrame => {
            let frame = encode_frame(&Frame {
                index: 0,
                payload: FramePayload::Result(Bytes::from(vec![1u8; 4096])),
            })
            .unwrap();
            trickle(frame.to_vec())
        }
        Hostile::EndlessFrames => endless_frames(),
        Hostile::EndlessGarbage => endless_garbage(),
        Hostile::Hang | Hostile::TrickleKeyReply => unreachable!("{behaviour:?} infer"),
    };
    ([("content-type", routes::FRAME_STREAM_CONTENT_TYPE)], body).into_response()
}

async fn hostile_miner(behaviour: Hostile) -> SocketAddr {
    if behaviour == Hostile::Hang {
        return hanging_listener().await;
    }
    serve(Router::new().fallback(front_handler).with_state(behaviour)).await
}

/// Seconds until the store holds a weight setting (polled every 50 ms).
async fn first_weight_setting(store: Store, started: Instant) -> Duration {
    loop {
        if store.last_weights_block().await.unwrap().is_some() {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_miners_cannot_stall_rounds_weights_or_memory() {
    let TestSubnet {
        dir,
        registry,
        validator: validator_kp,
    } = test_subnet().await;

    let honest_kp = keypair(9);
    register(&registry, &honest_kp, Role::Miner, 0.0).await;
    let (addr, miner_cap) = honest_miner(&registry, &honest_kp, validator_kp.account_id()).await;
    announce(&registry, &honest_kp, addr).await;
    let honest = honest_kp.account_id();
    let mut hostile = Vec::new();
    for (i, &behaviour) in HOSTILE.iter().enumerate() {
        let kp = keypair(10 + i as u8);
        register(&registry, &kp, Role::Miner, 0.0).await;
        announce(&registry, &kp, hostile_miner(behaviour).await).await;
        hostile.push((behaviour, kp.account_id()));
    }

    let chain: Arc<dyn Chain> = Arc::new(chain_as(&registry, &validator_kp));
    let config = ValidatorConfig {
        dataset_endpoint: "http://127.0.0.1:1".into(),
        key_upload_timeout: KEY_UPLOAD_DEADLINE,
        infer_timeout: Some(INFER_DEADLINE),
        round_timeout: Some(ROUND_DEADLINE),
        weights_poll: Duration::from_millis(500),
        // Two slots go to the frame tricklers until the deadline; four keep turning.
        max_concurrent_queries: 6,
        // Six queries' keys (twice, while prepared), inputs and largest answers: about
        // 125 MiB each under n2048-gauss (a 62 MB key with its packing key).
        query_memory_bytes: QUERY_MEMORY,
        scoring: ScoringTable {
            t_ref: Some(1.0),
            t_floor: Some(0.01),
            alpha: None,
        },
        ..validator_config(dir.path(), &registry)
    };
    let mut validator = Validator::new(config, chain, Arc::new(keypair(1)))
        .await
        .unwrap();
    let weight_timer = validator.spawn_weight_timer();
    let baseline = resident_bytes();
    let sampler = RssSampler::start();

    // The weight timer sets weights once the honest miner has passed, while the frame
    // tricklers still hold the round open until its deadline.
    let started = Instant::now();
    let watcher = tokio::time::timeout(
        ROUND_DEADLINE,
        first_weight_setting(validator.store().clone(), started),
    );
    let (weights_at, summary) = tokio::join!(watcher, validator.round_once());
    let took = started.elapsed();
    let summary = summary.unwrap();
    let weights_at = weights_at.expect("weights set before the round's deadline");
    println!("{summary:?} in {took:?}; weights set after {weights_at:?}");
    assert!(
        weights_at + Duration::from_millis(500) < took,
        "weights ({weights_at:?}) must not wait for the round ({took:?})"
    );
    assert!(
        took < ROUND_DEADLINE + Duration::from_secs(2),
        "the round took {took:?}, deadline {ROUND_DEADLINE:?}"
    );
    assert_eq!(summary.queried, 1 + HOSTILE.len(), "{summary:?}");
    assert_eq!(summary.passed, 1, "the honest miner passes: {summary:?}");
    assert_eq!(summary.abandoned, 2, "the frame tricklers: {summary:?}");
    weight_timer.abort();

    // Endless streams on loopback would add gigabytes within the round if the
    // validator buffered them: growth stays within what the budgets allow.
    let peak = sampler.finish();
    let grown = peak.saturating_sub(baseline);
    let bound = QUERY_MEMORY + miner_cap + RSS_SLACK;
    println!(
        "resident: baseline {} MiB, peak {} MiB, grown {} MiB, bound {} MiB",
        baseline >> 20,
        peak >> 20,
        grown >> 20,
        bound >> 20
    );
    assert!(grown < bound, "resident memory grew by {grown} bytes");

    // Every query is stored: the honest one passed, each hostile one failed its way.
    let passed = validator
        .store()
        .recent_queries(&honest.to_string(), 40)
        .await
        .unwrap();
    assert_eq!(passed.len(), 1);
    assert!(passed.iter().all(|q| q.outcome == Outcome::Passed));
    for (behaviour, hotkey) in &hostile {
        let queries = validator
            .store()
            .recent_queries(&hotkey.to_string(), 40)
            .await
            .unwrap();
        assert_eq!(queries.len(), 1, "{behaviour:?}");
        for q in queries {
            match &q.outcome {
                Outcome::Failed { kind, reason } => {
                    assert_eq!(
                        *kind,
                        behaviour.expected_failure(),
                        "{behaviour:?}: {reason}"
                    )
                }
                Outcome::Passed => panic!("{behaviour:?} passed"),
            }
        }
        assert_eq!(validator.standing(hotkey), 0.0, "{behaviour:?}");
    }
    assert!(validator.standing(&honest) > 0.0);
    validator.close().await;
}
