//! Receiver-side verification, cheapest checks first (DESIGN section 3): headers present
//! and well-formed, `signed_for` is us, timestamp inside the window both ways, sender
//! permitted, uuid not replayed; only then is the (size-limited) body hashed and the
//! signature checked.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName};
use sha2::{Digest, Sha256};
use thiserror::Error;
use uuid::Uuid;

use crate::AccountId;
use crate::headers::{self, PROTOCOL_VERSION};
use crate::keypair::{self, SignatureBytes};
use crate::policy::SenderPolicy;
use crate::replay::{ReplayCache, ReplayError, Reservation};

/// How far a timestamp may be from the receiver's clock, either way.
pub(crate) const DEFAULT_WINDOW: Duration = Duration::from_secs(10);
/// Uuids remembered at once; about 100 bytes each.
pub(crate) const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// What is wrong with a header's value.
#[derive(Debug, Error)]
pub enum HeaderProblem {
    /// The value is not visible ASCII.
    #[error("not visible ASCII")]
    NotAscii,
    /// `Epistula-Version` is not `2`.
    #[error("{0:?} is not \"2\"")]
    Version(String),
    /// The timestamp is not decimal unix milliseconds that fit in 64 bits.
    #[error("{0:?} is not unix milliseconds")]
    Timestamp(String),
    /// The uuid does not parse.
    #[error("bad uuid: {0}")]
    Uuid(#[from] uuid::Error),
    /// The address is not an SS58 account with prefix 42.
    #[error("bad SS58 address: {0}")]
    Account(#[from] brainlock_account::Ss58Error),
    /// The signature is not 128 hex digits (an optional `0x` aside).
    #[error("wrong length: expected 64 bytes (128 hex digits), got {0} characters")]
    SignatureLength(usize),
    /// The signature has the right length but is not hex.
    #[error("bad hex: {0}")]
    SignatureHex(#[from] hex::FromHexError),
}

/// Why a request was refused. `brainlock_api::server::ApiError` turns each variant into
/// its HTTP answer.
#[derive(Debug, Error)]
pub enum EpistulaError {
    /// A required `Epistula-*` header is absent; carries its wire name.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header is present but unusable: not visible ASCII, version not `2`, timestamp not
    /// decimal milliseconds, bad uuid or SS58 address, or a signature not 64 bytes of hex.
    #[error("malformed header {name}: {problem}")]
    MalformedHeader {
        /// The header, as spelled on the wire (`Epistula-Timestamp`, ...).
        name: &'static str,
        /// What is wrong with its value.
        #[source]
        problem: HeaderProblem,
    },
    /// `Epistula-Signed-For` names another hotkey than this neuron's.
    #[error("request is signed for {found}, but this neuron is {expected}")]
    WrongReceiver {
        /// This neuron's hotkey.
        expected: AccountId,
        /// The hotkey the request was signed for.
        found: AccountId,
    },
    /// `Epistula-Timestamp` is older than the window (a delayed or replayed request).
    #[error("timestamp is {age_ms} ms old, beyond the {window_ms} ms window")]
    Stale {
        /// How far the timestamp lies behind the receiver's clock, milliseconds.
        age_ms: u64,
        /// The allowed skew, milliseconds.
        window_ms: u64,
    },
    /// `Epistula-Timestamp` is further ahead than the window (sender clock skew).
    #[error("timestamp is {ahead_ms} ms in the future, beyond the {window_ms} ms window")]
    Future {
        /// How far the timestamp lies ahead of the receiver's clock, milliseconds.
        ahead_ms: u64,
        /// The allowed skew, milliseconds.
        window_ms: u64,
    },
    /// The [`SenderPolicy`] refused the `Epistula-Signed-By` hotkey.
    #[error("sender {0} is not permitted to call this neuron")]
    SenderNotAllowed(AccountId),
    /// The `Epistula-Uuid` was already seen inside the window: a replay.
    #[error("request uuid {0} was already used")]
    Replayed(Uuid),
    /// The replay cache is at capacity; the sender should retry shortly.
    #[error("too many requests to track for replay protection; retry shortly")]
    ReplayCacheFull,
    /// The signature is not the sender's over the body hash, uuid, timestamp and receiver.
    #[error("signature does not match the body and headers")]
    BadSignature,
}

/// Checks Epistula requests addressed to one neuron. Share it (it is cheap to clone the
/// `Arc`) between all routes so they share one replay cache.
pub struct Verifier {
    me: AccountId,
    window_ms: u64,
    policy: Arc<dyn SenderPolicy>,
    replay: ReplayCache,
}

impl Verifier {
    /// A verifier for requests signed for the hotkey `me`, admitting senders `policy` allows,
    /// with [`DEFAULT_WINDOW`] and [`DEFAULT_REPLAY_CAPACITY`].
    pub fn new(me: AccountId, policy: Arc<dyn SenderPolicy>) -> Self {
        Self {
            me,
            window_ms: DEFAULT_WINDOW.as_millis() as u64,
            policy,
            replay: ReplayCache::new(DEFAULT_REPLAY_CAPACITY),
        }
    }

    /// Sets how far a timestamp may be from the local clock, either way.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window_ms = window.as_millis().try_into().unwrap_or(u64::MAX);
        self
    }

    /// Sets how many request uuids the replay cache holds at once.
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        self.replay = ReplayCache::new(capacity);
        self
    }

    /// The hotkey requests must be signed for.
    pub fn me(&self) -> AccountId {
        self.me
    }

    /// The cheap checks, run before any body byte is read. `now_ms` is unix milliseconds.
    pub fn verify_headers(
        &self,
        headers: &HeaderMap,
        now_ms: u64,
    ) -> Result<VerifiedHeaders, EpistulaError> {
        let version = header(headers, &headers::VERSION, "Epistula-Version")?;
        let timestamp_text = header(headers, &headers::TIMESTAMP, "Epistula-Timestamp")?;
        let uuid_text = header(headers, &headers::UUID, "Epistula-Uuid")?;
        let signed_by_text = header(headers, &headers::SIGNED_BY, "Epistula-Signed-By")?;
        let signed_for_text = header(headers, &headers::SIGNED_FOR, "Epistula-Signed-For")?;
        let signature_text = header(
            headers,
            &headers::REQUEST_SIGNATURE,
            "Epistula-Request-Signature",
        )?;

        if version != PROTOCOL_VERSION {
            return Err(malformed(
                "Epistula-Version",
                HeaderProblem::Version(version.into()),
            ));
        }
        let timestamp_ms = parse_timestamp(timestamp_text)?;
        let uuid = Uuid::parse_str(uuid_text).map_err(|e| malformed("Epistula-Uuid", e))?;
        let sender =
            AccountId::from_ss58(signed_by_text).map_err(|e| malformed("Epistula-Signed-By", e))?;
        let signed_for = AccountId::from_ss58(signed_for_text)
            .map_err(|e| malformed("Epistula-Signed-For", e))?;
        let signature = parse_signature("Epistula-Request-Signature", signature_text)?;

        if signed_for != self.me {
            return Err(EpistulaError::WrongReceiver {
                expected: self.me,
                found: signed_for,
            });
        }
        let window_ms = self.window_ms;
        if now_ms.saturating_sub(timestamp_ms) > window_ms {
            return Err(EpistulaError::Stale {
                age_ms: now_ms - timestamp_ms,
                window_ms,
            });
        }
        if timestamp_ms.saturating_sub(now_ms) > window_ms {
            return Err(EpistulaError::Future {
                ahead_ms: timestamp_ms - now_ms,
                window_ms,
            });
        }
        if !self.policy.allows(&sender) {
            return Err(EpistulaError::SenderNotAllowed(sender));
        }
        let reservation = self
            .replay
            .reserve(uuid, timestamp_ms.saturating_add(window_ms), now_ms)
            .map_err(|e| match e {
                ReplayError::Replayed => EpistulaError::Replayed(uuid),
                ReplayError::Full => EpistulaError::ReplayCacheFull,
            })?;
        Ok(VerifiedHeaders {
            sender,
            uuid,
            timestamp_ms,
            // The signature covers the header texts exactly as sent.
            message_suffix: format!("{uuid_text}.{timestamp_text}.{signed_for_text}"),
            signature,
            reservation,
        })
    }
}

/// Headers that passed the cheap checks; their uuid is reserved until this is dropped
/// or the body verifies.
#[derive(Debug)]
pub struct VerifiedHeaders {
    sender: AccountId,
    uuid: Uuid,
    timestamp_ms: u64,
    message_suffix: String,
    signature: SignatureBytes,
    reservation: Reservation,
}

/// A request whose signature verified. The server layer puts it in the request's
/// extensions; handlers extract it to learn who called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    /// The hotkey that signed the request.
    pub sender: AccountId,
    /// The request's `Epistula-Uuid`.
    pub uuid: Uuid,
    /// The request's signing time, unix milliseconds.
    pub timestamp_ms: u64,
}

impl VerifiedHeaders {
    /// The claimed sender (`Epistula-Signed-By`), not yet authenticated.
    pub fn sender(&self) -> AccountId {
        self.sender
    }

    /// The request's `Epistula-Uuid`, reserved in the replay cache.
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }

    /// Hashes the body and checks the signature.
    pub fn verify_body(self, body: &[u8]) -> Result<Authenticated, EpistulaError> {
        self.verify_digest(&Sha256::digest(body).into())
    }

    /// Checks the signature given the body's SHA-256, for callers that hash the body
    /// while it streams in.
    pub fn verify_digest(self, body_sha256: &[u8; 32]) -> Result<Authenticated, EpistulaError> {
        let message = format!("{}.{}", hex::encode(body_sha256), self.message_suffix);
        if keypair::verify(&self.sender, message.as_bytes(), &self.signature).is_none() {
            return Err(EpistulaError::BadSignature);
        }
        self.reservation.confirm();
        Ok(Authenticated {
            sender: self.sender,
            uuid: self.uuid,
            timestamp_ms: self.timestamp_ms,
        })
    }
}

fn malformed(name: &'static str, problem: impl Into<HeaderProblem>) -> EpistulaError {
    EpistulaError::MalformedHeader {
        name,
        problem: problem.into(),
    }
}

pub(crate) fn header<'a>(
    headers: &'a HeaderMap,
    key: &HeaderName,
    name: &'static str,
) -> Result<&'a str, EpistulaError> {
    let value = headers.get(key).ok_or(EpistulaError::MissingHeader(name))?;
    value
        .to_str()
        .map_err(|_| malformed(name, HeaderProblem::NotAscii))
}

fn parse_timestamp(text: &str) -> Result<u64, EpistulaError> {
    const NAME: &str = "Epistula-Timestamp";
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| text.parse().ok())
        .flatten()
        .ok_or_else(|| malformed(NAME, HeaderProblem::Timestamp(text.into())))
}

/// Parses `0x` + 128 hex digits (the prefix is optional, as the reference accepts).
pub(crate) fn parse_signature(
    name: &'static str,
    text: &str,
) -> Result<SignatureBytes, EpistulaError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.len() != 128 {
        return Err(malformed(
            name,
            HeaderProblem::SignatureLength(digits.len()),
        ));
    }
    let mut signature = [0u8; 64];
    hex::decode_to_slice(digits, &mut signature).map_err(|e| malformed(name, e))?;
    Ok(signature)
}
