//! Forms signed by a standard S3 SDK (boto3's `generate_presigned_post`, SigV2 and SigV4)
//! with the fake's credentials are accepted, for any key.
//!
//! These need python3 with boto3, so plain `cargo test` skips them with that reason;
//! `.ci/run` installs boto3 and runs them with `--ignored`.

use crate::common::xml_field;
use rstest::rstest;
use serde_json::Value;
use u21_mock::config::S3Credentials;
use u21_mock::MockServer;

async fn boto3_post(server: &MockServer, key: &str, version: &str, secret: &str) -> Value {
    boto3_post_with(server, key, version, secret, &[]).await
}

async fn boto3_post_with(
    server: &MockServer,
    key: &str,
    version: &str,
    secret: &str,
    extra: &[&str],
) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.csv");
    std::fs::write(&file, "id,kind\n1,login\n").unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/boto3_post.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .args([
            &server.uri(),
            server.bucket(),
            key,
            version,
            file.to_str().unwrap(),
        ])
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", S3Credentials::default().access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "boto3 script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[rstest]
#[case::sigv2("s3", "AWSAccessKeyId")]
#[case::sigv4("s3v4", "x-amz-signature")]
#[ignore = "needs python3 with boto3 (pip install boto3); .ci/run installs it and runs these"]
#[tokio::test]
async fn boto3_presigned_posts_are_accepted(#[case] version: &str, #[case] signature_field: &str) {
    let server = MockServer::start().await;
    let secret = S3Credentials::default().secret_access_key;
    let result = boto3_post(&server, "sdk/${filename}", version, &secret).await;
    assert!(result["fields"].get(signature_field).is_some(), "{result}");
    assert_eq!(result["status"], 201, "{result}");
    assert_eq!(
        xml_field(result["body"].as_str().unwrap(), "Key").as_deref(),
        Some("sdk/events.csv")
    );
    assert_eq!(server.files().object("sdk/events.csv").unwrap().size, 16);
    assert_eq!(
        server.files().count(),
        0,
        "a key the create endpoint never issued creates no import"
    );
}

#[rstest]
#[case::sigv2("s3")]
#[case::sigv4("s3v4")]
#[ignore = "needs python3 with boto3 (pip install boto3); .ci/run installs it and runs these"]
#[tokio::test]
async fn boto3_forms_signed_with_another_secret_are_refused(#[case] version: &str) {
    let server = MockServer::start().await;
    let result = boto3_post(&server, "sdk/x.csv", version, "not-the-secret").await;
    assert_eq!(result["status"], 403, "{result}");
    assert_eq!(
        xml_field(result["body"].as_str().unwrap(), "Code").as_deref(),
        Some("SignatureDoesNotMatch")
    );
    assert!(server.files().object("sdk/x.csv").is_none());
}

/// S3 reads a comma-separated Content-Type as a list: each value must satisfy the policy's
/// `starts-with`.
#[rstest]
#[case::one_text_type("text/csv", 201)]
#[case::a_list_of_text_types("text/csv,text/plain", 201)]
#[case::a_list_with_another_type("text/csv,application/json", 403)]
#[ignore = "needs python3 with boto3 (pip install boto3); .ci/run installs it and runs these"]
#[tokio::test]
async fn boto3_content_type_lists_are_checked_value_by_value(
    #[case] content_type: &str,
    #[case] status: u64,
) {
    let server = MockServer::start().await;
    let secret = S3Credentials::default().secret_access_key;
    let result = boto3_post_with(&server, "sdk/typed.csv", "s3v4", &secret, &[content_type]).await;
    assert_eq!(result["status"], status, "{result}");
    if status == 403 {
        assert_eq!(
            xml_field(result["body"].as_str().unwrap(), "Message").as_deref(),
            Some(
                r#"Invalid according to Policy: Policy Condition failed: ["starts-with", "$Content-Type", "text/"]"#
            )
        );
        assert!(server.files().object("sdk/typed.csv").is_none());
    }
}
