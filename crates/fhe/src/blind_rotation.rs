//! The blind rotations of the lookup hot loop: batched, so that the bootstrapping key is
//! read once per batch, and with a CMUX whose decomposition is vectorized.
//!
//! A blind rotation applies every GGSW of the Fourier bootstrapping key in turn: 57 MB on
//! n2048-gauss and 565 MB on n8192-tuniform, more than these machines' L3. tfhe-rs's
//! `blind_rotate_assign` walks the key once per lookup. Here each GGSW is applied to
//! every table of a worker's chunk (32 lookups) before the next GGSW, as tfhe-rs's
//! `batch_blind_rotate_assign` does, so a GGSW comes from memory once per chunk. Batches
//! of 4 to 16, sized to a 2 MB L2, were no faster than the whole chunk.
//!
//! Each [`Cmux`] runs tfhe-rs's external product step by step: its decomposer, its FFTs,
//! and pulp's complex multiply-add as tfhe-rs calls it. Every result is therefore
//! bit-identical to tfhe-rs's one-at-a-time rotation (tested in `bench`, at one and two
//! decomposition levels). Only the decomposition is compiled differently; see [`Cmux`].
//!
//! `benches/lookup.rs`, one chunk of 32 on one thread, against tfhe-rs one at a time:
//! tfhe-rs's batch took 0.85, 0.82 and 0.77 of its time at N = 2048, 4096 and 8192; with
//! the vectorized decomposition this takes 0.66, 0.66 and 0.71 (on an AVX-512 EPYC).

use crate::profile::Profile;
use tfhe::core_crypto::algorithms::polynomial_algorithms::polynomial_wrapping_monic_monomial_div_assign;
use tfhe::core_crypto::fft_impl::fft64::c64;
use tfhe::core_crypto::fft_impl::fft64::crypto::ggsw::FourierGgswCiphertextView;
use tfhe::core_crypto::fft_impl::fft64::math::polynomial::FourierPolynomialMutView;
use tfhe::core_crypto::prelude::*;

/// A small-key LWE after the centered modulus switch to the blind rotation's 2N, kept
/// whole: the rotation reads mask element `i` of every lookup at GGSW `i`.
struct SwitchedLwe {
    mask: Vec<usize>,
    body: usize,
}

/// One worker's blind rotations: up to `capacity` lookups, each a keyswitched
/// ciphertext and the table it rotates.
pub(crate) struct BlindRotations {
    switched: Vec<SwitchedLwe>,
    log_modulus: CiphertextModulusLog,
    /// The tables being rotated, one GLWE per lookup, back to back.
    accumulators: GlweCiphertextListOwned<u64>,
    cmux: Cmux,
}

impl BlindRotations {
    pub(crate) fn new(profile: &Profile, capacity: usize) -> Self {
        Self {
            switched: (0..capacity)
                .map(|_| SwitchedLwe {
                    mask: vec![0; profile.lwe_dimension],
                    body: 0,
                })
                .collect(),
            log_modulus: profile.poly_size().to_blind_rotation_input_modulus_log(),
            accumulators: GlweCiphertextList::new(
                0,
                profile.glwe_dim().to_glwe_size(),
                profile.poly_size(),
                GlweCiphertextCount(capacity),
                CiphertextModulus::new_native(),
            ),
            cmux: Cmux::new(profile),
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
            self.log_modulus,
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

    /// Blind-rotates the tables of lookups `0..count` by their ciphertexts: each table
    /// divided by X^body, then one CMUX per GGSW of the key, GGSW after GGSW, each applied
    /// to every table of the batch.
    pub(crate) fn rotate(&mut self, bsk: &FourierLweBootstrapKeyOwned, count: usize) {
        debug_assert_eq!(bsk.input_lwe_dimension().0, self.switched[0].mask.len());
        debug_assert_eq!(bsk.polynomial_size(), self.accumulators.polynomial_size());
        for (switched, mut table) in self.switched[..count]
            .iter()
            .zip(self.accumulators.iter_mut())
        {
            for mut polynomial in table.as_mut_polynomial_list().iter_mut() {
                polynomial_wrapping_monic_monomial_div_assign(
                    &mut polynomial,
                    MonomialDegree(switched.body),
                );
            }
        }
        for (i, ggsw) in bsk.as_view().into_ggsw_iter().enumerate() {
            for (switched, mut table) in self.switched[..count]
                .iter()
                .zip(self.accumulators.iter_mut())
            {
                let degree = switched.mask[i];
                if degree != 0 {
                    self.cmux.apply(table.as_mut_view(), ggsw, degree);
                }
            }
        }
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

/// One CMUX of a blind rotation, `table += GGSW ⊡ (X^degree · table - table)`, in the
/// steps and float operations of tfhe-rs's `add_external_product_assign`.
///
/// tfhe-rs decomposes through a generic iterator compiled for baseline x86-64. On conv3x3
/// that loop ran two u64 lanes at a time and took a quarter of the whole evaluation (perf,
/// on an AVX-512 EPYC). Here the decomposition is plain loops that pulp compiles for the
/// widest instruction set the CPU has (eight lanes with AVX-512), and the rotation, the
/// subtraction and the first rounding are one pass over the table.
struct Cmux {
    /// The widest instruction set the CPU has, detected once.
    arch: pulp::Arch,
    fft: Fft,
    decomposer: SignedDecomposer<u64>,
    /// The decomposition state of each coefficient of `X^degree · table - table`.
    states: Vec<u64>,
    /// One level's digits, a polynomial per GLWE polynomial.
    digits: Vec<u64>,
    /// The forward FFT of one digit polynomial.
    fourier: Vec<c64>,
    /// The product accumulated in the Fourier domain, a polynomial per GLWE polynomial.
    products: Vec<c64>,
    scratch: ComputationBuffers,
}

impl Cmux {
    fn new(profile: &Profile) -> Self {
        let glwe_size = profile.glwe_dim().to_glwe_size().0;
        let n = profile.poly_size().0;
        let fft = Fft::new(profile.poly_size());
        let mut scratch = ComputationBuffers::new();
        scratch.resize(
            StackReq::any_of(&[
                fft.as_view().forward_scratch(),
                fft.as_view().backward_scratch(),
            ])
            .unaligned_bytes_required(),
        );
        Self {
            arch: pulp::Arch::new(),
            fft,
            decomposer: SignedDecomposer::new(
                DecompositionBaseLog(profile.pbs_base_log),
                DecompositionLevelCount(profile.pbs_level),
            ),
            states: vec![0; glwe_size * n],
            digits: vec![0; glwe_size * n],
            fourier: vec![c64::default(); n / 2],
            products: vec![c64::default(); glwe_size * n / 2],
            scratch,
        }
    }

    fn apply(
        &mut self,
        mut table: GlweCiphertextMutView<'_, u64>,
        ggsw: FourierGgswCiphertextView<'_>,
        degree: usize,
    ) {
        let n = table.polynomial_size().0;
        let half = n / 2;
        // The buffers and the decomposer were sized from the profile; tfhe-rs checks the
        // key against the table on its own path, this one does not.
        debug_assert_eq!(ggsw.glwe_size().0 * n, self.states.len());
        debug_assert_eq!(ggsw.decomposition_base_log(), self.decomposer.base_log());
        debug_assert_eq!(
            ggsw.decomposition_level_count(),
            self.decomposer.level_count()
        );
        debug_assert!(degree < 2 * n, "a degree modulo 2N");
        self.arch.dispatch(RotatedDifference {
            states: &mut self.states,
            table: table.as_ref(),
            n,
            degree,
            decomposer: &self.decomposer,
        });
        let fft = self.fft.as_view();
        let mut first = true;
        // The GGSW stores its levels from the last (least significant) to the first,
        // the order in which the decomposition yields them.
        for level in ggsw.into_levels() {
            self.arch.dispatch(NextDigits {
                digits: &mut self.digits,
                states: &mut self.states,
                base_log: self.decomposer.base_log().0,
            });
            for (row, digits) in level.into_rows().zip(self.digits.chunks_exact(n)) {
                fft.forward_as_integer(
                    FourierPolynomialMutView {
                        data: &mut self.fourier,
                    },
                    Polynomial::from_container(digits),
                    self.scratch.stack(),
                );
                self.arch.dispatch(MultiplyAdd {
                    products: &mut self.products,
                    row: row.data(),
                    fourier: &self.fourier,
                    first,
                    half,
                });
                first = false;
            }
        }
        for (mut polynomial, product) in table
            .as_mut_polynomial_list()
            .iter_mut()
            .zip(self.products.chunks_exact_mut(half))
        {
            fft.add_backward_in_place_as_torus(
                polynomial.as_mut_view(),
                FourierPolynomialMutView { data: product },
                self.scratch.stack(),
            );
        }
    }
}

/// The decomposer's initial state of each coefficient of `X^degree · table - table`
/// (negacyclic, wrapping), polynomial by polynomial. Plain loops: pulp compiles them once
/// per instruction set and runs the widest the CPU has.
struct RotatedDifference<'a> {
    states: &'a mut [u64],
    table: &'a [u64],
    n: usize,
    degree: usize,
    decomposer: &'a SignedDecomposer<u64>,
}

impl pulp::WithSimd for RotatedDifference<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let (n, decomposer) = (self.n, self.decomposer);
        // X^degree = ±X^shift, negated when degree >= N since X^N = -1.
        let (shift, negate) = (self.degree % n, self.degree >= n);
        for (states, polynomial) in self
            .states
            .chunks_exact_mut(n)
            .zip(self.table.chunks_exact(n))
        {
            // (X^shift · p)[j] = p[j - shift] for j >= shift, and -p[j - shift + N] below.
            let (wrapped, straight) = states.split_at_mut(shift);
            let (head, tail) = polynomial.split_at(n - shift);
            for ((state, &from), &own) in wrapped.iter_mut().zip(tail).zip(&polynomial[..shift]) {
                let rotated = if negate { from } else { from.wrapping_neg() };
                *state = decomposer.init_decomposer_state(rotated.wrapping_sub(own));
            }
            for ((state, &from), &own) in straight.iter_mut().zip(head).zip(&polynomial[shift..]) {
                let rotated = if negate { from.wrapping_neg() } else { from };
                *state = decomposer.init_decomposer_state(rotated.wrapping_sub(own));
            }
        }
    }
}

/// The next level's digits from a CMUX's decomposition states: one level of tfhe-rs's
/// balanced signed decomposition (eprint 2021/1161), the digit in [-B/2, B/2] and its
/// carry into the state.
struct NextDigits<'a> {
    digits: &'a mut [u64],
    states: &'a mut [u64],
    base_log: usize,
}

impl pulp::WithSimd for NextDigits<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let base_log = self.base_log;
        let mask = (1u64 << base_log) - 1;
        for (digit, state) in self.digits.iter_mut().zip(self.states.iter_mut()) {
            let low = *state & mask;
            *state = ((*state as i64) >> base_log) as u64;
            let carry = ((low.wrapping_sub(1) | *state) & low) >> (base_log - 1);
            *state = state.wrapping_add(carry);
            *digit = low.wrapping_sub(carry << base_log);
        }
    }
}

/// `products (+)= row ⊙ fourier`, polynomial by polynomial, with pulp's complex
/// multiply(-add), as tfhe-rs's external product does it.
struct MultiplyAdd<'a> {
    products: &'a mut [c64],
    row: &'a [c64],
    fourier: &'a [c64],
    /// The first product of a CMUX overwrites instead of adding.
    first: bool,
    half: usize,
}

impl pulp::WithSimd for MultiplyAdd<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let fourier = S::as_simd_c64s(self.fourier).0;
        for (products, row) in self
            .products
            .chunks_exact_mut(self.half)
            .zip(self.row.chunks_exact(self.half))
        {
            let products = S::as_mut_simd_c64s(products).0;
            let row = S::as_simd_c64s(row).0;
            for ((product, &a), &b) in products.iter_mut().zip(row).zip(fourier) {
                *product = if self.first {
                    simd.mul_c64s(a, b)
                } else {
                    simd.mul_add_c64s(a, b, *product)
                };
            }
        }
    }
}
