//! `brainlock classify`: fresh client keys, encrypt, run (here, on a miner, or through a
//! gateway), decrypt here, compare with the clear simulation, report timings. The
//! client key never leaves this process: only the evaluation key and ciphertexts go out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use brainlock_api::{CircuitId, FramePayload, InferRequest, MinerClient, ProfileId};
use brainlock_circuit::{Circuit, Simulator, argmax, cosine};
use brainlock_epistula::{AccountId, wallet};
use brainlock_fhe::{ClientKey, EncryptedOutput, EvaluationKey, Limits, Profile, evaluate};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::cli::{ClassifyArgs, WalletArgs};
use crate::workload::{load_input, resolve_circuit, resolve_profile};

/// Largest result frame accepted (a conv3x3 output under the largest profile is
/// about 200 MB).
const MAX_FRAME_BYTES: usize = brainlock_api::DEFAULT_MAX_FRAME_BYTES;

/// Where the encrypted inference runs.
pub enum Destination {
    /// In this process, on this machine (no network).
    Local,
    /// A miner, or a validator's gateway (both serve the miner API). `how` says how
    /// requests are authenticated: `"signed"` (Epistula) or `"api-key"`.
    Remote {
        /// Client for the miner or gateway URL.
        server: MinerClient,
        /// `"signed"` or `"api-key"`.
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
    /// Where it ran and how: `"local"`, `"signed"` (a miner) or `"api-key"` (a gateway).
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

/// Runs one encrypted classification of `input` and checks it against the clear
/// simulation.
pub async fn classify(
    circuit: Arc<Circuit>,
    profile: &'static Profile,
    input: Vec<i64>,
    destination: &Destination,
    deadline: Duration,
    quiet: bool,
) -> anyhow::Result<ClassifyReport> {
    let started = Instant::now();
    let mut timings = Timings::default();
    let clear = Simulator::new(&circuit)?
        .run(&input)
        .context("input does not fit the circuit")?;

    let step = progress_bar(None, quiet);
    step.set_message("generating fresh keys");
    let t = Instant::now();
    let (client, compressed) =
        tokio::task::spawn_blocking(move || ClientKey::generate(profile, None)).await?;
    timings.keygen_s = t.elapsed().as_secs_f64();

    step.set_message("encrypting");
    let t = Instant::now();
    let encrypted = client.encrypt_input(&circuit, &input)?;
    let input_bytes = Bytes::from(encrypted.to_bytes());
    timings.encrypt_s = t.elapsed().as_secs_f64();
    let key_bytes = Bytes::from(compressed.to_bytes());
    let eval_key_bytes = key_bytes.len();

    let output = match destination {
        Destination::Local => {
            step.finish_and_clear();
            let total = brainlock_fhe::plan::Plan::new(&circuit)?.lookups(&circuit) as u64;
            let bar = progress_bar(Some(total), quiet);
            bar.set_message("encrypted inference");
            let t = Instant::now();
            let circuit = circuit.clone();
            let progress = bar.clone();
            let output = tokio::task::spawn_blocking(move || {
                let key = EvaluationKey::expand(&compressed);
                evaluate(&circuit, &key, &encrypted, &|done, _| {
                    progress.set_position(done as u64)
                })
            })
            .await??;
            timings.infer_s = t.elapsed().as_secs_f64();
            bar.finish_and_clear();
            output
        }
        Destination::Remote { server, .. } => {
            drop((compressed, encrypted));
            step.set_message("uploading the evaluation key");
            let t = Instant::now();
            let key_id = server
                .upload_key(key_bytes)
                .await
                .context("uploading the evaluation key")?;
            timings.upload_s = t.elapsed().as_secs_f64();

            step.set_message("waiting for the encrypted result");
            let request = InferRequest {
                key_id,
                circuit: CircuitId::new(circuit.id.clone())?,
                profile: ProfileId::new(profile.id)?,
                inputs: vec![input_bytes.clone()],
            };
            let t = Instant::now();
            let payload = tokio::time::timeout(deadline, async {
                let mut frames = server.infer(&request).await?;
                let mut result = None;
                while let Some(frame) = frames.next_frame().await? {
                    match (frame.index, frame.payload) {
                        (0, FramePayload::Result(bytes)) if result.is_none() => {
                            result = Some(bytes)
                        }
                        (0, FramePayload::Error(message)) => bail!("the miner failed: {message}"),
                        (index, _) => bail!("unexpected result frame for item {index}"),
                    }
                }
                result.context("the stream ended without a result")
            })
            .await
            .with_context(|| format!("no result within {} s", deadline.as_secs()))??;
            timings.infer_s = t.elapsed().as_secs_f64();
            step.finish_and_clear();
            EncryptedOutput::from_bytes(&payload, &circuit, profile, &Limits::default())
                .context("the result is not a valid encrypted output of this circuit")?
        }
    };

    let t = Instant::now();
    let decrypted = client.decrypt_output(&circuit, &output)?;
    timings.decrypt_s = t.elapsed().as_secs_f64();
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
        eval_key_bytes,
        input_bytes: input_bytes.len(),
        timings,
    })
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
        if let Some(api_key) = &args.api_key {
            let server = MinerClient::with_api_key(url.as_str(), api_key.as_str(), http);
            return Ok(remote(server, "api-key"));
        }
        let info = MinerClient::gateway_info(&http, url)
            .await
            .with_context(|| format!("reading the gateway's info at {url}"))?;
        let gateway =
            AccountId::from_ss58(&info.hotkey).context("gateway sent an invalid hotkey")?;
        let server = MinerClient::new(url.as_str(), gateway, load_keypair(&args.wallet)?, http);
        return Ok(remote(server, "signed"));
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
    Ok(remote(server, "signed"))
}

fn remote(server: MinerClient, how: &'static str) -> Destination {
    Destination::Remote {
        server: server.with_max_frame_bytes(MAX_FRAME_BYTES),
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
    classify(circuit, profile, input, &destination, deadline, args.json).await
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
        println!(
            "timings          keygen {:.2}s  encrypt {:.2}s  upload {:.2}s  inference {:.2}s  decrypt {:.3}s  total {:.2}s",
            t.keygen_s, t.encrypt_s, t.upload_s, t.infer_s, t.decrypt_s, t.total_s
        );
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
