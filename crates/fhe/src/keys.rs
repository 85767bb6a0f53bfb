//! Client secret keys and the evaluation key a miner receives.
//!
//! Key layout (KS-PBS): the client encrypts under the big LWE key (the GLWE key read as an
//! LWE key of dimension kN); PBS outputs come back under it. The keyswitching key goes
//! big -> small (n), the bootstrapping key encrypts the small key under the GLWE key.
//! Where the profile packs results, a packing keyswitching key goes big -> the packing
//! GLWE key, which only the client holds (results are decrypted under it). Where the big
//! key is wider than the packing GLWE, a narrowing keyswitching key goes big -> an LWE
//! key of the packing width first, and the packing key starts from that one.

use crate::compression::FourierPackingKey;
use crate::error::{EngineError, Result};
use crate::profile::{Narrowing, Packing, Profile, tfhe_distribution};
use crate::wire::{Limits, Reader, Writer, check_limit, header_len};
use tfhe::conformance::ParameterSetConformant;
use tfhe::core_crypto::commons::generators::DeterministicSeeder;
use tfhe::core_crypto::commons::math::random::Seed;
use tfhe::core_crypto::fft_impl::fft64::crypto::bootstrap::LweBootstrapKeyConformanceParams;
use tfhe::core_crypto::prelude::*;
use zeroize::Zeroize;

const EVAL_KEY_MAGIC: &[u8; 4] = b"BLEK";

/// Randomness for the client side: either reproducible from a seed (tests, benchmarks)
/// or from the OS.
pub(crate) fn seeder(seed: Option<u128>) -> Box<dyn Seeder> {
    match seed {
        Some(s) => Box::new(DeterministicSeeder::<DefaultRandomGenerator>::new(Seed(s))),
        None => new_seeder(),
    }
}

/// The customer's secret keys. Never serialized, never printed, wiped on drop.
pub struct ClientKey {
    pub(crate) profile: &'static Profile,
    pub(crate) small: LweSecretKeyOwned<u64>,
    pub(crate) glwe: GlweSecretKeyOwned<u64>,
    /// The key results are packed under, where the profile packs.
    pub(crate) packing: Option<GlweSecretKeyOwned<u64>>,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("profile", &self.profile.id)
            .finish_non_exhaustive()
    }
}

impl Drop for ClientKey {
    fn drop(&mut self) {
        self.small.as_mut().zeroize();
        self.glwe.as_mut().zeroize();
        if let Some(packing) = &mut self.packing {
            packing.as_mut().zeroize();
        }
    }
}

/// Seeded keyswitching, bootstrapping, packing and (where the profile narrows) narrowing
/// keys: what travels to the miner.
pub struct CompressedEvaluationKey {
    pub(crate) profile: &'static Profile,
    ksk_seed: u128,
    bsk_seed: u128,
    ksk: SeededLweKeyswitchKeyOwned<u64>,
    bsk: SeededLweBootstrapKeyOwned<u64>,
    /// Present exactly when the profile packs results; its seed is then on the wire.
    packing: Option<(u128, SeededLwePackingKeyswitchKeyOwned<u64>)>,
    /// Present exactly when the profile narrows before packing; its seed is then on the
    /// wire.
    narrowing: Option<(u128, SeededLweKeyswitchKeyOwned<u64>)>,
}

/// Expanded keys, ready to evaluate: full keyswitching key, Fourier bootstrapping key
/// and, where the profile packs results, the Fourier packing key (and the narrowing key,
/// still seeded).
pub struct EvaluationKey {
    pub(crate) profile: &'static Profile,
    /// Unique to this expansion in this process: device backends cache their uploads
    /// of the key under it (a miner's key cache hands out the same expansion each time).
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(crate) expansion_id: u64,
    pub(crate) ksk: LweKeyswitchKeyOwned<u64>,
    pub(crate) fourier_bsk: FourierLweBootstrapKeyOwned,
    /// The standard-domain bootstrapping key, kept for the CUDA backend, which converts
    /// it to its own Fourier layout on the device.
    #[cfg(feature = "cuda")]
    pub(crate) standard_bsk: LweBootstrapKeyOwned<u64>,
    pub(crate) packing: Option<FourierPackingKey>,
    /// The narrowing keyswitching key (big key -> packing width), where the profile has
    /// one, kept seeded (64 kB instead of 134 MB at N = 8192): it serves once per result
    /// batch, and its expansion there takes a fraction of a second against minutes of
    /// evaluation.
    pub(crate) narrowing: Option<SeededLweKeyswitchKeyOwned<u64>>,
}

/// Source of [`EvaluationKey::expansion_id`].
static EXPANSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A seeded packing keyswitching key of `packing`'s shape (all zero until generated).
fn seeded_packing_key(
    packing: &Packing,
    container: Vec<u64>,
    seed: u128,
) -> SeededLwePackingKeyswitchKeyOwned<u64> {
    SeededLwePackingKeyswitchKey::from_container(
        container,
        DecompositionBaseLog(packing.base_log),
        DecompositionLevelCount(packing.level),
        GlweDimension(packing.glwe_dimension).to_glwe_size(),
        PolynomialSize(packing.polynomial_size),
        Seed(seed).into(),
        CiphertextModulus::new_native(),
    )
}

/// A seeded narrowing keyswitching key of `narrowing`'s shape under `profile` (all zero
/// until generated).
fn seeded_narrowing_key(
    profile: &Profile,
    narrowing: &Narrowing,
    container: Vec<u64>,
    seed: u128,
) -> SeededLweKeyswitchKeyOwned<u64> {
    SeededLweKeyswitchKey::from_container(
        container,
        DecompositionBaseLog(narrowing.base_log),
        DecompositionLevelCount(narrowing.level),
        LweDimension(profile.packing_input_dimension()).to_lwe_size(),
        Seed(seed).into(),
        CiphertextModulus::new_native(),
    )
}

impl ClientKey {
    /// Generates the secret keys and the matching compressed evaluation key. With a seed
    /// everything (keys, noise, masks) is reproducible; `None` draws from the OS.
    pub fn generate(
        profile: &'static Profile,
        seed: Option<u128>,
    ) -> (ClientKey, CompressedEvaluationKey) {
        let mut seeder = seeder(seed);
        let mut secret_gen = SecretRandomGenerator::<DefaultRandomGenerator>::new(seeder.seed());
        let small =
            allocate_and_generate_new_binary_lwe_secret_key(profile.small_dim(), &mut secret_gen);
        let glwe = allocate_and_generate_new_binary_glwe_secret_key(
            profile.glwe_dim(),
            profile.poly_size(),
            &mut secret_gen,
        );

        let (ks_base, ks_level) = profile.ks_decomposition();
        let ksk_seed = seeder.seed().0;
        let mut ksk = SeededLweKeyswitchKey::new(
            0u64,
            ks_base,
            ks_level,
            profile.big_dim(),
            profile.small_dim(),
            Seed(ksk_seed).into(),
            CiphertextModulus::new_native(),
        );
        generate_seeded_lwe_keyswitch_key(
            &glwe.as_lwe_secret_key(),
            &small,
            &mut ksk,
            tfhe_distribution(profile.lwe_noise),
            seeder.as_mut(),
        );

        let (pbs_base, pbs_level) = profile.pbs_decomposition();
        let bsk_seed = seeder.seed().0;
        let mut bsk = SeededLweBootstrapKey::new(
            0u64,
            profile.glwe_dim().to_glwe_size(),
            profile.poly_size(),
            pbs_base,
            pbs_level,
            profile.small_dim(),
            Seed(bsk_seed).into(),
            CiphertextModulus::new_native(),
        );
        par_generate_seeded_lwe_bootstrap_key(
            &small,
            &glwe,
            &mut bsk,
            tfhe_distribution(profile.glwe_noise),
            seeder.as_mut(),
        );

        let (packing_secret, packing, narrowing) = match &profile.packing {
            Some(p) => {
                let secret = allocate_and_generate_new_binary_glwe_secret_key(
                    GlweDimension(p.glwe_dimension),
                    PolynomialSize(p.polynomial_size),
                    &mut secret_gen,
                );
                // The narrowed key exists only here: results pass through it on the
                // miner, and the client decrypts under the packing key.
                let mut narrowed = profile.narrowing().map(|_| {
                    allocate_and_generate_new_binary_lwe_secret_key(
                        LweDimension(profile.packing_input_dimension()),
                        &mut secret_gen,
                    )
                });
                let narrowing = narrowed.as_ref().zip(profile.narrowing()).map(|(to, n)| {
                    let seed = seeder.seed().0;
                    let mut key = seeded_narrowing_key(
                        profile,
                        n,
                        vec![0; profile.compressed_narrowing_key_words()],
                        seed,
                    );
                    generate_seeded_lwe_keyswitch_key(
                        &glwe.as_lwe_secret_key(),
                        to,
                        &mut key,
                        tfhe_distribution(p.noise),
                        seeder.as_mut(),
                    );
                    (seed, key)
                });
                let seed = seeder.seed().0;
                let words = profile.compressed_packing_key_words();
                let mut key = seeded_packing_key(p, vec![0; words], seed);
                generate_seeded_lwe_packing_keyswitch_key(
                    &narrowed
                        .as_ref()
                        .map_or(glwe.as_lwe_secret_key(), |key| key.as_view()),
                    &secret,
                    &mut key,
                    tfhe_distribution(p.noise),
                    seeder.as_mut(),
                );
                if let Some(narrowed) = &mut narrowed {
                    narrowed.as_mut().zeroize();
                }
                (Some(secret), Some((seed, key)), narrowing)
            }
            None => (None, None, None),
        };

        let client = ClientKey {
            profile,
            small,
            glwe,
            packing: packing_secret,
        };
        let eval = CompressedEvaluationKey {
            profile,
            ksk_seed,
            bsk_seed,
            ksk,
            bsk,
            packing,
            narrowing,
        };
        (client, eval)
    }

    /// The parameter profile the secret keys were generated for.
    pub fn profile(&self) -> &'static Profile {
        self.profile
    }
}

impl CompressedEvaluationKey {
    /// The parameter profile the key was generated for.
    pub fn profile(&self) -> &'static Profile {
        self.profile
    }

    /// Serialized size, known from the profile alone.
    pub fn compressed_size_bytes(&self) -> usize {
        compressed_size_for(self.profile)
    }

    /// Memory the expanded key will take, known before expanding.
    pub fn expanded_size_bytes(&self) -> usize {
        self.profile.expanded_key_bytes()
    }

    /// Wire form: header, the mask seeds (keyswitching, bootstrapping, then packing and
    /// narrowing where the profile has them), then the seeded key bodies in the same
    /// order ([`Self::compressed_size_bytes`] bytes in all).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(EVAL_KEY_MAGIC, self.profile, self.compressed_size_bytes());
        let packing = self
            .packing
            .as_ref()
            .map(|(seed, key)| (*seed, key.as_ref()));
        let narrowing = self
            .narrowing
            .as_ref()
            .map(|(seed, key)| (*seed, key.as_ref()));
        let keys = [
            Some((self.ksk_seed, self.ksk.as_ref())),
            Some((self.bsk_seed, self.bsk.as_ref())),
            packing,
            narrowing,
        ];
        for (seed, _) in keys.iter().flatten() {
            w.u128(*seed);
        }
        for (_, words) in keys.iter().flatten() {
            w.words(words);
        }
        w.finish()
    }

    /// The packing keyswitching key, expanded (standard domain), where the profile packs.
    pub(crate) fn expand_packing_key(&self) -> Option<LwePackingKeyswitchKeyOwned<u64>> {
        let (_, seeded) = self.packing.as_ref()?;
        let mut key = LwePackingKeyswitchKey::new(
            0u64,
            seeded.decomposition_base_log(),
            seeded.decomposition_level_count(),
            seeded.input_key_lwe_dimension(),
            seeded.output_key_glwe_dimension(),
            seeded.output_key_polynomial_size(),
            CiphertextModulus::new_native(),
        );
        decompress_seeded_lwe_packing_keyswitch_key::<_, _, _, DefaultRandomGenerator>(
            &mut key, seeded,
        );
        Some(key)
    }

    /// Parses a key made for `profile`. Magic, profile id and the exact byte length are
    /// checked before any allocation; the rebuilt tfhe entities must then pass tfhe's own
    /// parameter-set conformance checks.
    pub fn from_bytes(bytes: &[u8], profile: &'static Profile, limits: &Limits) -> Result<Self> {
        const WHAT: &str = "evaluation key";
        check_limit(bytes, limits.max_key_bytes, WHAT)?;
        let mut r = Reader::open(bytes, EVAL_KEY_MAGIC, profile, WHAT)?;
        let expected = compressed_size_for(profile);
        if bytes.len() != expected {
            return Err(EngineError::WrongSize {
                what: WHAT,
                expected: expected as u64,
                found: bytes.len() as u64,
            });
        }
        let ksk_seed = r.u128()?;
        let bsk_seed = r.u128()?;
        let packing_seed = profile.packing.as_ref().map(|_| r.u128()).transpose()?;
        let narrowing_seed = profile.narrowing().map(|_| r.u128()).transpose()?;
        // The total length was checked above; each key gets a vector of its own size
        // (the miner's memory model counts the compressed key once).
        let words = r.words(profile.compressed_ksk_words())?;
        let bsk_words = r.words(profile.compressed_bsk_words())?;
        let packing_words = r.words(profile.compressed_packing_key_words())?;
        let narrowing_words = r.exact_words(profile.compressed_narrowing_key_words())?;
        // The packing key's shape is the profile's and its length was checked above: it
        // conforms by construction (tfhe-rs has no conformance check for it).
        let packing = profile
            .packing
            .as_ref()
            .zip(packing_seed)
            .map(|(p, seed)| (seed, seeded_packing_key(p, packing_words, seed)));
        let narrowing = profile.narrowing().zip(narrowing_seed).map(|(n, seed)| {
            (
                seed,
                seeded_narrowing_key(profile, n, narrowing_words, seed),
            )
        });
        let (ks_base, ks_level) = profile.ks_decomposition();
        let (pbs_base, pbs_level) = profile.pbs_decomposition();
        let modulus = CiphertextModulus::new_native();
        let ksk = SeededLweKeyswitchKey::from_container(
            words,
            ks_base,
            ks_level,
            profile.small_dim().to_lwe_size(),
            Seed(ksk_seed).into(),
            modulus,
        );
        let bsk = SeededLweBootstrapKey::from_container(
            bsk_words,
            profile.glwe_dim().to_glwe_size(),
            profile.poly_size(),
            pbs_base,
            pbs_level,
            Seed(bsk_seed).into(),
            modulus,
        );
        let bsk_params = LweBootstrapKeyConformanceParams {
            decomp_base_log: pbs_base,
            decomp_level_count: pbs_level,
            input_lwe_dimension: profile.small_dim(),
            output_glwe_size: profile.glwe_dim().to_glwe_size(),
            polynomial_size: profile.poly_size(),
            ciphertext_modulus: modulus,
        };
        check_keyswitch_key(
            &ksk,
            profile,
            (ks_base, ks_level),
            profile.small_dim(),
            "keyswitching key",
        )?;
        if !bsk.is_conformant(&bsk_params) {
            return Err(EngineError::NotConformant {
                what: "bootstrapping key",
            });
        }
        if let Some(((_, key), n)) = narrowing.as_ref().zip(profile.narrowing()) {
            check_keyswitch_key(
                key,
                profile,
                (
                    DecompositionBaseLog(n.base_log),
                    DecompositionLevelCount(n.level),
                ),
                LweDimension(profile.packing_input_dimension()),
                "narrowing keyswitching key",
            )?;
        }
        Ok(Self {
            profile,
            ksk_seed,
            bsk_seed,
            ksk,
            bsk,
            packing,
            narrowing,
        })
    }
}

fn compressed_size_for(profile: &Profile) -> usize {
    let seeds =
        2 + usize::from(profile.packing.is_some()) + usize::from(profile.narrowing().is_some());
    header_len(profile)
        + 16 * seeds
        + 8 * (profile.compressed_ksk_words()
            + profile.compressed_bsk_words()
            + profile.compressed_packing_key_words()
            + profile.compressed_narrowing_key_words())
}

/// tfhe-rs's conformance check of a seeded keyswitching key from the big key to an LWE
/// key of dimension `output`, with the profile's decomposition for it.
fn check_keyswitch_key(
    key: &SeededLweKeyswitchKeyOwned<u64>,
    profile: &Profile,
    (base_log, level): (DecompositionBaseLog, DecompositionLevelCount),
    output: LweDimension,
    what: &'static str,
) -> Result<()> {
    let params = LweKeyswitchKeyConformanceParams {
        decomp_base_log: base_log,
        decomp_level_count: level,
        output_lwe_size: output.to_lwe_size(),
        input_lwe_dimension: profile.big_dim(),
        ciphertext_modulus: CiphertextModulus::new_native(),
    };
    if key.is_conformant(&params) {
        Ok(())
    } else {
        Err(EngineError::NotConformant { what })
    }
}

/// A full LWE keyswitching key from its seeded form (parallel).
pub(crate) fn expand_keyswitch_key(
    seeded: &SeededLweKeyswitchKeyOwned<u64>,
) -> LweKeyswitchKeyOwned<u64> {
    let mut key = LweKeyswitchKey::new(
        0u64,
        seeded.decomposition_base_log(),
        seeded.decomposition_level_count(),
        seeded.input_key_lwe_dimension(),
        seeded.output_key_lwe_dimension(),
        CiphertextModulus::new_native(),
    );
    par_decompress_seeded_lwe_keyswitch_key::<_, _, _, DefaultRandomGenerator>(&mut key, seeded);
    key
}

impl EvaluationKey {
    /// Decompresses the seeded keys and converts the bootstrapping key to the Fourier
    /// domain (parallel). Peak memory: the expanded key plus one standard-domain BSK.
    pub fn expand(compressed: &CompressedEvaluationKey) -> EvaluationKey {
        let p = compressed.profile;
        let ksk = expand_keyswitch_key(&compressed.ksk);
        let (pbs_base, pbs_level) = p.pbs_decomposition();
        let mut standard_bsk = LweBootstrapKey::new(
            0u64,
            p.glwe_dim().to_glwe_size(),
            p.poly_size(),
            pbs_base,
            pbs_level,
            p.small_dim(),
            CiphertextModulus::new_native(),
        );
        par_decompress_seeded_lwe_bootstrap_key::<_, _, _, DefaultRandomGenerator>(
            &mut standard_bsk,
            &compressed.bsk,
        );
        let mut fourier_bsk = FourierLweBootstrapKey::new(
            p.small_dim(),
            p.glwe_dim().to_glwe_size(),
            p.poly_size(),
            pbs_base,
            pbs_level,
        );
        par_convert_standard_lwe_bootstrap_key_to_fourier(&standard_bsk, &mut fourier_bsk);
        #[cfg(not(feature = "cuda"))]
        drop(standard_bsk);
        let packing = compressed
            .expand_packing_key()
            .map(|key| FourierPackingKey::new(&key));
        EvaluationKey {
            profile: p,
            expansion_id: EXPANSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ksk,
            fourier_bsk,
            #[cfg(feature = "cuda")]
            standard_bsk,
            packing,
            narrowing: compressed.narrowing.as_ref().map(|(_, key)| key.clone()),
        }
    }

    /// The parameter profile the key was generated for.
    pub fn profile(&self) -> &'static Profile {
        self.profile
    }
}
