//! S3 form-POST rules from `reference/s3-post.md` beyond the basic flow: the order checks run
//! in, AWS's published SigV4 example, case rules, repeated fields, plain-text files, aborts.

use std::time::{Duration, UNIX_EPOCH};

use crate::common::*;
use base64::Engine;
use rstest::rstest;
use serde_json::json;
use u21_mock::config::S3Credentials;
use u21_mock::{Clock, Config, MockServer};

const BUCKET: &str = "u21-mock-uploads";

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

async fn code_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (
        status,
        xml_field(&body, "Code").unwrap_or_else(|| body.clone()),
    )
}

/// Each request fails several checks; S3 reports the first in its order: multipart →
/// key/file → signature fields → access key → signature → policy JSON → expiry/conditions →
/// coverage → size.
#[rstest]
#[case::key_before_signature_fields("no-key", 400, "InvalidArgument")]
#[case::signature_fields_before_access_key("partial-signature-fields", 400, "InvalidArgument")]
#[case::access_key_before_signature("wrong-access-key", 403, "InvalidAccessKeyId")]
#[case::signature_before_policy("bad-signature", 403, "SignatureDoesNotMatch")]
#[case::policy_json_before_expiry("invalid-policy", 400, "InvalidPolicyDocument")]
#[case::expiry_before_conditions("expired", 403, "AccessDenied")]
#[case::conditions_before_size("condition", 403, "AccessDenied")]
#[tokio::test]
async fn the_first_failing_check_wins(
    #[case] failure: &str,
    #[case] status: u16,
    #[case] code: &str,
) {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let url = format!("{}/{BUCKET}/", server.uri());
    let akid = S3Credentials::default().access_key_id;
    // Every form below is also too large for its policy (max 1 byte), expired, or both.
    let expired = b64(
        r#"{"expiration":"2020-01-01T00:00:00Z","conditions":[{"bucket":"u21-mock-uploads"},{"key":"k"},["content-length-range",0,1]]}"#,
    );
    let mismatching = b64(
        r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[{"bucket":"u21-mock-uploads"},{"key":"other"},["content-length-range",0,1]]}"#,
    );
    let not_json = b64("{not json");
    let form = match failure {
        "no-key" => fields(&[
            ("AWSAccessKeyId", "AKIAWRONG"),
            ("policy", &expired),
            ("signature", "x"),
        ]),
        "partial-signature-fields" => fields(&[
            ("key", "k"),
            ("AWSAccessKeyId", "AKIAWRONG"),
            ("policy", &expired),
        ]),
        "wrong-access-key" => fields(&[
            ("key", "k"),
            ("AWSAccessKeyId", "AKIAWRONG"),
            ("policy", &expired),
            ("signature", "x"),
        ]),
        "bad-signature" => fields(&[
            ("key", "k"),
            ("AWSAccessKeyId", &akid),
            ("policy", &expired),
            ("signature", "x"),
        ]),
        "invalid-policy" => fields(&[
            ("key", "k"),
            ("AWSAccessKeyId", &akid),
            ("policy", &not_json),
            ("signature", &sign_v2(&not_json)),
        ]),
        "expired" => fields(&[
            ("key", "other"),
            ("AWSAccessKeyId", &akid),
            ("policy", &expired),
            ("signature", &sign_v2(&expired)),
        ]),
        "condition" => fields(&[
            ("key", "k"),
            ("AWSAccessKeyId", &akid),
            ("policy", &mismatching),
            ("signature", &sign_v2(&mismatching)),
            ("x-uncovered", "1"),
        ]),
        other => unreachable!("{other}"),
    };
    let response = post_form(&url, &form, Some(("a.csv", b"too large".to_vec()))).await;
    assert_eq!(code_of(response).await, (status, code.to_owned()));
    assert!(server.files().object("k").is_none() && server.files().object("other").is_none());
}

/// AWS's "Example: Browser-Based Upload using HTTP POST (Using AWS Signature Version 4)"
/// (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-post-example.html), posted as published.
#[tokio::test]
async fn aws_sigv4_post_example_is_accepted_as_published() {
    let config = Config {
        bucket: "sigv4examplebucket".into(),
        s3: S3Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        },
        ..Config::default()
    };
    let clock = Clock::frozen(UNIX_EPOCH + Duration::from_secs(1_451_347_200)); // 2015-12-29T00:00:00Z
    let server = MockServer::builder()
        .config(config)
        .clock(clock)
        .start()
        .await;
    let policy = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
    let form = fields(&[
        ("key", "user/user1/${filename}"),
        ("acl", "public-read"),
        (
            "success_action_redirect",
            "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
        ),
        ("Content-Type", "image/jpeg"),
        ("x-amz-meta-uuid", "14365123651274"),
        ("x-amz-server-side-encryption", "AES256"),
        (
            "X-Amz-Credential",
            "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
        ),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Date", "20151229T000000Z"),
        ("x-amz-meta-tag", ""),
        ("Policy", policy),
        (
            "X-Amz-Signature",
            "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e",
        ),
    ]);
    let body = text_fields(&form)
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"\xff\xd8 a jpeg".to_vec()).file_name("photo.jpg"),
        )
        .text("submit", "Upload to Amazon S3");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = http
        .post(format!("{}/sigv4examplebucket/", server.uri()))
        .multipart(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html?bucket=sigv4examplebucket&key=user%2Fuser1%2Fphoto.jpg&etag=%22"),
        "{location}"
    );
    assert_eq!(
        server.files().object("user/user1/photo.jpg").unwrap().size,
        9
    );

    // The same form a day after its expiration.
    server
        .clock()
        .advance(Duration::from_secs(2 * 86_400))
        .await;
    let body = text_fields(&form).part(
        "file",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("late.jpg"),
    );
    let response = http
        .post(format!("{}/sigv4examplebucket/", server.uri()))
        .multipart(body)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(response).await, (403, "AccessDenied".to_owned()));
}

fn standard_policy(extra: serde_json::Value) -> (String, String) {
    let mut conditions = vec![json!({"bucket": BUCKET}), json!({"key": "k"})];
    conditions.extend(extra.as_array().cloned().unwrap_or_default());
    let policy =
        b64(&json!({"expiration": "2099-01-01T00:00:00Z", "conditions": conditions}).to_string());
    let signature = sign_v2(&policy);
    (policy, signature)
}

#[tokio::test]
async fn field_names_are_case_insensitive() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let (policy, signature) = standard_policy(json!([["eq", "$x-amz-meta-test-2", "v"]]));
    let akid = S3Credentials::default().access_key_id;
    let form = fields(&[
        ("KEY", "k"),
        ("awsaccesskeyid", &akid),
        ("Policy", &policy),
        ("Signature", &signature),
        ("x-amz-meta-TEST-2", "v"),
    ]);
    let response = post_form(
        &format!("{}/{BUCKET}", server.uri()),
        &form,
        Some(("a.csv", b"a".to_vec())),
    )
    .await;
    assert_eq!(response.status(), 204);
    assert!(server.files().object("k").is_some());
}

#[rstest]
#[case::repeated_fields_are_joined(&[("x-amz-meta-tag", "a"), ("x-amz-meta-tag", "b")], json!([{"x-amz-meta-tag": "a,b"}]), 204)]
#[case::joined_value_must_match(&[("x-amz-meta-tag", "a"), ("x-amz-meta-tag", "b")], json!([{"x-amz-meta-tag": "a"}]), 403)]
#[case::absent_field_is_empty_for_starts_with(&[], json!([["starts-with", "$x-amz-meta-tag", ""]]), 204)]
#[case::absent_field_fails_a_prefix(&[], json!([["starts-with", "$x-amz-meta-tag", "bar"]]), 403)]
#[case::values_are_case_sensitive(&[("acl", "Public-Read")], json!([{"acl": "public-read"}]), 403)]
#[case::x_ignore_needs_no_condition(&[("x-ignore-note", "hi")], json!([]), 204)]
#[case::empty_prefix_allows_anything(&[("Content-Type", "text/csv")], json!([["starts-with", "$Content-Type", ""]]), 204)]
#[tokio::test]
async fn field_matching(
    #[case] extra: &[(&str, &str)],
    #[case] conditions: serde_json::Value,
    #[case] status: u16,
) {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let (policy, signature) = standard_policy(conditions);
    let akid = S3Credentials::default().access_key_id;
    let mut form = fields(&[
        ("key", "k"),
        ("AWSAccessKeyId", &akid),
        ("policy", &policy),
        ("signature", &signature),
    ]);
    form.extend(fields(extra));
    let response = post_form(
        &format!("{}/{BUCKET}/", server.uri()),
        &form,
        Some(("a.csv", b"a".to_vec())),
    )
    .await;
    assert_eq!(
        response.status(),
        status,
        "{}",
        response.text().await.unwrap()
    );
    assert_eq!(server.files().object("k").is_some(), status == 204);
}

#[tokio::test]
async fn a_file_sent_as_a_plain_field_keeps_filename_literal() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let policy = b64(&json!({"expiration": "2099-01-01T00:00:00Z", "conditions": [{"bucket": BUCKET}, ["starts-with", "$key", "file-as-field-"]]}).to_string());
    let akid = S3Credentials::default().access_key_id;
    let form = fields(&[
        ("key", "file-as-field-${filename}"),
        ("AWSAccessKeyId", &akid),
        ("policy", &policy),
        ("signature", &sign_v2(&policy)),
    ]);
    let body = text_fields(&form).text("file", "a,b\n1,2\n");
    let response = http()
        .post(format!("{}/{BUCKET}/", server.uri()))
        .multipart(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        server
            .files()
            .object("file-as-field-${filename}")
            .unwrap()
            .size,
        8
    );
}

#[tokio::test]
async fn an_aborted_upload_leaves_no_object_and_no_status_change() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let created = create(&server, "s", "a.csv").await;
    let key = created["form_fields"]["key"].as_str().unwrap().to_owned();
    // The client's body breaks off after 1 MB of the file.
    let chunks = futures_util::stream::iter(vec![
        Ok::<_, std::io::Error>(vec![b'x'; 1_000_000]),
        Err(std::io::Error::other("client went away")),
    ]);
    let file =
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(chunks)).file_name("a.csv");
    let fields = fields_of(&created);
    let result = http()
        .post(created["url"].as_str().unwrap())
        .multipart(text_fields(&fields).part("file", file))
        .send()
        .await;
    assert!(result.is_err() || !result.unwrap().status().is_success());
    // Objects are committed only after a complete body, so whenever the server notices the
    // abort, nothing of it can have been stored.
    assert_eq!(
        get_import(&server, created["file_id"].as_str().unwrap()).await["status"],
        "PENDING_UPLOAD"
    );
    assert!(server.files().object(&key).is_none());
    // The form still works afterwards.
    assert_eq!(upload(&created, "a\n1\n", "a.csv").await.status(), 204);
    assert!(server.files().object(&key).is_some());
}
