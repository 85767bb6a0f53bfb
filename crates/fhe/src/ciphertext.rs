//! Encrypted inputs (seeded, client -> miner) and outputs (miner -> client/validator).

use crate::error::{EngineError, Result};
use crate::keys::{ClientKey, seeder};
use crate::plan::Plan;
use crate::profile::{Profile, tfhe_distribution};
use crate::wire::{Limits, Reader, Writer, check_limit};
use brainlock_circuit::Circuit;
use tfhe::core_crypto::commons::math::random::Seed;
use tfhe::core_crypto::prelude::*;

const INPUT_MAGIC: &[u8; 4] = b"BLEI";
const OUTPUT_MAGIC: &[u8; 4] = b"BLEO";

/// The client's encrypted image: one seeded LWE ciphertext (a body plus a shared mask
/// seed) per input value, under the big key.
pub struct EncryptedInput {
    pub(crate) profile: &'static Profile,
    seed: u128,
    pub(crate) list: SeededLweCiphertextListOwned<u64>,
}

/// The server's result: full LWE ciphertexts under the big key, one per output value.
#[derive(Clone)]
pub struct EncryptedOutput {
    pub(crate) profile: &'static Profile,
    /// `len() * (k*N + 1)` words, ciphertexts back to back.
    pub(crate) data: Vec<u64>,
}

impl ClientKey {
    /// Encodes `values` with layer 0's input delta and encrypts them (seeded).
    pub fn encrypt_input(&self, circuit: &Circuit, values: &[i64]) -> Result<EncryptedInput> {
        self.encrypt_input_seeded(circuit, values, None)
    }

    /// Same as [`ClientKey::encrypt_input`] with reproducible randomness.
    pub fn encrypt_input_seeded(
        &self,
        circuit: &Circuit,
        values: &[i64],
        seed: Option<u128>,
    ) -> Result<EncryptedInput> {
        let plan = Plan::new(circuit)?;
        let expected = circuit.input_shape.len();
        if values.len() != expected {
            return Err(EngineError::WrongShape {
                what: "input",
                expected: expected as u64,
                found: values.len() as u64,
            });
        }
        let bits = circuit.input_bits;
        let (min, max) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
        if let Some((index, &value)) = values
            .iter()
            .enumerate()
            .find(|(_, v)| !(min..=max).contains(*v))
        {
            return Err(EngineError::InputOutOfRange { index, value, bits });
        }
        let delta = plan.deltas_log2[0];
        let encoded: Vec<u64> = values
            .iter()
            .map(|&v| (v as u64).wrapping_shl(delta))
            .collect();
        let mut seeder = seeder(seed);
        let list_seed = seeder.seed().0;
        let mut list = SeededLweCiphertextList::new(
            0u64,
            self.profile.big_dim().to_lwe_size(),
            LweCiphertextCount(values.len()),
            Seed(list_seed).into(),
            CiphertextModulus::new_native(),
        );
        encrypt_seeded_lwe_ciphertext_list(
            &self.glwe.as_lwe_secret_key(),
            &mut list,
            &PlaintextList::from_container(encoded),
            tfhe_distribution(self.profile.glwe_noise),
            seeder.as_mut(),
        );
        Ok(EncryptedInput {
            profile: self.profile,
            seed: list_seed,
            list,
        })
    }

    /// Decrypts and decodes (rounding) the circuit's output values.
    pub fn decrypt_output(&self, circuit: &Circuit, output: &EncryptedOutput) -> Result<Vec<i64>> {
        let plan = Plan::new(circuit)?;
        check_output_shape(output, &plan, self.profile)?;
        let delta = *plan.deltas_log2.last().expect("non-empty");
        let key = self.glwe.as_lwe_secret_key();
        Ok(output
            .ciphertexts()
            .map(|ct| {
                let phase = decrypt_lwe_ciphertext(&key, &ct).0;
                let rounded = phase.wrapping_add(1u64 << (delta - 1));
                (rounded as i64) >> delta
            })
            .collect())
    }
}

impl EncryptedInput {
    /// Number of seeded LWE ciphertexts (= input values).
    pub fn len(&self) -> usize {
        self.list.lwe_ciphertext_count().0
    }

    /// True if the input holds no ciphertext.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parameter profile the input was encrypted under.
    pub fn profile(&self) -> &'static Profile {
        self.profile
    }

    /// Wire form: header, count, mask seed, then one body word per ciphertext
    /// (24 + 8 * len bytes after the header).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(INPUT_MAGIC, self.profile, 24 + 8 * self.len());
        w.u64(self.len() as u64);
        w.u128(self.seed);
        w.words(self.list.as_ref());
        w.finish()
    }

    /// Parses an input for `circuit` under `profile`: exactly one ciphertext per input
    /// value, checked before allocating.
    pub fn from_bytes(
        bytes: &[u8],
        circuit: &Circuit,
        profile: &'static Profile,
        limits: &Limits,
    ) -> Result<Self> {
        const WHAT: &str = "encrypted input";
        check_limit(bytes, limits.max_ciphertext_bytes, WHAT)?;
        let mut r = Reader::open(bytes, INPUT_MAGIC, profile, WHAT)?;
        let count = r.u64()?;
        let expected = circuit.input_shape.len() as u64;
        if count != expected {
            return Err(EngineError::WrongShape {
                what: WHAT,
                expected,
                found: count,
            });
        }
        let seed = r.u128()?;
        let bodies = r.exact_words(expected as usize)?;
        let list = SeededLweCiphertextList::from_container(
            bodies,
            profile.big_dim().to_lwe_size(),
            Seed(seed).into(),
            CiphertextModulus::new_native(),
        );
        Ok(Self {
            profile,
            seed,
            list,
        })
    }

    /// Expands the seeded masks: `len() * (kN + 1)` words.
    pub(crate) fn expand(&self) -> Vec<u64> {
        self.list
            .clone()
            .par_decompress_into_lwe_ciphertext_list()
            .into_container()
    }
}

impl EncryptedOutput {
    /// Number of full big-key LWE ciphertexts (= output values).
    pub fn len(&self) -> usize {
        self.data.len() / self.profile.big_dim().to_lwe_size().0
    }

    /// True if the output holds no ciphertext.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parameter profile the output was computed under.
    pub fn profile(&self) -> &'static Profile {
        self.profile
    }

    /// True if any ciphertext has an all-zero mask: a trivial encryption anyone can
    /// forge without the evaluation key. Validators reject those.
    pub fn has_trivial_ciphertext(&self) -> bool {
        self.ciphertexts()
            .any(|ct| ct.get_mask().as_ref().iter().all(|&a| a == 0))
    }

    /// Wire form: header, count, then every ciphertext's k*N + 1 words
    /// (8 + 8 * len * (k*N + 1) bytes after the header).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(OUTPUT_MAGIC, self.profile, 8 + 8 * self.data.len());
        w.u64(self.len() as u64);
        w.words(&self.data);
        w.finish()
    }

    /// Parses an output of `circuit` under `profile`: exactly the circuit's output count
    /// of full big-key ciphertexts, checked before allocating.
    pub fn from_bytes(
        bytes: &[u8],
        circuit: &Circuit,
        profile: &'static Profile,
        limits: &Limits,
    ) -> Result<Self> {
        const WHAT: &str = "encrypted output";
        check_limit(bytes, limits.max_ciphertext_bytes, WHAT)?;
        let plan = Plan::new(circuit)?;
        let mut r = Reader::open(bytes, OUTPUT_MAGIC, profile, WHAT)?;
        let count = r.u64()?;
        let expected = plan.output_len() as u64;
        if count != expected {
            return Err(EngineError::WrongShape {
                what: WHAT,
                expected,
                found: count,
            });
        }
        let words = plan.output_len() * profile.big_dim().to_lwe_size().0;
        let data = r.exact_words(words)?;
        Ok(Self { profile, data })
    }

    pub(crate) fn ciphertexts(&self) -> impl Iterator<Item = LweCiphertextView<'_, u64>> {
        self.data
            .chunks_exact(self.profile.big_dim().to_lwe_size().0)
            .map(|c| LweCiphertext::from_container(c, CiphertextModulus::new_native()))
    }
}

fn check_output_shape(output: &EncryptedOutput, plan: &Plan, profile: &Profile) -> Result<()> {
    if output.profile.id != profile.id {
        return Err(EngineError::WrongProfile {
            what: "encrypted output",
            expected: profile.id.to_string(),
            found: output.profile.id.to_string(),
        });
    }
    if output.len() != plan.output_len() {
        return Err(EngineError::WrongShape {
            what: "encrypted output",
            expected: plan.output_len() as u64,
            found: output.len() as u64,
        });
    }
    Ok(())
}
