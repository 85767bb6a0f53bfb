//! Encrypted inputs (seeded, client -> miner) and outputs (miner -> client/validator).

use crate::compression::{OutputForm, compress, pack_bits, restore_from_bits, unpack_bits};
use crate::error::{EngineError, Result};
use crate::keys::{ClientKey, EvaluationKey, seeder};
use crate::plan::Plan;
use crate::profile::{Profile, tfhe_distribution};
use crate::wire::{Limits, Reader, Writer, check_limit, header_len};
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

/// The server's result, compressed ([`OutputForm`]): rounded coefficients of packed
/// GLWEs or of big-key LWEs, in wire order.
#[derive(Clone)]
pub struct EncryptedOutput {
    pub(crate) profile: &'static Profile,
    form: OutputForm,
    /// Results carried (= the circuit's output values).
    count: usize,
    /// `form.coefficients(profile, count)` values, each below 2^`form.bits()`.
    coefficients: Vec<u64>,
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
        Ok(self
            .decrypt_phases(output)
            .into_iter()
            .map(|phase| (phase.wrapping_add(1u64 << (delta - 1)) as i64) >> delta)
            .collect())
    }

    /// The results' phases (value times scale, plus noise), one per result.
    pub(crate) fn decrypt_phases(&self, output: &EncryptedOutput) -> Vec<u64> {
        let bits = output.form.bits();
        let (mask, stride) = output.mask_and_stride();
        match (&self.packing, output.form) {
            (Some(key), OutputForm::Packed { .. }) => {
                let mut glwe = GlweCiphertext::new(
                    0u64,
                    key.glwe_dimension().to_glwe_size(),
                    key.polynomial_size(),
                    CiphertextModulus::new_native(),
                );
                let mut phases = PlaintextList::new(0u64, PlaintextCount(key.polynomial_size().0));
                let mut values = Vec::with_capacity(output.count);
                for packed in output.coefficients.chunks(stride) {
                    glwe.as_mut().fill(0);
                    for (c, &v) in glwe.as_mut().iter_mut().zip(packed) {
                        *c = restore_from_bits(v, bits);
                    }
                    decrypt_glwe_ciphertext(key, &glwe, &mut phases);
                    values.extend_from_slice(&phases.as_ref()[..packed.len() - mask]);
                }
                values
            }
            _ => {
                let key = self.glwe.as_lwe_secret_key();
                let mut lwe = LweCiphertext::new(
                    0u64,
                    self.profile.big_dim().to_lwe_size(),
                    CiphertextModulus::new_native(),
                );
                output
                    .coefficients
                    .chunks_exact(stride)
                    .map(|ct| {
                        for (c, &v) in lwe.as_mut().iter_mut().zip(ct) {
                            *c = restore_from_bits(v, bits);
                        }
                        decrypt_lwe_ciphertext(&key, &lwe).0
                    })
                    .collect()
            }
        }
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
    /// Compresses the engine's big-key LWEs of `circuit`'s outputs into the form the
    /// profile and circuit call for.
    pub(crate) fn compress(
        key: &EvaluationKey,
        circuit: &Circuit,
        plan: &Plan,
        lwes: &[u64],
    ) -> Self {
        Self::compress_as(key, OutputForm::derive(key.profile, circuit, plan), lwes)
    }

    /// [`Self::compress`] into a given form.
    pub(crate) fn compress_as(key: &EvaluationKey, form: OutputForm, lwes: &[u64]) -> Self {
        Self {
            profile: key.profile,
            form,
            count: lwes.len() / key.profile.big_dim().to_lwe_size().0,
            coefficients: compress(key, form, lwes),
        }
    }

    /// `lwes` (zero masks: trivial encryptions) in the form the profile and circuit
    /// call for, rounded but not keyswitched: a packing keyswitch of a zero mask is a
    /// zero mask too, so no key is needed.
    #[cfg(feature = "adversary")]
    pub(crate) fn trivial(
        profile: &'static Profile,
        circuit: &Circuit,
        plan: &Plan,
        lwes: &[u64],
    ) -> Self {
        let form = OutputForm::derive(profile, circuit, plan);
        let count = plan.output_len();
        let lwe_size = profile.big_dim().to_lwe_size().0;
        let bits = form.bits();
        let mut coefficients = vec![0u64; form.coefficients(profile, count)];
        let mut out = Self {
            profile,
            form,
            count,
            coefficients: Vec::new(),
        };
        for (i, lwe) in lwes.chunks_exact(lwe_size).enumerate() {
            let at = out.body_index(i);
            coefficients[at] = crate::compression::round_to_bits(lwe[lwe_size - 1], bits);
        }
        out.coefficients = coefficients;
        out
    }

    /// Overwrites the ciphertext coefficients that carry every `every`-th result with
    /// `noise(i)` (rounded to the form's bits).
    #[cfg(feature = "adversary")]
    pub(crate) fn scramble_results(&mut self, every: usize, noise: impl Fn(usize) -> u64) {
        let bits = self.form.bits();
        let keep = |v: u64| if bits >= 64 { v } else { v >> (64 - bits) };
        for i in (0..self.count).step_by(every) {
            let body = self.body_index(i);
            let first = match self.form {
                OutputForm::Packed { .. } => body,
                OutputForm::Lwe { .. } => body - self.profile.big_lwe_dimension(),
            };
            for (j, c) in self.coefficients[first..=body].iter_mut().enumerate() {
                *c = keep(noise(i * 7919 + j));
            }
        }
    }

    /// Index in `coefficients` of the body coefficient that carries result `i`.
    #[cfg(feature = "adversary")]
    fn body_index(&self, i: usize) -> usize {
        let (mask, stride) = self.mask_and_stride();
        match self.form {
            OutputForm::Packed { .. } => {
                let per_glwe = stride - mask;
                (i / per_glwe) * stride + mask + i % per_glwe
            }
            OutputForm::Lwe { .. } => i * stride + mask,
        }
    }

    /// Number of results (= output values).
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if the output holds no result.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The parameter profile the output was computed under.
    pub fn profile(&self) -> &'static Profile {
        self.profile
    }

    /// How the results travel.
    pub fn form(&self) -> OutputForm {
        self.form
    }

    /// True if any ciphertext (packed GLWE or LWE) has an all-zero mask: a trivial
    /// encryption anyone can forge without the evaluation key. Validators reject those.
    pub fn has_trivial_ciphertext(&self) -> bool {
        let (mask, stride) = self.mask_and_stride();
        self.coefficients
            .chunks(stride)
            .any(|ct| ct[..mask.min(ct.len())].iter().all(|&a| a == 0))
    }

    /// Mask coefficients per ciphertext and coefficients per ciphertext (the last
    /// packed GLWE may carry fewer bodies).
    pub(crate) fn mask_and_stride(&self) -> (usize, usize) {
        match (self.form, &self.profile.packing) {
            (OutputForm::Packed { .. }, Some(p)) => {
                (p.mask_len(), p.mask_len() + p.polynomial_size)
            }
            _ => {
                let dim = self.profile.big_lwe_dimension();
                (dim, dim + 1)
            }
        }
    }

    /// Serialized size of `circuit`'s output under `profile`, known before any frame
    /// arrives (receivers bound their reads with it).
    pub fn wire_len(circuit: &Circuit, profile: &'static Profile) -> Result<usize> {
        let plan = Plan::new(circuit)?;
        let form = OutputForm::derive(profile, circuit, &plan);
        Ok(header_len(profile) + 2 + 8 + form.wire_bytes(profile, plan.output_len()))
    }

    /// Wire form: header, form tag, bits, result count, then the coefficients as a
    /// little-endian bit stream of `bits` per value.
    pub fn to_bytes(&self) -> Vec<u8> {
        let payload = self.form.wire_bytes(self.profile, self.count);
        let mut w = Writer::new(OUTPUT_MAGIC, self.profile, 10 + payload);
        w.u8(self.form.tag());
        w.u8(self.form.bits() as u8);
        w.u64(self.count as u64);
        pack_bits(&self.coefficients, self.form.bits(), w.bytes());
        w.finish()
    }

    /// Parses an output of `circuit` under `profile`: the form the profile and circuit
    /// call for, exactly the circuit's output count, exactly the bytes those imply,
    /// checked before allocating.
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
        let form = OutputForm::derive(profile, circuit, &plan);
        let (tag, bits) = (r.u8()?, r.u8()?);
        if (tag, u32::from(bits)) != (form.tag(), form.bits()) {
            return Err(EngineError::WrongForm {
                what: WHAT,
                expected: format!("{form:?}"),
                found: format!("tag {tag}, {bits} bits"),
            });
        }
        let count = r.u64()?;
        let expected = plan.output_len() as u64;
        if count != expected {
            return Err(EngineError::WrongShape {
                what: WHAT,
                expected,
                found: count,
            });
        }
        let count = plan.output_len();
        let stream = r.exact_bytes(form.wire_bytes(profile, count))?;
        let coefficients = unpack_bits(stream, form.bits(), form.coefficients(profile, count));
        Ok(Self {
            profile,
            form,
            count,
            coefficients,
        })
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
