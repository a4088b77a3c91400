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

/// `form_fields` in the create response, in Unit21's order (a session token, when there is
/// one, goes before the policy, as botocore puts it).
#[derive(Debug, Serialize)]
pub struct FormFields {
    #[serde(rename = "AWSAccessKeyId")]
    aws_access_key_id: String,
    key: String,
    #[serde(
        rename = "x-amz-security-token",
        skip_serializing_if = "Option::is_none"
    )]
    security_token: Option<String>,
    policy: String,
    signature: String,
}

/// The signed form for uploading `key` to `bucket`, created at `now_ms`; with a session
/// token, the form carries it and the policy requires it (botocore's shape).
pub(crate) fn form_fields(
    credentials: &S3Credentials,
    bucket: &str,
    key: &str,
    now_ms: i64,
    security_token: Option<&str>,
) -> FormFields {
    let mut conditions = vec![
        json!(["content-length-range", 0, MAX_UPLOAD_BYTES]),
        json!({ "bucket": bucket }),
        json!({ "key": key }),
    ];
    if let Some(token) = security_token {
        conditions.push(json!({ "x-amz-security-token": token }));
    }
    let document = json!({
        "expiration": iso8601_millis(now_ms + FORM_LIFETIME_MS),
        "conditions": conditions,
    });
    let policy = BASE64.encode(document.to_string());
    FormFields {
        aws_access_key_id: credentials.access_key_id.clone(),
        key: key.to_owned(),
        security_token: security_token.map(str::to_owned),
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
