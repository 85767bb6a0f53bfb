//! Errors of the miner API as HTTP answers: a stable code, a message for humans, the
//! status that goes with the code, and `Retry-After` when waiting would help.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use brainlock_api::{ErrorBody, ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The miner is at a capacity limit: 429 with `Retry-After`.
    pub fn busy(message: impl Into<String>, retry_after: Duration) -> Self {
        Self {
            code: ErrorCode::Busy,
            message: message.into(),
            retry_after: Some(retry_after),
        }
    }

    pub fn status(&self) -> StatusCode {
        // Capacity refusals are 429 Too Many Requests (the client should slow down and
        // retry), whatever status the code maps to by default.
        let status = if self.code == ErrorCode::Busy {
            429
        } else {
            self.code.http_status()
        };
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
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
}
