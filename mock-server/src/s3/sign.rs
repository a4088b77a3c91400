//! The two ways a POST policy is signed: SigV2 (`base64(HMAC-SHA1(secret, policy))`) and SigV4
//! (`hex(HMAC-SHA256(signing key, policy))`, the key derived from date, region and service).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The SigV2 signature of a base64 policy.
pub fn sigv2(secret: &str, policy_b64: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(policy_b64.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The SigV4 signature of a base64 policy, for a credential scope `date/region/service`.
pub fn sigv4(secret: &str, date: &str, region: &str, service: &str, policy_b64: &str) -> String {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    hex::encode(hmac_sha256(&k_signing, policy_b64.as_bytes()))
}

/// Compares signatures in constant time (no early exit on the first differing byte), with
/// `subtle`, which rustls already brings.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example: "Example: Browser-Based Upload using HTTP POST (Using AWS
    /// Signature Version 4)", docs.aws.amazon.com/AmazonS3/latest/API/sigv4-post-example.html.
    #[test]
    fn aws_sigv4_post_example() {
        let policy = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(
            sigv4(secret, "20151229", "us-east-1", "s3", policy),
            "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
        );
    }

    /// The expected value was computed independently with Python's `hmac` and `base64`.
    #[test]
    fn sigv2_is_base64_hmac_sha1_of_the_policy_text() {
        let sig = sigv2(
            "secret",
            "eyJleHBpcmF0aW9uIjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJjb25kaXRpb25zIjpbXX0=",
        );
        assert_eq!(sig.len(), 28);
        assert_eq!(sig, "o9p0z7zTgD2OMcHMjEoArZTjloI=");
        assert!(same(&sig, "o9p0z7zTgD2OMcHMjEoArZTjloI="));
        assert!(!same(&sig, "o9p0z7zTgD2OMcHMjEoArZTjloJ="));
    }
}

/// The signature scheme of a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// `AWSAccessKeyId` + `signature`.
    V2,
    /// `x-amz-algorithm`, `x-amz-credential`, `x-amz-date`, `x-amz-signature`.
    V4,
}
