//! The validator's customer gateway (organic queries, DESIGN section 5).
//!
//! Customers authenticate (an issued API key, or Epistula with an admitted hotkey),
//! upload their evaluation key and encrypted inputs, and get the encrypted answer
//! streamed back; their secret keys never leave them. Their keys follow the same
//! session rules as the validator's own ([`SessionPolicy`]), and they may report failed
//! canary items (`POST /v1/reports`). The gateway checks everything a
//! customer sends (credentials, quotas, sizes, circuit, profile, key ownership,
//! ciphertext shapes) before handing it to the validator's [`Relay`], which sends it to
//! a well-standing miner exactly as it sends its own synthetic queries.
//!
//! The validator mounts it with
//! `brainlock_gateway::router(GatewayState::new(config, hotkey, workload, relay)?)` on
//! its own listener.

#![deny(missing_docs)]

mod auth;
mod canary;
mod config;
mod keys;
mod quota;
mod relay;
mod routes;
mod session;
mod state;

pub use config::{
    ConfigError, CustomerConfig, GatewayConfig, GatewayLimits, QuotaConfig, ReportConfig,
    generate_api_key, hash_api_key,
};
pub use relay::{FrameStream, Relay, RelayError, RelayRequest, Relayed, Route};
pub use routes::router;
pub use session::{SessionModel, SessionPolicy, SessionPolicyError, SessionShape};
pub use state::{GatewayError, GatewayState, Workload};
