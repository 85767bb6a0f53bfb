//! The CUDA backend against the CPU engine, item for item, under one key: built only
//! with the `cuda` feature and run on a GPU machine by `scripts/gpu-bench.sh` (CI
//! never builds it).

#![cfg(feature = "cuda")]

// Fixtures shared with the encrypted suite; this binary uses some of them.
#[allow(dead_code)]
mod common;

use brainlock_circuit::Circuit;
use brainlock_fhe::{Backend, EncryptedInput, Evaluator};
use common::{conv_pool_fc, keys, random_images, rounding_conv, spread_pools};

fn decrypted(evaluator: &dyn Evaluator, circuit: &Circuit, input: &EncryptedInput) -> Vec<i64> {
    let k = keys();
    let output = evaluator
        .evaluate(circuit, &k.eval, input, &|_, _| {})
        .expect("evaluates");
    assert!(!output.has_trivial_ciphertext());
    k.client.decrypt_output(circuit, &output).expect("decrypts")
}

fn assert_backends_agree(circuit: &Circuit, images: usize) {
    let cpu = Backend::Cpu.evaluator().expect("cpu");
    let cuda = Backend::Cuda.evaluator().expect("a GPU is visible");
    assert_eq!(cuda.backend(), Backend::Cuda);
    let k = keys();
    let len = circuit.input_shape.len();
    for (n, image) in random_images(11, images, len, circuit.input_bits)
        .iter()
        .enumerate()
    {
        let input = k.client.encrypt_input(circuit, image).expect("encrypts");
        let (on_cpu, on_gpu) = (
            decrypted(&*cpu, circuit, &input),
            decrypted(&*cuda, circuit, &input),
        );
        assert_eq!(
            on_gpu, on_cpu,
            "{} image {n}: CUDA differs from CPU",
            circuit.id
        );
    }
}

#[test]
fn conv_pool_fc_agrees_with_the_cpu_item_for_item() {
    assert_backends_agree(&conv_pool_fc(), 8);
}

#[test]
fn rounding_and_spread_layers_agree_with_the_cpu() {
    assert_backends_agree(&rounding_conv(), 4);
    assert_backends_agree(&spread_pools(), 4);
}

#[test]
fn conv3x3_agrees_with_the_cpu() {
    let circuit =
        brainlock_circuit::shipped_circuit("conv3x3", brainlock_circuit::DEFAULT_CIRCUIT_SEED)
            .expect("shipped");
    assert_backends_agree(&circuit, 2);
}
