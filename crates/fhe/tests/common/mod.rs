//! Shared fixtures: one key set per test binary (key generation is the slow part) and
//! small hand-made circuits calibrated by the circuit crate.

use brainlock_circuit::{Activation, ActivationShape, CalibrationConfig, LayerSpec, NetworkSpec};
use brainlock_circuit::{Circuit, LinearOp, Shape, calibrate};
use brainlock_fhe::{
    Backend, ClientKey, CompressedEvaluationKey, EvaluationKey, Evaluator, Profile,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::OnceLock;

pub(crate) struct Keys {
    pub client: ClientKey,
    pub compressed: CompressedEvaluationKey,
    pub eval: EvaluationKey,
}

pub(crate) fn profile() -> &'static Profile {
    Profile::by_id("n2048-gauss").expect("default profile exists")
}

/// The backend the encrypted tests run on: `BRAINLOCK_TEST_BACKEND` (`cpu` when unset;
/// `cuda` in a `cuda`-featured build on a GPU machine, as `scripts/gpu-bench.sh` runs
/// them).
pub(crate) fn evaluator() -> &'static dyn Evaluator {
    static EVALUATOR: OnceLock<std::sync::Arc<dyn Evaluator>> = OnceLock::new();
    &**EVALUATOR.get_or_init(|| {
        let backend: Backend = std::env::var("BRAINLOCK_TEST_BACKEND")
            .map_or(Ok(Backend::Cpu), |name| name.parse())
            .expect("BRAINLOCK_TEST_BACKEND names a backend");
        backend.evaluator().expect("the test backend is available")
    })
}

pub(crate) fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let (client, compressed) = ClientKey::generate(profile(), Some(0x5eed));
        let eval = EvaluationKey::expand(&compressed);
        Keys {
            client,
            compressed,
            eval,
        }
    })
}

pub(crate) fn random_images(seed: u64, count: usize, len: usize, bits: u32) -> Vec<Vec<i64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (lo, hi) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
    (0..count)
        .map(|_| (0..len).map(|_| rng.random_range(lo..=hi)).collect())
        .collect()
}

fn ternary(seed: u64, len: usize) -> Vec<i8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-1..=1)).collect()
}

fn build(id: &str, input_shape: Shape, input_bits: u32, layers: Vec<LayerSpec>) -> Circuit {
    let spec = NetworkSpec {
        id: id.into(),
        input_shape,
        input_bits,
        layers,
    };
    let images = random_images(7, 64, input_shape.len(), input_bits);
    calibrate(&spec, &images, &CalibrationConfig::default()).expect("test circuit calibrates")
}

fn layer(name: &str, op: LinearOp, activation: Activation) -> LayerSpec {
    LayerSpec {
        name: name.into(),
        op,
        activation,
    }
}

/// conv (ternary act) -> 2x2 pool -> fc (ternary) -> fc logits: 188 lookups, on 2-bit
/// inputs so that every layer fits its range without rounding and the encrypted logits
/// must equal the simulation's. (On 8-bit inputs the conv rounds, and a slip at one of
/// the zigzag activation's six thresholds cascades to the logits: the noise model
/// predicts half of them differ. `rounding_conv` tests slips against the model.)
pub(crate) fn conv_pool_fc() -> Circuit {
    let conv = LinearOp::Conv2d {
        in_channels: 2,
        out_channels: 4,
        kernel: 3,
        stride: 1,
        padding: 0,
        weights: ternary(1, 4 * 2 * 9),
    };
    let fc = LinearOp::Dense {
        inputs: 36,
        outputs: 8,
        weights: ternary(2, 36 * 8),
    };
    let logits = LinearOp::Dense {
        inputs: 8,
        outputs: 4,
        weights: ternary(3, 8 * 4),
    };
    build(
        "conv-pool-fc",
        Shape::new(2, 8, 8),
        2,
        vec![
            layer("conv", conv, Activation::Ternary),
            layer("pool", LinearOp::SumPool2x2, Activation::Ternary),
            layer("fc", fc, Activation::Ternary),
            layer("logits", logits, Activation::Logits),
        ],
    )
}

/// Two pooling layers on 2-bit inputs: small ranges that calibration spreads over
/// several boxes per value (negative shift), so both are exact: 40 lookups.
pub(crate) fn spread_pools() -> Circuit {
    build(
        "spread-pools",
        Shape::new(2, 8, 8),
        2,
        vec![
            layer("p1", LinearOp::SumPool2x2, Activation::Ternary),
            // Ternary again: an image-out circuit's output is encoded like its input.
            layer("p2", LinearOp::SumPool2x2, Activation::Ternary),
        ],
    )
}

/// One 3x3 conv with 4-bit weights and an 8-bit output (every box is its own value, so
/// every rounding slip shows): 576 lookups. The output is encoded at 2^55 rather than at
/// the input's scale (2^49 here): a PBS output's noise at N = 2048 is about 2^-15 of the
/// torus, one unit at 2^49, which would blur the decrypted values by +-1.
pub(crate) fn rounding_conv() -> Circuit {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let weights = (0..4 * 2 * 9).map(|_| rng.random_range(-8..=7)).collect();
    let conv = LinearOp::Conv2d {
        in_channels: 2,
        out_channels: 4,
        kernel: 3,
        stride: 1,
        padding: 1,
        weights,
    };
    let mut circuit = build(
        "rounding-conv",
        Shape::new(2, 12, 12),
        8,
        vec![layer(
            "conv",
            conv,
            Activation::Quantized {
                shape: ActivationShape::Linear,
                max_abs: 127,
                full_scale_sigmas: 3.0,
            },
        )],
    );
    circuit.output_delta_log2 = Some(55);
    circuit
}
