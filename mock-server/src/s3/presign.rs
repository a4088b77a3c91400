//! The pre-signed form the create endpoint hands out: Unit21's policy shape, signed SigV2.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::Serialize;
use serde_json::json;

use super::sign;
use crate::clock::iso8601_millis;
use crate::config::S3Credentials;

/// Unit21's forms allow files of up to 300 MiB.
pub const MAX_UPLOAD_BYTES: u64 = 314_572_800;
/// Both published examples expire two hours after creation.
pub const FORM_LIFETIME_MS: i64 = 2 * 60 * 60 * 1000;

/// `form_fields` in the create response, in Unit21's order.
#[derive(Debug, Serialize)]
pub struct FormFields {
    #[serde(rename = "AWSAccessKeyId")]
    aws_access_key_id: String,
    key: String,
    policy: String,
    signature: String,
}

/// The signed form for uploading `key` to `bucket`, created at `now_ms`.
pub(crate) fn form_fields(
    credentials: &S3Credentials,
    bucket: &str,
    key: &str,
    now_ms: i64,
) -> FormFields {
    let document = json!({
        "expiration": iso8601_millis(now_ms + FORM_LIFETIME_MS),
        "conditions": [
            ["content-length-range", 0, MAX_UPLOAD_BYTES],
            { "bucket": bucket },
            { "key": key },
        ],
    });
    let policy = BASE64.encode(document.to_string());
    FormFields {
        aws_access_key_id: credentials.access_key_id.clone(),
        key: key.to_owned(),
        signature: sign::sigv2(&credentials.secret_access_key, &policy),
        policy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_have_millis_and_a_z() {
        assert_eq!(
            iso8601_millis(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            super::super::policy::parse_expiration(&iso8601_millis(1_700_000_000_123)),
            Some(1_700_000_000_123)
        );
    }
}
