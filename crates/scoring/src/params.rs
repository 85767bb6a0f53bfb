//! Per-circuit scoring parameters.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The circuits validators score; they differ in what a correct output looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitKind {
    /// Classifier: 10 logits; passes on top-1 agreement and logit cosine.
    Vgg9,
    /// Image to image: passes on output cosine.
    Conv3x3,
}

impl CircuitKind {
    /// The circuit's wire id.
    pub const fn id(self) -> &'static str {
        match self {
            CircuitKind::Vgg9 => "vgg9",
            CircuitKind::Conv3x3 => "conv3x3",
        }
    }
}

impl fmt::Display for CircuitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A circuit id this crate has no scoring rules for; the id as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no scoring rules for circuit {0:?}")]
pub struct UnknownCircuit(pub String);

impl FromStr for CircuitKind {
    type Err = UnknownCircuit;
    fn from_str(id: &str) -> Result<Self, UnknownCircuit> {
        match id {
            "vgg9" => Ok(CircuitKind::Vgg9),
            "conv3x3" => Ok(CircuitKind::Conv3x3),
            other => Err(UnknownCircuit(other.to_owned())),
        }
    }
}

/// Why scoring parameters were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamsError {
    /// A parameter is zero, negative or not finite.
    #[error("{name} = {value} must be finite and positive")]
    NotPositive {
        /// Which one: `t_ref`, `t_floor` or `alpha`.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// The best score, `(t_ref / t_floor)^alpha`, is not a finite number.
    #[error("the best possible score (t_ref / t_floor)^alpha overflows")]
    MaxScoreOverflows,
}

/// How speed turns into score for one circuit. The pass/fail gates are not here: they
/// are derived from the noise model for each profile and batch size
/// ([`crate::derive_gates`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoringParams {
    /// Reference seconds per item: a miner this fast with perfect quality scores 1.
    pub t_ref: f64,
    /// Seconds per item below which timings are not trusted: a guard against timer
    /// jitter, far below the fastest plausible hardware, never a speed cap (ranks, not
    /// score ratios, set the rewards; see [`crate::pareto`]).
    pub t_floor: f64,
    /// Exponent that turns speed ratios into score ratios (3: twice as fast earns 8x).
    pub alpha: f64,
}

impl ScoringParams {
    /// conv3x3 (3,072 lookups): about 47 s on 2 CPU cores with Concrete-ML, so
    /// `t_ref = 50 s`; `t_floor = 1 ms`: 3,072 bootstraps in 1 ms would take three
    /// million bootstraps a second, hundreds of times what a GPU does today.
    pub const CONV3X3: ScoringParams = ScoringParams {
        t_ref: 50.0,
        t_floor: 0.001,
        alpha: 3.0,
    };

    /// VGG9 (158,336 lookups, about 50x conv3x3): `t_ref = 2500 s`, `t_floor = 50 ms`.
    pub const VGG9: ScoringParams = ScoringParams {
        t_ref: 2500.0,
        t_floor: 0.05,
        alpha: 3.0,
    };

    /// The default parameters of a circuit.
    pub const fn for_circuit(kind: CircuitKind) -> ScoringParams {
        match kind {
            CircuitKind::Vgg9 => Self::VGG9,
            CircuitKind::Conv3x3 => Self::CONV3X3,
        }
    }

    /// Checks that every score these parameters produce is finite.
    pub fn validate(&self) -> Result<(), ParamsError> {
        for (name, value) in [
            ("t_ref", self.t_ref),
            ("t_floor", self.t_floor),
            ("alpha", self.alpha),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(ParamsError::NotPositive { name, value });
            }
        }
        if !self.max_score().is_finite() {
            return Err(ParamsError::MaxScoreOverflows);
        }
        Ok(())
    }

    /// The best score a query can get: perfect quality at or below `t_floor`.
    pub fn max_score(&self) -> f64 {
        (self.t_ref / self.t_floor).powf(self.alpha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_differ_by_the_workload_ratio() {
        for kind in [CircuitKind::Vgg9, CircuitKind::Conv3x3] {
            let params = ScoringParams::for_circuit(kind);
            params.validate().unwrap();
            assert!((params.max_score() / 1.25e14 - 1.0).abs() < 1e-12);
            assert_eq!(kind.id().parse::<CircuitKind>().unwrap(), kind);
        }
        assert_eq!(
            ScoringParams::VGG9.t_ref / ScoringParams::CONV3X3.t_ref,
            50.0
        );
        assert!("resnet".parse::<CircuitKind>().is_err());
    }

    #[test]
    fn invalid_params_are_refused() {
        let ok = ScoringParams::CONV3X3;
        assert!(
            ScoringParams {
                alpha: f64::NAN,
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(ScoringParams { t_floor: 0.0, ..ok }.validate().is_err());
        assert!(
            ScoringParams {
                t_ref: f64::INFINITY,
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(ScoringParams { alpha: -1.0, ..ok }.validate().is_err());
        assert_eq!(
            ScoringParams {
                t_floor: 1e-300,
                alpha: 10.0,
                ..ok
            }
            .validate(),
            Err(ParamsError::MaxScoreOverflows)
        );
    }
}
