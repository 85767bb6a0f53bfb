//! Miner benchmark for the operator notes: encrypted `conv3x3` latency and throughput
//! with 1 and N concurrent signed clients over loopback, and the HTTP path's overhead
//! over calling the engine directly, measured on the tiny circuit where it is visible.
//!
//! `cargo run -p brainlock-miner --example miner_bench --release -- [--clients 1,4]
//!  [--tiny-runs 20] [--skip-conv3x3]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use brainlock_api::MinerClient;
use brainlock_api::{CircuitId, FramePayload, InferRequest, KeyId, ProfileId};
use brainlock_chain::{LocalRegistry, Registration, Role};
use brainlock_circuit::Circuit;
use brainlock_circuit::{CONV3X3, DEFAULT_CIRCUIT_SEED, TEST_TINY, test_tiny};
use brainlock_daemon::{ChainSource, NeuronConfig};
use brainlock_epistula::{CryptoType, Keypair};
use brainlock_fhe::{ClientKey, CompressedEvaluationKey, EvaluationKey, Profile, evaluate};
use brainlock_miner::{Miner, MinerConfig};
use bytes::Bytes;

struct Args {
    clients: Vec<usize>,
    tiny_runs: usize,
    conv3x3: bool,
    workers: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        clients: vec![1, 4],
        tiny_runs: 20,
        conv3x3: true,
        workers: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--clients" => {
                args.clients = it
                    .next()
                    .context("--clients N,M")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--tiny-runs" => args.tiny_runs = it.next().context("--tiny-runs N")?.parse()?,
            "--workers" => args.workers = it.next().context("--workers N")?.parse()?,
            "--skip-conv3x3" => args.conv3x3 = false,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

/// A client key, its evaluation key (expanded, for direct calls) and wire bytes.
struct Keys {
    client: ClientKey,
    expanded: EvaluationKey,
    wire: Bytes,
}

fn keys(profile: &'static Profile) -> Keys {
    let (client, compressed): (ClientKey, CompressedEvaluationKey) =
        ClientKey::generate(profile, Some(1));
    Keys {
        expanded: EvaluationKey::expand(&compressed),
        wire: Bytes::from(compressed.to_bytes()),
        client,
    }
}

fn request(
    keys: &Keys,
    key_id: KeyId,
    circuit: &Circuit,
    values: &[i64],
    items: usize,
) -> InferRequest {
    let input = keys
        .client
        .encrypt_input(circuit, values)
        .expect("input fits the circuit");
    let bytes = Bytes::from(input.to_bytes());
    InferRequest {
        key_id,
        circuit: CircuitId::new(circuit.id.clone()).expect("valid id"),
        profile: ProfileId::new(keys.client.profile().id).expect("valid id"),
        inputs: vec![bytes; items],
    }
}

/// Sends one request and waits for its last frame; returns the elapsed time.
async fn timed_infer(client: &MinerClient, request: &InferRequest) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut stream = client.infer(request).await?;
    let mut frames = 0;
    while let Some(frame) = stream.next_frame().await? {
        if let FramePayload::Error(message) = frame.payload {
            anyhow::bail!("item {} failed: {message}", frame.index);
        }
        frames += 1;
    }
    anyhow::ensure!(
        frames == request.inputs.len(),
        "stream ended after {frames} frames"
    );
    Ok(started.elapsed())
}

fn mean(durations: &[Duration]) -> Duration {
    durations.iter().sum::<Duration>() / durations.len().max(1) as u32
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let profile = Profile::default_for(CONV3X3);
    println!(
        "profile {}, {} rayon threads, {} miner worker(s)",
        profile.id,
        rayon::current_num_threads(),
        args.workers
    );

    let started = Instant::now();
    let keys = keys(profile);
    println!(
        "key generation + expansion: {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // A miner on loopback with a local registry that knows the benchmark's validator.
    let dir = tempfile::tempdir()?;
    let registry_path = dir.path().join("registry.json");
    let miner_key = Keypair::from_seed(CryptoType::Sr25519, &[3; 32]);
    let validator = Arc::new(Keypair::from_seed(CryptoType::Sr25519, &[1; 32]));
    let registry = LocalRegistry::open(&registry_path, 55, miner_key.account_id())?;
    for (who, role) in [
        (miner_key.account_id(), Role::Miner),
        (validator.account_id(), Role::Validator),
    ] {
        registry
            .register(Registration {
                hotkey: who,
                coldkey: None,
                role,
                stake: 0.0,
            })
            .await?;
    }
    let mut circuits = vec![TEST_TINY.to_owned()];
    if args.conv3x3 {
        circuits.push(CONV3X3.to_owned());
    }
    let mut config = MinerConfig {
        bind: "127.0.0.1:0".parse()?,
        neuron: NeuronConfig {
            chain: ChainSource::Registry(registry_path),
            ..NeuronConfig::default()
        },
        circuits,
        profiles: vec![profile.id.to_owned()],
        workers: args.workers,
        ..MinerConfig::default()
    };
    config.limits.queue_items = 64;
    let miner = Miner::start(&config, miner_key.account_id(), Arc::new(registry)).await?;
    let url = format!("http://{}", miner.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(miner.serve(async move {
        let _ = stopped.await;
    }));
    let client = MinerClient::new(
        url,
        miner_key.account_id(),
        validator.clone(),
        reqwest::Client::new(),
    );
    let started = Instant::now();
    let key_id = client.upload_key(keys.wire.clone()).await?;
    println!(
        "key upload ({} MB) + expansion on the miner: {:.2} s",
        keys.wire.len() >> 20,
        started.elapsed().as_secs_f64()
    );

    // HTTP overhead on the tiny circuit: direct engine calls vs. one-item requests.
    let tiny = test_tiny();
    let tiny_values: Vec<i64> = (0..16).map(|j| (j % 4) - 2).collect();
    let tiny_input = keys.client.encrypt_input(&tiny, &tiny_values)?;
    let tiny_request = request(&keys, key_id, &tiny, &tiny_values, 1);
    timed_infer(&client, &tiny_request).await?; // warm-up: connections, caches
    let mut direct = Vec::new();
    let mut over_http = Vec::new();
    for _ in 0..args.tiny_runs {
        let started = Instant::now();
        evaluate(&tiny, &keys.expanded, &tiny_input, &|_, _| {})?;
        direct.push(started.elapsed());
        over_http.push(timed_infer(&client, &tiny_request).await?);
    }
    let (direct, over_http) = (mean(&direct), mean(&over_http));
    let overhead = over_http.saturating_sub(direct);
    println!(
        "test-tiny ({} lookups): direct {:.2} ms, over HTTP {:.2} ms, overhead {:.2} ms per request (mean of {})",
        32,
        direct.as_secs_f64() * 1e3,
        over_http.as_secs_f64() * 1e3,
        overhead.as_secs_f64() * 1e3,
        args.tiny_runs
    );

    if args.conv3x3 {
        let conv = brainlock_circuit::conv3x3(DEFAULT_CIRCUIT_SEED);
        let image = brainlock_circuit::synthetic_image(DEFAULT_CIRCUIT_SEED, 0);
        let input = keys.client.encrypt_input(&conv, &image)?;
        let started = Instant::now();
        evaluate(&conv, &keys.expanded, &input, &|_, _| {})?;
        let conv_direct = started.elapsed();
        println!(
            "conv3x3 direct: {:.2} s per image",
            conv_direct.as_secs_f64()
        );
        println!(
            "HTTP overhead relative to a conv3x3 inference: {:.4} %",
            100.0 * overhead.as_secs_f64() / conv_direct.as_secs_f64()
        );
        let conv_request = request(&keys, key_id, &conv, &image, 1);
        for &clients in &args.clients {
            let started = Instant::now();
            let tasks: Vec<_> = (0..clients)
                .map(|_| {
                    let (client, request) = (client.clone(), conv_request.clone());
                    tokio::spawn(async move { timed_infer(&client, &request).await })
                })
                .collect();
            let mut latencies = Vec::new();
            for task in tasks {
                latencies.push(task.await??);
            }
            let wall = started.elapsed();
            let max = latencies.iter().max().copied().unwrap_or_default();
            println!(
                "conv3x3, {clients} concurrent client(s), 1 image each: mean latency {:.2} s, max {:.2} s, \
                 throughput {:.4} images/s ({:.1} lookups/s)",
                mean(&latencies).as_secs_f64(),
                max.as_secs_f64(),
                clients as f64 / wall.as_secs_f64(),
                (clients * 3072) as f64 / wall.as_secs_f64()
            );
        }
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}
