//! Results leave the miner compressed (design section 2): a full big-key LWE per result
//! is (kN + 1) words, 50 MB for one conv3x3 image, and a validator's timer would then
//! measure its distance to the miner. Where the profile has a packing key, the miner
//! packs up to N' results into one GLWE under it (a packing keyswitch) and rounds every
//! coefficient to the bits decryption needs: 15 kB for conv3x3, 4.9 kB for VGG9's logits
//! (whose 8192-coefficient big key is first narrowed to the packing width, see
//! [`crate::Profile::packing`]). Where no packing is quiet enough, each result stays an
//! LWE and only the rounding applies.
//!
//! The form is derived from the profile and the circuit alone, by the noise model, so the
//! receiver checks a frame's form instead of trusting it.

use crate::keys::{EvaluationKey, expand_keyswitch_key};
use crate::keyswitch::{digits_len, keyswitch_batch};
use crate::plan::Plan;
use crate::profile::{Packing, Profile};
use brainlock_circuit::{Circuit, NoiseModel, keyswitch_variance, storage_variance};
use rayon::prelude::*;
use serde::Serialize;
use tfhe::core_crypto::fft_impl::fft64::c64;
use tfhe::core_crypto::fft_impl::fft64::math::polynomial::FourierPolynomial;
use tfhe::core_crypto::prelude::*;

/// Standard deviations between a decrypted result's noise and half an output unit: a
/// rounding slip per result of at most about 2^-43 (Gaussian tail at 7.5 sigma).
pub const OUTPUT_SIGMAS: f64 = 7.5;

/// How a circuit's results travel under a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum OutputForm {
    /// Packed N' to a GLWE under the packing key; the mask and the used body
    /// coefficients rounded to `bits`.
    Packed {
        /// Bits kept of every coefficient.
        bits: u32,
    },
    /// One big-key LWE per result, every coefficient rounded to `bits` (64: as computed).
    Lwe {
        /// Bits kept of every coefficient.
        bits: u32,
    },
}

impl OutputForm {
    /// The most compact form whose predicted noise keeps every result within
    /// [`OUTPUT_SIGMAS`] of its unit: packed with the fewest bits that fit, else LWEs
    /// with the fewest bits that fit, else LWEs as computed.
    pub fn derive(profile: &Profile, circuit: &Circuit, plan: &Plan) -> OutputForm {
        let budget = noise_budget(*plan.deltas_log2.last().expect("non-empty"));
        let computed = NoiseModel::new(&profile.parameter_set()).output_variance(circuit);
        if let Some(packing) = &profile.packing {
            let packed = packing_variance(profile, packing, plan.output_len());
            if let Some(bits) = fewest_bits(computed + packed, budget, packing.mask_len()) {
                return OutputForm::Packed { bits };
            }
        }
        let bits = fewest_bits(computed, budget, profile.big_lwe_dimension()).unwrap_or(64);
        OutputForm::Lwe { bits }
    }

    /// Bits kept of every coefficient.
    pub fn bits(self) -> u32 {
        match self {
            OutputForm::Packed { bits } | OutputForm::Lwe { bits } => bits,
        }
    }

    /// Wire tag of the form (the byte after the header of a serialized output).
    pub fn tag(self) -> u8 {
        match self {
            OutputForm::Lwe { .. } => 0,
            OutputForm::Packed { .. } => 1,
        }
    }

    /// Coefficients sent for `count` results.
    pub(crate) fn coefficients(self, profile: &Profile, count: usize) -> usize {
        match (self, &profile.packing) {
            (OutputForm::Packed { .. }, Some(packing)) => {
                count.div_ceil(packing.polynomial_size) * packing.mask_len() + count
            }
            _ => count * profile.big_dim().to_lwe_size().0,
        }
    }

    /// Bytes of `count` results' coefficients, bit-packed.
    pub fn wire_bytes(self, profile: &Profile, count: usize) -> usize {
        (self.coefficients(profile, count) * self.bits() as usize).div_ceil(8)
    }
}

impl Packing {
    /// Mask coefficients of one packed GLWE: k * N'.
    pub(crate) fn mask_len(&self) -> usize {
        self.glwe_dimension * self.polynomial_size
    }
}

/// Largest noise variance (torus) that keeps results of scale 2^`delta_log2` within
/// [`OUTPUT_SIGMAS`] of half a unit.
fn noise_budget(delta_log2: u32) -> f64 {
    let half_unit = (delta_log2 as f64 - 65.0).exp2();
    (half_unit / OUTPUT_SIGMAS).powi(2)
}

/// Variance the packing adds when `count` results are packed N' at a time: the narrowing
/// keyswitch's where there is one, the packing keyswitch's own (key noise and
/// decomposition) and the FFT's rounding.
fn packing_variance(profile: &Profile, packing: &Packing, count: usize) -> f64 {
    let packed = count.clamp(1, packing.polynomial_size);
    let narrowing = packing.narrowing.map_or(0.0, |n| {
        keyswitch_variance(
            profile.big_lwe_dimension(),
            n.base_log as u32,
            n.level as u32,
            packing.noise,
            1,
        )
    });
    narrowing
        + keyswitch_variance(
            profile.packing_input_dimension(),
            packing.base_log as u32,
            packing.level as u32,
            packing.noise,
            packed,
        )
        + packing_fft_variance(profile, packing, packed)
}

/// Fitted constant of [`packing_fft_coefficient_variance`], measured against tfhe-rs's
/// exact packing keyswitch (`fft_packing_matches_tfhe_rs`).
const PACKING_FFT_CONSTANT: f64 = 1.43;

/// Variance (torus) of the FFT's rounding in one coefficient of a packed GLWE: the f64
/// error is relative to the products' size, whose square grows with the input
/// coefficients, levels, packed results and the digits' square, as in tfhe-rs's fitted
/// FFT term of the PBS.
fn packing_fft_coefficient_variance(profile: &Profile, packing: &Packing, packed: usize) -> f64 {
    let digit2 = (2.0 * packing.base_log as f64).exp2();
    PACKING_FFT_CONSTANT
        * (-106f64).exp2()
        * profile.packing_input_dimension() as f64
        * packing.level as f64
        * packed as f64
        * digit2
}

/// Variance (torus) the FFT's rounding adds to a decrypted result: every mask
/// coefficient's error times a binary key bit (half of them on average), plus the body's.
fn packing_fft_variance(profile: &Profile, packing: &Packing, packed: usize) -> f64 {
    (packing.mask_len() as f64 / 2.0 + 1.0)
        * packing_fft_coefficient_variance(profile, packing, packed)
}

/// Fewest bits (< 64) whose rounding of a `mask_len`-coefficient ciphertext keeps the
/// total variance within `budget`, if any.
fn fewest_bits(variance: f64, budget: f64, mask_len: usize) -> Option<u32> {
    (1..64).find(|&bits| variance + storage_variance(mask_len, bits) <= budget)
}

/// Rounds a coefficient to its `bits` most significant bits.
pub(crate) fn round_to_bits(value: u64, bits: u32) -> u64 {
    if bits >= 64 {
        return value;
    }
    value.wrapping_add(1u64 << (63 - bits)) >> (64 - bits)
}

/// The coefficient a rounded value stands for.
pub(crate) fn restore_from_bits(value: u64, bits: u32) -> u64 {
    if bits >= 64 {
        value
    } else {
        value << (64 - bits)
    }
}

/// Appends `values` (each below 2^`bits`) as a little-endian bit stream.
pub(crate) fn pack_bits(values: &[u64], bits: u32, out: &mut Vec<u8>) {
    let (mut acc, mut held) = (0u128, 0u32);
    for &v in values {
        acc |= (v as u128) << held;
        held += bits;
        while held >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            held -= 8;
        }
    }
    if held > 0 {
        out.push(acc as u8);
    }
}

/// Reads `count` values of `bits` bits from a bit stream of exactly the right length
/// (the caller checked it).
pub(crate) fn unpack_bits(bytes: &[u8], bits: u32, count: usize) -> Vec<u64> {
    let mask = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let mut values = Vec::with_capacity(count);
    let (mut acc, mut held) = (0u128, 0u32);
    let mut bytes = bytes.iter();
    for _ in 0..count {
        while held < bits {
            acc |= (*bytes.next().expect("length checked") as u128) << held;
            held += 8;
        }
        values.push(acc as u64 & mask);
        acc >>= bits;
        held -= bits;
    }
    values
}

/// Compresses the engine's big-key LWEs (back to back) into `form`'s rounded
/// coefficients, in wire order.
pub(crate) fn compress(key: &EvaluationKey, form: OutputForm, lwes: &[u64]) -> Vec<u64> {
    let profile = key.profile;
    let bits = form.bits();
    match (form, &key.packing) {
        (OutputForm::Packed { .. }, Some(packing)) => {
            let narrowed;
            let (lwes, lwe_size) = match &key.narrowing {
                Some(seeded) => {
                    narrowed = narrow(&expand_keyswitch_key(seeded), lwes);
                    (&narrowed[..], seeded.output_lwe_size().0)
                }
                None => (lwes, profile.big_dim().to_lwe_size().0),
            };
            let per_glwe = packing.polynomial_size.0;
            let glwes: Vec<Vec<u64>> = lwes
                .par_chunks(per_glwe * lwe_size)
                .map_init(
                    || PackingScratch::new(packing),
                    |scratch, group| {
                        let glwe = packing.pack(group, lwe_size, scratch);
                        let used = packing.mask_len() + group.len() / lwe_size;
                        glwe[..used]
                            .iter()
                            .map(|&c| round_to_bits(c, bits))
                            .collect()
                    },
                )
                .collect();
            glwes.concat()
        }
        _ => lwes.par_iter().map(|&c| round_to_bits(c, bits)).collect(),
    }
}

/// Keyswitches big-key LWEs (back to back) to the packing width under the narrowing key,
/// in batches that share each pass over the key.
fn narrow(ksk: &LweKeyswitchKeyOwned<u64>, lwes: &[u64]) -> Vec<u64> {
    const BATCH: usize = 32;
    let (big, narrow) = (
        ksk.input_key_lwe_dimension().to_lwe_size().0,
        ksk.output_lwe_size().0,
    );
    let levels = ksk.decomposition_level_count().0;
    let mut out = vec![0u64; lwes.len() / big * narrow];
    out.par_chunks_mut(BATCH * narrow)
        .zip(lwes.par_chunks(BATCH * big))
        .for_each(|(outputs, inputs)| {
            let mut digits = vec![0u64; digits_len(BATCH, levels)];
            keyswitch_batch(ksk, inputs, outputs, &mut digits);
        });
    out
}

/// The packing keyswitching key in the Fourier domain, ready to pack.
///
/// Packing m results into one GLWE is, per input coefficient j and level l, the
/// product of the digit polynomial D(X) = sum_i d_ijl X^i with the key row's k+1
/// polynomials. tfhe-rs's `keyswitch_lwe_ciphertext_list_and_pack_in_glwe_ciphertext`
/// does it as m full keyswitches, reading the whole key m times; here each product is one
/// negacyclic FFT of D, (k+1) pointwise products accumulated in the Fourier domain, and
/// one inverse FFT per output polynomial at the end. The key rows' FFT rounds them to
/// f64 (53 bits), which adds far less noise than the key's own (checked against tfhe-rs
/// in the tests).
pub(crate) struct FourierPackingKey {
    decomposer: SignedDecomposer<u64>,
    levels: usize,
    glwe_size: usize,
    polynomial_size: PolynomialSize,
    /// input coefficient x level x (k+1) Fourier polynomials of N'/2 values.
    rows: Vec<c64>,
}

/// Per-thread buffers of the packing keyswitch.
pub(crate) struct PackingScratch {
    fft: Fft,
    buffers: ComputationBuffers,
    digits: Vec<u64>,
    fourier_digits: Vec<c64>,
    acc: Vec<c64>,
    polynomial: Vec<u64>,
}

impl PackingScratch {
    fn new(key: &FourierPackingKey) -> Self {
        let n = key.polynomial_size.0;
        let fft = Fft::new(key.polynomial_size);
        let mut buffers = ComputationBuffers::new();
        let view = fft.as_view();
        buffers.resize(
            view.forward_scratch()
                .or(view.backward_scratch())
                .unaligned_bytes_required(),
        );
        Self {
            fft,
            buffers,
            digits: vec![0; key.levels * n],
            fourier_digits: vec![c64::default(); n / 2],
            acc: vec![c64::default(); key.glwe_size * n / 2],
            polynomial: vec![0; n],
        }
    }
}

impl FourierPackingKey {
    /// Converts an expanded packing keyswitching key (parallel over its rows).
    pub(crate) fn new(key: &LwePackingKeyswitchKeyOwned<u64>) -> Self {
        let polynomial_size = key.output_key_polynomial_size();
        let glwe_size = key.output_glwe_size().0;
        let levels = key.decomposition_level_count().0;
        let half = polynomial_size.0 / 2;
        let mut rows = vec![c64::default(); key.as_ref().len() / 2];
        rows.par_chunks_mut(half)
            .zip(key.as_ref().par_chunks(polynomial_size.0))
            .for_each_init(
                || {
                    let fft = Fft::new(polynomial_size);
                    let mut buffers = ComputationBuffers::new();
                    buffers.resize(fft.as_view().forward_scratch().unaligned_bytes_required());
                    (fft, buffers)
                },
                |(fft, buffers), (fourier, standard)| {
                    fft.as_view().forward_as_torus(
                        FourierPolynomial { data: fourier },
                        Polynomial::from_container(standard),
                        buffers.stack(),
                    );
                },
            );
        Self {
            decomposer: SignedDecomposer::new(
                key.decomposition_base_log(),
                key.decomposition_level_count(),
            ),
            levels,
            glwe_size,
            polynomial_size,
            rows,
        }
    }

    /// Mask coefficients of one packed GLWE.
    pub(crate) fn mask_len(&self) -> usize {
        (self.glwe_size - 1) * self.polynomial_size.0
    }

    /// Packs up to N' LWEs under the key the packing key starts from (`lwes`, back to
    /// back, `lwe_size` words each: big-key or narrowed) into one GLWE under the packing
    /// key: result i in body coefficient i. Returns the GLWE's (k+1) N' words.
    pub(crate) fn pack(&self, lwes: &[u64], lwe_size: usize, s: &mut PackingScratch) -> Vec<u64> {
        let n = self.polynomial_size.0;
        let half = n / 2;
        let count = lwes.len() / lwe_size;
        assert!(
            count <= n && lwes.len() == count * lwe_size,
            "whole LWEs, at most N'"
        );
        let per_row = self.glwe_size * half;
        s.acc.fill(c64::default());
        s.digits.fill(0);
        for j in 0..lwe_size - 1 {
            for (i, lwe) in lwes.chunks_exact(lwe_size).enumerate() {
                let rounded = self.decomposer.closest_representable(lwe[j]);
                for (l, term) in self.decomposer.decompose(rounded).enumerate() {
                    s.digits[l * n + i] = term.value();
                }
            }
            let first = j * self.levels * per_row;
            for l in 0..self.levels {
                s.fft.as_view().forward_as_integer(
                    FourierPolynomial {
                        data: &mut s.fourier_digits[..],
                    },
                    Polynomial::from_container(&s.digits[l * n..(l + 1) * n]),
                    s.buffers.stack(),
                );
                let row = &self.rows[first + l * per_row..first + (l + 1) * per_row];
                for (acc, key) in s.acc.chunks_exact_mut(half).zip(row.chunks_exact(half)) {
                    for ((a, k), d) in acc.iter_mut().zip(key).zip(&s.fourier_digits) {
                        *a += *k * *d;
                    }
                }
            }
        }
        // out = (0, ..., 0, sum_i b_i X^i) - sum_jl D_jl * row_jl
        let mut glwe = vec![0u64; self.glwe_size * n];
        for (p, (out, acc)) in glwe
            .chunks_exact_mut(n)
            .zip(s.acc.chunks_exact(half))
            .enumerate()
        {
            s.polynomial.fill(0);
            s.fft.as_view().add_backward_as_torus(
                Polynomial::from_container(&mut s.polynomial[..]),
                FourierPolynomial { data: acc },
                s.buffers.stack(),
            );
            let is_body = p == self.glwe_size - 1;
            for (t, (o, &product)) in out.iter_mut().zip(&s.polynomial).enumerate() {
                let body = if is_body && t < count {
                    lwes[t * lwe_size + lwe_size - 1]
                } else {
                    0
                };
                *o = body.wrapping_sub(product);
            }
        }
        glwe
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EncryptedOutput;
    use crate::keys::ClientKey;
    use brainlock_circuit::{DEFAULT_CIRCUIT_SEED, shipped_circuit};

    #[test]
    fn bits_round_trip_through_the_stream() {
        for bits in [1u32, 7, 12, 13, 33, 63, 64] {
            let mask = if bits == 64 {
                u64::MAX
            } else {
                (1 << bits) - 1
            };
            let values: Vec<u64> = (0..37u64)
                .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) & mask)
                .collect();
            let mut bytes = Vec::new();
            pack_bits(&values, bits, &mut bytes);
            assert_eq!(bytes.len(), (values.len() * bits as usize).div_ceil(8));
            assert_eq!(unpack_bits(&bytes, bits, values.len()), values);
        }
    }

    #[test]
    fn rounding_keeps_the_top_bits() {
        let v = 0x1234_5678_9abc_def0u64;
        assert_eq!(
            restore_from_bits(round_to_bits(v, 12), 12),
            0x1230_0000_0000_0000
        );
        assert_eq!(round_to_bits(u64::MAX, 12), 0, "wraps like the torus");
        assert_eq!(round_to_bits(v, 64), v);
    }

    #[test]
    fn shipped_circuits_take_the_forms_of_the_design() {
        let form = |id: &str| {
            let circuit = shipped_circuit(id, DEFAULT_CIRCUIT_SEED).expect("shipped");
            let plan = Plan::new(&circuit).unwrap();
            let profile = Profile::default_for(id);
            let form = OutputForm::derive(profile, &circuit, &plan);
            (form, form.wire_bytes(profile, plan.output_len()))
        };
        let (conv, conv_bytes) = form("conv3x3");
        assert!(matches!(conv, OutputForm::Packed { .. }), "{conv:?}");
        assert!(conv_bytes <= 64 << 10, "{conv_bytes}");
        let (vgg9, vgg9_bytes) = form("vgg9");
        assert!(matches!(vgg9, OutputForm::Packed { .. }), "{vgg9:?}");
        assert!(vgg9_bytes <= 16 << 10, "{vgg9_bytes}");
    }

    /// Prints, for each profile and shipped circuit, the predicted noise of each stage and
    /// the form it gets (`cargo test -p brainlock-fhe noise_table -- --nocapture`).
    #[test]
    fn noise_table() {
        for id in ["conv3x3", "vgg9"] {
            let circuit = shipped_circuit(id, DEFAULT_CIRCUIT_SEED).expect("shipped");
            let plan = Plan::new(&circuit).unwrap();
            let delta = *plan.deltas_log2.last().unwrap();
            for profile in Profile::all() {
                let computed = NoiseModel::new(&profile.parameter_set()).output_variance(&circuit);
                let packed = profile.packing.as_ref().map(|p| {
                    packing_variance(profile, p, plan.output_len())
                        .sqrt()
                        .log2()
                });
                let form = OutputForm::derive(profile, &circuit, &plan);
                println!(
                    "{id:8} {:15} unit 2^{delta} budget std 2^{:.1} computed std 2^{:.1} \
                     packing std {:?} -> {form:?}, {} bytes",
                    profile.id,
                    noise_budget(delta).sqrt().log2(),
                    computed.sqrt().log2(),
                    packed.map(|v| format!("2^{v:.1}")),
                    form.wire_bytes(profile, plan.output_len()),
                );
                assert!(form.bits() >= 1);
            }
        }
    }

    /// `values` times 2^`delta_log2`, freshly encrypted under the big key.
    fn fresh_lwes(client: &ClientKey, values: &[i64], delta_log2: u32) -> Vec<u64> {
        let profile = client.profile;
        let mut seeder = crate::keys::seeder(Some(5));
        let mut generator = EncryptionRandomGenerator::<DefaultRandomGenerator>::new(
            seeder.seed(),
            seeder.as_mut(),
        );
        let mut list = LweCiphertextList::new(
            0u64,
            profile.big_dim().to_lwe_size(),
            LweCiphertextCount(values.len()),
            CiphertextModulus::new_native(),
        );
        let plaintexts: Vec<u64> = values
            .iter()
            .map(|&v| (v as u64).wrapping_shl(delta_log2))
            .collect();
        encrypt_lwe_ciphertext_list(
            &client.glwe.as_lwe_secret_key(),
            &mut list,
            &PlaintextList::from_container(plaintexts),
            crate::profile::tfhe_distribution(profile.glwe_noise),
            &mut generator,
        );
        list.into_container()
    }

    #[test]
    fn compressed_results_decrypt_like_uncompressed_ones() {
        let profile = Profile::by_id("n2048-gauss").unwrap();
        let (client, compressed) = ClientKey::generate(profile, Some(3));
        let key = EvaluationKey::expand(&compressed);
        let circuit = brainlock_circuit::test_tiny();
        let image: Vec<i64> = (0..16).map(|i| (i % 4) - 2).collect();
        let input = client.encrypt_input(&circuit, &image).unwrap();
        let lwes = crate::engine::evaluate_to_lwes(&circuit, &key, &input, &|_, _| {}, &|_, _| {
            crate::engine::LookupWork::Bootstrap
        })
        .unwrap();
        let uncompressed = EncryptedOutput::compress_as(&key, OutputForm::Lwe { bits: 64 }, &lwes);
        let expected = client.decrypt_output(&circuit, &uncompressed).unwrap();
        assert_eq!(
            expected,
            brainlock_circuit::Simulator::new(&circuit)
                .unwrap()
                .run(&image)
                .unwrap()
        );
        let plan = Plan::new(&circuit).unwrap();
        let derived = OutputForm::derive(profile, &circuit, &plan);
        assert!(matches!(derived, OutputForm::Packed { .. }), "{derived:?}");
        for form in [
            derived,
            OutputForm::Lwe { bits: 16 },
            OutputForm::Packed { bits: 20 },
        ] {
            let output = EncryptedOutput::compress_as(&key, form, &lwes);
            assert!(!output.has_trivial_ciphertext());
            let wire = output.to_bytes();
            let output = if form == derived {
                EncryptedOutput::from_bytes(&wire, &circuit, profile, &Default::default()).unwrap()
            } else {
                output
            };
            assert_eq!(
                client.decrypt_output(&circuit, &output).unwrap(),
                expected,
                "{form:?}"
            );
        }
    }

    /// Packs `values`, fresh encryptions at scale 2^`delta`, `per_glwe` to a GLWE with
    /// coefficients rounded to `bits`, and returns the ratio of the decrypted phases'
    /// noise std to the model's and the largest error in units of 2^`delta`. Results
    /// of one GLWE share its rounded mask, so callers pool many GLWEs.
    fn packing_noise(
        client: &ClientKey,
        key: &EvaluationKey,
        values: &[i64],
        per_glwe: usize,
        delta: u32,
        bits: u32,
    ) -> (f64, f64) {
        let profile = client.profile;
        let packing = profile.packing.as_ref().unwrap();
        let lwes = fresh_lwes(client, values, delta);
        let lwe_size = profile.big_dim().to_lwe_size().0;
        let (mut squares, mut worst) = (0.0, 0.0f64);
        for (group, lwes) in values
            .chunks(per_glwe)
            .zip(lwes.chunks(per_glwe * lwe_size))
        {
            let output = EncryptedOutput::compress_as(key, OutputForm::Packed { bits }, lwes);
            for (&p, &v) in client.decrypt_phases(&output).iter().zip(group) {
                let error = p.wrapping_sub((v as u64).wrapping_shl(delta)) as i64 as f64;
                worst = worst.max(error.abs() / 2f64.powi(delta as i32));
                squares += (error / 2f64.powi(64)).powi(2);
            }
        }
        let measured = (squares / values.len() as f64).sqrt();
        let predicted = (packing_variance(profile, packing, per_glwe)
            + storage_variance(packing.mask_len(), bits)
            + NoiseModel::new(&profile.parameter_set()).fresh_variance)
            .sqrt();
        eprintln!(
            "{} at {bits} bits: measured std 2^{:.2}, predicted 2^{:.2}",
            profile.id,
            measured.log2(),
            predicted.log2()
        );
        (measured / predicted, worst)
    }

    /// The noise model's packing and rounding terms against real ciphertexts: fresh
    /// encryptions (whose own noise is 2^-48) packed 32 to a GLWE over 64 GLWEs, at a
    /// width where rounding dominates and one where the decomposition does.
    #[test]
    fn packing_noise_matches_the_model() {
        let profile = Profile::by_id("n2048-gauss").unwrap();
        let (client, compressed) = ClientKey::generate(profile, Some(21));
        let key = EvaluationKey::expand(&compressed);
        let values: Vec<i64> = (0..32 * 64).map(|i| (i * 7) % 31 - 15).collect();
        for bits in [12, 24] {
            let (ratio, _) = packing_noise(&client, &key, &values, 32, 58, bits);
            assert!((0.85..=1.15).contains(&ratio), "{bits} bits: ratio {ratio}");
        }
    }

    /// VGG9's profile narrows its 8192-coefficient results before packing them: its key
    /// through the wire, then the model's terms against real ciphertexts at VGG9's output
    /// scale (32 to a GLWE over 16 GLWEs), and every value decrypted back.
    #[test]
    fn narrowed_packing_decrypts_and_matches_the_model() {
        let profile = Profile::default_for("vgg9");
        assert!(profile.narrowing().is_some());
        let (client, compressed) = ClientKey::generate(profile, Some(23));
        // As a miner gets it: the narrowing key's seed and body in place, and one word
        // short is refused.
        let bytes = compressed.to_bytes();
        let parse = |bytes: &[u8]| {
            crate::CompressedEvaluationKey::from_bytes(bytes, profile, &Default::default())
        };
        assert!(matches!(
            parse(&bytes[..bytes.len() - 8]),
            Err(crate::EngineError::WrongSize { .. })
        ));
        let key = EvaluationKey::expand(&parse(&bytes).unwrap());
        drop(bytes);
        let values: Vec<i64> = (0..32 * 16).map(|i| (i * 37) % 255 - 127).collect();
        for bits in [18, 26] {
            let (ratio, worst) = packing_noise(&client, &key, &values, 32, 53, bits);
            assert!((0.85..=1.15).contains(&ratio), "{bits} bits: ratio {ratio}");
            assert!(worst < 0.5, "{bits} bits: an error of {worst} units");
        }
    }

    #[test]
    fn fft_packing_matches_tfhe_rs_up_to_rounding() {
        let profile = Profile::by_id("n2048-gauss").unwrap();
        let (client, compressed) = ClientKey::generate(profile, Some(11));
        let key = EvaluationKey::expand(&compressed);
        let packing = key.packing.as_ref().expect("n2048-gauss packs");
        let standard = compressed.expand_packing_key().expect("n2048-gauss packs");
        let lwe_size = profile.big_dim().to_lwe_size().0;
        let count = 256;
        let lwes = crate::bench::torus_words(count * lwe_size);
        let ours = packing.pack(&lwes, lwe_size, &mut PackingScratch::new(packing));
        let mut theirs = GlweCiphertext::new(
            0u64,
            standard.output_glwe_size(),
            standard.output_polynomial_size(),
            CiphertextModulus::new_native(),
        );
        keyswitch_lwe_ciphertext_list_and_pack_in_glwe_ciphertext(
            &standard,
            &LweCiphertextList::from_container(
                &lwes[..],
                profile.big_dim().to_lwe_size(),
                CiphertextModulus::new_native(),
            ),
            &mut theirs,
        );
        let rms = (ours
            .iter()
            .zip(theirs.as_ref())
            .map(|(a, b)| ((a.wrapping_sub(*b) as i64) as f64 / 2f64.powi(64)).powi(2))
            .sum::<f64>()
            / ours.len() as f64)
            .sqrt();
        let predicted =
            packing_fft_coefficient_variance(profile, profile.packing.as_ref().unwrap(), count)
                .sqrt();
        eprintln!(
            "FFT rounding: rms 2^{:.2} of the torus, modelled 2^{:.2}",
            rms.log2(),
            predicted.log2()
        );
        assert!(
            (0.7..=1.4).contains(&(rms / predicted)),
            "{rms} vs {predicted}"
        );
        let worst = ours
            .iter()
            .zip(theirs.as_ref())
            .map(|(a, b)| (a.wrapping_sub(*b) as i64).unsigned_abs())
            .max()
            .unwrap();
        assert!(
            worst < 1 << 44,
            "FFT rounding {worst} = 2^{:.1}",
            (worst as f64).log2()
        );
        drop(client);
    }
}
