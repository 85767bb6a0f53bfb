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
//! The batch's outputs (32 x 7 kB) do not fit in L1, so applying one key row to all of
//! them would stream them through L2 once per row. The loop is tiled instead: the
//! digits of [`BLOCK_INPUTS`] input coefficients are decomposed at once, and their key
//! rows are applied [`TILE_WORDS`] output words at a time, so a tile of every output
//! and the row segments stay in L1 while the block's rows go by. Each key word is
//! still read once.

use tfhe::core_crypto::prelude::*;

/// Input coefficients whose digits are decomposed together.
const BLOCK_INPUTS: usize = 16;
/// Output words per tile: 32 outputs x 64 words x 8 bytes = 16 kB of L1.
const TILE_WORDS: usize = 64;

/// Scratch words [`keyswitch_batch`] needs for `ciphertexts` inputs at `levels`
/// decomposition levels.
pub(crate) fn digits_len(ciphertexts: usize, levels: usize) -> usize {
    BLOCK_INPUTS * levels * ciphertexts
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
    if count == 0 {
        return;
    }
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
    // Small digits add multiples of the key, once the batch repays summing them; larger
    // digits multiply.
    let largest_digit = 1usize << (ksk.decomposition_base_log().0 - 1);
    let mut multiples = (largest_digit <= MAX_MULTIPLE && count >= MIN_MULTIPLES_BATCH)
        .then_some([[0u64; TILE_WORDS]; MAX_MULTIPLE]);
    // Row `i x levels + level` of the key pairs with digit `level` of mask word `i`.
    let rows = ksk.as_ref();
    let mask_words = big_size - 1;
    for block_start in (0..mask_words).step_by(BLOCK_INPUTS) {
        let block_end = (block_start + BLOCK_INPUTS).min(mask_words);
        let block_rows = (block_end - block_start) * levels;
        // digits[row x count + ciphertext], rows of this block.
        for (ciphertext, input) in inputs.chunks_exact(big_size).enumerate() {
            for (i, &word) in input[block_start..block_end].iter().enumerate() {
                for (level, term) in decomposer.decompose(word).enumerate() {
                    digits[(i * levels + level) * count + ciphertext] = term.value();
                }
            }
        }
        let block = &rows[block_start * levels * small_size..][..block_rows * small_size];
        for tile_start in (0..small_size).step_by(TILE_WORDS) {
            let tile_end = (tile_start + TILE_WORDS).min(small_size);
            for (row, row_digits) in block
                .chunks_exact(small_size)
                .zip(digits.chunks_exact(count))
            {
                let segment = &row[tile_start..tile_end];
                let outputs = outputs
                    .chunks_exact_mut(small_size)
                    .map(|output| &mut output[tile_start..tile_end]);
                match multiples.as_mut() {
                    Some(multiples) => apply_by_multiples(segment, row_digits, outputs, multiples),
                    None => apply_by_products(segment, row_digits, outputs),
                }
            }
        }
    }
}

/// Fewest ciphertexts for which summing a segment's multiples (seven additions a word)
/// costs less than multiplying for each ciphertext (three micro-operations a word).
const MIN_MULTIPLES_BATCH: usize = 4;

/// Largest digit magnitude [`apply_by_multiples`] serves: base 2^4's digits lie in
/// [-8, 8]. Larger bases (the narrowing key's 2^22) multiply.
const MAX_MULTIPLE: usize = 8;

/// `outputs[c] -= segment x digits[c]`, each product a 64-bit multiply.
#[inline(always)]
fn apply_by_products<'a>(
    segment: &[u64],
    digits: &[u64],
    outputs: impl Iterator<Item = &'a mut [u64]>,
) {
    for (output, &digit) in outputs.zip(digits) {
        for (out, &key) in output.iter_mut().zip(segment) {
            *out = out.wrapping_sub(key.wrapping_mul(digit));
        }
    }
}

/// `outputs[c] -= segment x digits[c]` for digits of magnitude at most [`MAX_MULTIPLE`]:
/// the segment's multiples 1..=8 are summed once and then each output only adds or
/// subtracts one of them (the same words modulo 2^64), instead of a 64-bit multiply per
/// word and ciphertext, which AVX-512 does in three micro-operations.
#[inline(always)]
fn apply_by_multiples<'a>(
    segment: &[u64],
    digits: &[u64],
    outputs: impl Iterator<Item = &'a mut [u64]>,
    multiples: &mut [[u64; TILE_WORDS]; MAX_MULTIPLE],
) {
    let width = segment.len();
    multiples[0][..width].copy_from_slice(segment);
    for m in 1..MAX_MULTIPLE {
        let (done, next) = multiples.split_at_mut(m);
        for ((next, &previous), &key) in next[0][..width].iter_mut().zip(&done[m - 1]).zip(segment)
        {
            *next = previous.wrapping_add(key);
        }
    }
    for (output, &digit) in outputs.zip(digits) {
        let digit = digit as i64;
        let multiple = &multiples[(digit.unsigned_abs() as usize).max(1) - 1][..width];
        if digit > 0 {
            for (out, &term) in output.iter_mut().zip(multiple) {
                *out = out.wrapping_sub(term);
            }
        } else if digit < 0 {
            for (out, &term) in output.iter_mut().zip(multiple) {
                *out = out.wrapping_add(term);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `count` well-spread torus words (an LCG): stand-ins for ciphertext coefficients.
    pub(crate) fn torus_words(count: usize) -> Vec<u64> {
        let mut state = 0x243f_6a88_85a3_08d3u64;
        (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                state
            })
            .collect()
    }
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

    /// Every shape of blocks and tiles, remainders included, and bases on both sides of
    /// the multiples' reach: any key words serve, since both sides compute the same sums
    /// of digits times key words.
    #[test]
    fn matches_tfhe_rs_at_every_block_and_tile_remainder() {
        for (big_dim, small_dim, base_log, levels, count) in [
            (37, 100, 4, 3, 5),
            (16, 64, 3, 2, 6),
            (5, 9, 3, 3, 1),
            (17, 65, 4, 4, 33),
            (33, 129, 22, 1, 7),
            (20, 30, 5, 2, 3),
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
