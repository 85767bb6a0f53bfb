//! Who is calling: a customer presenting an issued API key
//! (`Authorization: Bearer blk_...`) or signing with an allow-listed hotkey (Epistula
//! v2, addressed to the validator's hotkey). Everything here runs on headers alone,
//! before any body byte is read; an Epistula signature is checked once the body is in.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use brainlock_api::ErrorCode;
use brainlock_api::server::{ApiError, verify_headers};
use brainlock_epistula::{AccountId, AllowList, VerifiedHeaders, Verifier};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{CustomerConfig, GatewayConfig, QuotaConfig};

/// Why the customer list could not be turned into an authenticator.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// A customer's `hotkey` is not an SS58 address.
    #[error("customer {name:?}: hotkey {hotkey:?} is not an SS58 address: {reason}")]
    BadHotkey {
        /// The customer's name.
        name: String,
        /// The refused hotkey, as configured.
        hotkey: String,
        /// Why it does not decode as SS58.
        reason: String,
    },
    /// A customer's `api_key_sha256` is not 64 hex digits.
    #[error("customer {name:?}: api_key_sha256 is not 32 bytes of hex")]
    BadKeyHash {
        /// The customer's name.
        name: String,
    },
}

/// An authenticated customer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Customer {
    /// The customer's configured name, used in logs and to key its quota.
    pub name: String,
    /// The allowances this customer is held to (its own or the gateway default).
    pub quota: QuotaConfig,
}

/// The customer behind a request's headers, and what is left to check on its body.
pub(crate) struct Identified {
    /// Who sent the request.
    pub customer: Customer,
    /// `Some` for Epistula requests: the signature still has to cover the body.
    pub pending_signature: Option<VerifiedHeaders>,
}

impl Identified {
    /// Completes authentication once the body is read.
    pub(crate) fn verify_body(self, body: &[u8]) -> Result<Customer, ApiError> {
        if let Some(pending) = self.pending_signature {
            pending.verify_body(body)?;
        }
        Ok(self.customer)
    }
}

/// The customer table, indexed by credential.
pub(crate) struct Authenticator {
    customers: Vec<Customer>,
    key_hashes: Vec<([u8; 32], usize)>,
    by_hotkey: HashMap<AccountId, usize>,
    verifier: Verifier,
}

fn customer_of(config: &CustomerConfig, default_quota: QuotaConfig) -> Customer {
    Customer {
        name: config.name.clone(),
        quota: config.quota.unwrap_or(default_quota),
    }
}

impl Authenticator {
    /// `me` is the validator's hotkey: Epistula requests must be signed for it.
    pub(crate) fn new(config: &GatewayConfig, me: AccountId) -> Result<Self, AuthSetupError> {
        let mut customers = Vec::new();
        let mut key_hashes = Vec::new();
        let mut by_hotkey = HashMap::new();
        for (index, entry) in config.customers.iter().enumerate() {
            customers.push(customer_of(entry, config.quota));
            if let Some(hash) = &entry.api_key_sha256 {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(hash, &mut bytes).map_err(|_| AuthSetupError::BadKeyHash {
                    name: entry.name.clone(),
                })?;
                key_hashes.push((bytes, index));
            }
            if let Some(hotkey) = &entry.hotkey {
                let account =
                    AccountId::from_ss58(hotkey).map_err(|e| AuthSetupError::BadHotkey {
                        name: entry.name.clone(),
                        hotkey: hotkey.clone(),
                        reason: e.to_string(),
                    })?;
                by_hotkey.insert(account, index);
            }
        }
        let allowed = AllowList::new(by_hotkey.keys().copied());
        let verifier = Verifier::new(me, Arc::new(allowed));
        Ok(Self {
            customers,
            key_hashes,
            by_hotkey,
            verifier,
        })
    }

    /// Identifies the caller from its headers.
    pub(crate) fn identify(&self, headers: &HeaderMap) -> Result<Identified, ApiError> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let key = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::Unauthenticated,
                        "Authorization must be `Bearer <api key>`",
                    )
                })?;
            let customer = self.by_api_key(key).ok_or_else(|| {
                ApiError::new(ErrorCode::Unauthenticated, "unknown or revoked API key")
            })?;
            return Ok(Identified {
                customer,
                pending_signature: None,
            });
        }
        if headers.contains_key(brainlock_epistula::headers::SIGNED_BY) {
            let verified = verify_headers(&self.verifier, headers)?;
            // The verifier's policy admits exactly the hotkeys of this table.
            let index = *self
                .by_hotkey
                .get(&verified.sender())
                .ok_or_else(|| ApiError::new(ErrorCode::Forbidden, "hotkey is not admitted"))?;
            return Ok(Identified {
                customer: self.customers[index].clone(),
                pending_signature: Some(verified),
            });
        }
        Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "send `Authorization: Bearer <api key>` or Epistula v2 headers signed by an admitted hotkey",
        ))
    }

    /// Compares the presented key's hash with every stored hash in constant time, so
    /// response timing reveals nothing about stored keys.
    fn by_api_key(&self, key: &str) -> Option<Customer> {
        let presented: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for (hash, index) in &self.key_hashes {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(*index);
            }
        }
        found.map(|index| self.customers[index].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::hash_api_key;
    use axum::http::HeaderValue;
    use brainlock_epistula::headers::now_ms;
    use brainlock_epistula::{CryptoType, Keypair, SignedHeaders};

    fn keypair(byte: u8) -> Keypair {
        Keypair::from_seed(CryptoType::Sr25519, &[byte; 32])
    }

    fn authenticator(customer_key: &Keypair, me: &Keypair) -> Authenticator {
        let config = GatewayConfig {
            customers: vec![
                CustomerConfig {
                    name: "keyed".into(),
                    api_key_sha256: Some(hash_api_key("blk_secret")),
                    hotkey: None,
                    quota: None,
                },
                CustomerConfig {
                    name: "signer".into(),
                    api_key_sha256: None,
                    hotkey: Some(customer_key.account_id().to_ss58()),
                    quota: Some(QuotaConfig {
                        requests_per_hour: 7,
                        ..Default::default()
                    }),
                },
            ],
            ..Default::default()
        };
        Authenticator::new(&config, me.account_id()).unwrap()
    }

    #[test]
    fn api_keys_identify_their_customer() {
        let auth = authenticator(&keypair(1), &keypair(9));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer blk_secret"),
        );
        let who = auth.identify(&headers).unwrap();
        assert_eq!(who.verify_body(b"anything").unwrap().name, "keyed");

        for bad in ["Bearer blk_other", "Basic blk_secret", "blk_secret"] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            let err = auth.identify(&headers).err().unwrap();
            assert_eq!(err.status().as_u16(), 401, "{bad}");
        }
        let err = auth.identify(&HeaderMap::new()).err().unwrap();
        assert_eq!(err.status().as_u16(), 401);
    }

    #[test]
    fn epistula_signers_must_be_admitted_and_sign_the_body() {
        let (customer, me) = (keypair(1), keypair(9));
        let auth = authenticator(&customer, &me);
        let body = b"request body";
        let signed = SignedHeaders::sign(&customer, body, &me.account_id(), now_ms());
        let who = auth.identify(&signed.to_header_map()).unwrap();
        let found = who.verify_body(body).unwrap();
        assert_eq!(
            (found.name.as_str(), found.quota.requests_per_hour),
            ("signer", 7)
        );

        // Replay of the same headers.
        let err = auth.identify(&signed.to_header_map()).err().unwrap();
        assert_eq!(err.status().as_u16(), 401);
        // A body other than the signed one.
        let signed = SignedHeaders::sign(&customer, body, &me.account_id(), now_ms());
        let who = auth.identify(&signed.to_header_map()).unwrap();
        assert_eq!(
            who.verify_body(b"other body")
                .unwrap_err()
                .status()
                .as_u16(),
            401
        );
        // A hotkey nobody admitted.
        let stranger = keypair(2);
        let signed = SignedHeaders::sign(&stranger, body, &me.account_id(), now_ms());
        let err = auth.identify(&signed.to_header_map()).err().unwrap();
        assert_eq!(err.status().as_u16(), 403);
    }
}
