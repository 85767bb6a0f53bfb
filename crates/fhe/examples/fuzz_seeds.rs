//! Writes seeds for the fuzz targets behind tfhe (`scripts/fuzz.sh --fhe` runs it): a
//! real encrypted input and result of `test-tiny`, so that the fuzzer starts past the
//! headers and length checks instead of having to find them.
//!
//!     cargo run -p brainlock-fhe --example fuzz_seeds -- fuzz/corpus

use std::error::Error;
use std::path::Path;

use brainlock_fhe::{Backend, ClientKey, EvaluationKey, Profile};

fn main() -> Result<(), Box<dyn Error>> {
    let corpus = std::env::args()
        .nth(1)
        .ok_or("usage: fuzz_seeds CORPUS_DIR")?;
    let corpus = Path::new(&corpus);
    let circuit = brainlock_circuit::test_tiny();
    // The profile and key seed of the `encrypted_output` target, so that its client key
    // decrypts this result.
    let (client, compressed) = ClientKey::generate(&Profile::all()[0], Some(7));
    let input = client.encrypt_input(&circuit, &vec![0; circuit.input_shape.len()])?;
    let output = Backend::Cpu.evaluator()?.evaluate(
        &circuit,
        &EvaluationKey::expand(&compressed),
        &input,
        &|_, _| {},
    )?;
    for (target, bytes) in [
        ("encrypted_input", input.to_bytes()),
        ("encrypted_output", output.to_bytes()),
    ] {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("test-tiny"), bytes)?;
    }
    Ok(())
}
