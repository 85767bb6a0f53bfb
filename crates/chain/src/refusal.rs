//! Why the chain refuses a call: subtensor's pallet errors, by the names the runtime
//! metadata gives them. The subtensor client decodes them from a failed extrinsic (or the
//! transaction pool's refusal), and the local registry raises the same ones, so a daemon
//! reacts to a refusal the same way on either.

macro_rules! pallet_errors {
    ($($name:ident => $why:literal,)*) => {
        /// A `SubtensorModule` error: the rule a call broke.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum PalletError {
            $(
                #[doc = $why]
                $name,
            )*
            /// An error this crate has no reaction for, as the chain named it
            /// (`Pallet::Error`, or the transaction pool's code).
            Other(String),
        }

        impl PalletError {
            /// The error named `name` in `SubtensorModule`'s error enum.
            pub fn from_name(name: &str) -> Self {
                match name {
                    $(stringify!($name) => Self::$name,)*
                    other => Self::Other(other.to_string()),
                }
            }

            /// The error's name in the runtime metadata.
            pub fn name(&self) -> &str {
                match self {
                    $(Self::$name => stringify!($name),)*
                    Self::Other(name) => name,
                }
            }

            fn explanation(&self) -> &'static str {
                match self {
                    $(Self::$name => $why,)*
                    Self::Other(_) => "an error Brainlock has no reaction for",
                }
            }
        }
    };
}

pallet_errors! {
    HotKeyNotRegisteredInSubNet => "the hotkey has no uid on the subnet",
    HotKeyNotRegisteredInNetwork => "the hotkey has no uid on the subnet (serving)",
    MechanismDoesNotExist => "the subnet or its mechanism does not exist",
    NotEnoughStakeToSetWeights => "the hotkey's stake is below the chain's StakeThreshold",
    NeuronNoValidatorPermit => "only neurons with a validator permit may set weights on others",
    WeightVecNotEqualSize => "the uid and weight lists differ in length",
    UidsLengthExceedUidsInSubNet => "more weights than the subnet has neurons",
    DuplicateUids => "a uid appears twice",
    UidVecContainInvalidOne => "a uid does not exist on the subnet",
    WeightVecLengthIsLow => "fewer weights than the subnet's MinAllowedWeights",
    MaxWeightExceeded => "a normalized weight is above the subnet's MaxWeightsLimit",
    SettingWeightsTooFast => "weights set again before WeightsSetRateLimit blocks passed",
    IncorrectWeightVersionKey => "the version key is below the subnet's WeightsVersionKey",
    CommitRevealEnabled => "the subnet takes weights only as commits (commit-reveal is on)",
    CommitRevealDisabled => "the subnet takes weights directly (commit-reveal is off)",
    IncorrectCommitRevealVersion => "the commit's version is not CommitRevealWeightsVersion",
    CommittingWeightsTooFast => "weights committed again before WeightsSetRateLimit blocks passed",
    TooManyUnrevealedCommits => "the hotkey already has the most unrevealed commits allowed",
    InvalidIpType => "the axon's IP type is neither 4 nor 6",
    InvalidIpAddress => "the axon's IP address is not one the chain accepts",
    InvalidPort => "the axon's port is 0",
    ServingRateLimitExceeded => "the axon was served again before ServingRateLimit blocks passed",
}

impl PalletError {
    /// Whether the same call succeeds later without change, once blocks have passed.
    pub fn is_rate_limit(&self) -> bool {
        matches!(
            self,
            Self::SettingWeightsTooFast
                | Self::CommittingWeightsTooFast
                | Self::ServingRateLimitExceeded
        )
    }
}

impl std::fmt::Display for PalletError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.explanation())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for error in [
            PalletError::SettingWeightsTooFast,
            PalletError::InvalidPort,
            PalletError::Other("Balances::InsufficientBalance".into()),
        ] {
            assert_eq!(PalletError::from_name(error.name()), error);
        }
        assert_eq!(
            PalletError::SettingWeightsTooFast.to_string(),
            "SettingWeightsTooFast (weights set again before WeightsSetRateLimit blocks passed)"
        );
    }
}
