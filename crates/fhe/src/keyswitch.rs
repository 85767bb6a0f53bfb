//! The keyswitch of the lookup hot loop, batched so the key is read once per batch.
//!
//! A keyswitch reads the whole keyswitching key: k·N x levels rows of n + 1 words, 71 MB
//! on n2048-gauss, far more than any cache. tfhe-rs's `keyswitch_lwe_ciphertext` does
//! it once per ciphertext, so a lookup spent 3.8 of its 22 ms streaming the key from
//! memory. Here each key row, once loaded, is applied to every ciphertext of a batch
//! (the lookups a worker handles together), and the loop is compiled a second time with
//! AVX-512 for CPUs that have it. The algorithm is tfhe-rs's (its decomposer, its key
//! layout), so every output is bit-identical to `keyswitch_lwe_ciphertext`'s.
//!
//! A batch's outputs (32 x 7 kB) stay in a core's 2 MB L2 while the key streams by, and
//! each output is updated by all the levels of one input coefficient in one pass, so an
//! output word is loaded and stored once per coefficient rather than once per level. On
//! an AVX-512 EPYC (`benches/lookup.rs`, 32 ciphertexts, same run as tfhe-rs) that took
//! the batch from 0.43 to 0.28 of tfhe-rs's time at n2048-gauss (0.28 at n8192-tuniform).
//! Earlier, tiling the outputs to fit L1 and adding small digits as precomputed multiples
//! of a key row measured no faster than the plain loop.

use tfhe::core_crypto::prelude::*;

/// Scratch words [`keyswitch_batch`] needs for `ciphertexts` inputs at `levels`
/// decomposition levels.
pub(crate) fn digits_len(ciphertexts: usize, levels: usize) -> usize {
    ciphertexts * levels
}

/// Keyswitches the big-key ciphertexts packed in `inputs` (native modulus) to the
/// small-key ciphertexts packed in `outputs`, in order, under `ksk`; `digits` is scratch
/// of at least [`digits_len`] words.
pub(crate) fn keyswitch_batch(
    ksk: &LweKeyswitchKeyOwned<u64>,
    inputs: &[u64],
    outputs: &mut [u64],
    digits: &mut [u64],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
    {
        // SAFETY: the CPU supports the features the function is compiled with.
        unsafe { keyswitch_batch_avx512(ksk, inputs, outputs, digits) };
        return;
    }
    keyswitch_batch_body(ksk, inputs, outputs, digits);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn keyswitch_batch_avx512(
    ksk: &LweKeyswitchKeyOwned<u64>,
    inputs: &[u64],
    outputs: &mut [u64],
    digits: &mut [u64],
) {
    keyswitch_batch_body(ksk, inputs, outputs, digits);
}

#[inline(always)]
fn keyswitch_batch_body(
    ksk: &LweKeyswitchKeyOwned<u64>,
    inputs: &[u64],
    outputs: &mut [u64],
    digits: &mut [u64],
) {
    let big_size = ksk.input_key_lwe_dimension().to_lwe_size().0;
    let small_size = ksk.output_lwe_size().0;
    let levels = ksk.decomposition_level_count().0;
    let count = inputs.len() / big_size;
    assert_eq!(
        inputs.len(),
        count * big_size,
        "inputs are whole ciphertexts"
    );
    assert_eq!(outputs.len(), count * small_size, "one output per input");
    let digits = &mut digits[..digits_len(count, levels)];

    // Each output starts as the input's body with a zero mask.
    for (output, input) in outputs
        .chunks_exact_mut(small_size)
        .zip(inputs.chunks_exact(big_size))
    {
        output.fill(0);
        output[small_size - 1] = input[big_size - 1];
    }
    let decomposer = SignedDecomposer::<u64>::new(
        ksk.decomposition_base_log(),
        ksk.decomposition_level_count(),
    );
    for (i, block) in ksk.iter().enumerate() {
        for (ciphertext, input) in inputs.chunks_exact(big_size).enumerate() {
            let mine = &mut digits[ciphertext * levels..(ciphertext + 1) * levels];
            for (slot, term) in mine.iter_mut().zip(decomposer.decompose(input[i])) {
                *slot = term.value();
            }
        }
        let rows = block.as_ref();
        for (output, terms) in outputs
            .chunks_exact_mut(small_size)
            .zip(digits.chunks_exact(levels))
        {
            match levels {
                1 => subtract_rows::<1>(output, rows, terms),
                2 => subtract_rows::<2>(output, rows, terms),
                3 => subtract_rows::<3>(output, rows, terms),
                4 => subtract_rows::<4>(output, rows, terms),
                5 => subtract_rows::<5>(output, rows, terms),
                6 => subtract_rows::<6>(output, rows, terms),
                _ => {
                    for (row, term) in rows.chunks_exact(small_size).zip(terms) {
                        subtract_rows::<1>(output, row, std::slice::from_ref(term));
                    }
                }
            }
        }
    }
}

/// `output -= Σ digits[l] · row l` (wrapping) over the first `L` key rows of `rows`:
/// every level of one input coefficient in one pass over the output, so each output word
/// is loaded and stored once instead of once per level.
#[inline(always)]
fn subtract_rows<const L: usize>(output: &mut [u64], rows: &[u64], digits: &[u64]) {
    let len = output.len();
    let rows: [&[u64]; L] = std::array::from_fn(|l| &rows[l * len..(l + 1) * len]);
    let digits: [u64; L] = std::array::from_fn(|l| digits[l]);
    for (j, out) in output.iter_mut().enumerate() {
        let mut word = *out;
        for (row, &digit) in rows.iter().zip(&digits) {
            word = word.wrapping_sub(row[j].wrapping_mul(digit));
        }
        *out = word;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::torus_words;
    use crate::keys::{ClientKey, EvaluationKey};
    use crate::profile::Profile;

    #[test]
    fn matches_tfhe_rs_bit_for_bit() {
        let profile = &Profile::all()[0];
        let (_, compressed) = ClientKey::generate(profile, Some(7));
        let key = EvaluationKey::expand(&compressed);
        let (big, small) = (
            profile.big_dim().to_lwe_size().0,
            profile.small_dim().to_lwe_size().0,
        );
        let inputs = torus_words(3 * big);
        let mut ours = vec![0u64; 3 * small];
        let mut digits = vec![0u64; digits_len(3, profile.ks_level)];
        keyswitch_batch(&key.ksk, &inputs, &mut ours, &mut digits);
        for (input, ours) in inputs.chunks_exact(big).zip(ours.chunks_exact(small)) {
            let mut theirs = LweCiphertext::new(
                0u64,
                profile.small_dim().to_lwe_size(),
                CiphertextModulus::new_native(),
            );
            let input = LweCiphertext::from_container(input, CiphertextModulus::new_native());
            keyswitch_lwe_ciphertext(&key.ksk, &input, &mut theirs);
            assert_eq!(ours, theirs.as_ref());
        }
    }

    /// Odd key shapes, one ciphertext and more than a chunk, small and large bases: any
    /// key words serve, since both sides compute the same sums of digits times key words.
    #[test]
    fn matches_tfhe_rs_on_odd_shapes() {
        for (big_dim, small_dim, base_log, levels, count) in [
            (37, 100, 4, 3, 5),
            (16, 64, 3, 2, 6),
            (5, 9, 3, 3, 1),
            (17, 65, 4, 4, 33),
            (33, 129, 22, 1, 7),
            (20, 30, 5, 2, 3),
            (21, 40, 3, 5, 4),
            (19, 50, 2, 6, 3),
            (9, 17, 2, 7, 2),
        ] {
            let (big, small) = (big_dim + 1, small_dim + 1);
            let ksk = LweKeyswitchKeyOwned::from_container(
                torus_words(big_dim * levels * small),
                DecompositionBaseLog(base_log),
                DecompositionLevelCount(levels),
                LweSize(small),
                CiphertextModulus::new_native(),
            );
            let inputs: Vec<u64> = torus_words(count * big + 1)[1..].to_vec();
            let mut ours = vec![0u64; count * small];
            let mut digits = vec![0u64; digits_len(count, levels)];
            keyswitch_batch(&ksk, &inputs, &mut ours, &mut digits);
            for (input, ours) in inputs.chunks_exact(big).zip(ours.chunks_exact(small)) {
                let mut theirs =
                    LweCiphertext::new(0u64, LweSize(small), CiphertextModulus::new_native());
                let input = LweCiphertext::from_container(input, CiphertextModulus::new_native());
                keyswitch_lwe_ciphertext(&ksk, &input, &mut theirs);
                assert_eq!(
                    ours,
                    theirs.as_ref(),
                    "{big_dim} -> {small_dim}, base 2^{base_log}, {levels} levels"
                );
            }
        }
    }
}
