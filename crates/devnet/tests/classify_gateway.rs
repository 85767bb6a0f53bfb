//! End to end on loopback: `brainlock classify` (its command line, run in-process)
//! through a validator's customer gateway, relayed by the validator's real [`MinerRelay`] to a real miner,
//! returns what the clear simulation returns; and the relayed requests reach the miner
//! looking exactly like the validator's own scored queries.
//!
//! Between the validator and the miner sits a recording proxy (test-only): it notes
//! what the miner can observe of each request (method, path, header names and the
//! values that are not per-request, body shape) and forwards it unchanged.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use brainlock_api::{DecodeLimits, InferRequest, routes};
use brainlock_chain::{AxonInfo, Chain, Role};
use brainlock_cli::cli::{Cli, Command};
use brainlock_cli::workload::{resolve_circuit, synthetic_input};
use brainlock_gateway::GatewayLimits;
use brainlock_miner::Miner;
use brainlock_validator::{Validator, ValidatorConfig};
use clap::Parser;
use tokio::sync::watch;

use common::*;

const API_KEY: &str = "blk_e2e_customer";

/// What a miner can observe of one request, minus what differs on every request by
/// design (Epistula uuid, timestamp and signature; the key and ciphertexts themselves).
#[derive(Clone, Debug, PartialEq)]
struct Observed {
    method: String,
    path: String,
    /// Header names in the order they arrived, and the values of those that are not
    /// per-request.
    headers: Vec<(String, Option<String>)>,
    body: BodyShape,
}

#[derive(Clone, Debug, PartialEq)]
enum BodyShape {
    Key {
        bytes: usize,
    },
    Infer {
        circuit: String,
        profile: String,
        input_bytes: Vec<usize>,
    },
    Other {
        bytes: usize,
    },
}

/// Headers whose value changes with every request by design (the signature covers
/// the body digest, the uuid and the timestamp).
const PER_REQUEST: [&str; 5] = [
    "epistula-timestamp",
    "epistula-uuid",
    "epistula-request-signature",
    "content-length",
    "host",
];

#[derive(Clone)]
struct Recorder {
    upstream: SocketAddr,
    http: reqwest::Client,
    seen: Arc<Mutex<Vec<Observed>>>,
}

fn observe(parts: &axum::http::request::Parts, body: &axum::body::Bytes) -> Observed {
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let name = name.as_str().to_owned();
            let value = (!PER_REQUEST.contains(&name.as_str()))
                .then(|| value.to_str().unwrap_or("<binary>").to_owned());
            (name, value)
        })
        .collect();
    let path = parts.uri.path().to_owned();
    let body = match path.as_str() {
        routes::KEYS => BodyShape::Key { bytes: body.len() },
        routes::INFER => {
            let limits = DecodeLimits {
                max_items: 64,
                max_item_bytes: 64 << 20,
                max_total_bytes: 64 << 20,
            };
            let request = InferRequest::decode(body, &limits).unwrap();
            BodyShape::Infer {
                circuit: request.circuit.to_string(),
                profile: request.profile.to_string(),
                input_bytes: request.inputs.iter().map(|i| i.len()).collect(),
            }
        }
        _ => BodyShape::Other { bytes: body.len() },
    };
    Observed {
        method: parts.method.to_string(),
        path,
        headers,
        body,
    }
}

async fn record_and_forward(State(recorder): State<Recorder>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    recorder.seen.lock().unwrap().push(observe(&parts, &body));
    forward(&recorder.http, recorder.upstream, &parts, body)
        .await
        .into_response()
}

async fn recording_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<Observed>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder {
        upstream,
        http: reqwest::Client::new(),
        seen: seen.clone(),
    };
    let app = Router::new()
        .fallback(record_and_forward)
        .with_state(recorder);
    (serve(app).await, seen)
}

fn gateway_validator_config(dir: &Path, registry: &Path) -> ValidatorConfig {
    ValidatorConfig {
        infer_timeout: Some(Duration::from_secs(30)),
        key_upload_timeout: Duration::from_secs(30),
        gateway: Some(one_customer_gateway(
            "e2e",
            API_KEY,
            None,
            GatewayLimits {
                max_batch: 1,
                ..GatewayLimits::default()
            },
        )),
        ..validator_config(dir, registry)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classify_through_the_validator_gateway_matches_clear_simulation_and_looks_synthetic() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry.json");
    let validator_key = keypair(21);
    let miner_key = keypair(22);
    let validator_chain = register(&registry, &validator_key, Role::Validator, 1_000.0).await;
    let miner_chain = register(&registry, &miner_key, Role::Miner, 0.0).await;

    // A real miner that accepts the validator, announced behind the recording proxy.
    let config = miner_config(&registry, validator_key.account_id());
    let miner = Miner::start(
        &config,
        miner_key.account_id(),
        Arc::new(miner_chain.clone()),
    )
    .await
    .unwrap();
    let (proxy, seen) = recording_proxy(miner.local_addr()).await;
    miner_chain
        .serve_axon(NETUID, AxonInfo::new(proxy, 1))
        .await
        .unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let miner_task = tokio::spawn(miner.serve(stopped(stop_rx.clone())));

    // One scored round: the miner passes and becomes the relay's choice.
    let config = gateway_validator_config(dir.path(), &registry);
    let gateway_settings = config.gateway.clone().unwrap();
    let me = validator_key.account_id();
    let mut validator = Validator::new(config, Arc::new(validator_chain), Arc::new(validator_key))
        .await
        .unwrap();
    let round = validator.round_once().await.unwrap();
    assert_eq!((round.queried, round.passed), (1, 1), "{round:?}");
    let synthetic: Vec<Observed> = seen.lock().unwrap().drain(..).collect();
    assert_eq!(synthetic.len(), 2, "{synthetic:#?}");
    // The comparison below covers the signed headers, values included where they are
    // not per-request (signer, receiver, version).
    let names: Vec<&str> = synthetic[1]
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    for name in [
        "epistula-signed-by",
        "epistula-signed-for",
        "epistula-request-signature",
        "content-type",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }

    let (gateway_addr, gateway_task) = brainlock_validator::serve_gateway(
        gateway_settings,
        me,
        validator.workload(),
        validator.sessions().clone(),
        validator.relay(),
        stopped(stop_rx),
    )
    .await
    .unwrap();
    let gateway_url = format!("http://{gateway_addr}");

    // The `brainlock classify` command line, as a customer types it.
    let classify = |api_key: &'static str| {
        let cli = Cli::try_parse_from([
            "brainlock",
            "classify",
            "synthetic:5",
            "--circuit",
            "test-tiny",
            "--gateway",
            &gateway_url,
            "--api-key",
            api_key,
            // Sessions here are one request long, like the validator's: no room for a
            // canary (tests/canaries.rs covers them).
            "--canaries",
            "0",
            "--json",
        ])
        .unwrap();
        let Command::Classify(args) = cli.command else {
            panic!("not a classify command")
        };
        async move { brainlock_cli::classify::report(&args).await }
    };
    let report = classify(API_KEY).await.unwrap();
    let report = serde_json::to_value(&report).unwrap();
    let circuit = resolve_circuit("test-tiny").unwrap();
    let clear = brainlock_circuit::Simulator::new(&circuit)
        .unwrap()
        .run(&synthetic_input(&circuit, 5))
        .unwrap();
    assert_eq!(report["class"], brainlock_circuit::argmax(&clear));
    assert_eq!(report["clear_class"], report["class"]);
    // test-tiny is exact under the noise of every profile.
    assert_eq!(report["exact_match_fraction"], 1.0, "{report}");
    assert_eq!(report["target"], "api-key");

    // The miner saw the customer's requests exactly as it sees scored ones.
    let relayed: Vec<Observed> = seen.lock().unwrap().drain(..).collect();
    assert_eq!(
        relayed.len(),
        2,
        "a key upload and an infer request: {relayed:#?}"
    );
    assert_eq!(synthetic, relayed);

    // A wrong API key gets a clear refusal and nothing is relayed.
    let refused = format!("{:#}", classify("blk_not_issued").await.unwrap_err());
    assert!(
        refused.contains("401") && refused.contains("API key"),
        "{refused}"
    );
    assert!(seen.lock().unwrap().is_empty());

    stop.send(true).unwrap();
    miner_task.await.unwrap().unwrap();
    gateway_task.await.unwrap().unwrap();
    validator.close().await;
}
