//! The S3 form-POST endpoint: what it accepts, and each rejection with S3's code, status and
//! exact message. A rejected upload never stores an object nor moves the import.

use std::time::{Duration, UNIX_EPOCH};

use crate::common::*;
use futures_util::StreamExt;
use rstest::rstest;
use serde_json::{json, Value};
use u21_mock::MockServer;

async fn server_and_form() -> (MockServer, Value) {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let created = create(&server, "s", "a.csv").await;
    (server, created)
}

fn replace(fields: &mut [(String, String)], name: &str, value: &str) {
    fields.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.to_owned();
}

fn without(fields: &[(String, String)], name: &str) -> Vec<(String, String)> {
    fields.iter().filter(|(n, _)| n != name).cloned().collect()
}

async fn assert_s3_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
    message: &str,
) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/xml");
    assert_eq!(response.headers()["server"], "AmazonS3");
    assert!(response.headers().contains_key("x-amz-request-id"));
    let xml = response.text().await.unwrap();
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"),
        "{xml}"
    );
    assert_eq!(xml_field(&xml, "Code").as_deref(), Some(code), "{xml}");
    assert_eq!(
        xml_field(&xml, "Message").as_deref(),
        Some(message),
        "{xml}"
    );
    xml
}

async fn assert_nothing_changed(server: &MockServer, created: &Value) {
    let key = created["form_fields"]["key"].as_str().unwrap();
    assert!(server.files().object(key).is_none(), "no object is stored");
    assert_eq!(
        get_import(server, created["file_id"].as_str().unwrap()).await["status"],
        "PENDING_UPLOAD"
    );
}

#[tokio::test]
async fn success_is_204_with_etag_and_location() {
    let (server, created) = server_and_form().await;
    let response = upload(&created, "a\n1\n", "a.csv").await;
    assert_eq!(response.status(), 204);
    // MD5 of "a\n1\n".
    assert_eq!(
        response.headers()["etag"],
        format!("\"{}\"", md5_hex(b"a\n1\n")).as_str()
    );
    let key = created["form_fields"]["key"].as_str().unwrap();
    let location = format!(
        "{}/u21-mock-uploads/{}",
        server.uri(),
        key.replace('/', "%2F")
    );
    assert_eq!(response.headers()["location"], location.as_str());
    assert!(response.headers().get("content-type").is_none());
    assert_eq!(server.files().object(key).unwrap().size, 4);
    assert_eq!(
        get_import(&server, created["file_id"].as_str().unwrap()).await["status"],
        "FINISHED"
    );
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

enum Tamper {
    Signature,
    AccessKey,
    DropKey,
    DropSignature,
    DropAccessKey,
    DropPolicy,
    DropAllAuth,
    KeyOfAnotherFile,
    ExtraField,
    GarbledPolicy,
    EmptyKey,
    LongKey,
}

#[rstest]
#[case::tampered_signature(Tamper::Signature, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")]
#[case::unknown_access_key(
    Tamper::AccessKey,
    403,
    "InvalidAccessKeyId",
    "The AWS Access Key Id you provided does not exist in our records."
)]
#[case::no_key(Tamper::DropKey, 400, "InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")]
#[case::no_signature(Tamper::DropSignature, 400, "InvalidArgument", "Bucket POST must contain a field named 'Signature'.  If it is specified, please check the order of the fields.")]
#[case::no_access_key(Tamper::DropAccessKey, 400, "InvalidArgument", "Bucket POST must contain a field named 'AWSAccessKeyId'.  If it is specified, please check the order of the fields.")]
#[case::no_policy(Tamper::DropPolicy, 400, "InvalidArgument", "Bucket POST must contain a field named 'Policy'.  If it is specified, please check the order of the fields.")]
#[case::anonymous(Tamper::DropAllAuth, 403, "AccessDenied", "Access Denied")]
#[case::key_not_in_the_policy(
    Tamper::KeyOfAnotherFile,
    403,
    "AccessDenied",
    "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$key\", \"KEY\"]"
)]
#[case::field_without_a_condition(
    Tamper::ExtraField,
    403,
    "AccessDenied",
    "Invalid according to Policy: Extra input fields: content-type"
)]
#[case::empty_key(Tamper::EmptyKey, 400, "InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")]
#[case::key_over_1024_bytes(Tamper::LongKey, 400, "KeyTooLongError", "Your key is too long.")]
#[case::policy_that_does_not_match_its_signature(Tamper::GarbledPolicy, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")]
#[tokio::test]
async fn rejected_forms(
    #[case] tamper: Tamper,
    #[case] status: u16,
    #[case] code: &str,
    #[case] message: &str,
) {
    let (server, created) = server_and_form().await;
    let mut fields = fields_of(&created);
    let key = created["form_fields"]["key"].as_str().unwrap().to_owned();
    let fields = match tamper {
        Tamper::Signature => {
            replace(&mut fields, "signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
            fields
        }
        Tamper::AccessKey => {
            replace(&mut fields, "AWSAccessKeyId", "AKIAOTHER");
            fields
        }
        Tamper::DropKey => without(&fields, "key"),
        Tamper::DropSignature => without(&fields, "signature"),
        Tamper::DropAccessKey => without(&fields, "AWSAccessKeyId"),
        Tamper::DropPolicy => without(&fields, "policy"),
        Tamper::DropAllAuth => without(
            &without(&without(&fields, "policy"), "signature"),
            "AWSAccessKeyId",
        ),
        Tamper::KeyOfAnotherFile => {
            replace(&mut fields, "key", "dev/org_demo/other.csv");
            fields
        }
        Tamper::ExtraField => {
            fields.push(("Content-Type".into(), "text/csv".into()));
            fields
        }
        Tamper::GarbledPolicy => {
            replace(&mut fields, "policy", "bm90IGpzb24=");
            fields
        }
        Tamper::EmptyKey => {
            replace(&mut fields, "key", "");
            fields
        }
        Tamper::LongKey => {
            replace(&mut fields, "key", &format!("dev/{}", "k".repeat(1021)));
            fields
        }
    };
    let response = post_form(
        created["url"].as_str().unwrap(),
        &fields,
        Some(("a.csv", b"a\n1\n".to_vec())),
    )
    .await;
    let message = message.replace("KEY", &key);
    let xml = assert_s3_error(response, status, code, &message).await;
    match code {
        "SignatureDoesNotMatch" => {
            assert_eq!(
                xml_field(&xml, "AWSAccessKeyId").as_deref(),
                Some("AKIAU21MOCKEXAMPLE00")
            );
            let policy = fields
                .iter()
                .find(|(n, _)| n == "policy")
                .unwrap()
                .1
                .clone();
            assert_eq!(xml_field(&xml, "StringToSign"), Some(policy));
        }
        "InvalidAccessKeyId" => assert_eq!(
            xml_field(&xml, "AWSAccessKeyId").as_deref(),
            Some("AKIAOTHER")
        ),
        "InvalidArgument" => assert_eq!(xml_field(&xml, "ArgumentValue").as_deref(), Some("")),
        "KeyTooLongError" => assert_eq!(
            (
                xml_field(&xml, "Size").as_deref(),
                xml_field(&xml, "MaxSizeAllowed").as_deref()
            ),
            (Some("1025"), Some("1024"))
        ),
        _ => {}
    }
    assert_nothing_changed(&server, &created).await;
}

#[tokio::test]
async fn an_expired_form_is_refused_and_the_file_stays_pending() {
    let (server, created) = server_and_form().await;
    server.clock().advance(Duration::from_secs(2 * 3600)).await;
    // At the expiration instant the form still works; a second later it does not.
    server.clock().advance(Duration::from_secs(1)).await;
    let response = upload(&created, "a\n1\n", "a.csv").await;
    assert_s3_error(
        response,
        403,
        "AccessDenied",
        "Invalid according to Policy: Policy expired.",
    )
    .await;
    assert_nothing_changed(&server, &created).await;
}

#[tokio::test]
async fn a_file_over_the_policy_maximum_is_refused_while_streaming() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let created = create(&server, "s", "a.csv").await;
    let key = created["form_fields"]["key"].as_str().unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(T0_SECS);
    let conditions =
        json!([["content-length-range", 5, 10], {"bucket": "u21-mock-uploads"}, {"key": key}]);
    let fields = signed_v2_fields(key, conditions, Duration::from_secs(60), now);
    let url = created["url"].as_str().unwrap();

    let response = post_form(url, &fields, Some(("a.csv", vec![b'x'; 11]))).await;
    let xml = assert_s3_error(
        response,
        400,
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
    )
    .await;
    assert_eq!(xml_field(&xml, "MaxSizeAllowed").as_deref(), Some("10"));
    assert_nothing_changed(&server, &created).await;

    let response = post_form(url, &fields, Some(("a.csv", vec![b'x'; 4]))).await;
    let xml = assert_s3_error(
        response,
        400,
        "EntityTooSmall",
        "Your proposed upload is smaller than the minimum allowed size",
    )
    .await;
    assert_eq!(
        (
            xml_field(&xml, "ProposedSize").as_deref(),
            xml_field(&xml, "MinSizeAllowed").as_deref()
        ),
        (Some("4"), Some("5"))
    );
    assert_nothing_changed(&server, &created).await;

    for size in [5, 10] {
        assert_eq!(
            post_form(url, &fields, Some(("a.csv", vec![b'x'; size])))
                .await
                .status(),
            204,
            "bounds are inclusive"
        );
    }
}

#[tokio::test]
async fn a_large_file_over_the_limit_is_cut_off_without_being_stored() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let created = create(&server, "s", "big.csv").await;
    let key = created["form_fields"]["key"].as_str().unwrap();
    let conditions = json!([["content-length-range", 0, 1_000_000], {"bucket": "u21-mock-uploads"}, {"key": key}]);
    let fields = signed_v2_fields(
        key,
        conditions,
        Duration::from_secs(60),
        UNIX_EPOCH + Duration::from_secs(T0_SECS),
    );
    let response = post_form(
        created["url"].as_str().unwrap(),
        &fields,
        Some(("big.csv", vec![b'x'; 8_000_000])),
    )
    .await;
    assert_s3_error(
        response,
        400,
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
    )
    .await;
    assert_nothing_changed(&server, &created).await;
}

/// Posts `parts` as a multipart body under `boundary`, declaring `length`, each part made as
/// it is sent; returns the answer and how many bytes the client had sent by then.
async fn post_counted(
    url: &str,
    boundary: &str,
    length: u64,
    parts: impl Iterator<Item = bytes::Bytes> + Send + Sync + 'static,
) -> (reqwest::Response, u64) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    let chunks = futures_util::stream::iter(parts.map(move |part| {
        counter.fetch_add(part.len() as u64, Ordering::Relaxed);
        Ok::<_, std::io::Error>(part)
    }));
    let response = http()
        .post(url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("content-length", length)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    let read = sent.load(Ordering::Relaxed);
    (response, read)
}

/// S3 refuses a request whose declared length already rules the file out, before reading it:
/// the fake answers having read a fraction of a 64 MiB file whose policy allows 48 MiB.
#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_file_is_read() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let created = create(&server, "s", "huge.csv").await;
    let key = created["form_fields"]["key"].as_str().unwrap();
    let conditions = json!([["content-length-range", 0, 48 * 1024 * 1024], {"bucket": "u21-mock-uploads"}, {"key": key}]);
    let fields = signed_v2_fields(
        key,
        conditions,
        Duration::from_secs(60),
        UNIX_EPOCH + Duration::from_secs(T0_SECS),
    );
    let boundary = "XyZzY";
    let mut head = String::new();
    for (name, value) in &fields {
        head += &format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        );
    }
    head += &format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"huge.csv\"\r\n\r\n");
    let tail = format!("\r\n--{boundary}--\r\n");
    const FILE: u64 = 64 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let length = head.len() as u64 + FILE + tail.len() as u64;
    // The body is made as it is sent, and counted.
    let parts = std::iter::once(bytes::Bytes::from(head))
        .chain((0..FILE / CHUNK as u64).map(|_| bytes::Bytes::from(vec![b'x'; CHUNK])))
        .chain(std::iter::once(bytes::Bytes::from(tail)));
    let (response, read) =
        post_counted(created["url"].as_str().unwrap(), boundary, length, parts).await;
    let xml = assert_s3_error(
        response,
        400,
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
    )
    .await;
    assert_eq!(
        xml_field(&xml, "MaxSizeAllowed").as_deref(),
        Some("50331648")
    );
    assert!(
        read < FILE / 2,
        "the fake read {read} bytes of a {FILE}-byte file it could refuse from its length"
    );
    assert_nothing_changed(&server, &created).await;
}

#[tokio::test]
async fn no_file_and_two_files() {
    let (server, created) = server_and_form().await;
    let url = created["url"].as_str().unwrap();
    let xml = assert_s3_error(
        post_form(url, &fields_of(&created), None).await,
        400,
        "InvalidArgument",
        "POST requires exactly one file upload per request.",
    )
    .await;
    assert_eq!(
        (
            xml_field(&xml, "ArgumentName").as_deref(),
            xml_field(&xml, "ArgumentValue").as_deref()
        ),
        (Some("file"), Some("0"))
    );

    let mut form = text_fields(&fields_of(&created));
    form = form
        .text("file", "a\n1\n")
        .text("submit", "Upload")
        .text("file", "b\n2\n");
    let response = http().post(url).multipart(form).send().await.unwrap();
    let xml = assert_s3_error(
        response,
        400,
        "InvalidArgument",
        "POST requires exactly one file upload per request.",
    )
    .await;
    assert_eq!(xml_field(&xml, "ArgumentValue").as_deref(), Some("2"));
    assert_nothing_changed(&server, &created).await;
}

#[tokio::test]
async fn fields_after_the_file_are_ignored() {
    let (server, created) = server_and_form().await;
    let mut form = text_fields(&fields_of(&created));
    form = form
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"a\n1\n".to_vec()).file_name("a.csv"),
        )
        .text("submit", "Upload");
    let response = http()
        .post(created["url"].as_str().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(server
        .files()
        .object(created["form_fields"]["key"].as_str().unwrap())
        .is_some());
}

#[tokio::test]
async fn a_long_tail_after_the_file_is_refused_and_nothing_stored() {
    let (server, created) = server_and_form().await;
    let mut form = text_fields(&fields_of(&created));
    let file = reqwest::multipart::Part::bytes(b"a\n".to_vec()).file_name("a.csv");
    form = form
        .part("file", file)
        .text("submit", "x".repeat(21 * 1024));
    let response = http()
        .post(created["url"].as_str().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    let message = "The body of your POST request is not well-formed multipart/form-data.";
    assert_s3_error(response, 400, "MalformedPOSTRequest", message).await;
    assert_nothing_changed(&server, &created).await;
}

#[tokio::test]
async fn a_key_after_the_file_does_not_count() {
    let (server, created) = server_and_form().await;
    let mut fields = fields_of(&created);
    let key = fields.remove(1);
    assert_eq!(key.0, "key");
    let mut form = text_fields(&fields);
    form = form
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"a\n".to_vec()).file_name("a.csv"),
        )
        .text(key.0, key.1);
    let response = http()
        .post(created["url"].as_str().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_s3_error(response, 400, "InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.").await;
    assert_nothing_changed(&server, &created).await;
}

#[tokio::test]
async fn fields_before_the_file_are_limited_to_20_kb() {
    let (server, created) = server_and_form().await;
    let mut fields = fields_of(&created);
    fields.push(("x-ignore-padding".into(), "p".repeat(21 * 1024)));
    let response = post_form(
        created["url"].as_str().unwrap(),
        &fields,
        Some(("a.csv", b"a\n".to_vec())),
    )
    .await;
    let xml = assert_s3_error(
        response,
        400,
        "MaxPostPreDataLengthExceeded",
        "Your POST request fields preceeding the upload file was too large.",
    )
    .await;
    assert_eq!(
        xml_field(&xml, "MaxPostPreDataLengthBytes").as_deref(),
        Some("20480")
    );
    assert_nothing_changed(&server, &created).await;
}

#[rstest]
#[case::json_body(
    "application/json",
    412,
    "PreconditionFailed",
    "At least one of the pre-conditions you specified did not hold"
)]
#[case::url_encoded(
    "application/x-www-form-urlencoded",
    412,
    "PreconditionFailed",
    "At least one of the pre-conditions you specified did not hold"
)]
#[case::multipart_without_boundary(
    "multipart/form-data",
    400,
    "MalformedPOSTRequest",
    "The body of your POST request is not well-formed multipart/form-data."
)]
#[case::broken_multipart(
    "multipart/form-data; boundary=XYZ",
    400,
    "MalformedPOSTRequest",
    "The body of your POST request is not well-formed multipart/form-data."
)]
#[tokio::test]
async fn bodies_that_are_not_forms(
    #[case] content_type: &str,
    #[case] status: u16,
    #[case] code: &str,
    #[case] message: &str,
) {
    let (server, created) = server_and_form().await;
    let response = http()
        .post(created["url"].as_str().unwrap())
        .header("content-type", content_type)
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nunterminated")
        .send()
        .await
        .unwrap();
    let xml = assert_s3_error(response, status, code, message).await;
    if status == 412 {
        assert_eq!(
            xml_field(&xml, "Condition").as_deref(),
            Some("Bucket POST must be of the enclosure-type multipart/form-data")
        );
    }
    assert_nothing_changed(&server, &created).await;
}

#[tokio::test]
async fn posting_to_an_object_url_is_405_and_unknown_buckets_404() {
    let (server, created) = server_and_form().await;
    let url = format!("{}u21-mock-uploads/some/key", server.uri() + "/");
    let response = post_form(&url, &fields_of(&created), Some(("a.csv", b"a\n".to_vec()))).await;
    let xml = assert_s3_error(
        response,
        405,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
    .await;
    assert_eq!(xml_field(&xml, "ResourceType").as_deref(), Some("OBJECT"));
    let response = post_form(
        &format!("{}/other-bucket/", server.uri()),
        &fields_of(&created),
        Some(("a.csv", b"a\n".to_vec())),
    )
    .await;
    assert_s3_error(
        response,
        404,
        "NoSuchBucket",
        "The specified bucket does not exist",
    )
    .await;
    assert_nothing_changed(&server, &created).await;
}

#[tokio::test]
async fn success_action_status_and_redirect() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let now = UNIX_EPOCH + Duration::from_secs(T0_SECS);
    let url = format!("{}/u21-mock-uploads/", server.uri());
    // success_action_status takes exact conditions only, so each variant signs its own policy.
    let form_with = |status: &str, redirect: Option<&str>| {
        let mut conditions = vec![
            json!({"bucket": "u21-mock-uploads"}),
            json!(["starts-with", "$key", "uploads/"]),
            json!({"success_action_status": status}),
        ];
        if let Some(redirect) = redirect {
            conditions.push(json!(["starts-with", "$success_action_redirect", redirect]));
        }
        let mut fields = signed_v2_fields(
            "uploads/${filename}",
            json!(conditions),
            Duration::from_secs(60),
            now,
        );
        fields.push(("success_action_status".into(), status.into()));
        if let Some(redirect) = redirect {
            fields.push(("success_action_redirect".into(), redirect.into()));
        }
        fields
    };

    let response = post_form(
        &url,
        &form_with("201", None),
        Some(("dir\\r.csv", b"a\n".to_vec())),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "application/xml");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let xml = response.text().await.unwrap();
    assert_eq!(
        xml_field(&xml, "Key").as_deref(),
        Some("uploads/r.csv"),
        "${{filename}} takes the name after the last backslash"
    );
    assert_eq!(
        xml_field(&xml, "Bucket").as_deref(),
        Some("u21-mock-uploads")
    );
    assert_eq!(
        xml_field(&xml, "Location"),
        Some(format!("{}/u21-mock-uploads/uploads%2Fr.csv", server.uri()))
    );
    assert_eq!(xml_field(&xml, "ETag"), Some(etag));

    let ok = post_form(
        &url,
        &form_with("200", None),
        Some(("r.csv", b"a\n".to_vec())),
    )
    .await;
    assert_eq!(
        (ok.status().as_u16(), ok.text().await.unwrap()),
        (200, String::new())
    );
    let invalid = post_form(
        &url,
        &form_with("404", None),
        Some(("r.csv", b"a\n".to_vec())),
    )
    .await;
    assert_eq!(invalid.status(), 204, "an invalid status falls back to 204");

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |fields: Vec<(String, String)>| {
        let form = text_fields(&fields).part(
            "file",
            reqwest::multipart::Part::bytes(b"a\n".to_vec()).file_name("r.csv"),
        );
        no_redirects.post(&url).multipart(form).send()
    };
    let response = post(form_with("201", Some("https://example.test/done")))
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        303,
        "a redirect wins over the status field"
    );
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        format!(
            "https://example.test/done?bucket=u21-mock-uploads&key=uploads%2Fr.csv&etag=%22{}%22",
            md5_hex(b"a\n")
        )
    );
    assert_eq!(response.text().await.unwrap(), "");
    let relative = post(form_with("200", Some("/done"))).await.unwrap();
    assert_eq!(
        relative.status(),
        200,
        "a redirect S3 cannot interpret is ignored"
    );
}

#[tokio::test]
async fn any_form_signed_with_the_credentials_is_stored_without_an_import() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let now = UNIX_EPOCH + Duration::from_secs(T0_SECS);
    let conditions = json!([{"bucket": "u21-mock-uploads"}, {"key": "elsewhere/x.csv"}]);
    let fields = signed_v2_fields("elsewhere/x.csv", conditions, Duration::from_secs(60), now);
    let response = post_form(
        &format!("{}/u21-mock-uploads", server.uri()),
        &fields,
        Some(("x.csv", b"a\n".to_vec())),
    )
    .await;
    assert_eq!(response.status(), 204);
    assert_eq!(server.files().object("elsewhere/x.csv").unwrap().size, 2);
    assert_eq!(server.files().count(), 0);
}

#[tokio::test]
async fn sigv4_forms_are_verified() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let created = create(&server, "s", "a.csv").await;
    let key = created["form_fields"]["key"].as_str().unwrap();
    let credentials = u21_mock::config::S3Credentials::default();
    let credential = format!(
        "{}/20231114/us-east-1/s3/aws4_request",
        credentials.access_key_id
    );
    let policy = json!({"expiration": "2023-11-15T00:00:00Z", "conditions": [
        {"bucket": "u21-mock-uploads"}, {"key": key},
        {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": credential}, {"x-amz-date": "20231114T221320Z"}]});
    use base64::Engine;
    let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    let signature = {
        use hmac::Mac;
        let mac = |k: &[u8], d: &[u8]| {
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(k).unwrap();
            m.update(d);
            m.finalize().into_bytes().to_vec()
        };
        let k = mac(
            format!("AWS4{}", credentials.secret_access_key).as_bytes(),
            b"20231114",
        );
        let k = mac(&mac(&mac(&k, b"us-east-1"), b"s3"), b"aws4_request");
        hex::encode(mac(&k, policy.as_bytes()))
    };
    let mut fields: Vec<(String, String)> = vec![
        ("key".into(), key.into()),
        ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
        ("X-Amz-Credential".into(), credential),
        ("X-Amz-Date".into(), "20231114T221320Z".into()),
        ("Policy".into(), policy),
        ("X-Amz-Signature".into(), signature),
    ];
    let url = created["url"].as_str().unwrap();
    assert_eq!(
        post_form(url, &fields, Some(("a.csv", b"a\n1\n".to_vec())))
            .await
            .status(),
        204
    );
    fields.last_mut().unwrap().1 = "0".repeat(64);
    let response = post_form(url, &fields, Some(("a.csv", b"a\n1\n".to_vec()))).await;
    assert_s3_error(response, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.").await;
}

/// Empty parts count against the 20 KiB budgets before and after the file: a body of
/// thousands of empty parts is refused, not streamed forever.
#[rstest]
#[case::before_the_file(true, "MaxPostPreDataLengthExceeded")]
#[case::after_the_file(false, "MalformedPOSTRequest")]
#[tokio::test]
async fn empty_parts_count_against_the_field_budgets(#[case] before: bool, #[case] code: &str) {
    let (server, created) = server_and_form().await;
    let boundary = "B0undary";
    let part = |name: &str, value: &str| {
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
    };
    let empties: String = (0..2000).map(|_| part("e", "")).collect();
    let mut body = String::new();
    if before {
        body += &empties;
    }
    for (name, value) in fields_of(&created) {
        body += &part(&name, &value);
    }
    body += &format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\na\n1\n\r\n");
    if !before {
        body += &empties;
    }
    body += &format!("--{boundary}--\r\n");
    let response = http()
        .post(created["url"].as_str().unwrap())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let xml = response.text().await.unwrap();
    assert_eq!(xml_field(&xml, "Code").as_deref(), Some(code), "{xml}");
    assert_nothing_changed(&server, &created).await;
}

/// A body that never reaches its file (a huge preamble, a header block that never ends) is
/// refused after a bounded read, never buffered whole.
#[rstest]
#[case::preamble_without_a_boundary(false)]
#[case::a_part_header_that_never_ends(true)]
#[tokio::test]
async fn framing_that_never_reaches_the_file_is_refused_after_a_bounded_read(
    #[case] in_a_header: bool,
) {
    let (server, created) = server_and_form().await;
    let boundary = "B0undary";
    const PADDING: u64 = 64 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let start = if in_a_header {
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\nX-Pad: ")
    } else {
        String::new()
    };
    let parts = std::iter::once(bytes::Bytes::from(start.clone()))
        .chain((0..PADDING / CHUNK as u64).map(|_| bytes::Bytes::from(vec![b'x'; CHUNK])));
    let (response, read) = post_counted(
        created["url"].as_str().unwrap(),
        boundary,
        start.len() as u64 + PADDING,
        parts,
    )
    .await;
    assert_eq!(response.status(), 400);
    let xml = response.text().await.unwrap();
    assert_eq!(
        xml_field(&xml, "Code").as_deref(),
        Some("MaxPostPreDataLengthExceeded"),
        "{xml}"
    );
    assert!(read < PADDING / 2, "the fake read {read} bytes of framing");
    assert_nothing_changed(&server, &created).await;
}

/// A client that starts a file and stops sending gives its threads and slot back after a
/// moment, so another upload is stored meanwhile even with one slot in all; the stalled one
/// is cut after the idle limit with S3's RequestTimeout. (Before, the stalled client held the
/// slot for the whole idle limit and the other was told SlowDown.)
#[tokio::test]
async fn a_stalled_upload_is_cut_and_does_not_hold_up_the_others() {
    let mut config = u21_mock::Config::default();
    config.limits.concurrent_uploads = 1;
    config.limits.upload_idle_secs = 0.5;
    let server = MockServer::builder()
        .config(config)
        .clock(frozen_clock())
        .start()
        .await;
    let stalled = create(&server, "s", "stalled.csv").await;
    let normal = create(&server, "s", "normal.csv").await;
    let boundary = "St4ll";
    let mut head = String::new();
    for (name, value) in fields_of(&stalled) {
        head += &format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        );
    }
    head += &format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"stalled.csv\"\r\n\r\na\n1\n");
    // The head, then nothing, ever.
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(head))])
        .chain(futures_util::stream::pending());
    let url = stalled["url"].as_str().unwrap().to_owned();
    let stalled_upload = tokio::spawn(async move {
        let response = http()
            .post(url)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    });
    // Another client, meanwhile: stored.
    let other = upload(&normal, "a\n1\n", "normal.csv").await;
    assert_eq!(other.status(), 204);
    let (status, xml) = tokio::time::timeout(std::time::Duration::from_secs(20), stalled_upload)
        .await
        .expect("the stalled upload is answered, not held forever")
        .unwrap();
    let code = xml_field(&xml, "Code").unwrap_or_default();
    assert_eq!((status, code.as_str()), (400, "RequestTimeout"), "{xml}");
    assert_nothing_changed(&server, &stalled).await;
}

/// A slow client (here, one that pauses a quarter of a second mid-file, longer than the fake
/// waits before giving its threads back) still uploads its file whole.
#[tokio::test]
async fn an_upload_that_pauses_mid_file_resumes_and_is_stored_whole() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let created = create(&server, "s", "slow.csv").await;
    let boundary = "Sl0w";
    let mut head = String::new();
    for (name, value) in fields_of(&created) {
        head += &format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        );
    }
    head += &format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.csv\"\r\n\r\na\n1\n");
    let tail = format!("2\n3\n\r\n--{boundary}--\r\n");
    let parts = [bytes::Bytes::from(head), bytes::Bytes::from(tail)];
    let body =
        futures_util::stream::iter(parts.into_iter().enumerate()).then(|(i, part)| async move {
            if i == 1 {
                // The client's own pause: what is being tested, not a wait for the server.
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Ok::<_, std::io::Error>(part)
        });
    let response = http()
        .post(created["url"].as_str().unwrap())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let key = created["form_fields"]["key"].as_str().unwrap();
    let object = server.files().object(key).unwrap();
    assert_eq!(std::fs::read(&object.path).unwrap(), b"a\n1\n2\n3\n");
    let md5 = {
        use md5::Digest;
        hex::encode(md5::Md5::digest(b"a\n1\n2\n3\n"))
    };
    assert_eq!(object.etag, format!("\"{md5}\""));
}

/// Two files of the same name created in the same millisecond (other streams, or a fresh
/// md5_hash) get different keys, so each upload lands on its own file.
#[tokio::test]
async fn files_created_in_the_same_millisecond_never_share_a_key() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let first = create(&server, "stream-a", "same.csv").await;
    let second = create(&server, "stream-b", "same.csv").await;
    let key = |form: &Value| form["form_fields"]["key"].as_str().unwrap().to_owned();
    assert_ne!(key(&first), key(&second));
    assert_eq!(upload(&first, "a\n1\n", "same.csv").await.status(), 204);
    let id = |form: &Value| form["file_id"].as_str().unwrap().to_owned();
    assert_ne!(
        get_import(&server, &id(&first)).await["status"],
        "PENDING_UPLOAD"
    );
    assert_eq!(
        get_import(&server, &id(&second)).await["status"],
        "PENDING_UPLOAD"
    );
    assert_eq!(upload(&second, "a\n1\n2\n", "same.csv").await.status(), 204);
    assert_ne!(
        get_import(&server, &id(&second)).await["status"],
        "PENDING_UPLOAD"
    );
}

/// S3 takes a path-style form POST at `/bucket` as at `/bucket/` (docs/s3-post.md §1): a client
/// whose URL library drops the trailing slash uploads all the same.
#[tokio::test]
async fn the_bucket_url_without_its_trailing_slash_takes_the_upload() {
    let (server, created) = server_and_form().await;
    let url = created["url"].as_str().unwrap().trim_end_matches('/');
    assert!(url.ends_with("/u21-mock-uploads"), "{url}");
    let response = post_form(
        url,
        &fields_of(&created),
        Some(("a.csv", b"a\n1\n".to_vec())),
    )
    .await;
    assert_eq!(response.status(), 204);
    let key = created["form_fields"]["key"].as_str().unwrap();
    assert_eq!(server.files().object(key).unwrap().size, 4);
}

/// A client still sending a file over the size bound reads S3's EntityTooLarge, not a reset.
/// The fake read 8 MiB, answered and closed with the rest unread: the kernel then resets the
/// connection, and a reset throws away an answer the client has not read yet (the reference
/// client, busy sending, saw "Broken pipe" in 3 runs of 12 of the kit). It now answers at
/// once and goes on reading what follows.
#[tokio::test]
async fn a_client_still_sending_an_oversized_file_reads_the_refusal() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const MIB: usize = 1024 * 1024;
    let server = MockServer::start().await;
    let created = create(&server, "s", "huge.csv").await;
    let mut form = String::new();
    for (name, value) in created["form_fields"].as_object().unwrap() {
        let value = value.as_str().unwrap();
        form +=
            &format!("--XB\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
    }
    form += "--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"huge.csv\"\r\n\r\n";
    let length = form.len() + 301 * MIB + "\r\n--XB--\r\n".len();
    let mut stream = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    let head = format!(
        "POST /u21-mock-uploads/ HTTP/1.1\r\nHost: localhost\r\ncontent-type: multipart/form-data; boundary=XB\r\nContent-Length: {length}\r\n\r\n{form}"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // 32 MiB of the file, the answer unread: four times what the fake read before it closed.
    let chunk = vec![b'x'; MIB];
    for sent in 0..32 {
        stream
            .write_all(&chunk)
            .await
            .unwrap_or_else(|err| panic!("the fake stopped reading after {sent} MiB: {err}"));
    }
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("EntityTooLarge"), "{answer}");
}

/// The returned form, a small file, and an `Authorization` header S3 cannot read.
async fn post_with_authorization(created: &Value) -> reqwest::Response {
    let form = text_fields(&fields_of(created)).part(
        "file",
        reqwest::multipart::Part::bytes(b"a\n1\n".to_vec()).file_name("a.csv"),
    );
    http()
        .post(created["url"].as_str().unwrap())
        .header("authorization", "Bearer not-for-s3")
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// S3 takes a form POST's credentials from the form: an `Authorization` header beside them
/// (a client sending its API key, or basic auth, to S3) is refused with S3's answer to an
/// authorization it cannot read (FIDELITY.md), and nothing is stored.
#[tokio::test]
async fn a_form_post_with_an_authorization_header_is_refused() {
    let (server, created) = server_and_form().await;
    let response = post_with_authorization(&created).await;
    let xml = assert_s3_error(
        response,
        400,
        "InvalidArgument",
        "Unsupported Authorization Type",
    )
    .await;
    assert_eq!(
        xml_field(&xml, "ArgumentName").as_deref(),
        Some("Authorization")
    );
    assert_eq!(
        xml_field(&xml, "ArgumentValue").as_deref(),
        Some("Bearer not-for-s3")
    );
    assert_nothing_changed(&server, &created).await;
}

/// By switch, the header is ignored as moto and MinIO ignore it: the upload is stored.
#[tokio::test]
async fn by_switch_an_authorization_header_is_ignored() {
    let server = MockServer::builder()
        .clock(frozen_clock())
        .fidelity(u21_mock::Fidelity {
            s3_refuse_authorization_header: false,
            ..u21_mock::Fidelity::default()
        })
        .start()
        .await;
    let created = create(&server, "s", "a.csv").await;
    let response = post_with_authorization(&created).await;
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    let key = created["form_fields"]["key"].as_str().unwrap();
    assert_eq!(server.files().object(key).expect("stored").size, 4);
}

/// S3 requires `Content-Length` on PUTs only (RESTCommonRequestHeaders); a form POST sent
/// chunked, as a client streaming a file of unknown length sends it, is stored byte for byte.
#[tokio::test]
async fn a_chunked_form_post_is_stored_byte_for_byte() {
    let (server, created) = server_and_form().await;
    let content: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        content.chunks(7_000).map(|c| Ok(c.to_vec())).collect();
    let file = reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(
        futures_util::stream::iter(chunks),
    ))
    .file_name("a.csv");
    let request = http()
        .post(created["url"].as_str().unwrap())
        .multipart(text_fields(&fields_of(&created)).part("file", file))
        .build()
        .unwrap();
    assert!(
        request.headers().get("content-length").is_none(),
        "sent chunked"
    );
    let response = http().execute(request).await.unwrap();
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    let key = created["form_fields"]["key"].as_str().unwrap();
    let object = server.files().object(key).expect("stored");
    assert_eq!(object.size, content.len() as u64);
    assert_eq!(object.etag, format!("\"{}\"", md5_hex(&content)));
}
