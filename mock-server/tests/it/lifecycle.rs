//! Files move through the lifecycle as the clock moves, and processing really reads them.

use std::time::Duration;

use crate::common::*;
use rstest::rstest;
use serde_json::{json, Value};
use u21_mock::{ColumnType, MockServer, StreamConfig, Timing};

async fn uploaded(server: &MockServer, stream: &str, name: &str, body: &str) -> String {
    let created = create(server, stream, name).await;
    let response = upload(&created, body, name).await;
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    created["file_id"].as_str().unwrap().to_owned()
}

fn summary(file: &Value) -> (String, Value, Value) {
    (
        file["status"].as_str().unwrap().to_owned(),
        file["process_start_time"].clone(),
        file["process_end_time"].clone(),
    )
}

#[tokio::test]
async fn fast_moves_a_step_a_second_on_the_clock() {
    let server = MockServer::builder()
        .timing(Timing::Fast)
        .clock(frozen_clock())
        .start()
        .await;
    let id = uploaded(&server, "txns", "a.csv", "id,amount\n1,2\n3,4\n").await;
    assert_eq!(
        summary(&get_import(&server, &id).await),
        ("QUEUED".into(), Value::Null, Value::Null)
    );
    server.clock().advance(Duration::from_millis(999)).await;
    assert_eq!(get_import(&server, &id).await["status"], "QUEUED");
    server.clock().advance(Duration::from_millis(1)).await;
    assert_eq!(
        summary(&get_import(&server, &id).await),
        ("PROCESSING".into(), json!(T0_SECS + 1), Value::Null)
    );
    server.clock().advance(Duration::from_secs(1)).await;
    let file = get_import(&server, &id).await;
    assert_eq!(
        summary(&file),
        ("FINISHED".into(), json!(T0_SECS + 1), json!(T0_SECS + 2))
    );
    assert_eq!(
        (
            file["successful_count"].clone(),
            file["failure_count"].clone()
        ),
        (json!(2), json!(0))
    );
    assert_eq!(file["date_created"], T0_SECS);
}

#[tokio::test]
async fn a_client_that_only_reads_sees_the_clock_catch_up_at_once() {
    // Moving the clock without the handle's help: the next read applies every due step.
    let server = MockServer::builder()
        .timing(Timing::Fast)
        .clock(frozen_clock())
        .start()
        .await;
    let id = uploaded(&server, "txns", "a.jsonl", "{\"a\":1}\n").await;
    server.clock().advance(Duration::from_secs(60)).await;
    let file = get_import(&server, &id).await;
    assert_eq!(
        summary(&file),
        ("FINISHED".into(), json!(T0_SECS + 1), json!(T0_SECS + 2))
    );
}

#[tokio::test]
async fn realistic_waits_for_the_next_fifteen_minute_batch() {
    let server = MockServer::builder()
        .timing(Timing::Realistic)
        .clock(frozen_clock())
        .start()
        .await;
    // T0 is 22:13:20; the next batch boundary is 22:15:00, 100 s later.
    let id = uploaded(&server, "txns", "a.csv", "a\n1\n").await;
    server.clock().advance(Duration::from_secs(99)).await;
    assert_eq!(get_import(&server, &id).await["status"], "QUEUED");
    server.clock().advance(Duration::from_secs(1)).await;
    assert_eq!(get_import(&server, &id).await["status"], "PROCESSING");
    server.clock().advance(Duration::from_secs(60)).await;
    let file = get_import(&server, &id).await;
    assert_eq!(
        summary(&file),
        (
            "FINISHED".into(),
            json!(T0_SECS + 100),
            json!(T0_SECS + 160)
        )
    );
}

#[tokio::test]
async fn manual_waits_until_told() {
    let server = MockServer::builder()
        .timing(Timing::Manual)
        .clock(frozen_clock())
        .start()
        .await;
    let id = uploaded(&server, "txns", "a.csv", "a\n1\n").await;
    server.clock().advance(Duration::from_secs(86_400)).await;
    assert_eq!(get_import(&server, &id).await["status"], "QUEUED");
    server.files().process_queued().await.unwrap();
    let file = get_import(&server, &id).await;
    assert_eq!(
        summary(&file),
        (
            "FINISHED".into(),
            json!(T0_SECS + 86_400),
            json!(T0_SECS + 86_400)
        )
    );
}

#[tokio::test]
async fn instant_is_finished_by_the_first_read_after_the_upload() {
    let server = MockServer::start().await;
    let id = uploaded(&server, "txns", "a.json", r#"[{"a":1},{"a":2},7]"#).await;
    let file = get_import(&server, &id).await;
    assert_eq!(file["status"], "FINISHED");
    assert_eq!(
        (
            file["successful_count"].clone(),
            file["failure_count"].clone()
        ),
        (json!(2), json!(1))
    );
    assert_eq!(file["process_start_time"], file["process_end_time"]);
}

#[tokio::test]
async fn list_sees_the_same_lifecycle_and_filters_by_status() {
    let server = MockServer::builder()
        .timing(Timing::Fast)
        .clock(frozen_clock())
        .start()
        .await;
    let done = uploaded(&server, "s", "a.csv", "a\n1\n").await;
    server.clock().advance(Duration::from_millis(1500)).await;
    let queued = uploaded(&server, "s", "b.csv", "a\n1\n").await;
    let pending = create(&server, "s", "c.csv").await;
    server.clock().advance(Duration::from_millis(600)).await;
    let list: Value = post_json(
        &server,
        "/v1/imports/list",
        server.api_key(),
        json!({"statuses": ["FINISHED", "QUEUED"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    let ids: Vec<&str> = list["datafiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [queued.as_str(), done.as_str()]);
    assert_eq!(list["datafiles"][1]["status"], "FINISHED");
    let list: Value = post_json(
        &server,
        "/v1/imports/list",
        server.api_key(),
        json!({"statuses": ["PENDING_UPLOAD"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(list["datafiles"][0]["file_id"], pending["file_id"]);
}

fn schema_server() -> u21_mock::MockServerBuilder {
    MockServer::builder().stream(
        StreamConfig::new("txns")
            .column("id", ColumnType::Integer, true)
            .column("amount", ColumnType::Number, true)
            .column("memo", ColumnType::String, false),
    )
}

#[rstest]
#[case::all_rows_good(
    "txns",
    "t.csv",
    "id,amount,memo\n1,2.5,x\n2,3,\n",
    "FINISHED",
    2,
    0,
    None
)]
#[case::bad_rows_are_counted("txns", "t.csv", "id,amount\n1,2\nx,3\n4\n", "FINISHED", 1, 2, None)]
#[case::json_records(
    "txns",
    "t.json",
    r#"[{"id":1,"amount":2},{"id":2,"amount":"x"}]"#,
    "FINISHED",
    1,
    1,
    None
)]
#[case::jsonl_records(
    "txns",
    "t.jsonl",
    "{\"id\":1,\"amount\":2}\n{oops\n",
    "FINISHED",
    1,
    1,
    None
)]
#[case::missing_column(
    "txns",
    "t.csv",
    "id,memo\n1,x\n",
    "FAILED",
    0,
    0,
    Some("invalid_schema")
)]
#[case::unknown_column(
    "txns",
    "t.csv",
    "id,amount,colour\n1,2,red\n",
    "FAILED",
    0,
    0,
    Some("invalid_schema")
)]
#[case::odd_delimiter(
    "txns",
    "t.csv",
    "id;amount\n1;2\n",
    "FAILED",
    0,
    0,
    Some("unparseable_file")
)]
#[case::not_json(
    "txns",
    "t.json",
    "id,amount\n1,2\n",
    "FAILED",
    0,
    0,
    Some("unparseable_file")
)]
#[case::unconfigured_stream(
    "other",
    "t.csv",
    "id,amount\n1,2\n",
    "FAILED",
    0,
    0,
    Some("stream_not_configured")
)]
#[tokio::test]
async fn processing_outcomes(
    #[case] stream: &str,
    #[case] name: &str,
    #[case] body: &str,
    #[case] status: &str,
    #[case] successful: u64,
    #[case] failed: u64,
    #[case] failure_code: Option<&str>,
) {
    let server = schema_server().start().await;
    let id = uploaded(&server, stream, name, body).await;
    let file = get_import(&server, &id).await;
    assert_eq!(file["status"], status);
    assert_eq!(file["successful_count"], successful);
    assert_eq!(file["failure_count"], failed);
    assert_eq!(file["failure_code"], json!(failure_code));
    assert!(file["process_end_time"].is_u64());
}

#[tokio::test]
async fn a_second_upload_to_the_same_form_replaces_the_object_but_not_the_import() {
    let server = MockServer::start().await;
    let created = create(&server, "s", "a.csv").await;
    assert_eq!(upload(&created, "a\n1\n", "a.csv").await.status(), 204);
    let first = get_import(&server, created["file_id"].as_str().unwrap()).await;
    assert_eq!(
        upload(&created, "a\n1\n2\n3\n", "a.csv").await.status(),
        204
    );
    let key = created["form_fields"]["key"].as_str().unwrap();
    assert_eq!(server.files().object(key).unwrap().size, 8);
    assert_eq!(
        get_import(&server, created["file_id"].as_str().unwrap()).await,
        first
    );
}

/// A client retrying an upload after a timeout sends the same form twice, at once: the second
/// upload replaces the object, and the first file's reading must not lose its bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uploads_of_one_form_at_once_never_fail_the_file() {
    let server = MockServer::builder().timing(Timing::Instant).start().await;
    let mut files = Vec::new();
    for i in 0..60 {
        files.push(create(&server, "s", &format!("twice-{i}.csv")).await);
    }
    let body = "a,b\n".to_owned() + &"1,2\n".repeat(20_000);
    let mut uploads = Vec::new();
    for created in &files {
        for _ in 0..2 {
            let created = created.clone();
            let body = body.clone();
            uploads.push(tokio::spawn(async move {
                upload(&created, body, "f.csv").await.status().as_u16()
            }));
        }
    }
    for upload in uploads {
        assert_eq!(upload.await.unwrap(), 204);
    }
    server.files().settle().await;
    for created in &files {
        let id: u64 = created["file_id"].as_str().unwrap().parse().unwrap();
        let file = server.files().get(id).await.unwrap();
        assert_eq!(
            (file.status, file.failure_code, file.successful_count),
            (u21_mock::model::Status::FINISHED, None, 20_000),
            "file {id}"
        );
    }
}
