//! The blind rotations of the lookup hot loop, batched so the bootstrapping key is read
//! once per batch.
//!
//! A blind rotation applies every GGSW of the Fourier bootstrapping key in turn: 57 MB
//! on n2048-gauss and 565 MB on n8192-tuniform, the latter larger than this machine's
//! whole L3. tfhe-rs's `blind_rotate_assign` walks the key once per lookup. Its
//! `batch_blind_rotate_assign` applies each GGSW to every accumulator of a batch before
//! it moves to the next GGSW, so a GGSW comes from memory once per batch. Per
//! accumulator it runs the same operations in the same order, so every result is
//! bit-identical to the one-at-a-time rotation (tested in `bench`).
//!
//! A worker rotates its whole chunk (32 lookups) at once. `benches/lookup.rs`
//! measured 0.85, 0.82 and 0.77 of tfhe-rs's time at N = 2048, 4096 and 8192; batches
//! of 4 to 16 sized to a 2 MB L2 were no better beyond the benchmark's noise.
//!
//! tfhe-rs's batch reads each lookup's mask element `i` as `mask().nth(i)`. Over its
//! lazy modulus switch that recomputes the first `i` elements every time, quadratic in
//! n; [`SwitchedLwe`] holds the switched mask in a slice, whose iterator's `nth` is a
//! jump.

use crate::profile::Profile;
use tfhe::core_crypto::fft_impl::fft64::crypto::bootstrap::batch_blind_rotate_assign_scratch;
use tfhe::core_crypto::prelude::*;

/// A small-key LWE after the centered modulus switch to the blind rotation's 2N, kept
/// whole.
struct SwitchedLwe {
    mask: Vec<usize>,
    body: usize,
    log_modulus: CiphertextModulusLog,
}

impl ModulusSwitchedLweCiphertext<usize> for SwitchedLwe {
    fn log_modulus(&self) -> CiphertextModulusLog {
        self.log_modulus
    }

    fn lwe_dimension(&self) -> LweDimension {
        LweDimension(self.mask.len())
    }

    fn body(&self) -> usize {
        self.body
    }

    fn mask(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.mask.iter().copied()
    }
}

/// One worker's blind rotations: up to `capacity` lookups, each a keyswitched
/// ciphertext and the table it rotates.
pub(crate) struct BlindRotations {
    switched: Vec<SwitchedLwe>,
    /// The tables being rotated, one GLWE per lookup, back to back.
    accumulators: GlweCiphertextListOwned<u64>,
    fft: Fft,
    scratch: ComputationBuffers,
}

impl BlindRotations {
    pub(crate) fn new(profile: &Profile, capacity: usize) -> Self {
        let log_modulus = profile.poly_size().to_blind_rotation_input_modulus_log();
        let fft = Fft::new(profile.poly_size());
        let mut scratch = ComputationBuffers::new();
        scratch.resize(
            batch_blind_rotate_assign_scratch::<u64>(
                profile.glwe_dim().to_glwe_size(),
                profile.poly_size(),
                CiphertextCount(capacity),
                fft.as_view(),
            )
            .unaligned_bytes_required(),
        );
        Self {
            switched: (0..capacity)
                .map(|_| SwitchedLwe {
                    mask: vec![0; profile.lwe_dimension],
                    body: 0,
                    log_modulus,
                })
                .collect(),
            accumulators: GlweCiphertextList::new(
                0,
                profile.glwe_dim().to_glwe_size(),
                profile.poly_size(),
                GlweCiphertextCount(capacity),
                CiphertextModulus::new_native(),
            ),
            fft,
            scratch,
        }
    }

    /// Sets lookup `slot`: the centered modulus switch of the small-key ciphertext
    /// `keyswitched`, and the table `lut` it will rotate.
    pub(crate) fn load(
        &mut self,
        slot: usize,
        keyswitched: &[u64],
        lut: &GlweCiphertextOwned<u64>,
    ) {
        let switched = &mut self.switched[slot];
        debug_assert_eq!(
            keyswitched.len(),
            switched.mask.len() + 1,
            "a small-key LWE"
        );
        let lazy = lwe_ciphertext_centered_binary_modulus_switch::<u64, usize, _>(
            LweCiphertext::from_container(keyswitched, CiphertextModulus::new_native()),
            switched.log_modulus,
        );
        for (word, value) in switched.mask.iter_mut().zip(lazy.mask()) {
            *word = value;
        }
        switched.body = lazy.body();
        self.accumulators
            .get_mut(slot)
            .as_mut()
            .copy_from_slice(lut.as_ref());
    }

    /// Blind-rotates the tables of lookups `0..count` by their ciphertexts.
    pub(crate) fn rotate(&mut self, bsk: &FourierLweBootstrapKeyOwned, count: usize) {
        let (glwe_size, polynomial_size) = (
            self.accumulators.glwe_size(),
            self.accumulators.polynomial_size(),
        );
        debug_assert_eq!(bsk.input_lwe_dimension().0, self.switched[0].mask.len());
        debug_assert_eq!(bsk.polynomial_size(), polynomial_size);
        let words = count * glwe_size.0 * polynomial_size.0;
        bsk.as_view().batch_blind_rotate_assign(
            GlweCiphertextList::from_container(
                &mut self.accumulators.as_mut()[..words],
                glwe_size,
                polynomial_size,
                CiphertextModulus::new_native(),
            ),
            &self.switched[..count],
            self.fft.as_view(),
            self.scratch.stack(),
        );
    }

    /// Extracts lookup `slot`'s result, the constant coefficient of its rotated table,
    /// as a big-key LWE into `out`.
    pub(crate) fn extract(&self, slot: usize, out: &mut [u64]) {
        let mut out = LweCiphertext::from_container(out, CiphertextModulus::new_native());
        extract_lwe_sample_from_glwe_ciphertext(
            &self.accumulators.get(slot),
            &mut out,
            MonomialDegree(0),
        );
    }
}
