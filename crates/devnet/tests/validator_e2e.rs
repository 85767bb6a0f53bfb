//! End to end on loopback: real miner processes' code (brainlock-miner, in-process),
//! test-only fronts that cheat or break in every way the validator must survive, the
//! local registry as the chain, and the validator's real loop.
//!
//! Miners (all registered on one local registry, each with its own hotkey):
//! - honest: a real miner;
//! - delayed: a real miner behind a front that holds each answer back by `DELAY`;
//! - trivial: answers instantly with plausible values as trivial ciphertexts (zero mask);
//! - skipper: a real miner's answer with every fifth result replaced by random
//!   (non-trivial) coefficients, as if those lookups were never computed;
//! - garbage: well-framed result frames of random bytes;
//! - broken ones: refused connection, hang past the deadline, HTTP 500, a stream cut
//!   inside a frame, an invalid frame, a frame for an item that does not exist.
//!
//! Expected: weights honest > delayed > every other miner, all others exactly 0, and
//! each failure stored with its kind.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use brainlock_api::{
    DecodeLimits, ErrorBody, ErrorCode, Frame, FrameDecoder, FramePayload, InferRequest, KeyId,
    KeyUploadResponse, encode_frame,
};
use brainlock_chain::{Chain, Role};
use brainlock_circuit::Circuit;
use brainlock_epistula::{AccountId, Keypair};
use brainlock_fhe::adversary::{scramble_results, trivial_output};
use brainlock_fhe::{EncryptedOutput, Limits, Profile};
use brainlock_validator::config::ScoringTable;
use brainlock_validator::store::{FailureKind, Outcome};
use brainlock_validator::{Validator, ValidatorConfig};
use rand::{Rng, RngCore};

use common::*;

const DELAY: Duration = Duration::from_millis(1500);
const INFER_DEADLINE: Duration = Duration::from_secs(6);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    Honest,
    Delayed,
    Trivial,
    SkipFifth,
    Garbage,
    Refused,
    Hang,
    HttpError,
    Truncated,
    BadFrame,
    WrongItem,
}

/// A real miner for `kp`, accepting the validator's hotkey; returns its address.
async fn real_miner(registry: &Path, kp: &Keypair, validator: AccountId) -> SocketAddr {
    let mut config = miner_config(registry, validator);
    config.limits.key_cache_bytes = 400 << 20;
    start_miner(&config, registry, kp).await
}

#[derive(Clone)]
struct Front {
    behaviour: Behaviour,
    upstream: Option<SocketAddr>,
    http: reqwest::Client,
    circuit: Arc<Circuit>,
    profile: &'static Profile,
}

fn frames_of(body: &[u8]) -> Vec<Frame> {
    let mut decoder = FrameDecoder::new(64 << 20);
    decoder.push(body);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.next_frame().unwrap() {
        frames.push(frame);
    }
    frames
}

fn stream(parts: Vec<u8>) -> Response {
    (
        [(
            "content-type",
            brainlock_api::routes::FRAME_STREAM_CONTENT_TYPE,
        )],
        parts,
    )
        .into_response()
}

async fn front_handler(State(front): State<Front>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let path = parts.uri.path().to_string();
    let is_infer = path == brainlock_api::routes::INFER;
    if let Some(upstream) = front.upstream {
        let answer = forward(&front.http, upstream, &parts, body).await;
        if !is_infer || !answer.status.is_success() {
            return answer.into_response();
        }
        let bytes = answer.body;
        return match front.behaviour {
            Behaviour::Delayed => {
                tokio::time::sleep(DELAY).await;
                stream(bytes.to_vec())
            }
            Behaviour::SkipFifth => {
                let mut out = Vec::new();
                for frame in frames_of(&bytes) {
                    let FramePayload::Result(payload) = frame.payload else {
                        panic!("honest miner sent an error")
                    };
                    let mut output = EncryptedOutput::from_bytes(
                        &payload,
                        &front.circuit,
                        front.profile,
                        &Limits::default(),
                    )
                    .unwrap();
                    scramble_results(&mut output, 5);
                    let frame = Frame {
                        index: frame.index,
                        payload: FramePayload::Result(output.to_bytes().into()),
                    };
                    out.extend_from_slice(&encode_frame(&frame).unwrap());
                }
                stream(out)
            }
            other => panic!("{other:?} has no upstream"),
        };
    }
    if !is_infer {
        // Key upload: acknowledge like a miner would, without doing anything with it.
        return axum::Json(KeyUploadResponse {
            key_id: KeyId::of(&body),
        })
        .into_response();
    }
    let request = InferRequest::decode(
        &body,
        &DecodeLimits {
            max_items: 64,
            max_item_bytes: 64 << 20,
            max_total_bytes: 64 << 20,
        },
    )
    .unwrap();
    let batch = request.inputs.len() as u32;
    let result_frame = |index, payload: Vec<u8>| {
        encode_frame(&Frame {
            index,
            payload: FramePayload::Result(payload.into()),
        })
        .unwrap()
        .to_vec()
    };
    match front.behaviour {
        Behaviour::Trivial => {
            let mut out = Vec::new();
            for index in 0..batch {
                let guesses: Vec<i64> = (0..7).map(|_| rand::rng().random_range(-3..=3)).collect();
                let output = trivial_output(&front.circuit, front.profile, &guesses).unwrap();
                out.extend(result_frame(index, output.to_bytes()));
            }
            stream(out)
        }
        Behaviour::Garbage => {
            let mut out = Vec::new();
            for index in 0..batch {
                let mut junk = vec![0u8; 4096];
                rand::rng().fill_bytes(&mut junk);
                out.extend(result_frame(index, junk));
            }
            stream(out)
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            stream(Vec::new())
        }
        Behaviour::HttpError => {
            let body = ErrorBody::new(ErrorCode::Internal, "simulated failure");
            (StatusCode::INTERNAL_SERVER_ERROR, body.to_json()).into_response()
        }
        Behaviour::Truncated => {
            let frame = result_frame(0, vec![7u8; 1000]);
            stream(frame[..600].to_vec())
        }
        Behaviour::BadFrame => {
            // A length prefix far beyond any sane frame.
            stream(vec![0xff, 0xff, 0xff, 0x7f, 1, 2, 3])
        }
        Behaviour::WrongItem => stream(result_frame(batch + 3, vec![1u8; 64])),
        other => panic!("{other:?} is not a standalone front"),
    }
}

async fn front(behaviour: Behaviour, upstream: Option<SocketAddr>) -> SocketAddr {
    let front = Front {
        behaviour,
        upstream,
        http: reqwest::Client::new(),
        circuit: Arc::new(brainlock_circuit::test_tiny()),
        profile: Profile::default_for(CIRCUIT),
    };
    serve(Router::new().fallback(front_handler).with_state(front)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn honest_beats_delayed_beats_cheaters_and_failures_score_zero() {
    let TestSubnet {
        dir,
        registry,
        validator: validator_kp,
    } = test_subnet().await;

    let behaviours = [
        Behaviour::Honest,
        Behaviour::Delayed,
        Behaviour::Trivial,
        Behaviour::SkipFifth,
        Behaviour::Garbage,
        Behaviour::Refused,
        Behaviour::Hang,
        Behaviour::HttpError,
        Behaviour::Truncated,
        Behaviour::BadFrame,
        Behaviour::WrongItem,
    ];
    let mut miners = Vec::new();
    for (i, &behaviour) in behaviours.iter().enumerate() {
        let kp = keypair(10 + i as u8);
        register(&registry, &kp, Role::Miner, 0.0).await;
        let addr = match behaviour {
            Behaviour::Honest => real_miner(&registry, &kp, validator_kp.account_id()).await,
            Behaviour::Delayed | Behaviour::SkipFifth => {
                let upstream = real_miner(&registry, &kp, validator_kp.account_id()).await;
                front(behaviour, Some(upstream)).await
            }
            Behaviour::Refused => {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                listener.local_addr().unwrap() // closed when dropped here
            }
            _ => front(behaviour, None).await,
        };
        announce(&registry, &kp, addr).await;
        miners.push((behaviour, kp.account_id()));
    }

    let chain: Arc<dyn Chain> = Arc::new(chain_as(&registry, &validator_kp));
    let config = ValidatorConfig {
        dataset_endpoint: "http://127.0.0.1:1".into(),
        key_upload_timeout: Duration::from_secs(30),
        infer_timeout: Some(INFER_DEADLINE),
        // test-tiny takes well under a second: put the reference and floor there so
        // speed differences show in the score.
        scoring: ScoringTable {
            t_ref: Some(1.0),
            t_floor: Some(0.01),
            alpha: None,
        },
        ..validator_config(dir.path(), &registry)
    };
    let mut validator = Validator::new(config.clone(), chain.clone(), Arc::new(keypair(1)))
        .await
        .unwrap();
    let board = validator.leaderboard();
    let mut last_receipt = None;
    for _ in 0..2 {
        let summary = validator.round_once().await.unwrap();
        assert_eq!(summary.queried, behaviours.len());
        last_receipt = summary.weights.or(last_receipt);
    }

    let metagraph = chain.metagraph(NETUID).await.unwrap();
    let weight_of = |hotkey: &AccountId| {
        let uid = metagraph.by_hotkey(hotkey).unwrap().uid;
        board.borrow().miner(uid).unwrap().weight
    };
    let honest = weight_of(&miners[0].1);
    let delayed = weight_of(&miners[1].1);
    println!(
        "{}",
        serde_json::to_string_pretty(&*board.borrow()).unwrap()
    );
    assert!(
        honest > delayed,
        "honest {honest} must beat delayed {delayed}"
    );
    assert!(delayed > 0.0, "a slow honest miner still earns");
    for (behaviour, hotkey) in &miners[2..] {
        assert_eq!(weight_of(hotkey), 0.0, "{behaviour:?} must earn nothing");
    }
    // Weights reached the chain interface (the local registry's ledger).
    let receipt = last_receipt.expect("weights were set");
    let honest_uid = metagraph.by_hotkey(&miners[0].1).unwrap().uid;
    let top = receipt
        .uids
        .iter()
        .zip(&receipt.weights)
        .max_by_key(|(_, w)| **w)
        .unwrap();
    assert_eq!(*top.0, honest_uid);
    assert_eq!(
        receipt.uids.len(),
        2,
        "only the two honest miners get weight: {receipt:?}"
    );

    // Each failure is stored with its kind.
    let expected_kind = |b: Behaviour| match b {
        Behaviour::Trivial => Some(FailureKind::TrivialCiphertext),
        Behaviour::SkipFifth => Some(FailureKind::CheckFailed),
        Behaviour::Garbage => Some(FailureKind::MalformedFrame),
        Behaviour::Refused => Some(FailureKind::ConnectRefused),
        Behaviour::Hang => Some(FailureKind::Timeout),
        Behaviour::HttpError => Some(FailureKind::HttpStatus),
        Behaviour::Truncated => Some(FailureKind::TruncatedStream),
        Behaviour::BadFrame => Some(FailureKind::MalformedFrame),
        Behaviour::WrongItem => Some(FailureKind::WrongShape),
        Behaviour::Honest | Behaviour::Delayed => None,
    };
    for (behaviour, hotkey) in &miners {
        let queries = validator
            .store()
            .recent_queries(&hotkey.to_string(), 40)
            .await
            .unwrap();
        assert_eq!(queries.len(), 2, "{behaviour:?}");
        for q in queries {
            match expected_kind(*behaviour) {
                None => assert_eq!(q.outcome, Outcome::Passed, "{behaviour:?}"),
                Some(kind) => match &q.outcome {
                    Outcome::Failed { kind: got, .. } => {
                        assert_eq!(*got, kind, "{behaviour:?}: {:?}", q.outcome)
                    }
                    Outcome::Passed => panic!("{behaviour:?} passed"),
                },
            }
        }
    }
    validator.close().await;

    // Standings survive a restart: a new validator on the same database gives the same weights.
    let restarted = Validator::new(config, chain.clone(), Arc::new(keypair(1)))
        .await
        .unwrap();
    let before = validator.weights(&metagraph, 0);
    assert_eq!(restarted.weights(&metagraph, 0), before);
    assert!(restarted.standing(&miners[0].1) > restarted.standing(&miners[1].1));
}
