//! A refused request as an HTTP answer: the code's status, the [`ErrorBody`], and
//! `Retry-After` when waiting would help. Miners and the gateway answer with this one
//! type, so a code has the same status wherever it is sent.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use brainlock_epistula::EpistulaError;

use crate::{ErrorBody, ErrorCode};

/// A refusal: stable code, message for humans, and how long to wait before retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// Stable machine-readable reason; decides the HTTP status.
    pub code: ErrorCode,
    /// Human-readable detail, sent in the [`ErrorBody`].
    pub message: String,
    /// How long the client should wait before retrying, sent as `Retry-After`
    /// (whole seconds); `None` when retrying will not help.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// A refusal with this code and message, and no `Retry-After`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// At a capacity limit: 429 with `Retry-After`.
    pub fn busy(message: impl Into<String>, retry_after: Duration) -> Self {
        Self::new(ErrorCode::Busy, message).retry_after(retry_after)
    }

    /// Adds `Retry-After` (whole seconds, at least one).
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The HTTP status this refusal is answered with (its code's; 500 if unknown).
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// Epistula refusals: 400 for malformed headers, 401 for signatures that do not hold
/// (wrong receiver, outside the window, replayed, forged), 403 for senders the policy
/// does not admit; a full replay cache is a capacity limit, retried shortly.
impl From<EpistulaError> for ApiError {
    fn from(error: EpistulaError) -> Self {
        let code = match error {
            EpistulaError::MissingHeader(_) | EpistulaError::MalformedHeader { .. } => {
                ErrorCode::BadRequest
            }
            EpistulaError::WrongReceiver { .. }
            | EpistulaError::Stale { .. }
            | EpistulaError::Future { .. }
            | EpistulaError::Replayed(_)
            | EpistulaError::BadSignature => ErrorCode::Unauthenticated,
            EpistulaError::SenderNotAllowed(_) => ErrorCode::Forbidden,
            EpistulaError::ReplayCacheFull => {
                return Self::busy(error.to_string(), Duration::from_secs(1));
            }
        };
        Self::new(code, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody::new(self.code, self.message).to_json();
        let mut response =
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(after) = self.retry_after {
            let seconds = after.as_secs().max(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_429_with_retry_after() {
        let response = ApiError::busy("queue full", Duration::from_secs(7)).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        let response = ApiError::new(ErrorCode::UnknownKey, "gone").into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn every_code_answers_with_its_status_and_a_parsable_body() {
        for code in ErrorCode::ALL {
            let response = ApiError::new(code, "m").into_response();
            assert_eq!(response.status().as_u16(), code.http_status(), "{code}");
        }
        let quota = ApiError::new(ErrorCode::QuotaExceeded, "60 items per hour");
        assert_eq!(quota.status(), StatusCode::TOO_MANY_REQUESTS);
        let parsed: ErrorBody =
            serde_json::from_str(&ErrorBody::new(quota.code, quota.message).to_json()).unwrap();
        assert_eq!(parsed.code, ErrorCode::QuotaExceeded);
    }
}
