//! The gates the validator derives fail honest work rarely: over 10,000 items of the
//! noise-aware simulation per shipped (circuit, default profile, default batch), fewer
//! than 1 query in 1,000 fails (DESIGN section 5). The items use the noise the model
//! predicts for the profile; the gates assume 20% more (`GatePolicy::noise_tolerance`).

use brainlock_circuit::{NoiseModel, NoisySimulator, Simulator, sample_inputs};
use brainlock_scoring::{ItemEvidence, ItemOutcome, check_item, exact_match_fraction};
use brainlock_validator::Workload;
use brainlock_validator::config::ScoringTable;
use rayon::prelude::*;

/// Items simulated per circuit.
const ITEMS: usize = 10_000;

struct Tally {
    queries: usize,
    failed_queries: usize,
    failures: Vec<String>,
    exact_match_min: f64,
}

fn honest_tally(name: &str, batch: usize, items: usize) -> Tally {
    let workload = Workload::resolve(name, None, &ScoringTable::default(), batch).unwrap();
    let circuit = &workload.circuit;
    let gates = &workload.gates;
    eprintln!(
        "{name} ({}, batch {batch}): c_min {:.4}, rule: {}, simulated e_min mean {:?}",
        workload.profile.id, gates.c_min, gates.rule, gates.simulated_e_min_mean
    );
    let model = NoiseModel::new(&workload.profile.parameter_set());
    let noisy = NoisySimulator::new(circuit, &model).unwrap();
    let exact = Simulator::new(circuit).unwrap();
    // Other images and noise than the ones the gates were fitted on.
    let images = sample_inputs(circuit, 0x0bad_cafe, items);
    let outcomes: Vec<(ItemOutcome, f64)> = images
        .par_iter()
        .enumerate()
        .map(|(i, image)| {
            let expected = gates.expect(&exact, image).unwrap();
            let run = noisy.run(image, 0x5eed_0000 + i as u64).unwrap();
            let outcome = check_item(
                gates,
                &ItemEvidence {
                    decrypted: &run.trace.output,
                    expected: &expected,
                    trivial: false,
                },
            );
            let matched = exact_match_fraction(&run.trace.output, &expected.outputs);
            (outcome, matched)
        })
        .collect();
    let mut tally = Tally {
        queries: 0,
        failed_queries: 0,
        failures: Vec::new(),
        exact_match_min: 1.0,
    };
    for query in outcomes.chunks(batch) {
        tally.queries += 1;
        if let Some((ItemOutcome::Failed(failure), _)) = query.iter().find(|(o, _)| !o.passed()) {
            tally.failed_queries += 1;
            tally.failures.push(format!("{failure:?}"));
        }
        for (_, matched) in query {
            tally.exact_match_min = tally.exact_match_min.min(*matched);
        }
    }
    eprintln!(
        "{name}: {} of {} honest queries failed; lowest exact-match fraction {:.4}; {:?}",
        tally.failed_queries, tally.queries, tally.exact_match_min, tally.failures
    );
    tally
}

fn assert_rare(name: &str, tally: &Tally) {
    assert!(
        (tally.failed_queries as f64) < 1e-3 * tally.queries as f64,
        "{name}: {} of {} honest queries failed: {:?}",
        tally.failed_queries,
        tally.queries,
        tally.failures
    );
}

#[test]
fn conv3x3_honest_queries_fail_under_one_in_a_thousand() {
    let tally = honest_tally("conv3x3", 1, ITEMS);
    assert_rare("conv3x3", &tally);
}

#[test]
fn test_tiny_honest_queries_fail_under_one_in_a_thousand() {
    let tally = honest_tally("test-tiny", 1, ITEMS);
    assert_rare("test-tiny", &tally);
}

/// 10,000 noisy VGG9 runs take about 15 minutes on 2 cores in a release build:
/// `scripts/honest-gates.sh` runs it.
#[test]
#[ignore = "about 15 minutes on 2 cores in release; scripts/honest-gates.sh"]
fn vgg9_honest_queries_fail_under_one_in_a_thousand() {
    let tally = honest_tally("vgg9", 1, ITEMS);
    assert_rare("vgg9", &tally);
}
