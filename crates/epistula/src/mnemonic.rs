//! BIP39 phrases the Substrate way: the PBKDF2 input is the phrase's *entropy*, not its
//! words (this is `substrate-bip39`, and differs from Bitcoin's BIP39 seed). The first 32
//! bytes of the PBKDF2 output are the keypair's seed ("mini secret key").

use bip39::{Language, Mnemonic};
use pbkdf2::pbkdf2_hmac;
use sha2::Sha512;
use zeroize::Zeroizing;

use crate::keypair::KeyError;

const PBKDF2_ROUNDS: u32 = 2048;
/// 16 bytes of entropy make the 12-word phrases that `btcli` creates by default.
const NEW_PHRASE_ENTROPY_BYTES: usize = 16;

/// Derives the 32-byte seed of a phrase (no password, as Bittensor wallets use).
pub(crate) fn seed_from_phrase(phrase: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mnemonic = Mnemonic::parse_in(Language::English, phrase).map_err(KeyError::BadPhrase)?;
    let entropy = Zeroizing::new(mnemonic.to_entropy());
    let mut output = Zeroizing::new([0u8; 64]);
    // The salt is "mnemonic" followed by the (empty) password.
    pbkdf2_hmac::<Sha512>(&entropy, b"mnemonic", PBKDF2_ROUNDS, output.as_mut());
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&output[..32]);
    Ok(seed)
}

/// A fresh 12-word English phrase from the operating system's random source.
pub(crate) fn generate_phrase() -> Result<Zeroizing<String>, KeyError> {
    let mut entropy = Zeroizing::new([0u8; NEW_PHRASE_ENTROPY_BYTES]);
    getrandom::fill(entropy.as_mut()).map_err(KeyError::Randomness)?;
    let mnemonic = Mnemonic::from_entropy_in(Language::English, entropy.as_ref())
        .map_err(KeyError::BadPhrase)?;
    Ok(Zeroizing::new(mnemonic.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substrate_bip39_vector() {
        // From substrate-bip39's test vectors (password empty), also what Python
        // bittensor-wallet writes as `secretSeed` for this phrase.
        let seed = seed_from_phrase(
            "legal winner thank year wave sausage worth useful legal winner thank yellow",
        )
        .unwrap();
        assert_eq!(
            hex::encode(seed.as_ref()),
            "6fa2796b0071cac425d8a7851038318c2c37dcebfe4bae73197ce93e75909bd2"
        );
    }

    #[test]
    fn rejects_bad_phrases() {
        assert!(matches!(
            seed_from_phrase(
                "legal winner thank year wave sausage worth useful legal winner thank thank"
            ),
            Err(KeyError::BadPhrase(_))
        ));
        assert!(matches!(
            seed_from_phrase("notaword"),
            Err(KeyError::BadPhrase(_))
        ));
        assert!(matches!(seed_from_phrase(""), Err(KeyError::BadPhrase(_))));
    }

    #[test]
    fn generated_phrases_parse_and_differ() {
        let a = generate_phrase().unwrap();
        let b = generate_phrase().unwrap();
        assert_eq!(a.split_whitespace().count(), 12);
        assert_ne!(*a, *b);
        seed_from_phrase(&a).unwrap();
    }
}
