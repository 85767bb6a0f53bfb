//! Speed records and bounties end to end on loopback, on real ciphertexts: real miners
//! behind test-only fronts that shape their speed and reliability, the local registry
//! as the chain, and the validator's real loop with bounties paying 30% of the weights.
//!
//! - steady: always answers 3 s late;
//! - improver: answers 1.5 s late for its first 5 queries, then as fast as it can;
//! - flaky: as fast as it can, but every 7th answer is corrupted (14% failures, within
//!   the standing's 20% tolerance).
//!
//! Expected: the improver ends holding the speed record and a running bounty, and
//! outweighs the steady miner; the flaky one, fast as it is, never shows ten clean
//! queries in a row, so it never has a sustained latency to claim a record with.
//!
//! The delays are seconds because a loaded 2-core machine moves the real work's time by
//! a second or more between rounds; the steady miner's 3 s keep it out of the race.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use brainlock_api::{Frame, FrameDecoder, FramePayload, encode_frame};
use brainlock_chain::{Chain, Role};
use brainlock_validator::{Validator, ValidatorConfig};
use rand::RngCore;

use common::*;

/// Ten queries to show a sustained latency, two more for the improver to beat it.
const ROUNDS: usize = 12;

/// A miner's name, its answers' delays by answer number, and its corruption period.
type Shape = (&'static str, fn(usize) -> Duration, Option<usize>);

/// How a front shapes the answers of the real miner behind it.
#[derive(Clone)]
struct Front {
    upstream: SocketAddr,
    http: reqwest::Client,
    /// Infer requests answered so far.
    answered: Arc<AtomicUsize>,
    /// Delay of the `n`-th answer (from 0).
    delay: fn(usize) -> Duration,
    /// Every this many answers, the last one's ciphertexts are replaced by random bytes.
    corrupt_every: Option<usize>,
    /// Bytes of output ciphertexts at the end of each result payload.
    output_bytes: usize,
}

async fn front_handler(State(front): State<Front>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let answer = forward(&front.http, front.upstream, &parts, body).await;
    if parts.uri.path() != brainlock_api::routes::INFER || !answer.status.is_success() {
        return answer.into_response();
    }
    let bytes = answer.body;
    let n = front.answered.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep((front.delay)(n)).await;
    let corrupt = front
        .corrupt_every
        .is_some_and(|every| n % every == every - 1);
    let mut decoder = FrameDecoder::new(64 << 20);
    decoder.push(&bytes);
    let mut out = Vec::new();
    while let Some(frame) = decoder.next_frame().unwrap() {
        let FramePayload::Result(payload) = frame.payload else {
            panic!("the real miner sent an error frame")
        };
        let mut payload = payload.to_vec();
        if corrupt {
            let start = payload.len() - front.output_bytes;
            rand::rng().fill_bytes(&mut payload[start..]);
        }
        let frame = Frame {
            index: frame.index,
            payload: FramePayload::Result(payload.into()),
        };
        out.extend_from_slice(&encode_frame(&frame).unwrap());
    }
    (
        [(
            "content-type",
            brainlock_api::routes::FRAME_STREAM_CONTENT_TYPE,
        )],
        out,
    )
        .into_response()
}

async fn front(
    upstream: SocketAddr,
    delay: fn(usize) -> Duration,
    corrupt_every: Option<usize>,
) -> SocketAddr {
    let circuit = brainlock_circuit::test_tiny();
    let profile = brainlock_fhe::Profile::default_for(CIRCUIT);
    let plan = brainlock_fhe::plan::Plan::new(&circuit).unwrap();
    let outputs = plan.shapes.last().unwrap().len();
    let front = Front {
        upstream,
        http: reqwest::Client::new(),
        answered: Arc::default(),
        delay,
        corrupt_every,
        output_bytes: outputs * (profile.big_lwe_dimension() + 1) * 8,
    };
    serve(Router::new().fallback(front_handler).with_state(front)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_improver_sets_the_record_and_a_flaky_miner_never_does() {
    let TestSubnet {
        dir,
        registry,
        validator: validator_kp,
    } = test_subnet().await;

    let shapes: [Shape; 3] = [
        ("steady", |_| Duration::from_secs(3), None),
        (
            "improver",
            |n| Duration::from_millis(if n < 5 { 1500 } else { 0 }),
            None,
        ),
        ("flaky", |_| Duration::ZERO, Some(7)),
    ];
    let mut uids = Vec::new();
    for (i, (name, delay, corrupt_every)) in shapes.into_iter().enumerate() {
        let kp = keypair(20 + i as u8);
        register(&registry, &kp, Role::Miner, 0.0).await;
        let upstream = start_miner(
            &miner_config(&registry, validator_kp.account_id()),
            &registry,
            &kp,
        )
        .await;
        announce(&registry, &kp, front(upstream, delay, corrupt_every).await).await;
        uids.push((name, kp.account_id()));
    }

    let chain: Arc<dyn Chain> = Arc::new(chain_as(&registry, &validator_kp));
    let mut config = ValidatorConfig {
        infer_timeout: Some(Duration::from_secs(10)),
        ..validator_config(dir.path(), &registry)
    };
    config.rewards.bounty.queries = 10;
    config.rewards.bounty.share = 0.3;
    let mut validator = Validator::new(config, chain.clone(), Arc::new(keypair(1)))
        .await
        .unwrap();
    let board = validator.leaderboard();
    for _ in 0..ROUNDS {
        let summary = validator.round_once().await.unwrap();
        assert_eq!(summary.queried, shapes.len());
    }

    let metagraph = chain.metagraph(NETUID).await.unwrap();
    let board = board.borrow().clone();
    println!("{}", serde_json::to_string_pretty(&board).unwrap());
    let miner = |name: &str| {
        let hotkey = &uids.iter().find(|(n, _)| *n == name).unwrap().1;
        let uid = metagraph.by_hotkey(hotkey).unwrap().uid;
        board.miner(uid).unwrap().clone()
    };
    let (steady, improver, flaky) = (miner("steady"), miner("improver"), miner("flaky"));
    let record = board.record.clone().expect("a speed record");
    assert_eq!(record.uid, Some(improver.uid), "{record:?}");
    let bounty = improver.bounty.expect("the record setter holds a bounty");
    assert!(
        bounty.remaining > 0.0 && bounty.tempos_left > 0.0,
        "{bounty:?}"
    );
    assert!(
        improver.weight > steady.weight,
        "{improver:?} vs {steady:?}"
    );
    assert!(flaky.failure_rate > 0.0 && flaky.failure_rate <= 0.2);
    assert_eq!(flaky.sustained_latency, None);
    assert_eq!(flaky.bounty, None);
    assert!(flaky.weight > 0.0, "14% failures are within the tolerance");
    validator.close().await;
}
