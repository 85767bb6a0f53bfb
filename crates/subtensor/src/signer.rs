//! The hotkey that signs extrinsics (sr25519, as Bittensor hotkeys are).

use std::str::FromStr;

use brainlock_account::AccountId;
use subxt_signer::SecretUri;
use subxt_signer::sr25519::Keypair;

/// Why a hotkey secret could not be used (the source says why; it never holds the secret).
#[derive(Debug, thiserror::Error)]
#[error("invalid hotkey secret")]
pub struct SignerError(#[source] Box<dyn std::error::Error + Send + Sync>);

/// An sr25519 hotkey able to sign extrinsics.
#[derive(Clone)]
pub struct HotkeySigner {
    keypair: Keypair,
    account: AccountId,
}

impl HotkeySigner {
    /// From the 32-byte mini secret key (the wallet file's `secretSeed`).
    pub fn from_seed(seed: [u8; 32]) -> Result<Self, SignerError> {
        Keypair::from_secret_key(seed)
            .map(Self::from_keypair)
            .map_err(|e| SignerError(e.into()))
    }

    /// From a BIP39 secret phrase (the wallet file's `secretPhrase`), optionally followed
    /// by `//derivation` junctions or `///password` as in Substrate secret URIs.
    pub fn from_phrase(phrase: &str) -> Result<Self, SignerError> {
        let uri = SecretUri::from_str(phrase).map_err(|e| SignerError(e.into()))?;
        Keypair::from_uri(&uri)
            .map(Self::from_keypair)
            .map_err(|e| SignerError(e.into()))
    }

    fn from_keypair(keypair: Keypair) -> Self {
        let account = AccountId(keypair.public_key().0);
        Self { keypair, account }
    }

    /// The hotkey's sr25519 public key, 32 bytes.
    pub fn public_key(&self) -> [u8; 32] {
        self.keypair.public_key().0
    }

    /// The hotkey's account (its public key).
    pub fn account_id(&self) -> &AccountId {
        &self.account
    }

    /// The subxt keypair, for signing with subxt directly.
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }
}

impl std::fmt::Debug for HotkeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secret material.
        f.debug_struct("HotkeySigner")
            .field("account", &self.account)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_phrase_gives_alice() {
        // The Substrate development phrase with //Alice derives the well-known Alice key.
        let alice = HotkeySigner::from_phrase(
            "bottom drive obey lake curtain smoke basket hold race lonely fit walk//Alice",
        )
        .unwrap();
        assert_eq!(
            alice.account_id().to_string(),
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
        );
    }

    #[test]
    fn seed_and_bad_phrase() {
        let a = HotkeySigner::from_seed([7; 32]).unwrap();
        let b = HotkeySigner::from_seed([7; 32]).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        assert!(HotkeySigner::from_phrase("not a valid phrase at all").is_err());
        assert!(!format!("{a:?}").contains("keypair"));
    }
}
