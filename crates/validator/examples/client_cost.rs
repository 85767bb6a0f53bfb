//! The validator's own cost per query: key generation, encryption, exact simulation and
//! decryption, for conv3x3 and vgg9 (one image each).
//!
//! `cargo run --release -p brainlock-validator --example client_cost [conv3x3|vgg9 ...]`
//!
//! Decryption is timed on an output of the right shape with random masks: its cost (one
//! inner product per output ciphertext) does not depend on the values, and producing a
//! real VGG9 output would take an encrypted run of hours on this machine.

use std::time::Instant;

use brainlock_fhe::{ClientKey, EncryptedOutput, Limits, OutputForm};
use brainlock_validator::Workload;
use brainlock_validator::config::ScoringTable;
use brainlock_validator::images::{Augmentation, augment, circuit_input, synthetic};
use rand::{RngCore, SeedableRng};

fn main() -> anyhow::Result<()> {
    let mut names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        names = vec!["conv3x3".into(), "vgg9".into()];
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    println!(
        "circuit  profile            keygen_s  key_MB  encrypt_s  input_MB  simulate_s  decrypt_s  outputs"
    );
    for name in names {
        let workload = Workload::resolve(&name, None, &ScoringTable::default(), 1)?;
        let shape = workload.circuit.input_shape;
        let image = augment(
            &synthetic::draw(shape.height, shape.width, &mut rng),
            &Augmentation::default(),
            &mut rng,
        );
        let input = circuit_input(&image, shape.channels, workload.circuit.input_bits);

        let t = Instant::now();
        let (client_key, compressed) = ClientKey::generate(workload.profile, None);
        let key_bytes = compressed.to_bytes();
        let keygen = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let encrypted = client_key
            .encrypt_input(&workload.circuit, &input)?
            .to_bytes();
        let encrypt = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let simulator = brainlock_circuit::Simulator::new(&workload.circuit)?;
        let expected = simulator.run(&input)?;
        let simulate = t.elapsed().as_secs_f64();

        // A result frame of random coefficients in the form the circuit's results take
        // (brainlock-fhe's wire layout): decrypting it costs what a real one does.
        let profile = workload.profile;
        let plan = brainlock_fhe::plan::Plan::new(&workload.circuit)?;
        let form = OutputForm::derive(profile, &workload.circuit, &plan);
        let mut bytes = b"BLEO".to_vec();
        bytes.push(brainlock_fhe::WIRE_VERSION);
        bytes.push(profile.id.len() as u8);
        bytes.extend_from_slice(profile.id.as_bytes());
        bytes.extend_from_slice(&[form.tag(), form.bits() as u8]);
        bytes.extend_from_slice(&(expected.len() as u64).to_le_bytes());
        let mut body = vec![0u8; form.wire_bytes(profile, expected.len())];
        rng.fill_bytes(&mut body);
        bytes.extend_from_slice(&body);
        let output =
            EncryptedOutput::from_bytes(&bytes, &workload.circuit, profile, &Limits::default())?;
        let t = Instant::now();
        let decrypted = client_key.decrypt_output(&workload.circuit, &output)?;
        let decrypt = t.elapsed().as_secs_f64();
        assert_eq!(decrypted.len(), expected.len());

        println!(
            "{:<8} {:<18} {:>8.3}  {:>6.1}  {:>9.3}  {:>8.2}  {:>10.4}  {:>9.4}  {}",
            name,
            profile.id,
            keygen,
            key_bytes.len() as f64 / 1e6,
            encrypt,
            encrypted.len() as f64 / 1e6,
            simulate,
            decrypt,
            expected.len()
        );
    }
    Ok(())
}
