//! The checks that run once a form's `file` part arrives, in S3's order (`s3-post.md` §3):
//! key, signature fields, access key, signature, policy. The signature scheme the form uses is
//! decided here and handed to the policy check.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use super::error::S3Error;
use super::form::FormFields;
use super::policy::{Policy, SizeRange};
use super::sign::{self, Signing};
use crate::config::S3Credentials;

/// The longest object key S3 takes, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Verifies everything that can be verified before the file's bytes are read, in S3's
/// order, and returns the object key and the allowed sizes.
///
/// # Errors
/// The S3 error for the first check that fails.
pub fn verify(
    form: &mut FormFields,
    credentials: &S3Credentials,
    bucket: &str,
    file_name: Option<&str>,
    now_ms: i64,
) -> Result<Accepted, S3Error> {
    let mut key = form
        .get("key")
        .ok_or_else(|| S3Error::missing_field("key"))?
        .to_owned();
    if let Some(name) = file_name {
        // `${filename}` becomes the client's file name after its last slash or backslash.
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        key = key.replace("${filename}", base);
        form.set("key", key.clone());
    }
    // An empty key names no object: refused as a missing one. S3 keys are at most 1,024 bytes.
    if key.is_empty() {
        return Err(S3Error::missing_field("key"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::key_too_long(key.len(), MAX_KEY_BYTES));
    }

    let policy_b64 = form.get("policy").map(str::to_owned);
    let v2 = ["awsaccesskeyid", "signature"].map(|n| form.get(n).map(str::to_owned));
    let v4 = [
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-signature",
    ]
    .map(|n| form.get(n).map(str::to_owned));
    let has_v4 = v4.iter().any(Option::is_some);
    let has_v2 = v2.iter().any(Option::is_some);
    let Some(policy_b64) = policy_b64 else {
        // No policy is an anonymous upload, which only a publicly writable bucket allows.
        return Err(if has_v2 || has_v4 {
            S3Error::missing_field("Policy")
        } else {
            S3Error::access_denied()
        });
    };
    let (signing, access_key_id, provided, expected) = if has_v4 {
        let [Some(algorithm), credential, date, signature] = v4 else {
            return Err(S3Error::missing_field("X-Amz-Algorithm"));
        };
        let signature = signature.ok_or_else(|| S3Error::missing_field("X-Amz-Signature"))?;
        let credential = credential.ok_or_else(|| S3Error::missing_field("X-Amz-Credential"))?;
        date.ok_or_else(|| S3Error::missing_field("X-Amz-Date"))?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [akid, day, region, service, "aws4_request"] = scope.as_slice() else {
            return Err(S3Error::malformed_credential());
        };
        if *akid != credentials.access_key_id {
            return Err(S3Error::invalid_access_key_id(akid));
        }
        let expected = if algorithm == "AWS4-HMAC-SHA256" {
            sign::sigv4(
                &credentials.secret_access_key,
                day,
                region,
                service,
                &policy_b64,
            )
        } else {
            String::new()
        };
        (Signing::V4, akid.to_string(), signature, expected)
    } else if has_v2 {
        let [access_key_id, signature] = v2;
        let access_key_id =
            access_key_id.ok_or_else(|| S3Error::missing_field("AWSAccessKeyId"))?;
        let signature = signature.ok_or_else(|| S3Error::missing_field("Signature"))?;
        if access_key_id != credentials.access_key_id {
            return Err(S3Error::invalid_access_key_id(&access_key_id));
        }
        let expected = sign::sigv2(&credentials.secret_access_key, &policy_b64);
        (Signing::V2, access_key_id, signature, expected)
    } else {
        return Err(S3Error::access_denied());
    };
    if expected.is_empty() || !sign::same(&expected, &provided) {
        return Err(S3Error::signature_does_not_match(
            &access_key_id,
            &provided,
            &policy_b64,
        ));
    }

    let decoded = BASE64
        .decode(policy_b64.trim())
        .map_err(|_| S3Error::invalid_policy("Invalid JSON."))?;
    let policy = Policy::parse(&decoded)?;
    let size = policy.check(form, signing, bucket, now_ms)?;
    Ok(Accepted { key, size })
}

/// A form that passed every check but the size.
#[derive(Debug)]
pub struct Accepted {
    /// The object key, with `${filename}` expanded.
    pub key: String,
    /// The sizes the policy allows.
    pub size: SizeRange,
}
