//! What the validator stores per query and per weight setting.

use std::fmt;

use serde::Serialize;

/// Why a query failed. Each is the miner's fault as far as the validator can tell,
/// so each scores 0 and counts as a failure in the miner's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The TCP connection was refused (nothing listens), or failed another way.
    ConnectRefused,
    /// No route to the miner's host or network (a host that is down or gone).
    Unreachable,
    /// A deadline (key upload, or inference) passed.
    Timeout,
    /// The miner answered with an HTTP error status.
    HttpStatus,
    /// The stream ended before every item's frame arrived.
    TruncatedStream,
    /// A frame that does not decode, or a result that does not deserialize.
    MalformedFrame,
    /// Wrong item count, duplicate or out-of-range item index, or wrong output shape.
    WrongShape,
    /// A result holds a trivial ciphertext (all-zero mask): no encrypted work was done.
    TrivialCiphertext,
    /// The miner sent an error frame for an item instead of a result.
    MinerError,
    /// The decrypted result disagrees with the exact clear simulation.
    CheckFailed,
}

impl FailureKind {
    /// Every failure kind, in the order they are listed.
    pub const ALL: [FailureKind; 10] = [
        Self::ConnectRefused,
        Self::Unreachable,
        Self::Timeout,
        Self::HttpStatus,
        Self::TruncatedStream,
        Self::MalformedFrame,
        Self::WrongShape,
        Self::TrivialCiphertext,
        Self::MinerError,
        Self::CheckFailed,
    ];

    /// The name stored in the database and shown in logs (snake_case).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectRefused => "connect_refused",
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::HttpStatus => "http_status",
            Self::TruncatedStream => "truncated_stream",
            Self::MalformedFrame => "malformed_frame",
            Self::WrongShape => "wrong_shape",
            Self::TrivialCiphertext => "trivial_ciphertext",
            Self::MinerError => "miner_error",
            Self::CheckFailed => "check_failed",
        }
    }

    /// The failure kind with that stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a query ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Every item came back and checked against the clear simulation.
    Passed,
    /// The query failed.
    Failed {
        /// What went wrong, by category.
        kind: FailureKind,
        /// What went wrong, in words.
        reason: String,
    },
}

impl Outcome {
    /// A failure of `kind`, with a human-readable reason.
    pub fn failed(kind: FailureKind, reason: impl Into<String>) -> Self {
        Self::Failed {
            kind,
            reason: reason.into(),
        }
    }

    /// Whether the query passed.
    pub fn passed(&self) -> bool {
        matches!(self, Self::Passed)
    }

    /// `(outcome, failure_reason)` columns.
    pub(super) fn columns(&self) -> (String, Option<String>) {
        match self {
            Self::Passed => ("passed".into(), None),
            Self::Failed { kind, reason } => (kind.as_str().into(), Some(reason.clone())),
        }
    }

    pub(super) fn from_columns(outcome: &str, reason: Option<String>) -> Result<Self, String> {
        if outcome == "passed" {
            return Ok(Self::Passed);
        }
        let kind = FailureKind::parse(outcome).ok_or_else(|| format!("outcome {outcome:?}"))?;
        Ok(Self::Failed {
            kind,
            reason: reason.unwrap_or_default(),
        })
    }
}

/// One query, as inserted.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryRecord {
    /// Hotkey of the queried miner (SS58).
    pub miner_hotkey: String,
    /// The miner's uid at the time.
    pub uid: u16,
    /// Identifier of the circuit queried.
    pub circuit: String,
    /// FHE parameter profile id.
    pub profile: String,
    /// Images in the infer request.
    pub batch_size: usize,
    /// How the query ended.
    pub outcome: Outcome,
    /// Mean cosine similarity over the items (only when every item passed).
    pub quality: Option<f64>,
    /// Seconds per item from the infer request to the last frame (when the stream completed).
    pub seconds_per_item: Option<f64>,
    /// Seconds the evaluation-key upload took (when it completed).
    pub key_upload_seconds: Option<f64>,
    /// The query's score; 0 for a failure.
    pub score: f64,
    /// Block of the round's metagraph sync.
    pub block: u64,
    /// When the query started, Unix milliseconds.
    pub started_at_ms: i64,
    /// When the query finished, Unix milliseconds.
    pub finished_at_ms: i64,
}

/// One query, as read back for standings.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredQuery {
    /// The miner's uid.
    pub uid: u16,
    /// Identifier of the circuit queried.
    pub circuit: String,
    /// How the query ended.
    pub outcome: Outcome,
    /// Mean cosine similarity over the items (only when every item passed).
    pub quality: Option<f64>,
    /// Seconds per item to the last frame (when the stream completed).
    pub seconds_per_item: Option<f64>,
    /// The query's score; 0 for a failure.
    pub score: f64,
    /// When the query finished, Unix milliseconds.
    pub finished_at_ms: i64,
}

/// One weight setting, as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightSetting {
    /// Block at which the weights were set.
    pub block: u64,
    /// When they were set, Unix milliseconds.
    pub set_at_ms: i64,
    /// The uids weighted.
    pub uids: Vec<u16>,
    /// Each uid's weight, normalized to `u16::MAX` in total.
    pub weights: Vec<u16>,
    /// `ok`, or the error.
    pub outcome: String,
}
