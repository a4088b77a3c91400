//! Whole flows through the in-process fake, as a client crate would drive it.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use u21_mock::{MockServer, Timing};

async fn create(
    http: &reqwest::Client,
    server: &MockServer,
    key: &str,
    stream: &str,
    name: &str,
) -> Value {
    let response = http
        .post(format!("{}/v1/imports/pre-signed-url/create", server.uri()))
        .header("u21-key", key)
        .json(&json!({"stream_name": stream, "file_name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn form(created: &Value, file: reqwest::multipart::Part) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in created["form_fields"].as_object().unwrap() {
        form = form.text(name.clone(), value.as_str().unwrap().to_owned());
    }
    form.part("file", file)
}

async fn status(http: &reqwest::Client, server: &MockServer, key: &str, id: &Value) -> Value {
    http.get(format!(
        "{}/v1/imports/{}",
        server.uri(),
        id.as_str().unwrap()
    ))
    .header("u21-key", key)
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

/// The README's "In Rust tests" example, filled in.
#[tokio::test]
async fn readme_example_a_client_waits_for_processing() {
    let server = MockServer::builder().timing(Timing::Fast).start().await;
    let http = reqwest::Client::new();
    let created = create(&http, &server, server.api_key(), "txns", "a.csv").await;
    let file = reqwest::multipart::Part::bytes(b"id\n1\n2\n".to_vec()).file_name("a.csv");
    let response = http
        .post(created["url"].as_str().unwrap())
        .multipart(form(&created, file))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        status(&http, &server, server.api_key(), &created["file_id"]).await["status"],
        "QUEUED"
    );
    server.clock().advance(Duration::from_secs(2)).await;
    let done = status(&http, &server, server.api_key(), &created["file_id"]).await;
    assert_eq!(
        (done["status"].as_str(), done["successful_count"].as_u64()),
        (Some("FINISHED"), Some(2))
    );
}

#[tokio::test]
async fn a_large_streamed_jsonl_upload_is_counted_record_by_record() {
    let server = MockServer::start().await;
    let http = reqwest::Client::new();
    let created = create(&http, &server, server.api_key(), "events", "events.jsonl").await;
    // 40,000 chunks of 10 lines: 400,000 records, 1 in 1,000 broken, about 15 MB in all.
    let line = |i: u64| {
        if i % 1000 == 999 {
            "{broken\n".to_owned()
        } else {
            format!("{{\"id\":{i},\"kind\":\"login\",\"ok\":true}}\n")
        }
    };
    let chunk = move |c: u64| {
        Ok::<_, std::io::Error>(Bytes::from(
            (c * 10..c * 10 + 10).map(line).collect::<String>(),
        ))
    };
    let size: u64 = (0..400_000).map(|i| line(i).len() as u64).sum();
    let body =
        reqwest::Body::wrap_stream(futures_util::stream::iter((0..40_000).map(chunk)).boxed());
    let file = reqwest::multipart::Part::stream(body).file_name("events.jsonl");
    let response = http
        .post(created["url"].as_str().unwrap())
        .multipart(form(&created, file))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let done = status(&http, &server, server.api_key(), &created["file_id"]).await;
    assert_eq!(done["status"], "FINISHED");
    assert_eq!(
        (
            done["successful_count"].as_u64(),
            done["failure_count"].as_u64()
        ),
        (Some(399_600), Some(400))
    );
    let stored = server
        .files()
        .object(created["form_fields"]["key"].as_str().unwrap())
        .unwrap();
    assert_eq!(stored.size, size);
}

#[tokio::test]
async fn two_organisations_share_a_fake_without_seeing_each_other() {
    let server = MockServer::builder()
        .key("alice-key", "alice")
        .key("bob-key", "bob")
        .start()
        .await;
    let http = reqwest::Client::new();
    for key in ["alice-key", "bob-key", "alice-key"] {
        let created = create(
            &http,
            &server,
            key,
            "s",
            &format!("{key}-{}.csv", server.files().count()),
        )
        .await;
        let file = reqwest::multipart::Part::bytes(b"a\n1\n".to_vec()).file_name("x.csv");
        let response = http
            .post(created["url"].as_str().unwrap())
            .multipart(form(&created, file))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
    for (key, count) in [("alice-key", 2), ("bob-key", 1)] {
        let list: Value = http
            .post(format!("{}/v1/imports/list", server.uri()))
            .header("u21-key", key)
            .json(&json!({"statuses": ["FINISHED"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["total_count"], count, "{key}");
    }
}
