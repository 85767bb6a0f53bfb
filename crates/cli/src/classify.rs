//! `brainlock classify`: fresh client keys, encrypt, run (here, on a miner, or through a
//! gateway), decrypt here, compare with the clear simulation, report timings. The
//! client key never leaves this process: only the evaluation key and ciphertexts go out.
//!
//! Remotely, the image travels in a session with canary items: synthetic images in
//! random places of the batch, encrypted under the same key so that nobody without
//! the key can tell them from the image, whose answers this machine computes with the
//! exact simulation. A failed canary means the server did not do the work: the answer
//! is dropped, the session retried once with a fresh key, and a gateway told (its
//! report names the session's key id only).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use brainlock_api::{
    CanaryReport, CircuitId, FramePayload, InferRequest, KeyId, MinerClient, ProfileId,
};
use brainlock_circuit::{Circuit, NoiseModel, Simulator, argmax, cosine};
use brainlock_epistula::{AccountId, wallet};
use brainlock_fhe::{
    ClientKey, CompressedEvaluationKey, EncryptedOutput, EvaluationKey, Limits, Profile, evaluate,
};
use brainlock_scoring::{GatePolicy, Gates, ItemEvidence, ItemOutcome, check_item, derive_gates};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::cli::{ClassifyArgs, WalletArgs};
use crate::workload::{load_input, resolve_circuit, resolve_profile, synthetic_input};

/// Largest result frame accepted (a conv3x3 output under the largest profile is
/// about 200 MB).
const MAX_FRAME_BYTES: usize = brainlock_api::DEFAULT_MAX_FRAME_BYTES;

/// Where the encrypted inference runs.
pub enum Destination {
    /// In this process, on this machine (no network).
    Local,
    /// A miner, or a validator's gateway (both serve the miner API).
    Remote {
        /// Client for the miner or gateway URL.
        server: MinerClient,
        /// How the server takes a session.
        layout: SessionLayout,
        /// Who it is and how requests are authenticated: `"signed-miner"` (a miner,
        /// Epistula), `"signed"` (a gateway, Epistula) or `"api-key"` (a gateway).
        how: &'static str,
    },
}

/// Seconds spent in each step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Generating the fresh client and evaluation keys.
    pub keygen_s: f64,
    /// Encrypting the image.
    pub encrypt_s: f64,
    /// Evaluation-key upload (remote only).
    pub upload_s: f64,
    /// From sending the request to the last result byte (or the local evaluation).
    pub infer_s: f64,
    /// Decrypting the result.
    pub decrypt_s: f64,
    /// The whole classification, end to end.
    pub total_s: f64,
}

/// What `classify` prints as its final JSON line.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifyReport {
    /// The circuit's id.
    pub circuit: String,
    /// The FHE parameter profile's id.
    pub profile: String,
    /// Where it ran and how: `"local"`, `"signed-miner"`, `"signed"` (a gateway) or
    /// `"api-key"` (a gateway).
    pub target: &'static str,
    /// Argmax of the decrypted output (ties to the lowest index): the class for VGG9.
    pub class: usize,
    /// Argmax of the clear simulation of the same input.
    pub clear_class: usize,
    /// Whether `class` equals `clear_class`.
    pub agrees_with_clear: bool,
    /// Cosine similarity of the decrypted output and the clear simulation.
    pub cosine: f64,
    /// Fraction of output values equal to the clear simulation's.
    pub exact_match_fraction: f64,
    /// The canary items of a remote session.
    pub canaries: CanaryOutcome,
    /// Size of the evaluation key, in bytes (what is uploaded to a remote).
    pub eval_key_bytes: usize,
    /// Size of the encrypted image, in bytes.
    pub input_bytes: usize,
    /// Seconds spent in each step.
    pub timings: Timings,
}

/// Shows progress on stderr when it is a terminal; silent otherwise.
fn progress_bar(total: Option<u64>, quiet: bool) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {pos}/{len} lookups, {elapsed} (eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
        ),
    };
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Canary items of a remote session: how many were sent, how many failed, and what
/// was done about it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CanaryOutcome {
    /// Canary items per session (more when they fill a batch).
    pub per_session: usize,
    /// Canaries that failed in the first session.
    pub failed: usize,
    /// Whether the session was run again with a fresh key after a failure.
    pub retried: bool,
    /// Whether the failure was reported to the gateway.
    pub reported: bool,
}

/// How a remote server wants its sessions: items per request, whether exactly that
/// many, and how many requests one key serves.
#[derive(Debug, Clone, Copy)]
pub struct SessionLayout {
    /// Items per infer request.
    pub batch: usize,
    /// Every request must hold exactly `batch` items (the rest is filled with canaries).
    pub exact_batch: bool,
    /// Most requests per key.
    pub max_requests: usize,
}

impl SessionLayout {
    /// A miner addressed directly: the whole session in one request.
    const SINGLE_REQUEST: Self = Self {
        batch: usize::MAX,
        exact_batch: false,
        max_requests: 1,
    };

    /// Items per request and in all, for the image and `canaries` canaries: an exact
    /// batch is filled up with more canaries.
    fn items(&self, canaries: usize) -> (usize, usize) {
        let count = 1 + canaries;
        let batch = self.batch.min(count).max(1);
        if self.exact_batch {
            let batch = self.batch.max(1);
            (batch, count.div_ceil(batch) * batch)
        } else {
            (batch, count)
        }
    }
}

/// One item of a remote session.
enum Item {
    /// The customer's own input.
    Image,
    /// A canary: its input, known only here.
    Canary(Vec<i64>),
}

/// What one remote session produced.
struct RemoteSession {
    key_id: KeyId,
    /// The customer's input, decrypted.
    decrypted: Vec<i64>,
    canaries: usize,
    canaries_failed: usize,
    eval_key_bytes: usize,
    input_bytes: usize,
    timings: Timings,
}

/// Runs one encrypted classification of `input` and checks it against the clear
/// simulation. Remote sessions carry `canaries` canary items.
pub async fn classify(
    circuit: Arc<Circuit>,
    profile: &'static Profile,
    input: Vec<i64>,
    destination: &Destination,
    deadline: Duration,
    canaries: usize,
    quiet: bool,
) -> anyhow::Result<ClassifyReport> {
    let started = Instant::now();
    let clear = Simulator::new(&circuit)?
        .run(&input)
        .context("input does not fit the circuit")?;

    let (decrypted, mut timings, eval_key_bytes, input_bytes, canary_outcome) = match destination {
        Destination::Local => {
            let (decrypted, timings, key_bytes, input_bytes) =
                classify_locally(circuit.clone(), profile, &input, quiet).await?;
            (
                decrypted,
                timings,
                key_bytes,
                input_bytes,
                CanaryOutcome::default(),
            )
        }
        Destination::Remote {
            server,
            layout,
            how,
        } => {
            let gates = canary_gates(&circuit, profile, layout, canaries).await?;
            let run = || {
                remote_session(
                    server,
                    &circuit,
                    profile,
                    &input,
                    canaries,
                    layout,
                    gates.as_ref(),
                    deadline,
                    quiet,
                )
            };
            let first = run().await?;
            let mut outcome = CanaryOutcome {
                per_session: first.canaries,
                failed: first.canaries_failed,
                ..CanaryOutcome::default()
            };
            let done = if first.canaries_failed == 0 {
                first
            } else {
                if *how != "signed-miner" {
                    let report = CanaryReport {
                        key_id: first.key_id,
                        canaries: first.canaries as u32,
                        failed: first.canaries_failed as u32,
                    };
                    match server.report(&report).await {
                        Ok(receipt) => outcome.reported = receipt.miner_avoided,
                        Err(e) => tracing::warn!(error = %e, "reporting the failed canaries"),
                    }
                }
                if !quiet {
                    eprintln!(
                        "{} of {} canaries failed: the answer is not trusted; retrying once with a fresh key",
                        first.canaries_failed, first.canaries
                    );
                }
                outcome.retried = true;
                let second = run().await?;
                if second.canaries_failed > 0 {
                    bail!(
                        "canaries failed twice ({} of {}, then {} of {}): no trusted answer",
                        first.canaries_failed,
                        first.canaries,
                        second.canaries_failed,
                        second.canaries
                    );
                }
                second
            };
            (
                done.decrypted,
                done.timings,
                done.eval_key_bytes,
                done.input_bytes,
                outcome,
            )
        }
    };
    timings.total_s = started.elapsed().as_secs_f64();
    let equal = decrypted.iter().zip(&clear).filter(|(a, b)| a == b).count();
    let (class, clear_class) = (argmax(&decrypted), argmax(&clear));
    Ok(ClassifyReport {
        circuit: circuit.id.clone(),
        profile: profile.id.to_string(),
        target: match destination {
            Destination::Local => "local",
            Destination::Remote { how, .. } => how,
        },
        class,
        clear_class,
        agrees_with_clear: class == clear_class,
        cosine: cosine(&decrypted, &clear),
        exact_match_fraction: equal as f64 / clear.len().max(1) as f64,
        canaries: canary_outcome,
        eval_key_bytes,
        input_bytes,
        timings,
    })
}

/// A fresh client key and its evaluation key, generated off the async threads while
/// `step` says so; the time goes to `timings.keygen_s`.
async fn fresh_keys(
    profile: &'static Profile,
    step: &ProgressBar,
    timings: &mut Timings,
) -> anyhow::Result<(ClientKey, CompressedEvaluationKey)> {
    step.set_message("generating fresh keys");
    let t = Instant::now();
    let keys = tokio::task::spawn_blocking(move || ClientKey::generate(profile, None)).await?;
    timings.keygen_s = t.elapsed().as_secs_f64();
    Ok(keys)
}

/// The evaluation on this machine: keys, encryption, evaluation with a progress bar,
/// decryption. Returns the decrypted output, timings and key and input sizes.
async fn classify_locally(
    circuit: Arc<Circuit>,
    profile: &'static Profile,
    input: &[i64],
    quiet: bool,
) -> anyhow::Result<(Vec<i64>, Timings, usize, usize)> {
    let mut timings = Timings::default();
    let step = progress_bar(None, quiet);
    let (client, compressed) = fresh_keys(profile, &step, &mut timings).await?;
    step.set_message("encrypting");
    let t = Instant::now();
    let encrypted = client.encrypt_input(&circuit, input)?;
    let input_bytes = encrypted.to_bytes().len();
    timings.encrypt_s = t.elapsed().as_secs_f64();
    let key_bytes = compressed.to_bytes().len();
    step.finish_and_clear();

    let total = brainlock_fhe::plan::Plan::new(&circuit)?.lookups(&circuit) as u64;
    let bar = progress_bar(Some(total), quiet);
    bar.set_message("encrypted inference");
    let t = Instant::now();
    let evaluated = circuit.clone();
    let progress = bar.clone();
    let output = tokio::task::spawn_blocking(move || {
        let key = EvaluationKey::expand(&compressed);
        evaluate(&evaluated, &key, &encrypted, &|done, _| {
            progress.set_position(done as u64)
        })
    })
    .await??;
    timings.infer_s = t.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let t = Instant::now();
    let decrypted = client.decrypt_output(&circuit, &output)?;
    timings.decrypt_s = t.elapsed().as_secs_f64();
    Ok((decrypted, timings, key_bytes, input_bytes))
}

/// The gates canaries are checked with: the validator's own, derived from the noise
/// model for the session's batch size. `None` when the session holds no canary.
async fn canary_gates(
    circuit: &Arc<Circuit>,
    profile: &'static Profile,
    layout: &SessionLayout,
    canaries: usize,
) -> anyhow::Result<Option<Gates>> {
    let (batch, count) = layout.items(canaries);
    if count == 1 {
        return Ok(None);
    }
    let circuit = circuit.clone();
    let gates = tokio::task::spawn_blocking(move || {
        let model = NoiseModel::new(&profile.parameter_set());
        derive_gates(&circuit, &model, batch, &GatePolicy::default())
    })
    .await?
    .context("deriving the canaries' gates from the noise model")?;
    Ok(Some(gates))
}

/// One remote session: a fresh key, the input and `canaries` canary items (more to
/// fill an exact batch, [`SessionLayout::items`]) in random places, split into requests of the layout's batch,
/// each decrypted; the canaries checked.
#[allow(clippy::too_many_arguments)]
async fn remote_session(
    server: &MinerClient,
    circuit: &Arc<Circuit>,
    profile: &'static Profile,
    input: &[i64],
    canaries: usize,
    layout: &SessionLayout,
    gates: Option<&Gates>,
    deadline: Duration,
    quiet: bool,
) -> anyhow::Result<RemoteSession> {
    let mut timings = Timings::default();
    let mut rng = rand::rng();
    let (batch, count) = layout.items(canaries);
    let requests = count.div_ceil(batch);
    if requests > layout.max_requests {
        bail!(
            "{count} items in batches of {batch} make {requests} requests, more than the {} \
             one key may serve: use fewer canaries",
            layout.max_requests
        );
    }
    let mut items: Vec<Item> = std::iter::once(Item::Image)
        .chain((1..count).map(|_| Item::Canary(synthetic_input(circuit, rng.random()))))
        .collect();
    items.shuffle(&mut rng);
    let canaries = count - 1;

    let step = progress_bar(None, quiet);
    let (client, compressed) = fresh_keys(profile, &step, &mut timings).await?;
    let key_bytes = Bytes::from(compressed.to_bytes());
    drop(compressed);

    step.set_message("encrypting");
    let t = Instant::now();
    let encrypted = items
        .iter()
        .map(|item| {
            let values = match item {
                Item::Image => input,
                Item::Canary(values) => values,
            };
            Ok(Bytes::from(
                client.encrypt_input(circuit, values)?.to_bytes(),
            ))
        })
        .collect::<anyhow::Result<Vec<Bytes>>>()?;
    timings.encrypt_s = t.elapsed().as_secs_f64();
    let input_bytes = encrypted[0].len();

    step.set_message("uploading the evaluation key");
    let t = Instant::now();
    let eval_key_bytes = key_bytes.len();
    let key_id = server
        .upload_key(key_bytes)
        .await
        .context("uploading the evaluation key")?;
    timings.upload_s = t.elapsed().as_secs_f64();

    let mut results = Vec::with_capacity(count);
    for (number, chunk) in encrypted.chunks(batch).enumerate() {
        step.set_message(format!(
            "waiting for the encrypted result ({}/{requests})",
            number + 1
        ));
        let request = InferRequest {
            key_id,
            circuit: CircuitId::new(circuit.id.clone())?,
            profile: ProfileId::new(profile.id)?,
            inputs: chunk.to_vec(),
        };
        let t = Instant::now();
        let answer = tokio::time::timeout(deadline, receive(server, &request))
            .await
            .with_context(|| format!("no result within {} s", deadline.as_secs()))??;
        timings.infer_s += t.elapsed().as_secs_f64();
        results.extend(answer);
    }
    step.finish_and_clear();

    let t = Instant::now();
    let simulator = Simulator::new(circuit)?;
    let mut decrypted = Vec::new();
    let mut canaries_failed = 0;
    for (item, payload) in items.iter().zip(&results) {
        let output = EncryptedOutput::from_bytes(payload, circuit, profile, &Limits::default())
            .context("the result is not a valid encrypted output of this circuit")?;
        let values = client.decrypt_output(circuit, &output)?;
        match item {
            Item::Image => decrypted = values,
            Item::Canary(canary) => {
                let gates = gates.context("canaries need gates")?;
                let expected = gates.expect(&simulator, canary)?;
                let evidence = ItemEvidence {
                    decrypted: &values,
                    expected: &expected,
                    trivial: output.has_trivial_ciphertext(),
                };
                if let ItemOutcome::Failed(failure) = check_item(gates, &evidence) {
                    tracing::warn!(?failure, "a canary failed");
                    canaries_failed += 1;
                }
            }
        }
    }
    timings.decrypt_s = t.elapsed().as_secs_f64();
    Ok(RemoteSession {
        key_id,
        decrypted,
        canaries,
        canaries_failed,
        eval_key_bytes,
        input_bytes,
        timings,
    })
}

/// One infer request's answer: one result payload per item, in item order.
async fn receive(server: &MinerClient, request: &InferRequest) -> anyhow::Result<Vec<Bytes>> {
    let mut results: Vec<Option<Bytes>> = vec![None; request.inputs.len()];
    let mut frames = server.infer(request).await?;
    while let Some(frame) = frames.next_frame().await? {
        let index = frame.index as usize;
        match (results.get_mut(index), frame.payload) {
            (Some(slot @ None), FramePayload::Result(bytes)) => *slot = Some(bytes),
            (Some(None), FramePayload::Error(message)) => {
                bail!("the miner failed item {index}: {message}")
            }
            _ => bail!("unexpected result frame for item {index}"),
        }
    }
    results
        .into_iter()
        .enumerate()
        .map(|(index, r)| r.with_context(|| format!("the stream ended without item {index}")))
        .collect()
}

fn load_keypair(wallet_args: &WalletArgs) -> anyhow::Result<Arc<brainlock_epistula::Keypair>> {
    let dir = match &wallet_args.path {
        Some(path) => path.clone(),
        None => wallet::default_wallets_dir().context("no home folder: pass --wallet.path")?,
    };
    let keypair =
        wallet::load_hotkey(&dir, &wallet_args.name, &wallet_args.hotkey).with_context(|| {
            format!(
                "loading hotkey {}/{} (create one with `brainlock wallet create`)",
                wallet_args.name, wallet_args.hotkey
            )
        })?;
    Ok(Arc::new(keypair))
}

async fn destination(args: &ClassifyArgs) -> anyhow::Result<Destination> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    if args.target.local {
        return Ok(Destination::Local);
    }
    if let Some(url) = &args.target.gateway {
        let info = MinerClient::gateway_info(&http, url)
            .await
            .with_context(|| format!("reading the gateway's info at {url}"))?;
        let layout = SessionLayout {
            batch: info.limits.max_batch.max(1) as usize,
            exact_batch: info.limits.exact_batch,
            max_requests: info.limits.max_requests_per_key.max(1) as usize,
        };
        if let Some(api_key) = &args.api_key {
            let server = MinerClient::with_api_key(url.as_str(), api_key.as_str(), http);
            return Ok(remote(server, layout, "api-key"));
        }
        let gateway =
            AccountId::from_ss58(&info.hotkey).context("gateway sent an invalid hotkey")?;
        let server = MinerClient::new(url.as_str(), gateway, load_keypair(&args.wallet)?, http);
        return Ok(remote(server, layout, "signed"));
    }
    let url = args
        .target
        .miner
        .as_deref()
        .expect("clap requires one target");
    let hotkey = args
        .miner_hotkey
        .as_deref()
        .context("--miner needs --miner-hotkey SS58 to address its requests")?;
    let miner = AccountId::from_ss58(hotkey).context("--miner-hotkey is not an SS58 address")?;
    let server = MinerClient::new(url, miner, load_keypair(&args.wallet)?, http);
    Ok(remote(
        server,
        SessionLayout::SINGLE_REQUEST,
        "signed-miner",
    ))
}

fn remote(server: MinerClient, layout: SessionLayout, how: &'static str) -> Destination {
    Destination::Remote {
        server: server.with_max_frame_bytes(MAX_FRAME_BYTES),
        layout,
        how,
    }
}

/// The `classify` command's work, without printing: what it reports.
pub async fn report(args: &ClassifyArgs) -> anyhow::Result<ClassifyReport> {
    let circuit = Arc::new(resolve_circuit(&args.circuit)?);
    let profile = resolve_profile(&circuit, args.profile.as_deref())?;
    let input = load_input(&args.image, &circuit)?;
    let destination = destination(args).await?;
    let deadline =
        Duration::try_from_secs_f64(args.timeout).context("--timeout must be a positive number")?;
    let canaries = match (&destination, args.canaries) {
        (Destination::Local, Some(n)) if n > 0 => {
            bail!("--canaries checks a remote server; --local computes here")
        }
        (Destination::Local, _) => 0,
        (_, Some(n)) => n as usize,
        (_, None) if args.target.gateway.is_some() => 1,
        (_, None) => 0,
    };
    classify(
        circuit,
        profile,
        input,
        &destination,
        deadline,
        canaries,
        args.json,
    )
    .await
}

/// The `classify` command.
pub async fn run(args: ClassifyArgs) -> anyhow::Result<()> {
    let report = report(&args).await?;
    if !args.json {
        let t = &report.timings;
        println!(
            "class            {} (clear simulation: {})",
            report.class, report.clear_class
        );
        println!(
            "agreement        cosine {:.4}, {:.1}% of outputs exact",
            report.cosine,
            100.0 * report.exact_match_fraction
        );
        let c = &report.canaries;
        if c.per_session > 0 {
            println!(
                "canaries         {} per session, {} failed{}{}",
                c.per_session,
                c.failed,
                if c.reported { ", reported" } else { "" },
                if c.retried {
                    ", retried with a fresh key: passed"
                } else {
                    ""
                }
            );
        }
        println!(
            "timings          keygen {:.2}s  encrypt {:.2}s  upload {:.2}s  inference {:.2}s  decrypt {:.3}s  total {:.2}s",
            t.keygen_s, t.encrypt_s, t.upload_s, t.infer_s, t.decrypt_s, t.total_s
        );
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
