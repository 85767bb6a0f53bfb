//! Prints the noise-aware agreement table (noisy vs exact simulation) of the seeded
//! VGG9 and conv3x3 for the candidate tfhe-rs parameter sets, and for N = 2048 at finer
//! decompositions (the profile search of DESIGN section 2). Each row also gives the
//! floor no decomposition can lower: the modulus switch's own std in boxes.
//!
//! `cargo run -p brainlock-circuit --release --example noise_table -- [images] [seed]`
//! (`CONFIGS=6:0.001,7:0.02` compares calibrations: rounding bits R and range tail).
//!
//! `TIERS=1` prints instead the per-layer tier search for VGG9: one small key under
//! three big keys (N = 2048, 4096, 8192), each lookup layer bootstrapping at the N of
//! its tier: the agreement of every assignment and its predicted time per image
//! (`TIER_COSTS=br2048,br4096,br8192,ks8192` in ms per lookup per core).

use std::time::Instant;

use brainlock_circuit::CalibrationConfig;
use brainlock_circuit::{
    AgreementReport, BuildConfig, Circuit, LayerOutput, NoiseModel, NoisySimulator, ParameterSet,
    Simulator, conv3x3_with, synthetic_images, vgg9_with,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let images: usize = args.next().map_or(200, |a| a.parse().expect("image count"));
    let seed: u64 = args.next().map_or(1, |a| a.parse().expect("seed"));
    let queries = synthetic_images(seed.wrapping_add(0x5eed), images);
    println!("{images} synthetic images, weight seed {seed}");
    let configs: Vec<(u32, f64)> = match std::env::var("CONFIGS") {
        Ok(list) => list
            .split(',')
            .map(|c| {
                let (r, tail) = c.split_once(':').expect("CONFIGS=R:tail,...");
                (r.parse().expect("R"), tail.parse().expect("tail"))
            })
            .collect(),
        Err(_) => {
            let default = CalibrationConfig::default();
            vec![(default.rounding_bits, default.range_tail)]
        }
    };
    if std::env::var_os("TIERS").is_some() {
        let vgg = vgg9_with(seed, &BuildConfig::default()).expect("vgg9 calibrates");
        print_tier_search(&vgg, &queries, seed);
        return;
    }
    for (rounding_bits, range_tail) in configs {
        let config = BuildConfig {
            calibration: CalibrationConfig {
                rounding_bits,
                range_tail,
                ..CalibrationConfig::default()
            },
            ..BuildConfig::default()
        };
        let started = Instant::now();
        let vgg = vgg9_with(seed, &config).expect("vgg9 calibrates");
        let conv = conv3x3_with(seed, &config).expect("conv3x3 calibrates");
        println!(
            "\n=== R = {rounding_bits}, range tail {range_tail} (calibration {:.1} s) ===",
            started.elapsed().as_secs_f64()
        );
        print_encoding(&vgg);
        print_wrapped(&vgg, &queries[..queries.len().min(20)]);
        let started = Instant::now();
        Simulator::new(&vgg).unwrap().run_batch(&queries).unwrap();
        println!(
            "exact VGG9: {:.2} ms/image ({} threads)",
            started.elapsed().as_secs_f64() * 1e3 / images as f64,
            rayon::current_num_threads()
        );
        for circuit in [&vgg, &conv] {
            for params in search_candidates() {
                let model = NoiseModel::new(&params);
                let sim = NoisySimulator::new(circuit, &model).unwrap();
                let started = Instant::now();
                let report = sim.agreement(&queries, seed).unwrap();
                print_report(
                    circuit,
                    &params,
                    &sim,
                    &report,
                    started.elapsed().as_secs_f64(),
                );
            }
        }
    }
}

/// The tfhe-rs candidate sets, with N = 2048 also at finer bootstrapping and
/// keyswitching decompositions: a decomposition moves noise and speed, never security,
/// so these keep the set's vetted dimensions and noise.
fn search_candidates() -> Vec<ParameterSet> {
    let mut sets = ParameterSet::candidates();
    let n2048 = ParameterSet::tfhe_rs_n2048();
    let finer = [(15, 2, 4, 4), (15, 2, 3, 6)];
    for (i, (pbs_base_log, pbs_level, ks_base_log, ks_level)) in finer.into_iter().enumerate() {
        sets.insert(
            1 + i,
            ParameterSet {
                name: format!(
                    "N2048, PBS 2^{pbs_base_log} x {pbs_level}, KS 2^{ks_base_log} x {ks_level}"
                ),
                pbs_base_log,
                pbs_level,
                ks_base_log,
                ks_level,
                ..n2048.clone()
            },
        );
    }
    sets
}

fn print_encoding(circuit: &Circuit) {
    let shifts: Vec<String> = circuit
        .layers
        .iter()
        .map(|l| match &l.output {
            brainlock_circuit::LayerOutput::Lookup(lookup) => {
                format!("{}:s={}", l.name, lookup.shift)
            }
            brainlock_circuit::LayerOutput::Accumulator { delta_log2 } => {
                format!("{}:delta=2^{delta_log2}", l.name)
            }
        })
        .collect();
    println!("vgg9 encoding: {}", shifts.join(" "));
}

/// Per layer: fraction of lookups whose box index falls outside the table, and
/// fraction whose wrapped value differs from the unwrapped step function (-1 below
/// the first threshold, 1 from the second on): the part of the accumulator range
/// calibration left to a periodic activation. Ternary layers only.
fn print_wrapped(circuit: &Circuit, images: &[Vec<i64>]) {
    let sim = Simulator::new(circuit).unwrap();
    let boxes = 1i64 << circuit.rounding_bits;
    let mut counts = vec![(0usize, 0usize, 0usize); circuit.layers.len()];
    for image in images {
        for (i, trace) in sim.run_traced(image).unwrap().layers.iter().enumerate() {
            let LayerOutput::Lookup(lookup) = &circuit.layers[i].output else {
                continue;
            };
            let plane = trace.box_indices.len() / lookup.lo.len().max(1);
            for (j, (&k, &out)) in trace.box_indices.iter().zip(&trace.outputs).enumerate() {
                let table = &lookup.tables[j / plane.max(1)];
                let low = table.iter().position(|&v| v >= 0).unwrap_or(table.len()) as i64;
                let high = table.iter().position(|&v| v >= 1).unwrap_or(table.len()) as i64;
                let step = if k < low {
                    -1
                } else if k < high {
                    0
                } else {
                    1
                };
                counts[i].0 += usize::from(!(0..boxes).contains(&k));
                counts[i].1 += usize::from(out != step);
                counts[i].2 += 1;
            }
        }
    }
    let parts: Vec<String> = circuit
        .layers
        .iter()
        .zip(&counts)
        .filter(|(_, c)| c.2 > 0)
        .map(|(l, c)| {
            format!(
                "{} {:.3}/{:.4}",
                l.name,
                c.0 as f64 / c.2 as f64,
                c.1 as f64 / c.2 as f64
            )
        })
        .collect();
    println!(
        "outside the table / not the step function: {}",
        parts.join(", ")
    );
}

fn print_report(
    circuit: &Circuit,
    params: &ParameterSet,
    sim: &NoisySimulator,
    report: &AgreementReport,
    secs: f64,
) {
    let sigmas: Vec<f64> = sim.sigmas().iter().flatten().copied().collect();
    let max_sigma = sigmas.iter().copied().fold(0.0, f64::max);
    let min_sigma = sigmas.iter().copied().fold(f64::INFINITY, f64::min);
    let top1 = report
        .top1_agreement
        .map_or("   -  ".to_string(), |t| format!("{:6.3}", t));
    let floor = NoiseModel::new(params)
        .modulus_switch_variance_boxes(circuit.rounding_bits)
        .sqrt();
    println!(
        "{:8} {:55} sigma {:.3}..{:.3} box (floor {floor:.3}) | top1 {top1} | cos mean {:.5} p01 {:.5} min {:.5} | {:.1} s",
        circuit.id,
        params.name,
        min_sigma,
        max_sigma,
        report.cosine_mean,
        report.cosine_p01,
        report.cosine_min,
        secs
    );
    let layers: Vec<String> = report
        .layers
        .iter()
        .map(|l| {
            format!(
                "{} {:.2e}/{:.2e}",
                l.name, l.slip_fraction, l.differ_fraction
            )
        })
        .collect();
    println!("         slips/differ per layer: {}", layers.join(", "));
}

/// The tiers' parameter sets: one small key (the N = 8192 set's n = 1077, TUniform
/// 2^41) under the big keys of three vetted sets, each with its set's own GLWE noise and
/// PBS decomposition, keyswitched with the N = 8192 set's 2^4 x 5. Each key keeps a
/// vetted (dimension, noise) pair, so each keeps its 128-bit security (a decomposition
/// does not change it); the spliced sets' failure probability is no longer the vetted
/// one, and is what the search measures.
fn tier_sets() -> [ParameterSet; 3] {
    let small = ParameterSet::tfhe_rs_n8192();
    let tier = |big: ParameterSet| ParameterSet {
        name: format!("N{} tier", big.polynomial_size),
        lwe_dimension: small.lwe_dimension,
        lwe_noise: small.lwe_noise,
        ks_base_log: small.ks_base_log,
        ks_level: small.ks_level,
        ..big
    };
    [
        tier(ParameterSet::tfhe_rs_n2048()),
        tier(ParameterSet::tfhe_rs_n4096()),
        tier(small.clone()),
    ]
}

/// Every assignment of tiers to lookup layers that never lowers N with depth (the
/// first layers are the widest, so they gain most from a small N): the noise-aware
/// agreement and the predicted time of each on this machine's threads, sorted by time.
/// The default costs are `--bench lookup`'s batched blind rotations (n2048-gauss,
/// n4096-gauss, n8192-tuniform) scaled to n = 1077, and its keyswitch at N = 8192; the
/// keyswitch scales with the big key's length. Not modelled: the logits' decryption
/// noise and their packing, which follow the last tier.
fn print_tier_search(circuit: &Circuit, queries: &[Vec<i64>], seed: u64) {
    let threads = rayon::current_num_threads() as f64;
    let costs: Vec<f64> = std::env::var("TIER_COSTS")
        .unwrap_or_else(|_| "14.9,46.0,99.9,4.6".into())
        .split(',')
        .map(|c| c.parse().expect("TIER_COSTS=br2048,br4096,br8192,ks8192"))
        .collect();
    assert_eq!(costs.len(), 4, "TIER_COSTS=br2048,br4096,br8192,ks8192");
    let tiers = tier_sets();
    let models: Vec<NoiseModel> = tiers.iter().map(NoiseModel::new).collect();
    // The keyswitch's cost is linear in the big key's length.
    let ks_ms = |tier: usize| costs[3] * tiers[tier].polynomial_size as f64 / 8192.0;
    // sigmas[here][before]: a layer bootstrapping in tier `here` whose inputs are
    // outputs of tier `before` (PBS noise and keyswitch from its big key).
    let sigmas: Vec<Vec<Vec<Vec<f64>>>> = (0..3)
        .map(|here| {
            (0..3)
                .map(|before| {
                    NoiseModel {
                        params: tiers[here].clone(),
                        ..models[before]
                    }
                    .layer_sigmas(circuit)
                })
                .collect()
        })
        .collect();
    let lookup_layers: Vec<usize> = (0..circuit.layers.len())
        .filter(|&i| matches!(circuit.layers[i].output, LayerOutput::Lookup(_)))
        .collect();
    let layer_names: Vec<&str> = lookup_layers
        .iter()
        .map(|&i| circuit.layers[i].name.as_str())
        .collect();
    println!(
        "VGG9 tier search over {} images; lookup layers {}",
        queries.len(),
        layer_names.join(" ")
    );
    let m = lookup_layers.len();
    let mut rows = Vec::new();
    for first_4096 in 0..=m {
        for first_8192 in first_4096..=m {
            let tier_of = |j: usize| usize::from(j >= first_4096) + usize::from(j >= first_8192);
            let mut layer_sigmas: Vec<Vec<f64>> = vec![Vec::new(); circuit.layers.len()];
            for (j, &i) in lookup_layers.iter().enumerate() {
                let before = tier_of(j.saturating_sub(1));
                layer_sigmas[i] = sigmas[tier_of(j)][before][i].clone();
            }
            let sim = NoisySimulator::with_sigmas(circuit, layer_sigmas).unwrap();
            let report = sim.agreement(queries, seed).unwrap();
            let ms: f64 = report
                .layers
                .iter()
                .enumerate()
                .map(|(j, l)| {
                    let before = tier_of(j.saturating_sub(1));
                    l.lookups_per_image as f64 * (costs[tier_of(j)] + ks_ms(before))
                })
                .sum();
            let assignment: String = (0..m).map(|j| ['2', '4', '8'][tier_of(j)]).collect();
            rows.push((assignment, ms / 1e3 / threads, report));
        }
    }
    rows.sort_by(|a, b| a.1.total_cmp(&b.1));
    println!(
        "tiers per lookup layer (2/4/8 = N 2048/4096/8192), predicted s/image on {threads} threads;"
    );
    println!("exact: every image's logits equal the exact run's; no slip: nor did any lookup slip");
    for (assignment, seconds, report) in &rows {
        let verdict = if report.layers.iter().all(|l| l.slip_fraction == 0.0) {
            "no slip"
        } else if report.cosine_min >= 1.0 - 1e-12 {
            "exact  "
        } else {
            "differs"
        };
        let worst = report
            .layers
            .iter()
            .max_by(|a, b| a.slip_fraction.total_cmp(&b.slip_fraction))
            .map_or(String::new(), |l| {
                format!("{} {:.1e}", l.name, l.slip_fraction)
            });
        println!(
            "{assignment} {seconds:7.0} s | {verdict} | top1 {:.3} cos min {:.5} | worst slips {worst}",
            report.top1_agreement.unwrap_or(f64::NAN),
            report.cosine_min,
        );
    }
}
