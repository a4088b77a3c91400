//! Amazon S3's browser-based form POST, as a protocol: the form's fields, their verification
//! (signature, policy), S3's XML errors, the framing bounds of a multipart body, and the
//! pre-signed form the create route hands out. The route that receives uploads is in `http`.

pub(crate) mod error;
pub(crate) mod form;
pub(crate) mod framing;
pub(crate) mod policy;
pub(crate) mod presign;
pub(crate) mod sign;
pub(crate) mod verify;
pub(crate) mod xml;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use rand::Rng;

/// The session token a form is to carry, as forms signed with temporary credentials do (put
/// on a create request by the `security_token` fault).
#[derive(Clone, Debug)]
pub(crate) struct SecurityToken(pub String);

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
