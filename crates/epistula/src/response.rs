//! Signed responses, so a validator can prove what a miner answered.
//!
//! A response signature has the same shape as a request's: the responder signs
//! `"{sha256_hex(response body)}.{request uuid}.{timestamp_ms}.{requester ss58}"`. The
//! request uuid binds the answer to the question, and `signed_for` to who asked.
//!
//! - Buffered responses carry it in headers: `Epistula-Version`, `Epistula-Timestamp`,
//!   `Epistula-Uuid` (the request's), `Epistula-Signed-By` (responder),
//!   `Epistula-Signed-For` (requester) and `Epistula-Response-Signature`.
//! - Streamed responses cannot put a body hash in headers sent before the body. The
//!   responder instead keeps a running SHA-256 over every body byte it sends, in order,
//!   and ends the stream with a final frame holding a [`ResponseSignature`] of that
//!   digest (its JSON form; the frame layout belongs to the wire format). The receiver
//!   hashes the same bytes (everything before the final frame) and calls
//!   [`ResponseSignature::verify`].

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::AccountId;
use crate::headers::{self, PROTOCOL_VERSION, signature_hex, signed_message};
use crate::keypair::{self, Keypair, SignatureBytes};
use crate::verify::{EpistulaError, header, parse_signature};

pub const RESPONSE_SIGNATURE: HeaderName = HeaderName::from_static("epistula-response-signature");

#[derive(Debug, Error)]
pub enum ResponseError {
    #[error("response signature header: {0}")]
    Header(#[from] EpistulaError),
    #[error("response is signed by {found}, expected {expected}")]
    WrongSigner {
        expected: AccountId,
        found: AccountId,
    },
    #[error("response answers request {found}, expected {expected}")]
    WrongRequest { expected: Uuid, found: Uuid },
    #[error("response is signed for {found}, expected {expected}")]
    WrongReceiver {
        expected: AccountId,
        found: AccountId,
    },
    #[error("response signature does not match the body")]
    BadSignature,
}

/// A responder's signature over a response body digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseSignature {
    pub timestamp_ms: u64,
    pub request_uuid: Uuid,
    pub signed_by: AccountId,
    pub signed_for: AccountId,
    #[serde(with = "signature_serde")]
    pub signature: SignatureBytes,
}

impl ResponseSignature {
    /// Signs the SHA-256 of a response body answering `request_uuid` from `requester`.
    pub fn sign(
        keypair: &Keypair,
        body_sha256: &[u8; 32],
        request_uuid: Uuid,
        requester: &AccountId,
        timestamp_ms: u64,
    ) -> Self {
        let message = signed_message(
            body_sha256,
            &request_uuid.to_string(),
            &timestamp_ms.to_string(),
            &requester.to_ss58(),
        );
        Self {
            timestamp_ms,
            request_uuid,
            signed_by: keypair.account_id(),
            signed_for: *requester,
            signature: keypair.sign(message.as_bytes()),
        }
    }

    /// Checks that `responder` signed this digest in answer to `request_uuid` from `me`.
    pub fn verify(
        &self,
        body_sha256: &[u8; 32],
        responder: &AccountId,
        request_uuid: Uuid,
        me: &AccountId,
    ) -> Result<(), ResponseError> {
        if self.signed_by != *responder {
            return Err(ResponseError::WrongSigner {
                expected: *responder,
                found: self.signed_by,
            });
        }
        if self.request_uuid != request_uuid {
            return Err(ResponseError::WrongRequest {
                expected: request_uuid,
                found: self.request_uuid,
            });
        }
        if self.signed_for != *me {
            return Err(ResponseError::WrongReceiver {
                expected: *me,
                found: self.signed_for,
            });
        }
        let message = signed_message(
            body_sha256,
            &self.request_uuid.to_string(),
            &self.timestamp_ms.to_string(),
            &self.signed_for.to_ss58(),
        );
        keypair::verify(&self.signed_by, message.as_bytes(), &self.signature)
            .map(|_| ())
            .ok_or(ResponseError::BadSignature)
    }

    pub fn to_header_map(&self) -> HeaderMap {
        let value = |text: String| HeaderValue::try_from(text).expect("ASCII header value");
        let mut map = HeaderMap::with_capacity(6);
        map.insert(headers::VERSION, HeaderValue::from_static(PROTOCOL_VERSION));
        map.insert(headers::TIMESTAMP, value(self.timestamp_ms.to_string()));
        map.insert(headers::UUID, value(self.request_uuid.to_string()));
        map.insert(headers::SIGNED_BY, value(self.signed_by.to_ss58()));
        map.insert(headers::SIGNED_FOR, value(self.signed_for.to_ss58()));
        map.insert(RESPONSE_SIGNATURE, value(signature_hex(&self.signature)));
        map
    }

    /// Reads a signature from response headers (it is checked by [`Self::verify`]).
    pub fn from_headers(map: &HeaderMap) -> Result<Self, ResponseError> {
        let timestamp_ms = header(map, &headers::TIMESTAMP, "Epistula-Timestamp")?
            .parse()
            .map_err(|e| malformed("Epistula-Timestamp", format!("{e}")))?;
        let request_uuid = Uuid::parse_str(header(map, &headers::UUID, "Epistula-Uuid")?)
            .map_err(|e| malformed("Epistula-Uuid", e.to_string()))?;
        let account = |key: &HeaderName, name| -> Result<AccountId, EpistulaError> {
            AccountId::from_ss58(header(map, key, name)?)
                .map_err(|e| malformed(name, e.to_string()))
        };
        let signed_by = account(&headers::SIGNED_BY, "Epistula-Signed-By")?;
        let signed_for = account(&headers::SIGNED_FOR, "Epistula-Signed-For")?;
        let name = "Epistula-Response-Signature";
        let signature = parse_signature(name, header(map, &RESPONSE_SIGNATURE, name)?)?;
        Ok(Self {
            timestamp_ms,
            request_uuid,
            signed_by,
            signed_for,
            signature,
        })
    }
}

fn malformed(name: &'static str, reason: String) -> EpistulaError {
    EpistulaError::MalformedHeader { name, reason }
}

/// Signatures travel as `0x`-prefixed hex in JSON too.
mod signature_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::headers::signature_hex;
    use crate::keypair::SignatureBytes;

    pub fn serialize<S: Serializer>(
        signature: &SignatureBytes,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&signature_hex(signature))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<SignatureBytes, D::Error> {
        let text = String::deserialize(deserializer)?;
        crate::verify::parse_signature("signature", &text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::keypair::CryptoType;

    #[test]
    fn streamed_digest_signature_roundtrips_through_json_and_binds_everything() {
        let miner = Keypair::from_seed(CryptoType::Sr25519, &[1; 32]);
        let validator = AccountId([2; 32]);
        let request = Uuid::new_v4();
        let mut running = Sha256::new();
        for frame in [&b"frame one"[..], b"frame two"] {
            running.update(frame);
        }
        let digest: [u8; 32] = running.finalize().into();
        let signed =
            ResponseSignature::sign(&miner, &digest, request, &validator, 1_700_000_000_000);
        let json = serde_json::to_string(&signed).unwrap();
        let back: ResponseSignature = serde_json::from_str(&json).unwrap();
        assert_eq!(back, signed);
        let miner_id = miner.account_id();
        back.verify(&digest, &miner_id, request, &validator)
            .unwrap();

        let other: [u8; 32] = Sha256::digest(b"frame one").into();
        assert!(matches!(
            back.verify(&other, &miner_id, request, &validator),
            Err(ResponseError::BadSignature)
        ));
        assert!(matches!(
            back.verify(&digest, &validator, request, &validator),
            Err(ResponseError::WrongSigner { .. })
        ));
        assert!(matches!(
            back.verify(&digest, &miner_id, Uuid::new_v4(), &validator),
            Err(ResponseError::WrongRequest { .. })
        ));
        assert!(matches!(
            back.verify(&digest, &miner_id, request, &miner_id),
            Err(ResponseError::WrongReceiver { .. })
        ));
        let mut forged = back.clone();
        forged.timestamp_ms += 1;
        assert!(matches!(
            forged.verify(&digest, &miner_id, request, &validator),
            Err(ResponseError::BadSignature)
        ));
    }

    #[test]
    fn header_form_roundtrips() {
        let miner = Keypair::from_seed(CryptoType::Ed25519, &[3; 32]);
        let signed =
            ResponseSignature::sign(&miner, &[9; 32], Uuid::new_v4(), &AccountId([4; 32]), 5);
        assert_eq!(
            ResponseSignature::from_headers(&signed.to_header_map()).unwrap(),
            signed
        );
        let mut missing = signed.to_header_map();
        missing.remove(RESPONSE_SIGNATURE);
        assert!(matches!(
            ResponseSignature::from_headers(&missing),
            Err(ResponseError::Header(EpistulaError::MissingHeader(
                "Epistula-Response-Signature"
            )))
        ));
    }
}
