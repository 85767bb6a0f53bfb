//! Gateway configuration: who may use it (customers, each with an API key and/or an
//! Epistula hotkey), how much (quotas) and how big (limits). Every type deserializes
//! from TOML/JSON so the validator can embed it as a `[gateway]` table.

use std::time::Duration;

use brainlock_api::server::BodyLimit;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::session::SessionPolicyError;

/// Prefix of every API key the gateway issues, so a leaked key is recognizable.
pub(crate) const API_KEY_PREFIX: &str = "blk_";

/// Why a gateway configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A customer's name is empty or blank.
    #[error("customer #{index} has an empty name")]
    EmptyName {
        /// Its position in `customers`, from 0.
        index: usize,
    },
    /// Two customers have the same name; that name.
    #[error("customer {0:?} is listed twice")]
    DuplicateName(String),
    /// A customer has neither an API key hash nor a hotkey; its name.
    #[error("customer {0:?} has neither an API key hash nor a hotkey: nobody could use it")]
    NoCredential(String),
    /// A customer's `api_key_sha256` is not 64 hex digits.
    #[error("customer {name:?}: api_key_sha256 must be 64 hex digits")]
    BadKeyHash {
        /// The customer's name.
        name: String,
    },
    /// Two customers have the same API key hash or hotkey; their names.
    #[error("customers {0:?} and {1:?} share a credential")]
    SharedCredential(String, String),
    /// A limit is zero; its TOML path (e.g. `limits.max_batch`).
    #[error("{0} must be positive")]
    NotPositive(&'static str),
    /// The session policy is invalid.
    #[error(transparent)]
    Sessions(#[from] SessionPolicyError),
}

/// Per-customer allowances. Rates are token buckets: a customer may spend the full
/// hourly amount at once, then it refills evenly over the hour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// Requests (key uploads and infer calls) per hour.
    pub requests_per_hour: u32,
    /// Encrypted inputs (batch items) per hour.
    pub items_per_hour: u32,
    /// Infer requests being relayed at once.
    pub max_inflight: u32,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            requests_per_hour: 120,
            items_per_hour: 60,
            max_inflight: 1,
        }
    }
}

/// Sizes the gateway accepts. Bodies over these are refused before they are read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayLimits {
    /// Largest evaluation-key upload, in bytes.
    pub max_key_bytes: u64,
    /// Largest infer request body, in bytes.
    pub max_body_bytes: u64,
    /// Most inputs in one infer request. Set it to the batch size of the validator's
    /// synthetic queries so relayed requests look like them.
    pub max_batch: u32,
    /// Require exactly `max_batch` inputs per request: a batch of another size would
    /// tell miners the request is not a synthetic one. The validator cannot pad a
    /// customer's batch itself (it cannot encrypt under the customer's key).
    pub exact_batch: bool,
    /// Evaluation keys a customer may hold at the gateway at once (oldest evicted).
    pub max_keys_per_customer: u32,
    /// Evaluation keys held for all customers together, in bytes; over it uploads are
    /// refused as busy.
    pub max_key_store_bytes: u64,
    /// Seconds a request body may take to arrive: a customer that trickles its bytes
    /// must not hold a connection and its memory.
    pub body_read_timeout_seconds: u64,
}

impl Default for GatewayLimits {
    fn default() -> Self {
        Self {
            max_key_bytes: 512 << 20,
            max_body_bytes: 256 << 20,
            max_batch: 1,
            exact_batch: true,
            max_keys_per_customer: 2,
            max_key_store_bytes: 2 << 30,
            body_read_timeout_seconds: 60,
        }
    }
}

impl GatewayLimits {
    /// A body of at most `max_bytes`, read within the body-read timeout.
    pub fn body_limit(&self, max_bytes: u64) -> BodyLimit {
        BodyLimit {
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
            timeout: Duration::from_secs(self.body_read_timeout_seconds),
        }
    }
}

/// One customer the operator admitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerConfig {
    /// Name used in logs and quotas.
    pub name: String,
    /// SHA-256 (hex) of the API key issued to the customer (`brainlock gateway
    /// issue-key` prints both); the key itself is never stored.
    #[serde(default)]
    pub api_key_sha256: Option<String>,
    /// SS58 hotkey the customer signs Epistula requests with.
    #[serde(default)]
    pub hotkey: Option<String>,
    /// Overrides the gateway's default quota for this customer.
    #[serde(default)]
    pub quota: Option<QuotaConfig>,
}

/// The whole gateway configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Sizes every request must stay within (`[gateway.limits]`).
    pub limits: GatewayLimits,
    /// Quota of customers that do not set their own.
    pub quota: QuotaConfig,
    /// The admitted customers; nobody else gets in.
    pub customers: Vec<CustomerConfig>,
    /// What a customer's canary report does (`[gateway.reports]`).
    pub reports: ReportConfig,
}

/// What happens when a customer reports a failed canary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Seconds the reporting customer's requests avoid the reported miner.
    pub avoid_seconds: u64,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            avoid_seconds: 24 * 3600,
        }
    }
}

impl ReportConfig {
    /// How long a reported miner is avoided.
    pub fn avoid(&self) -> Duration {
        Duration::from_secs(self.avoid_seconds)
    }
}

impl GatewayConfig {
    /// Checks what serde cannot: unique names and credentials, well-formed hashes,
    /// positive limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let limits = &self.limits;
        for (value, name) in [
            (limits.max_key_bytes, "limits.max_key_bytes"),
            (limits.max_body_bytes, "limits.max_body_bytes"),
            (u64::from(limits.max_batch), "limits.max_batch"),
            (
                u64::from(limits.max_keys_per_customer),
                "limits.max_keys_per_customer",
            ),
            (limits.max_key_store_bytes, "limits.max_key_store_bytes"),
            (
                limits.body_read_timeout_seconds,
                "limits.body_read_timeout_seconds",
            ),
            (self.reports.avoid_seconds, "reports.avoid_seconds"),
        ] {
            if value == 0 {
                return Err(ConfigError::NotPositive(name));
            }
        }
        let mut seen: Vec<(&str, &CustomerConfig)> = Vec::new();
        for (index, customer) in self.customers.iter().enumerate() {
            if customer.name.trim().is_empty() {
                return Err(ConfigError::EmptyName { index });
            }
            if customer.api_key_sha256.is_none() && customer.hotkey.is_none() {
                return Err(ConfigError::NoCredential(customer.name.clone()));
            }
            if let Some(hash) = &customer.api_key_sha256
                && (hash.len() != 64 || hex::decode(hash).is_err())
            {
                return Err(ConfigError::BadKeyHash {
                    name: customer.name.clone(),
                });
            }
            for (name, other) in &seen {
                if *name == customer.name {
                    return Err(ConfigError::DuplicateName(customer.name.clone()));
                }
                let same_key = customer.api_key_sha256.is_some()
                    && customer
                        .api_key_sha256
                        .as_deref()
                        .map(str::to_ascii_lowercase)
                        == other.api_key_sha256.as_deref().map(str::to_ascii_lowercase);
                let same_hotkey = customer.hotkey.is_some() && customer.hotkey == other.hotkey;
                if same_key || same_hotkey {
                    return Err(ConfigError::SharedCredential(
                        name.to_string(),
                        customer.name.clone(),
                    ));
                }
            }
            seen.push((&customer.name, customer));
        }
        Ok(())
    }
}

/// Hex SHA-256 of an API key: what the configuration stores.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A fresh API key (`blk_` + 64 hex digits of OS randomness) and its hash.
pub fn generate_api_key() -> (String, String) {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("{API_KEY_PREFIX}{}", hex::encode(secret));
    let hash = hash_api_key(&key);
    (key, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(name: &str, hash: Option<&str>, hotkey: Option<&str>) -> CustomerConfig {
        CustomerConfig {
            name: name.into(),
            api_key_sha256: hash.map(Into::into),
            hotkey: hotkey.map(Into::into),
            quota: None,
        }
    }

    #[test]
    fn generated_keys_hash_to_their_stored_form() {
        let (key, hash) = generate_api_key();
        assert!(key.starts_with(API_KEY_PREFIX) && key.len() == 4 + 64);
        assert_eq!(hash, hash_api_key(&key));
        assert_ne!(generate_api_key().0, key);
    }

    #[test]
    fn validation_catches_unusable_configs() {
        let hash = hash_api_key("k");
        let ok = GatewayConfig {
            customers: vec![
                customer("a", Some(&hash), None),
                customer("b", None, Some("5Abc")),
            ],
            ..Default::default()
        };
        ok.validate().unwrap();

        let mut bad = ok.clone();
        bad.customers.push(customer("a", None, Some("5Other")));
        assert_eq!(bad.validate(), Err(ConfigError::DuplicateName("a".into())));

        let mut bad = ok.clone();
        bad.customers
            .push(customer("c", Some(&hash.to_uppercase()), None));
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::SharedCredential(..))
        ));

        let mut bad = ok.clone();
        bad.customers.push(customer("c", None, None));
        assert_eq!(bad.validate(), Err(ConfigError::NoCredential("c".into())));

        let mut bad = ok.clone();
        bad.customers.push(customer("c", Some("abcd"), None));
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::BadKeyHash { .. })
        ));

        let mut bad = ok;
        bad.limits.max_batch = 0;
        assert_eq!(
            bad.validate(),
            Err(ConfigError::NotPositive("limits.max_batch"))
        );
    }

    #[test]
    fn parses_from_toml_shaped_json_with_defaults() {
        let config: GatewayConfig = serde_json::from_str(
            r#"{"limits": {"max_batch": 2},
                "customers": [{"name": "alice", "hotkey": "5F", "quota": {"items_per_hour": 5}}]}"#,
        )
        .unwrap();
        assert_eq!(config.limits.max_batch, 2);
        assert_eq!(config.limits.max_keys_per_customer, 2);
        let quota = config.customers[0].quota.unwrap();
        assert_eq!((quota.items_per_hour, quota.requests_per_hour), (5, 120));
        assert!(serde_json::from_str::<GatewayConfig>(r#"{"limitz": {}}"#).is_err());
    }
}
