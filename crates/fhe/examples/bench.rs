//! One-line JSON benchmark of the encrypted engine:
//! `cargo run -p brainlock-fhe --release --example bench -- --circuit conv3x3 --profile n2048-gauss --images 3`
//!
//! Builds the seeded default circuit, generates keys, runs one encrypted inference per
//! synthetic image and prints the [`brainlock_fhe::bench::BenchReport`].

use brainlock_circuit::{conv3x3, synthetic_images, vgg9};
use brainlock_fhe::{Profile, bench::run_bench};
use std::process::ExitCode;

struct Args {
    circuit: String,
    profile: Option<String>,
    images: usize,
    seed: u64,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        circuit: "conv3x3".into(),
        profile: None,
        images: 1,
        seed: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--circuit" => args.circuit = value()?,
            "--profile" => args.profile = Some(value()?),
            "--images" => args.images = value()?.parse().map_err(|e| format!("--images: {e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "{e}\nusage: bench --circuit conv3x3|vgg9 [--profile ID] [--images K] [--seed S]"
            );
            return ExitCode::from(2);
        }
    };
    let circuit = match args.circuit.as_str() {
        "conv3x3" => conv3x3(args.seed),
        "vgg9" => vgg9(args.seed),
        other => {
            eprintln!("unknown circuit {other}");
            return ExitCode::from(2);
        }
    };
    let profile = match args.profile.as_deref() {
        None => Profile::default_for(&circuit.id),
        Some(id) => match Profile::by_id(id) {
            Some(p) => p,
            None => {
                let ids: Vec<_> = Profile::all().iter().map(|p| p.id).collect();
                eprintln!("unknown profile {id}; known: {ids:?}");
                return ExitCode::from(2);
            }
        },
    };
    let images = synthetic_images(args.seed.wrapping_add(1), args.images);
    match run_bench(&circuit, profile, &images) {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string(&report).expect("report serializes")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}
