//! The fake's S3 endpoint: Amazon S3's browser-based form POST, path-style at `/{bucket}/`.

pub(crate) mod error;
pub(crate) mod form;
pub(crate) mod framing;
pub(crate) mod policy;
pub(crate) mod presign;
pub(crate) mod sign;
pub(crate) mod upload;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::Rng;

use crate::state::AppState;

/// `POST /{bucket}` and `/{bucket}/` take uploads; `POST /{bucket}/{key}` is S3's 405.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/{bucket}",
            post(upload::upload).fallback(upload::unsupported),
        )
        .route(
            "/{bucket}/",
            post(upload::upload).fallback(upload::unsupported),
        )
        .route(
            "/{bucket}/{*key}",
            post(upload::post_to_object).fallback(upload::unsupported),
        )
}

/// The `x-amz-request-id` and `x-amz-id-2` every S3 response carries.
pub(crate) struct ResponseIds {
    pub request_id: String,
    pub host_id: String,
}

impl ResponseIds {
    pub fn new() -> Self {
        let mut rng = rand::rng();
        let request_id = format!("{:016X}", rng.random::<u64>());
        let host_bytes: [u8; 48] = std::array::from_fn(|_| rng.random());
        Self {
            request_id,
            host_id: BASE64.encode(host_bytes),
        }
    }

    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("x-amz-request-id", &self.request_id),
            ("x-amz-id-2", &self.host_id),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        headers.insert(
            HeaderName::from_static("server"),
            HeaderValue::from_static("AmazonS3"),
        );
    }
}
