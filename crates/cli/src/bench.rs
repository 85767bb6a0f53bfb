//! `brainlock bench`: the engine's benchmark on this machine, reported as one final
//! JSON line (what CI and the README quote).

use anyhow::Context;
use brainlock_fhe::bench::run_bench;

use crate::cli::BenchArgs;
use crate::workload::{resolve_circuit, resolve_profile, synthetic_input};

/// The `bench` command: times encrypted inference of synthetic images here and prints
/// the report, its last line JSON.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.images > 0, "--images must be at least 1");
    let circuit = resolve_circuit(&args.circuit)?;
    let profile = resolve_profile(&circuit, args.profile.as_deref())?;
    let images: Vec<Vec<i64>> = (0..args.images as u64)
        .map(|i| synthetic_input(&circuit, i))
        .collect();
    let evaluator = args.backend.evaluator()?;
    eprintln!(
        "benchmarking {} under {} on {} image(s) with {} thread(s), backend {}...",
        circuit.id,
        profile.id,
        images.len(),
        rayon_threads(),
        args.backend
    );
    let report =
        tokio::task::spawn_blocking(move || run_bench(&circuit, profile, &images, &*evaluator))
            .await?
            .context("benchmark failed")?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
