//! Hotkey keypairs: sr25519 (schnorrkel, signing context `substrate`, Bittensor's default)
//! and ed25519, built from a 32-byte seed exactly as Substrate and `bittensor-wallet` do.

use std::fmt;

use ed25519_dalek::Signer as _;
use schnorrkel::{ExpansionMode, MiniSecretKey};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::AccountId;
use crate::mnemonic;

/// Substrate's signing context for sr25519.
const SR25519_CONTEXT: &[u8] = b"substrate";

/// A signature is 64 bytes in both schemes.
pub type SignatureBytes = [u8; 64];

/// Why a hotkey could not be made from a phrase or seed, or generated.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The BIP39 phrase is empty, has a wrong word count, an unknown word or a bad checksum.
    #[error("invalid mnemonic phrase")]
    BadPhrase(#[source] bip39::Error),
    /// The OS random source failed while generating a new phrase.
    #[error("operating system random source failed")]
    Randomness(#[source] getrandom::Error),
}

/// The signature scheme of a key, numbered as `bittensor-wallet`'s `cryptoType` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoType {
    /// ed25519 (`cryptoType` 0).
    Ed25519 = 0,
    /// sr25519 with signing context `substrate` (`cryptoType` 1), Bittensor's default.
    Sr25519 = 1,
}

impl CryptoType {
    /// The `cryptoType` number used in wallet files.
    pub fn wallet_code(self) -> u8 {
        self as u8
    }

    /// The scheme for a wallet file's `cryptoType` number; `None` for an unknown one.
    pub fn from_wallet_code(code: u64) -> Option<Self> {
        match code {
            0 => Some(Self::Ed25519),
            1 => Some(Self::Sr25519),
            _ => None,
        }
    }
}

enum Secret {
    Sr25519(schnorrkel::Keypair),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A hotkey that can sign. Secrets are wiped on drop.
pub struct Keypair {
    secret: Secret,
    seed: Zeroizing<[u8; 32]>,
    account: AccountId,
}

impl Keypair {
    /// The keypair of a 32-byte seed (`secretSeed` in a wallet file).
    pub fn from_seed(crypto: CryptoType, seed: &[u8; 32]) -> Self {
        let secret = match crypto {
            CryptoType::Sr25519 => {
                let mini = MiniSecretKey::from_bytes(seed)
                    .expect("any 32 bytes are a valid mini secret key");
                // Substrate expands seeds in "Ed25519" mode (SHA-512 of the seed).
                Secret::Sr25519(mini.expand_to_keypair(ExpansionMode::Ed25519))
            }
            CryptoType::Ed25519 => Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed)),
        };
        let account = AccountId(match &secret {
            Secret::Sr25519(pair) => pair.public.to_bytes(),
            Secret::Ed25519(key) => key.verifying_key().to_bytes(),
        });
        Self {
            secret,
            seed: Zeroizing::new(*seed),
            account,
        }
    }

    /// The 32-byte seed the key was made from (a wallet file's `secretSeed`), to hand
    /// the same hotkey to another signer: the chain client signs extrinsics with it.
    /// Never log it or send it anywhere.
    pub fn secret_seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The keypair of a BIP39 phrase (`secretPhrase`), derived as Substrate does.
    pub fn from_phrase(crypto: CryptoType, phrase: &str) -> Result<Self, KeyError> {
        let seed = mnemonic::seed_from_phrase(phrase)?;
        Ok(Self::from_seed(crypto, &seed))
    }

    /// The hotkey's public key as an account (shown as SS58, prefix 42).
    pub fn account_id(&self) -> AccountId {
        self.account
    }

    /// Whether this hotkey signs with sr25519 or ed25519.
    pub fn crypto_type(&self) -> CryptoType {
        match self.secret {
            Secret::Sr25519(_) => CryptoType::Sr25519,
            Secret::Ed25519(_) => CryptoType::Ed25519,
        }
    }

    /// Signs a message. sr25519 signatures are randomized; ed25519 ones are deterministic.
    pub fn sign(&self, message: &[u8]) -> SignatureBytes {
        match &self.secret {
            Secret::Sr25519(pair) => pair.sign_simple(SR25519_CONTEXT, message).to_bytes(),
            Secret::Ed25519(key) => key.sign(message).to_bytes(),
        }
    }

    /// The `privateKey` field of a wallet file: the expanded sr25519 secret (key and
    /// nonce), or the ed25519 seed.
    pub(crate) fn wallet_private_key(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match &self.secret {
            Secret::Sr25519(pair) => pair.secret.to_bytes().to_vec(),
            Secret::Ed25519(key) => key.to_bytes().to_vec(),
        })
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("crypto", &self.crypto_type())
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// Checks a signature by `signer` over `message`, returning the scheme that verified it.
///
/// An address does not say which scheme its key uses, so sr25519 (Bittensor's default)
/// is tried first, then ed25519. Accepting either is as strong as the weaker of two
/// sound schemes over the same key bytes.
pub fn verify(
    signer: &AccountId,
    message: &[u8],
    signature: &SignatureBytes,
) -> Option<CryptoType> {
    if verify_sr25519(signer, message, signature) {
        return Some(CryptoType::Sr25519);
    }
    if verify_ed25519(signer, message, signature) {
        return Some(CryptoType::Ed25519);
    }
    None
}

fn verify_sr25519(signer: &AccountId, message: &[u8], signature: &SignatureBytes) -> bool {
    let (Ok(public), Ok(signature)) = (
        schnorrkel::PublicKey::from_bytes(signer.as_bytes()),
        schnorrkel::Signature::from_bytes(signature),
    ) else {
        return false;
    };
    public
        .verify_simple(SR25519_CONTEXT, message, &signature)
        .is_ok()
}

fn verify_ed25519(signer: &AccountId, message: &[u8], signature: &SignatureBytes) -> bool {
    let Ok(public) = ed25519_dalek::VerifyingKey::from_bytes(signer.as_bytes()) else {
        return false;
    };
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    public.verify_strict(message, &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHRASE: &str =
        "legal winner thank year wave sausage worth useful legal winner thank yellow";

    #[test]
    fn phrase_gives_the_addresses_python_gives() {
        // Addresses printed by Python bittensor-wallet 4.1.1 `Keypair.create_from_mnemonic`.
        let sr = Keypair::from_phrase(CryptoType::Sr25519, PHRASE).unwrap();
        assert_eq!(
            sr.account_id().to_ss58(),
            "5EHgWw2Af1pnoc7f1A8bfmM97W3DAYW8xr82RfhLL9oAabAe"
        );
        let ed = Keypair::from_phrase(CryptoType::Ed25519, PHRASE).unwrap();
        assert_eq!(
            ed.account_id().to_ss58(),
            "5ErKjJLUyc8TTU2vNKrj5UciogZho2MDawb6nN2KG44aU1aB"
        );
    }

    #[test]
    fn signatures_verify_only_for_their_message_and_signer() {
        for crypto in [CryptoType::Sr25519, CryptoType::Ed25519] {
            let pair = Keypair::from_seed(crypto, &[7; 32]);
            let other = Keypair::from_seed(crypto, &[8; 32]);
            let signature = pair.sign(b"hello");
            assert_eq!(
                verify(&pair.account_id(), b"hello", &signature),
                Some(crypto)
            );
            assert_eq!(verify(&pair.account_id(), b"hellO", &signature), None);
            assert_eq!(verify(&other.account_id(), b"hello", &signature), None);
            let mut flipped = signature;
            flipped[5] ^= 1;
            assert_eq!(verify(&pair.account_id(), b"hello", &flipped), None);
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let pair = Keypair::from_seed(CryptoType::Sr25519, &[7; 32]);
        let shown = format!("{pair:?}");
        assert!(shown.contains("Sr25519") && !shown.contains("secret"));
    }
}
