//! Parameter profiles: which vetted tfhe-rs dimensions and noise levels we run with.
//!
//! The LWE side (dimension n, noise) and the GLWE side (k, N, noise) each come verbatim
//! from a tfhe-rs 2^-128 KS-PBS parameter set shipped in `tfhe` 1.8 (`shortint::parameters`,
//! read from the crate source: the `shortint` feature itself is not compiled in). Their
//! security does not depend on how we encode messages, so the encoding (section 2 of the
//! design) is ours; the decomposition parameters only move noise and speed.

use brainlock_circuit::{NoiseDistribution, ParameterSet};
use serde::Serialize;
use tfhe::core_crypto::prelude::{
    DecompositionBaseLog, DecompositionLevelCount, DynamicDistribution, GlweDimension,
    LweDimension, PolynomialSize, StandardDev,
};

/// tfhe-rs's distribution for a profile's noise.
pub(crate) fn tfhe_distribution(noise: NoiseDistribution) -> DynamicDistribution<u64> {
    match noise {
        NoiseDistribution::Gaussian { std_dev } => {
            DynamicDistribution::new_gaussian_from_std_dev(StandardDev(std_dev))
        }
        NoiseDistribution::TUniform { bound_log2 } => {
            DynamicDistribution::new_t_uniform(bound_log2)
        }
    }
}

/// One parameter profile. Every field is public knowledge; the id travels on the wire.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    /// Wire name of the profile (e.g. `n2048-gauss`), carried in every blob header.
    pub id: &'static str,
    /// Small LWE dimension n (input of the blind rotation).
    pub lwe_dimension: usize,
    /// Encryption noise under the small LWE key (keyswitching key output).
    pub lwe_noise: NoiseDistribution,
    /// GLWE dimension k.
    pub glwe_dimension: usize,
    /// Polynomial size N.
    pub polynomial_size: usize,
    /// Encryption noise under the GLWE key (bootstrapping key, and inputs under the big key).
    pub glwe_noise: NoiseDistribution,
    /// log2 of the bootstrapping key's gadget decomposition base.
    pub pbs_base_log: usize,
    /// Levels of the bootstrapping key's gadget decomposition.
    pub pbs_level: usize,
    /// log2 of the keyswitching key's decomposition base.
    pub ks_base_log: usize,
    /// Levels of the keyswitching key's decomposition.
    pub ks_level: usize,
    /// The tfhe-rs parameter sets each side was taken from (documentation only).
    pub source: &'static str,
    /// Where results are packed before they leave the miner; `None` would send them as
    /// rounded LWEs (as does a circuit whose outputs the packing is too noisy for, see
    /// [`crate::OutputForm`]).
    pub packing: Option<Packing>,
}

/// The GLWE that results are packed into (design section 2, "Results leave the miner
/// compressed"): a second, independent GLWE key whose dimensions and noise are verbatim
/// the GLWE side of a tfhe-rs 2^-128 parameter set; the packing keyswitch's
/// decomposition is ours, chosen with the noise model (it moves only noise and speed,
/// never security).
///
/// Why not tfhe-rs's own compression sets (k = 4, N = 256, std 1.3e-7): their key is
/// small because its noise is large, and 256 results packed per GLWE each bring that
/// noise to every coefficient (std 2^-10 on a 2048-coefficient input). That suits 4-bit
/// messages at scale 2^59; conv3x3's 8-bit outputs at scale 2^55 need 2^-12.9 in all
/// (`compression::tests::noise_table`). At k = 1, N = 2048 the key noise (2^-48) is
/// negligible and one 2^20 digit suffices; the price is a 33.5 MB seeded packing key.
///
/// A big key wider than the packing GLWE (VGG9's, N = 8192) is first narrowed: an LWE
/// keyswitch to a key of the packing GLWE's width and noise (k'N' coefficients, the same
/// vetted dimension and noise read as an LWE key). A seeded LWE keyswitching key is one
/// body per row, 64 kB here, where a packing key straight from 8192 coefficients would
/// take 134 MB.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Packing {
    /// GLWE dimension k of the packing key.
    pub glwe_dimension: usize,
    /// Polynomial size N of the packing key: results packed per GLWE.
    pub polynomial_size: usize,
    /// Encryption noise of the packing keyswitching key.
    pub noise: NoiseDistribution,
    /// log2 of the packing keyswitch's decomposition base.
    pub base_log: usize,
    /// Levels of the packing keyswitch's decomposition.
    pub level: usize,
    /// The tfhe-rs parameter set the GLWE side was taken from (documentation only).
    pub source: &'static str,
    /// The keyswitch that first narrows the big key to the packing width, where the big
    /// key is wider.
    pub narrowing: Option<Narrowing>,
}

/// An LWE keyswitch from the big key to an LWE key of the packing GLWE's width and noise
/// (see [`Packing`]), applied to the results just before they are packed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Narrowing {
    /// log2 of its decomposition base.
    pub base_log: usize,
    /// Levels of its decomposition.
    pub level: usize,
}

/// The GLWE side of tfhe-rs `V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M128`:
/// k = 1, N = 2048, std 2.845e-15.
const PACKING_GAUSSIAN: Packing = Packing {
    glwe_dimension: 1,
    polynomial_size: 2048,
    noise: NoiseDistribution::Gaussian {
        std_dev: 2.845267479601915e-15,
    },
    base_log: 20,
    level: 1,
    source: "GLWE side of tfhe 1.8 V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M128",
    narrowing: None,
};

/// The GLWE side of tfhe-rs `V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128`:
/// k = 1, N = 2048, TUniform 2^17.
const PACKING_TUNIFORM: Packing = Packing {
    glwe_dimension: 1,
    polynomial_size: 2048,
    noise: NoiseDistribution::TUniform { bound_log2: 17 },
    base_log: 20,
    level: 1,
    source: "GLWE side of tfhe 1.8 V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128",
    narrowing: None,
};

/// One 2^22 digit narrows a big key of up to 8192 coefficients with a rounding (std
/// 2^-17.8 at 8192) below VGG9's logits' own noise (`compression::tests::noise_table`).
const NARROWING: Narrowing = Narrowing {
    base_log: 22,
    level: 1,
};

/// [`PACKING_GAUSSIAN`] behind a narrowing keyswitch, for wider Gaussian big keys.
const PACKING_GAUSSIAN_NARROWED: Packing = Packing {
    narrowing: Some(NARROWING),
    ..PACKING_GAUSSIAN
};

/// [`PACKING_TUNIFORM`] behind a narrowing keyswitch, for wider TUniform big keys.
const PACKING_TUNIFORM_NARROWED: Packing = Packing {
    narrowing: Some(NARROWING),
    ..PACKING_TUNIFORM
};

/// tfhe-rs `V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M128` (= v1_4 set, p-fail
/// 2^-128.6): n = 866, LWE std 2.046e-6; k = 1, N = 2048, GLWE std 2.845e-15; PBS 2^23 x 1;
/// KS 2^3 x 5. The smallest vetted n at N = 2048 in 1.8's current sets, hence the default:
/// blind-rotation cost is linear in n.
const N2048_GAUSSIAN: Profile = Profile {
    id: "n2048-gauss",
    lwe_dimension: 866,
    lwe_noise: NoiseDistribution::Gaussian {
        std_dev: 2.046151696979124e-06,
    },
    glwe_dimension: 1,
    polynomial_size: 2048,
    glwe_noise: NoiseDistribution::Gaussian {
        std_dev: 2.845267479601915e-15,
    },
    pbs_base_log: 23,
    pbs_level: 1,
    ks_base_log: 3,
    ks_level: 5,
    source: "LWE and GLWE: tfhe 1.8 V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M128",
    packing: Some(PACKING_GAUSSIAN),
};

/// tfhe-rs `V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128` (= v1_4 set, p-fail
/// 2^-129.6): n = 918, TUniform 2^45; k = 1, N = 2048, TUniform 2^17; PBS 2^23 x 1; KS 2^4 x 4.
/// tfhe-rs's own default family (bounded noise).
const N2048_TUNIFORM: Profile = Profile {
    id: "n2048-tuniform",
    lwe_dimension: 918,
    lwe_noise: NoiseDistribution::TUniform { bound_log2: 45 },
    glwe_dimension: 1,
    polynomial_size: 2048,
    glwe_noise: NoiseDistribution::TUniform { bound_log2: 17 },
    pbs_base_log: 23,
    pbs_level: 1,
    ks_base_log: 4,
    ks_level: 4,
    source: "LWE and GLWE: tfhe 1.8 V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128",
    packing: Some(PACKING_TUNIFORM),
};

/// tfhe-rs `V1_4_PARAM_MESSAGE_2_CARRY_3_KS_PBS_GAUSSIAN_2M128` (shipped in 1.8, p-fail
/// 2^-128.6): n = 930, std 6.782e-7; k = 1, N = 4096, std 2.168e-19; PBS 2^15 x 2; KS 2^3 x 6.
/// Halves the modulus-switch noise; level 2 keeps the PBS output noise small at N = 4096.
const N4096_GAUSSIAN: Profile = Profile {
    id: "n4096-gauss",
    lwe_dimension: 930,
    lwe_noise: NoiseDistribution::Gaussian {
        std_dev: 6.782362904013915e-07,
    },
    glwe_dimension: 1,
    polynomial_size: 4096,
    glwe_noise: NoiseDistribution::Gaussian {
        std_dev: 2.168404344971009e-19,
    },
    pbs_base_log: 15,
    pbs_level: 2,
    ks_base_log: 3,
    ks_level: 6,
    source: "LWE and GLWE: tfhe 1.8 V1_4_PARAM_MESSAGE_2_CARRY_3_KS_PBS_GAUSSIAN_2M128",
    packing: Some(PACKING_GAUSSIAN_NARROWED),
};

/// tfhe-rs `V1_8_PARAM_MESSAGE_3_CARRY_3_KS_PBS_TUNIFORM_2M128` (= v1_4 set, p-fail
/// 2^-129.0): n = 1077, TUniform 2^41; k = 1, N = 8192, TUniform 2^3; PBS 2^15 x 2; KS 2^4 x 5.
const N8192_TUNIFORM: Profile = Profile {
    id: "n8192-tuniform",
    lwe_dimension: 1077,
    lwe_noise: NoiseDistribution::TUniform { bound_log2: 41 },
    glwe_dimension: 1,
    polynomial_size: 8192,
    glwe_noise: NoiseDistribution::TUniform { bound_log2: 3 },
    pbs_base_log: 15,
    pbs_level: 2,
    ks_base_log: 4,
    ks_level: 5,
    source: "LWE and GLWE: tfhe 1.8 V1_8_PARAM_MESSAGE_3_CARRY_3_KS_PBS_TUNIFORM_2M128",
    // VGG9's profile: its 10 logits leave packed in 4.9 kB instead of 10 rounded LWEs of
    // 205 kB, for 33.6 MB more key (narrowing and packing keys, seeded).
    packing: Some(PACKING_TUNIFORM_NARROWED),
};

const ALL: [Profile; 4] = [
    N2048_GAUSSIAN,
    N2048_TUNIFORM,
    N4096_GAUSSIAN,
    N8192_TUNIFORM,
];

impl Profile {
    /// Every vetted profile the engine accepts.
    pub fn all() -> &'static [Profile] {
        &ALL
    }

    /// The profile with this wire id, if any.
    pub fn by_id(id: &str) -> Option<&'static Profile> {
        ALL.iter().find(|p| p.id == id)
    }

    /// The profile a circuit runs with unless the customer asks for another one. The
    /// circuit crate's noise-aware simulation keeps conv3x3 at N = 2048 (its per-output
    /// gates absorb the slips). VGG9 runs at N = 8192: its non-affine activation has six
    /// thresholds per channel, and at N = 4096 a rare slip in c6 (shift 1, a quarter
    /// box from a threshold) cascades to the logits in 2% of the images, which leaves
    /// gates too loose to tell work from guesses (derived c_min 0). At N = 8192 the
    /// simulation shows no slip, and the derived gates demand the exact logits.
    pub fn default_for(circuit_id: &str) -> &'static Profile {
        match circuit_id {
            "vgg9" => &ALL[3],
            _ => &ALL[0],
        }
    }

    /// The numbers the circuit crate's noise model needs (centered modulus switch on).
    pub fn parameter_set(&self) -> ParameterSet {
        ParameterSet {
            name: self.id.to_string(),
            lwe_dimension: self.lwe_dimension,
            glwe_dimension: self.glwe_dimension,
            polynomial_size: self.polynomial_size,
            lwe_noise: self.lwe_noise,
            glwe_noise: self.glwe_noise,
            pbs_base_log: self.pbs_base_log as u32,
            pbs_level: self.pbs_level as u32,
            ks_base_log: self.ks_base_log as u32,
            ks_level: self.ks_level as u32,
            centered_modulus_switch: true,
        }
    }

    /// Dimension of the big LWE key (the GLWE key read as an LWE key): k * N.
    pub fn big_lwe_dimension(&self) -> usize {
        self.glwe_dimension * self.polynomial_size
    }

    pub(crate) fn small_dim(&self) -> LweDimension {
        LweDimension(self.lwe_dimension)
    }

    pub(crate) fn big_dim(&self) -> LweDimension {
        LweDimension(self.big_lwe_dimension())
    }

    pub(crate) fn glwe_dim(&self) -> GlweDimension {
        GlweDimension(self.glwe_dimension)
    }

    pub(crate) fn poly_size(&self) -> PolynomialSize {
        PolynomialSize(self.polynomial_size)
    }

    pub(crate) fn pbs_decomposition(&self) -> (DecompositionBaseLog, DecompositionLevelCount) {
        (
            DecompositionBaseLog(self.pbs_base_log),
            DecompositionLevelCount(self.pbs_level),
        )
    }

    pub(crate) fn ks_decomposition(&self) -> (DecompositionBaseLog, DecompositionLevelCount) {
        (
            DecompositionBaseLog(self.ks_base_log),
            DecompositionLevelCount(self.ks_level),
        )
    }

    /// u64 words of the seeded (compressed) keyswitching key: one body per level per
    /// big-key coefficient.
    pub fn compressed_ksk_words(&self) -> usize {
        self.big_lwe_dimension() * self.ks_level
    }

    /// u64 words of the seeded bootstrapping key: n GGSWs of (k+1) * l GLWE bodies.
    pub fn compressed_bsk_words(&self) -> usize {
        self.lwe_dimension * (self.glwe_dimension + 1) * self.pbs_level * self.polynomial_size
    }

    /// Peak memory of expanding one key ([`crate::EvaluationKey::expand`]): the
    /// compressed key, the expanded key, and the larger of the standard-domain
    /// bootstrapping and packing keys, which live one after the other during their
    /// Fourier conversions.
    pub fn key_expansion_peak_bytes(&self) -> usize {
        let k1 = self.glwe_dimension + 1;
        let standard_bsk = self.lwe_dimension * k1 * self.pbs_level * k1 * self.polynomial_size * 8;
        let standard_packing = self.packing.as_ref().map_or(0, |p| {
            self.packing_input_dimension()
                * p.level
                * (p.glwe_dimension + 1)
                * p.polynomial_size
                * 8
        });
        let compressed = 8
            * (self.compressed_ksk_words()
                + self.compressed_bsk_words()
                + self.compressed_packing_key_words()
                + self.compressed_narrowing_key_words());
        compressed + self.expanded_key_bytes() + standard_bsk.max(standard_packing)
    }

    /// u64 words of the seeded packing keyswitching key: one GLWE body per level per
    /// input coefficient.
    pub fn compressed_packing_key_words(&self) -> usize {
        self.packing.as_ref().map_or(0, |p| {
            self.packing_input_dimension() * p.level * p.polynomial_size
        })
    }

    /// u64 words of the seeded narrowing keyswitching key: one LWE body per level per
    /// big-key coefficient.
    pub fn compressed_narrowing_key_words(&self) -> usize {
        self.narrowing()
            .map_or(0, |n| self.big_lwe_dimension() * n.level)
    }

    /// The narrowing keyswitch before packing, where the profile has one.
    pub(crate) fn narrowing(&self) -> Option<&Narrowing> {
        self.packing.as_ref()?.narrowing.as_ref()
    }

    /// Dimension of the LWEs the packing keyswitch takes: the big key's, or the packing
    /// width after a narrowing keyswitch.
    pub fn packing_input_dimension(&self) -> usize {
        match &self.packing {
            Some(p) if p.narrowing.is_some() => p.glwe_dimension * p.polynomial_size,
            _ => self.big_lwe_dimension(),
        }
    }

    /// Bytes of the expanded evaluation key in memory: the full keyswitching key, the
    /// Fourier bootstrapping key, the seeded narrowing key (expanded only while results
    /// are packed, [`Self::narrowing_key_bytes`]) and the Fourier packing key; in a
    /// `cuda` build also the
    /// standard-domain bootstrapping key it keeps for the device (as many bytes as the
    /// Fourier one: N/2 complex f64 or N u64 per polynomial).
    pub fn expanded_key_bytes(&self) -> usize {
        let packing = self.packing.as_ref().map_or(0, |p| {
            self.packing_input_dimension()
                * p.level
                * (p.glwe_dimension + 1)
                * (p.polynomial_size / 2)
                * 16
        });
        let standard_bsk = if cfg!(feature = "cuda") {
            self.fourier_bootstrapping_key_bytes()
        } else {
            0
        };
        self.keyswitching_key_bytes()
            + self.fourier_bootstrapping_key_bytes()
            + 8 * self.compressed_narrowing_key_words()
            + packing
            + standard_bsk
    }

    /// Bytes of the full keyswitching key (u64 words).
    pub fn keyswitching_key_bytes(&self) -> usize {
        self.big_lwe_dimension() * self.ks_level * (self.lwe_dimension + 1) * 8
    }

    /// Bytes of the full narrowing keyswitching key (u64 words), where the profile has one:
    /// memory a result batch takes while it is packed.
    pub fn narrowing_key_bytes(&self) -> usize {
        self.narrowing().map_or(0, |n| {
            self.big_lwe_dimension() * n.level * (self.packing_input_dimension() + 1) * 8
        })
    }

    /// Bytes of the bootstrapping key in the Fourier domain (N/2 complex f64 per
    /// polynomial), on the CPU as on a GPU.
    pub fn fourier_bootstrapping_key_bytes(&self) -> usize {
        let k1 = self.glwe_dimension + 1;
        self.lwe_dimension * k1 * self.pbs_level * k1 * (self.polynomial_size / 2) * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_resolvable() {
        for p in Profile::all() {
            assert_eq!(Profile::by_id(p.id), Some(p));
        }
        assert!(Profile::by_id("n1024-made-up").is_none());
        assert_eq!(Profile::default_for("conv3x3").polynomial_size, 2048);
        assert_eq!(Profile::default_for("vgg9").polynomial_size, 8192);
    }

    #[test]
    fn conv3x3_default_profile_compressed_key_is_under_64_mb() {
        let p = Profile::default_for("conv3x3");
        let bytes = 8
            * (p.compressed_ksk_words()
                + p.compressed_bsk_words()
                + p.compressed_packing_key_words());
        // 28.5 MB of keyswitching and bootstrapping key, 33.5 MB of packing key.
        assert!(bytes < 64_000_000, "{bytes}");
    }
}
