//! The load run: infer requests against one real miner on loopback, signed as its
//! validator, and a customer's through that validator's gateway, offered at fixed rates
//! (open loop: a request leaves every 1/rate seconds whether or not earlier ones came
//! back), from half the measured capacity to eight times it.
//!
//! Per step it reports the offered and served rates, refusals by code, latency
//! percentiles of served requests, and the process's resident memory. It asserts what an
//! operator relies on: below capacity every request is served; beyond it the miner
//! refuses the excess with 429 `busy` and nothing else (no 5xx, no broken stream, no
//! timeout) while still serving at about its capacity; memory stays flat.
//!
//! CI runs short steps (`LOAD_STEP_SECS`, default 4); `scripts/load.sh` runs long ones
//! and prints the table the closing notes quote.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brainlock_api::{CircuitId, FramePayload, InferRequest, MinerClient, ProfileId};
use brainlock_chain::{Chain, Role};
use brainlock_fhe::{ClientKey, Profile};
use brainlock_gateway::{GatewayLimits, QuotaConfig, SessionPolicy};
use brainlock_validator::{Validator, ValidatorConfig};
use bytes::Bytes;

use common::*;

/// Rates offered, as multiples of the measured capacity.
const STEPS: [f64; 5] = [0.5, 1.0, 2.0, 4.0, 8.0];
/// Requests queued or running at the miner beyond which it answers 429.
const QUEUE_ITEMS: usize = 4;

/// How one request ended.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Served,
    /// Refused with this HTTP status and error code.
    Refused(u16, String),
    /// Anything else: a transport error, a broken stream, an error frame.
    Failed(String),
}

struct Step {
    offered_rate: f64,
    sent: usize,
    outcomes: BTreeMap<Outcome, usize>,
    latencies: Vec<f64>,
    seconds: f64,
    rss_start: u64,
    rss_end: u64,
}

impl Step {
    fn served(&self) -> usize {
        self.outcomes.get(&Outcome::Served).copied().unwrap_or(0)
    }

    /// Requests served per second of the step, its drain included.
    fn served_rate(&self) -> f64 {
        self.served() as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[rank]
    }
}

/// Resident memory of this process (miner, client and load generator), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

async fn send(client: &MinerClient, request: &InferRequest) -> Outcome {
    let answered = async {
        let mut frames = client.infer(request).await?;
        let mut outcome = Outcome::Served;
        while let Some(frame) = frames.next_frame().await? {
            if let FramePayload::Error(why) = frame.payload {
                outcome = Outcome::Failed(format!("error frame: {why}"));
            }
        }
        Ok::<_, brainlock_api::ClientError>(outcome)
    };
    match answered.await {
        Ok(outcome) => outcome,
        Err(e) => match (e.status(), e.code()) {
            (Some(status), Some(code)) => Outcome::Refused(status, code.to_string()),
            _ => Outcome::Failed(e.to_string()),
        },
    }
}

/// Offers `rate` requests per second for `duration`, then waits for every answer.
async fn run_step(
    client: &MinerClient,
    request: &Arc<InferRequest>,
    rate: f64,
    duration: Duration,
) -> Step {
    let rss_start = rss_kib();
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    while start.elapsed() < duration {
        ticker.tick().await;
        let (client, request) = (client.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let outcome = send(&client, &request).await;
            (outcome, sent.elapsed().as_secs_f64())
        }));
    }
    let mut step = Step {
        offered_rate: rate,
        sent: tasks.len(),
        outcomes: BTreeMap::new(),
        latencies: Vec::new(),
        seconds: 0.0,
        rss_start,
        rss_end: 0,
    };
    for task in tasks {
        let (outcome, seconds) = task.await.expect("request task");
        if outcome == Outcome::Served {
            step.latencies.push(seconds);
        }
        *step.outcomes.entry(outcome).or_default() += 1;
    }
    step.seconds = start.elapsed().as_secs_f64();
    step.latencies.sort_by(f64::total_cmp);
    step.rss_end = rss_kib();
    step
}

/// Step length: `LOAD_STEP_SECS`, 4 s unless set.
fn step_duration() -> Duration {
    let seconds: f64 = std::env::var("LOAD_STEP_SECS")
        .map_or(Ok(4.0), |s| s.parse())
        .expect("LOAD_STEP_SECS is a number of seconds");
    Duration::from_secs_f64(seconds)
}

/// One customer's key and a one-item infer request under it (test-tiny), the key
/// uploaded through `client`.
async fn one_request(client: &MinerClient) -> Arc<InferRequest> {
    let circuit = brainlock_circuit::test_tiny();
    let profile = Profile::default_for(&circuit.id);
    let (client_key, compressed) = ClientKey::generate(profile, Some(21));
    let input = client_key
        .encrypt_input(&circuit, &vec![1i64; circuit.input_shape.len()])
        .unwrap();
    let key_id = client
        .upload_key(Bytes::from(compressed.to_bytes()))
        .await
        .unwrap();
    Arc::new(InferRequest {
        key_id,
        circuit: CircuitId::new(circuit.id.clone()).unwrap(),
        profile: ProfileId::new(profile.id).unwrap(),
        inputs: vec![Bytes::from(input.to_bytes())],
    })
}

/// Measures the capacity through `client` (one request at a time), offers every rate
/// of [`STEPS`], prints the table and checks it: every refusal is a 429 with one of
/// `refusals`' codes, half capacity is served in full, overload is refused in part
/// while about capacity is still served, and memory stays flat.
async fn load_run(
    target: &str,
    client: &MinerClient,
    request: &Arc<InferRequest>,
    refusals: &[&str],
) {
    let duration = step_duration();
    let mut alone = Vec::new();
    for _ in 0..5 {
        let sent = Instant::now();
        assert_eq!(send(client, request).await, Outcome::Served);
        alone.push(sent.elapsed().as_secs_f64());
    }
    alone.sort_by(f64::total_cmp);
    let capacity = 1.0 / alone[2];
    let circuit = brainlock_circuit::test_tiny();
    println!(
        "load run ({target}): {}, {} lookups, one miner worker, miner queue {QUEUE_ITEMS}; service time {:.3} s alone, capacity {capacity:.2} req/s; steps of {} s",
        circuit.id,
        brainlock_fhe::plan::Plan::new(&circuit)
            .unwrap()
            .lookups(&circuit),
        alone[2],
        duration.as_secs_f64()
    );
    let mut steps = Vec::new();
    for multiple in STEPS {
        let step = run_step(client, request, capacity * multiple, duration).await;
        println!(
            "offered {:6.2} req/s ({multiple:.1}x): sent {:4}, served {:4} ({:5.2} req/s), latency p50 {:.3} s p90 {:.3} s p99 {:.3} s, rss {} -> {} MiB, outcomes {:?}",
            step.offered_rate,
            step.sent,
            step.served(),
            step.served_rate(),
            step.percentile(0.5),
            step.percentile(0.9),
            step.percentile(0.99),
            step.rss_start / 1024,
            step.rss_end / 1024,
            step.outcomes
        );
        steps.push(step);
    }
    // Sustained: everything served, and at the rate offered (a queue absorbs a short
    // burst above capacity, then drains at capacity).
    let sustained = steps
        .iter()
        .filter(|s| s.served() == s.sent && s.served_rate() >= 0.9 * s.offered_rate)
        .map(|s| s.offered_rate)
        .fold(0.0, f64::max);
    let peak_served = steps.iter().map(Step::served_rate).fold(0.0, f64::max);
    println!(
        "highest rate sustained ({target}; all served, at the rate offered): {sustained:.2} req/s; highest served rate: {peak_served:.2} req/s"
    );

    for step in &steps {
        for (outcome, count) in &step.outcomes {
            let correct = match outcome {
                Outcome::Served => true,
                Outcome::Refused(429, code) => refusals.contains(&code.as_str()),
                _ => false,
            };
            assert!(
                correct,
                "at {:.2} req/s, {count} request(s) ended {outcome:?}",
                step.offered_rate
            );
        }
    }
    let (first, last) = (&steps[0], &steps[steps.len() - 1]);
    assert!(
        first.served() as f64 >= 0.9 * first.sent as f64,
        "at half capacity (almost) everything is served: {:?}",
        first.outcomes
    );
    assert!(
        last.served() < last.sent,
        "at eight times capacity the excess is refused"
    );
    assert!(
        last.served_rate() >= 0.5 * capacity,
        "under overload about capacity is still served"
    );
    assert!(
        last.rss_end <= steps[1].rss_end * 3 / 2,
        "memory stays flat under overload: {} -> {} KiB",
        steps[1].rss_end,
        last.rss_end
    );
}

/// A miner on the registry for the validator, one worker and a queue of [`QUEUE_ITEMS`];
/// returns the subnet and the miner's address and hotkey.
async fn loaded_miner() -> (
    TestSubnet,
    std::net::SocketAddr,
    brainlock_epistula::Keypair,
) {
    let subnet = test_subnet().await;
    let miner_kp = keypair(40);
    register(&subnet.registry, &miner_kp, Role::Miner, 0.0).await;
    let mut config = miner_config(&subnet.registry, subnet.validator.account_id());
    config.workers = 1;
    config.limits.queue_items = QUEUE_ITEMS;
    config.limits.max_batch = 1;
    let addr = start_miner(&config, &subnet.registry, &miner_kp).await;
    announce(&subnet.registry, &miner_kp, addr).await;
    (subnet, addr, miner_kp)
}

/// Signed (Epistula) requests straight to the miner, as a validator sends them; then a
/// customer's (API key) through a validator's gateway to the same miner, whose quota
/// and one relay per miner refuse the excess, also with 429. One after the other: they
/// share the cores and this process's memory figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn miner_and_gateway_serve_their_capacity_and_refuse_the_rest_with_429() {
    const API_KEY: &str = "blk_load_customer";
    // Quiet: a relay logs every request at info.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let (subnet, miner_addr, miner_kp) = loaded_miner().await;
    let client = MinerClient::new(
        format!("http://{miner_addr}"),
        miner_kp.account_id(),
        Arc::new(keypair(1)),
        reqwest::Client::new(),
    );
    let request = one_request(&client).await;
    load_run("miner", &client, &request, &["busy"]).await;

    let settings = one_customer_gateway(
        "load",
        API_KEY,
        Some(QuotaConfig {
            requests_per_hour: 1_000_000,
            items_per_hour: 1_000_000,
            max_inflight: 8,
        }),
        GatewayLimits::default(),
    );
    let config = ValidatorConfig {
        infer_timeout: Some(Duration::from_secs(60)),
        // One key serves the whole run (a real customer's sessions are shorter).
        sessions: SessionPolicy {
            max_requests: u32::MAX,
            mean_requests: 1.0,
            start_spread_seconds: 0.0,
            ..SessionPolicy::default()
        },
        gateway: Some(settings.clone()),
        ..validator_config(subnet.dir.path(), &subnet.registry)
    };
    let chain: Arc<dyn Chain> = Arc::new(chain_as(&subnet.registry, &subnet.validator));
    let mut validator = Validator::new(config, chain, Arc::new(keypair(1)))
        .await
        .unwrap();
    // One scored round: the miner passes, so the gateway may relay to it.
    let round = validator.round_once().await.unwrap();
    assert_eq!(round.passed, 1, "{round:?}");
    let (gateway_addr, stop, task) =
        serve_gateway(&validator, settings, subnet.validator.account_id()).await;
    let client = MinerClient::with_api_key(
        format!("http://{gateway_addr}"),
        API_KEY,
        reqwest::Client::new(),
    );
    let request = one_request(&client).await;
    load_run("gateway", &client, &request, &["busy", "quota_exceeded"]).await;
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}
