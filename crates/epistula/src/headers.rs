//! Epistula v2 request headers and the message they sign:
//! `"{sha256_hex(body)}.{uuid}.{timestamp_ms}.{signed_for}"`.

use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::AccountId;
use crate::keypair::{Keypair, SignatureBytes};

/// `Epistula-Version`: the protocol version, always [`PROTOCOL_VERSION`].
pub const VERSION: HeaderName = HeaderName::from_static("epistula-version");
/// `Epistula-Timestamp`: when the request was signed, unix milliseconds in decimal.
pub const TIMESTAMP: HeaderName = HeaderName::from_static("epistula-timestamp");
/// `Epistula-Uuid`: a per-request UUID that receivers accept once (replay protection).
pub const UUID: HeaderName = HeaderName::from_static("epistula-uuid");
/// `Epistula-Signed-By`: the sender's hotkey, SS58 (prefix 42).
pub const SIGNED_BY: HeaderName = HeaderName::from_static("epistula-signed-by");
/// `Epistula-Signed-For`: the receiving neuron's hotkey, SS58; a receiver refuses any other.
pub const SIGNED_FOR: HeaderName = HeaderName::from_static("epistula-signed-for");
/// `Epistula-Request-Signature`: the 64-byte signature of [`signed_message`], `0x`-prefixed hex.
pub const REQUEST_SIGNATURE: HeaderName = HeaderName::from_static("epistula-request-signature");

/// The only protocol version spoken.
pub const PROTOCOL_VERSION: &str = "2";

/// Lowercase hex SHA-256 of a body.
pub fn body_hash_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The exact bytes an Epistula signature covers.
pub fn signed_message(
    body_sha256: &[u8; 32],
    uuid: &str,
    timestamp: &str,
    signed_for: &str,
) -> String {
    format!(
        "{}.{uuid}.{timestamp}.{signed_for}",
        hex::encode(body_sha256)
    )
}

/// `0x` followed by lowercase hex, as the reference tooling writes signatures.
pub fn signature_hex(signature: &SignatureBytes) -> String {
    format!("0x{}", hex::encode(signature))
}

/// The Epistula fields of one signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// Signing time, unix milliseconds (`Epistula-Timestamp`).
    pub timestamp_ms: u64,
    /// Single-use request id (`Epistula-Uuid`).
    pub uuid: Uuid,
    /// The sender's hotkey (`Epistula-Signed-By`, SS58 on the wire).
    pub signed_by: AccountId,
    /// The receiver's hotkey (`Epistula-Signed-For`, SS58 on the wire).
    pub signed_for: AccountId,
    /// sr25519 or ed25519 signature of [`signed_message`] by `signed_by`.
    pub signature: SignatureBytes,
}

impl SignedHeaders {
    /// Signs `body` for the receiver `signed_for` at `timestamp_ms` (unix milliseconds)
    /// under a fresh random uuid.
    pub fn sign(keypair: &Keypair, body: &[u8], signed_for: &AccountId, timestamp_ms: u64) -> Self {
        let uuid = Uuid::new_v4();
        let digest: [u8; 32] = Sha256::digest(body).into();
        let message = signed_message(
            &digest,
            &uuid.to_string(),
            &timestamp_ms.to_string(),
            &signed_for.to_ss58(),
        );
        Self {
            timestamp_ms,
            uuid,
            signed_by: keypair.account_id(),
            signed_for: *signed_for,
            signature: keypair.sign(message.as_bytes()),
        }
    }

    /// The six HTTP headers.
    pub fn to_header_map(&self) -> HeaderMap {
        let value = |text: String| HeaderValue::try_from(text).expect("ASCII header value");
        let mut map = HeaderMap::with_capacity(6);
        map.insert(VERSION, HeaderValue::from_static(PROTOCOL_VERSION));
        map.insert(TIMESTAMP, value(self.timestamp_ms.to_string()));
        map.insert(UUID, value(self.uuid.to_string()));
        map.insert(SIGNED_BY, value(self.signed_by.to_ss58()));
        map.insert(SIGNED_FOR, value(self.signed_for.to_ss58()));
        map.insert(REQUEST_SIGNATURE, value(signature_hex(&self.signature)));
        map
    }
}

/// Milliseconds since the unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keypair::{self, CryptoType};

    #[test]
    fn message_format_is_the_reference_one() {
        let empty_sha256: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(
            signed_message(&empty_sha256, "u-u-i-d", "1700000000000", "5Grw"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.u-u-i-d.1700000000000.5Grw"
        );
    }

    #[test]
    fn headers_carry_a_signature_over_that_message() {
        let sender = Keypair::from_seed(CryptoType::Sr25519, &[1; 32]);
        let receiver = AccountId([2; 32]);
        let signed = SignedHeaders::sign(&sender, b"body", &receiver, 42);
        let map = signed.to_header_map();
        assert_eq!(map[&VERSION], "2");
        assert_eq!(map[&TIMESTAMP], "42");
        assert_eq!(map[&SIGNED_FOR], receiver.to_ss58().as_str());
        let message = format!(
            "{}.{}.42.{}",
            body_hash_hex(b"body"),
            signed.uuid,
            receiver.to_ss58()
        );
        let sig_text = map[&REQUEST_SIGNATURE].to_str().unwrap();
        assert!(sig_text.starts_with("0x") && sig_text.len() == 130);
        assert_eq!(
            keypair::verify(&sender.account_id(), message.as_bytes(), &signed.signature),
            Some(CryptoType::Sr25519)
        );
    }
}
