//! Everything the gateway's handlers share.

use std::sync::Arc;

use brainlock_api::{CircuitId, IdError, ProfileId};
use brainlock_circuit::Circuit;
use brainlock_epistula::AccountId;
use brainlock_fhe::Profile;

use crate::auth::{AuthSetupError, Authenticator};
use crate::canary::Avoidance;
use crate::config::{ConfigError, GatewayConfig};
use crate::keys::KeyStore;
use crate::quota::QuotaBook;
use crate::relay::Relay;
use crate::session::SessionModel;

/// Why a gateway could not be set up from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A customer's credentials could not be parsed.
    #[error(transparent)]
    Auth(#[from] AuthSetupError),
    /// The workload's circuit or profile name is not a valid wire id.
    #[error("circuit or profile name is not a valid wire id: {0}")]
    BadId(#[from] IdError),
}

/// The one circuit and profile the gateway accepts: those of the validator's own
/// synthetic queries, so relayed requests have the same shapes.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The circuit customers may query.
    pub circuit: Arc<Circuit>,
    /// The parameter profile their keys and inputs must use.
    pub profile: &'static Profile,
}

pub(crate) struct Shared<R> {
    pub config: GatewayConfig,
    pub me: AccountId,
    pub circuit_id: CircuitId,
    pub profile_id: ProfileId,
    pub workload: Workload,
    pub auth: Authenticator,
    pub quotas: QuotaBook,
    pub keys: KeyStore,
    pub avoidance: Avoidance,
    pub sessions: SessionModel,
    pub relay: Arc<R>,
}

/// The gateway's state; build it once and pass it to [`crate::router`].
pub struct GatewayState<R> {
    pub(crate) shared: Arc<Shared<R>>,
}

impl<R> Clone for GatewayState<R> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<R: Relay> GatewayState<R> {
    /// `me`: the validator's hotkey (customers sign Epistula requests for it and read
    /// it from `GET /v1/info`). `sessions`: the validator's session model, which
    /// customers' keys follow and which observes them. `relay`: the validator's relay
    /// to miners.
    pub fn new(
        config: GatewayConfig,
        me: AccountId,
        workload: Workload,
        sessions: SessionModel,
        relay: Arc<R>,
    ) -> Result<Self, GatewayError> {
        config.validate()?;
        sessions.policy().validate().map_err(ConfigError::from)?;
        let auth = Authenticator::new(&config, me)?;
        let circuit_id = CircuitId::new(workload.circuit.id.clone())?;
        let profile_id = ProfileId::new(workload.profile.id)?;
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                me,
                circuit_id,
                profile_id,
                workload,
                auth,
                quotas: QuotaBook::default(),
                keys: KeyStore::new(sessions.clone()),
                avoidance: Avoidance::default(),
                sessions,
                relay,
            }),
        })
    }

    /// Bytes of customers' evaluation keys held now.
    pub fn held_key_bytes(&self) -> u64 {
        self.shared.keys.total_bytes()
    }
}
