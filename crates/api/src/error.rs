//! Error bodies of the miner API and of the validator's gateway, which speaks the
//! same API: `{"code": "<stable snake_case code>", "message": "..."}`.
//!
//! Clients branch on `code` (stable across versions), humans read `message`. One enum
//! covers both servers so that a code means one thing and has one HTTP status.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Stable machine-readable error codes and their HTTP statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed request that no more specific code describes.
    BadRequest,
    /// The binary request's protocol version is not supported.
    UnsupportedVersion,
    /// Missing, stale, replayed or badly signed Epistula headers.
    Unauthenticated,
    /// Authenticated sender that is not allowed (no validator permit, not allow-listed).
    Forbidden,
    /// No such route.
    NotFound,
    /// Route exists, method does not.
    MethodNotAllowed,
    /// Body, key or batch over the miner's limits (counted in expanded sizes).
    PayloadTooLarge,
    /// The evaluation key id is not (or no longer) cached: upload it again.
    UnknownKey,
    /// The miner does not serve this circuit.
    UnknownCircuit,
    /// The miner does not support this FHE parameter profile.
    UnknownProfile,
    /// The evaluation key does not deserialize or does not conform to the profile.
    MalformedKey,
    /// A ciphertext does not deserialize or does not conform to the profile.
    MalformedCiphertext,
    /// Well-formed ciphertexts, but not as many or as large as the circuit's input.
    WrongShape,
    /// The server is at its in-flight or memory limit; retry later (429, with
    /// `Retry-After`).
    Busy,
    /// Gateway: the customer spent its allowance; retry once it refills (429).
    QuotaExceeded,
    /// Gateway: no miner could take the request, or the chosen one failed before
    /// answering (502).
    UpstreamFailed,
    /// The request could not finish within its deadline.
    DeadlineExceeded,
    /// The request body did not arrive within the miner's body-read timeout (a slow
    /// sender must not hold a slot).
    BodyTimeout,
    /// A bug or resource failure on the miner's side.
    Internal,
    /// A code this version does not know (sent by a newer peer).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code, for exhaustive tests and documentation.
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::BadRequest,
        ErrorCode::UnsupportedVersion,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnknownKey,
        ErrorCode::UnknownCircuit,
        ErrorCode::UnknownProfile,
        ErrorCode::MalformedKey,
        ErrorCode::MalformedCiphertext,
        ErrorCode::WrongShape,
        ErrorCode::Busy,
        ErrorCode::QuotaExceeded,
        ErrorCode::UpstreamFailed,
        ErrorCode::DeadlineExceeded,
        ErrorCode::BodyTimeout,
        ErrorCode::Internal,
        ErrorCode::Unknown,
    ];

    /// The HTTP status that goes with this code, wherever it is answered.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::UnsupportedVersion
            | ErrorCode::MalformedKey
            | ErrorCode::MalformedCiphertext => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound | ErrorCode::UnknownKey => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::BodyTimeout => 408,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnknownCircuit | ErrorCode::UnknownProfile | ErrorCode::WrongShape => 422,
            // Too Many Requests: the client should slow down and retry.
            ErrorCode::Busy | ErrorCode::QuotaExceeded => 429,
            ErrorCode::Internal | ErrorCode::Unknown => 500,
            ErrorCode::UpstreamFailed => 502,
            ErrorCode::DeadlineExceeded => 504,
        }
    }

    /// The wire spelling (`"unknown_key"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnknownKey => "unknown_key",
            ErrorCode::UnknownCircuit => "unknown_circuit",
            ErrorCode::UnknownProfile => "unknown_profile",
            ErrorCode::MalformedKey => "malformed_key",
            ErrorCode::MalformedCiphertext => "malformed_ciphertext",
            ErrorCode::WrongShape => "wrong_shape",
            ErrorCode::Busy => "busy",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::UpstreamFailed => "upstream_failed",
            ErrorCode::DeadlineExceeded => "deadline_exceeded",
            ErrorCode::BodyTimeout => "body_timeout",
            ErrorCode::Internal => "internal",
            ErrorCode::Unknown => "unknown",
        }
    }

    /// Whether the same request may succeed if retried later unchanged.
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Busy
                | ErrorCode::QuotaExceeded
                | ErrorCode::UpstreamFailed
                | ErrorCode::DeadlineExceeded
                | ErrorCode::Internal
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every 4xx/5xx answer of the miner API and the gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable reason; decides the HTTP status.
    pub code: ErrorCode,
    /// Human-readable detail, for logs; never parse it.
    pub message: String,
}

impl ErrorBody {
    /// An error body with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status this body is sent with (its code's).
    pub const fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// The body as the JSON text sent on the wire.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an ErrorBody always serializes")
    }

    /// Parses an error body; `None` if the peer sent something else (a proxy's HTML
    /// page, say), in which case the HTTP status is all there is to go on.
    pub fn from_json(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_spell_as_documented_and_round_trip() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            let status = code.http_status();
            assert!((400..600).contains(&status), "{code}: {status}");
        }
    }

    #[test]
    fn statuses_match_the_kind_of_failure() {
        assert_eq!(ErrorCode::PayloadTooLarge.http_status(), 413);
        assert_eq!(ErrorCode::Unauthenticated.http_status(), 401);
        assert_eq!(ErrorCode::UnknownKey.http_status(), 404);
        assert_eq!(ErrorCode::WrongShape.http_status(), 422);
        assert_eq!(ErrorCode::Busy.http_status(), 429);
        assert_eq!(ErrorCode::QuotaExceeded.http_status(), 429);
        assert_eq!(ErrorCode::UpstreamFailed.http_status(), 502);
        // Everything a client can cause, or cure by slowing down, is a 4xx.
        for code in ErrorCode::ALL {
            let server_side = matches!(
                code,
                ErrorCode::UpstreamFailed
                    | ErrorCode::DeadlineExceeded
                    | ErrorCode::Internal
                    | ErrorCode::Unknown
            );
            assert_eq!(server_side, code.http_status() >= 500, "{code}");
        }
    }

    #[test]
    fn body_round_trips_and_tolerates_new_codes() {
        let body = ErrorBody::new(ErrorCode::UnknownKey, "key 00ab is not cached");
        assert_eq!(
            body.to_json(),
            r#"{"code":"unknown_key","message":"key 00ab is not cached"}"#
        );
        assert_eq!(ErrorBody::from_json(body.to_json().as_bytes()), Some(body));
        let newer = ErrorBody::from_json(br#"{"code":"battery_low","message":"m"}"#).unwrap();
        assert_eq!(newer.code, ErrorCode::Unknown);
        assert_eq!(ErrorBody::from_json(b"<html>bad gateway</html>"), None);
    }
}
