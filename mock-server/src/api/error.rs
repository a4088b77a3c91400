//! Unit21's error shape: `{"error_code": "<snake_case>"}`, plus `"message"` on 400s and on the
//! fake's own 409 (which says what to change).
//!
//! Internal detail goes to the log, never into a response.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Every way a Unit21 route can refuse a request.
#[derive(Debug)]
pub enum ApiError {
    /// 400 with a message naming what is wrong.
    BadRequest(String),
    /// 401: missing or unknown `u21-key`.
    Unauthorized,
    /// 403: the key lacks the permission, or (by switch) the file is another organisation's.
    Forbidden,
    /// 404.
    NotFound,
    /// 405 on a known path.
    MethodNotAllowed,
    /// 409: the file name is already used in the stream; the message says so.
    Conflict(String),
    /// 413: the body is over the 1 MB limit.
    PayloadTooLarge,
    /// 429, with the rate-limit headers.
    TooManyRequests(HeaderMap),
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "resource_not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
        };
        let body = match &self {
            ApiError::BadRequest(message) | ApiError::Conflict(message) => {
                json!({ "error_code": code, "message": message })
            }
            _ => json!({ "error_code": code }),
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::TooManyRequests(headers) = self {
            response.headers_mut().extend(headers);
        }
        response
    }
}
