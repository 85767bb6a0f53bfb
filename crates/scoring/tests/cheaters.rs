//! Miners that cheat, simulated on the real circuits, against honest ones: scoring
//! must rank honest > slow-but-correct > every cheater, and give cheaters exactly 0.

mod support;

use std::time::Duration;

use brainlock_circuit::{
    Circuit, NoiseModel, NoisySimulator, ParameterSet, Simulator, conv3x3, synthetic_image, vgg9,
};
use brainlock_scoring::{
    CircuitKind, GatePolicy, Gates, ItemEvidence, ItemExpectation, MinerHistory, QueryOutcome,
    ScoringParams, check_item, derive_gates, judge_query, reward_weights,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::{Honest, SkipFifth, Skipped, run_with_hook};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Miner {
    /// Runs the circuit encrypted: small rounding noise flips a few activations.
    Honest,
    /// Exactly right, three times slower than the honest miner.
    Slow,
    /// Answers instantly with random values of the right shape and range.
    InstantRandom,
    /// Skips every fifth lookup, returning 0 for it.
    SkipsFifthZero,
    /// Skips every fifth lookup, returning a wrong table entry for it.
    SkipsFifthWrongEntry,
    /// Returns trivial ciphertexts (all-zero mask) - here even of the right values.
    Trivial,
}

const MINERS: [Miner; 6] = [
    Miner::Honest,
    Miner::Slow,
    Miner::InstantRandom,
    Miner::SkipsFifthZero,
    Miner::SkipsFifthWrongEntry,
    Miner::Trivial,
];

struct Scenario {
    kind: CircuitKind,
    circuit: Circuit,
    /// Seconds per item of the honest miner.
    honest_seconds: f64,
    /// The parameter set of the honest miner's encrypted run: its rounding noise comes
    /// from the noise model of that set, on every lookup.
    honest_params: ParameterSet,
    queries: usize,
    batch: usize,
    /// Slipped lookups the honest run must show at least, so that it is a noisy run.
    min_honest_slips: u64,
}

struct Answer {
    outputs: Vec<Vec<i64>>,
    trivial: bool,
    seconds_per_item: f64,
}

struct Report {
    histories: Vec<MinerHistory>,
    honest_slips: u64,
}

fn answer(
    scenario: &Scenario,
    miner: Miner,
    images: &[Vec<i64>],
    expected: &[Vec<i64>],
    rng: &mut ChaCha8Rng,
) -> Answer {
    let circuit = &scenario.circuit;
    let honest = scenario.honest_seconds;
    let jitter = rng.random_range(0.95..1.05);
    let skip = |skipped| {
        images
            .iter()
            .map(|image| run_with_hook(circuit, image, &mut SkipFifth(skipped)))
            .collect()
    };
    let (outputs, trivial, seconds_per_item) = match miner {
        Miner::Honest => unreachable!("honest answers come from the noisy simulation"),
        Miner::Slow => (expected.to_vec(), false, 3.0 * honest),
        Miner::InstantRandom => {
            let outputs = expected
                .iter()
                .map(|truth| {
                    let (lo, hi) = (*truth.iter().min().unwrap(), *truth.iter().max().unwrap());
                    truth.iter().map(|_| rng.random_range(lo..=hi)).collect()
                })
                .collect();
            (outputs, false, 0.02)
        }
        Miner::SkipsFifthZero => (skip(Skipped::Zero), false, 0.8 * honest),
        Miner::SkipsFifthWrongEntry => (skip(Skipped::WrongEntry), false, 0.8 * honest),
        Miner::Trivial => (expected.to_vec(), true, 0.01),
    };
    Answer {
        outputs,
        trivial,
        seconds_per_item: seconds_per_item * jitter,
    }
}

fn judge(
    scenario: &Scenario,
    gates: &Gates,
    answer: &Answer,
    expected: &[ItemExpectation],
) -> QueryOutcome {
    let params = ScoringParams::for_circuit(scenario.kind);
    let items: Vec<_> = answer
        .outputs
        .iter()
        .zip(expected)
        .map(|(decrypted, expected)| {
            check_item(
                gates,
                &ItemEvidence {
                    decrypted,
                    expected,
                    trivial: answer.trivial,
                },
            )
        })
        .collect();
    let elapsed = Duration::from_secs_f64(answer.seconds_per_item * items.len() as f64);
    judge_query(&params, &items, elapsed)
}

/// Expands one sigma per lookup layer to the simulator's per-channel layout.
fn run(scenario: &Scenario) -> Report {
    let exact = Simulator::new(&scenario.circuit).unwrap();
    let model = NoiseModel::new(&scenario.honest_params);
    let noisy = NoisySimulator::new(&scenario.circuit, &model).unwrap();
    let gates = derive_gates(
        &scenario.circuit,
        &model,
        scenario.batch,
        &GatePolicy::default(),
    )
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut histories = vec![MinerHistory::new(); MINERS.len()];
    let mut honest_slips = 0;
    for query in 0..scenario.queries {
        let images: Vec<Vec<i64>> = (0..scenario.batch)
            .map(|i| synthetic_image(0x5c0e, (query * scenario.batch + i) as u64))
            .collect();
        let expectations: Vec<ItemExpectation> = images
            .iter()
            .map(|image| gates.expect(&exact, image).unwrap())
            .collect();
        let expected: Vec<Vec<i64>> = expectations.iter().map(|e| e.outputs.clone()).collect();
        if query == 0 {
            // The tamperable forward pass is faithful to the real simulation.
            for (image, truth) in images.iter().zip(&expected) {
                assert_eq!(&run_with_hook(&scenario.circuit, image, &mut Honest), truth);
            }
        }
        for (miner, history) in MINERS.iter().zip(&mut histories) {
            let answer = if *miner == Miner::Honest {
                let runs: Vec<_> = images
                    .iter()
                    .enumerate()
                    .map(|(i, image)| {
                        noisy
                            .run(image, (query * scenario.batch + i) as u64)
                            .unwrap()
                    })
                    .collect();
                honest_slips += runs.iter().flat_map(|r| &r.slips).sum::<u64>();
                let jitter = rng.random_range(0.95..1.05);
                Answer {
                    outputs: runs.into_iter().map(|r| r.trace.output).collect(),
                    trivial: false,
                    seconds_per_item: scenario.honest_seconds * jitter,
                }
            } else {
                answer(scenario, *miner, &images, &expected, &mut rng)
            };
            let outcome = judge(scenario, &gates, &answer, &expectations);
            let cheater = !matches!(miner, Miner::Honest | Miner::Slow);
            assert!(outcome.score().is_finite());
            if cheater {
                assert!(
                    outcome.is_failure(),
                    "{miner:?} passed query {query}: {outcome:?}"
                );
            }
            if *miner == Miner::Slow {
                assert!(
                    !outcome.is_failure(),
                    "slow but exact miner failed query {query}: {outcome:?}"
                );
            }
            if *miner == Miner::Honest && outcome.is_failure() {
                eprintln!(
                    "{}: honest miner failed query {query}: {outcome:?}",
                    scenario.kind
                );
            }
            history.record(&outcome);
        }
    }
    let images = (scenario.queries * scenario.batch) as f64;
    eprintln!(
        "{}: honest slips per image {}",
        scenario.kind,
        honest_slips as f64 / images
    );
    Report {
        histories,
        honest_slips,
    }
}

fn assert_ranking(scenario: &Scenario, report: &Report) {
    let standings: Vec<f64> = report
        .histories
        .iter()
        .map(MinerHistory::standing)
        .collect();
    let weights =
        reward_weights(&standings, &vec![0.0; standings.len()], &Default::default()).weights;
    for (miner, (standing, history)) in MINERS.iter().zip(standings.iter().zip(&report.histories)) {
        eprintln!(
            "{}: {miner:?}: standing {standing:.4}, failure rate {:.3}",
            scenario.kind,
            history.failure_rate()
        );
    }
    assert!(
        standings
            .iter()
            .chain(&weights)
            .all(|v| v.is_finite() && *v >= 0.0)
    );
    let (honest, slow, cheaters) = (standings[0], standings[1], &standings[2..]);
    assert!(
        report.histories[0].failure_rate() == 0.0,
        "the honest miner failed {} of its queries",
        report.histories[0].failure_rate()
    );
    assert!(
        report.honest_slips >= scenario.min_honest_slips,
        "the honest miner's noise flipped {} lookups: not a realistic run",
        report.honest_slips
    );
    assert!(honest > slow, "honest {honest} <= slow {slow}");
    assert!(slow > 0.0);
    assert!(cheaters.iter().all(|&s| s == 0.0), "{cheaters:?}");
    assert!(weights[2..].iter().all(|&w| w == 0.0));
    assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // Three times slower: one rank lower. With two ranks the top one (at least one
    // rank) gets the 80% top share.
    assert!(
        (weights[0] - 0.8).abs() < 1e-9 && (weights[1] - 0.2).abs() < 1e-9,
        "{weights:?}"
    );
}

#[test]
fn conv3x3_cheaters_earn_nothing() {
    let scenario = Scenario {
        kind: CircuitKind::Conv3x3,
        circuit: conv3x3(1),
        honest_seconds: 10.0,
        // The default conv3x3 profile (N = 2048): about 0.15 box of noise per lookup.
        honest_params: ParameterSet::tfhe_rs_n2048(),
        queries: brainlock_scoring::HISTORY_LEN,
        batch: 2,
        min_honest_slips: 1,
    };
    let report = run(&scenario);
    assert_ranking(&scenario, &report);
}

#[test]
fn vgg9_cheaters_earn_nothing() {
    let scenario = Scenario {
        kind: CircuitKind::Vgg9,
        circuit: vgg9(1),
        honest_seconds: 500.0,
        // The default VGG9 profile (N = 8192): about 0.04 box of noise on every lookup,
        // so slips are rare enough that a run of 8 images has none.
        honest_params: ParameterSet::tfhe_rs_n8192(),
        queries: 8,
        batch: 1,
        min_honest_slips: 0,
    };
    let report = run(&scenario);
    assert_ranking(&scenario, &report);
}
