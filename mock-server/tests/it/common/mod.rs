//! Helpers shared by the fake's HTTP tests.
#![allow(dead_code)]

pub mod certificates;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use u21_mock::config::S3Credentials;
use u21_mock::{Clock, MockServer};

/// 2023-11-14T22:13:20Z: a round instant to freeze clocks at.
pub const T0_SECS: u64 = 1_700_000_000;

pub fn frozen_clock() -> Clock {
    Clock::frozen(UNIX_EPOCH + Duration::from_secs(T0_SECS))
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

pub async fn create(server: &MockServer, stream: &str, file_name: &str) -> Value {
    let response = post_json(
        server,
        "/v1/imports/pre-signed-url/create",
        server.api_key(),
        json!({"stream_name": stream, "file_name": file_name}),
    )
    .await;
    assert_eq!(response.status(), 200, "create failed");
    response.json().await.unwrap()
}

pub async fn post_json(
    server: &MockServer,
    path: &str,
    key: &str,
    body: Value,
) -> reqwest::Response {
    http()
        .post(format!("{}{path}", server.uri()))
        .header("u21-key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn get_import(server: &MockServer, file_id: &str) -> Value {
    let response = http()
        .get(format!("{}/v1/imports/{file_id}", server.uri()))
        .header("u21-key", server.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A create answer's form fields, in order.
pub fn fields_of(created: &Value) -> Vec<(String, String)> {
    created["form_fields"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// Posts the form as the documentation's curl does: the returned fields, then the file.
pub async fn upload(
    created: &Value,
    body: impl Into<Vec<u8>>,
    file_name: &str,
) -> reqwest::Response {
    post_form(
        created["url"].as_str().unwrap(),
        &fields_of(created),
        Some((file_name, body.into())),
    )
    .await
}

pub async fn post_form(
    url: &str,
    fields: &[(String, String)],
    file: Option<(&str, Vec<u8>)>,
) -> reqwest::Response {
    let mut form = text_fields(fields);
    if let Some((name, bytes)) = file {
        form = form.part("file", Part::bytes(bytes).file_name(name.to_owned()));
    }
    http().post(url).multipart(form).send().await.unwrap()
}

/// A SigV2 form for `key` under the fake's default credentials, with `conditions`.
pub fn signed_v2_fields(
    key: &str,
    conditions: Value,
    expires_in: Duration,
    now: SystemTime,
) -> Vec<(String, String)> {
    let expiration = time::OffsetDateTime::from(now + expires_in)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let policy =
        BASE64.encode(json!({"expiration": expiration, "conditions": conditions}).to_string());
    let credentials = S3Credentials::default();
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(credentials.secret_access_key.as_bytes()).unwrap();
    mac.update(policy.as_bytes());
    let signature = BASE64.encode(mac.finalize().into_bytes());
    vec![
        ("key".into(), key.into()),
        ("AWSAccessKeyId".into(), credentials.access_key_id),
        ("policy".into(), policy),
        ("signature".into(), signature),
    ]
}

/// The `<Code>` and `<Message>` of an S3 XML error.
pub fn xml_field(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_owned())
}

/// A multipart form of text fields, in order; callers append the file and any tail.
pub fn text_fields(fields: &[(String, String)]) -> Form {
    fields.iter().fold(Form::new(), |form, (name, value)| {
        form.text(name.clone(), value.clone())
    })
}

/// The SigV2 signature of a base64 policy under the fake's default credentials.
pub fn sign_v2(policy_b64: &str) -> String {
    let secret = S3Credentials::default().secret_access_key;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(policy_b64.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}
