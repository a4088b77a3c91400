//! The Unit21 routes over real sockets: every success shape and every error path.

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use reqwest::StatusCode;
use rstest::rstest;
use serde_json::{json, Value};
use u21_mock::{Fidelity, KeyConfig, MockServer, Permission};

const CREATE: &str = "/v1/imports/pre-signed-url/create";
const LIST: &str = "/v1/imports/list";

async fn error_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    assert_eq!(response.headers()["content-type"], "application/json");
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn create_returns_unit21s_shape_with_a_verifiable_policy() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let created = create(&server, "txns", "UAT2 entities.csv").await;

    let file_id = created["file_id"].as_str().expect("file_id is a string");
    assert!(file_id.chars().all(|c| c.is_ascii_digit()), "{file_id}");
    assert_eq!(
        created["url"],
        format!("{}/u21-mock-uploads/", server.uri())
    );
    let fields = created["form_fields"].as_object().unwrap();
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(names, ["AWSAccessKeyId", "key", "policy", "signature"]);
    let key = fields["key"].as_str().unwrap();
    assert_eq!(
        key,
        format!("dev/org_demo/{}000_UAT2 entities.csv", T0_SECS)
    );
    assert_eq!(fields["signature"].as_str().unwrap().len(), 28);

    let policy = base64::engine::general_purpose::STANDARD
        .decode(fields["policy"].as_str().unwrap())
        .unwrap();
    let policy: Value = serde_json::from_slice(&policy).unwrap();
    assert_eq!(
        policy,
        json!({
            "expiration": "2023-11-15T00:13:20.000Z",
            "conditions": [["content-length-range", 0, 314572800], {"bucket": "u21-mock-uploads"}, {"key": key}],
        })
    );
    let status = get_import(&server, file_id).await;
    assert_eq!(status["status"], "PENDING_UPLOAD");
}

#[tokio::test]
async fn get_returns_every_documented_field_with_nulls_until_processing() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let created = create(&server, "txns", "a.jsonl").await;
    let file = get_import(&server, created["file_id"].as_str().unwrap()).await;
    assert_eq!(
        file,
        json!({
            "file_id": created["file_id"], "file_name": "a.jsonl", "file_type": "JSONL",
            "date_created": T0_SECS, "process_start_time": null, "process_end_time": null,
            "successful_count": 0, "failure_count": 0, "status": "PENDING_UPLOAD", "failure_code": null,
        })
    );
    let names: Vec<&String> = file.as_object().unwrap().keys().collect();
    assert_eq!(names[0], "file_id", "fields keep Unit21's order");
}

#[rstest]
#[case::missing_stream(json!({"file_name": "a.csv"}), "Missing required field: stream_name")]
#[case::missing_file_name(json!({"stream_name": "s"}), "Missing required field: file_name")]
#[case::null_file_name(json!({"stream_name": "s", "file_name": null}), "Missing required field: file_name")]
#[case::empty_stream(json!({"stream_name": " ", "file_name": "a.csv"}), "Field 'stream_name' must not be empty")]
#[case::numeric_stream(json!({"stream_name": 5, "file_name": "a.csv"}), "Field 'stream_name' must be a string")]
#[case::list_file_name(json!({"stream_name": "s", "file_name": ["a"]}), "Field 'file_name' must be a string")]
#[case::md5_not_a_uuid(json!({"stream_name": "s", "file_name": "a.csv", "md5_hash": "abc"}), "Field 'md5_hash' must be a UUID")]
#[case::md5_not_a_string(json!({"stream_name": "s", "file_name": "a.csv", "md5_hash": 7}), "Field 'md5_hash' must be a string")]
#[case::control_characters(json!({"stream_name": "s", "file_name": "a\n.csv"}), "Fields 'stream_name' and 'file_name' must not contain control characters")]
#[case::not_an_object(json!(["stream_name"]), "The request body must be a JSON object")]
#[case::too_long_for_an_s3_key(json!({"stream_name": "s", "file_name": "x".repeat(1000)}), "Field 'file_name' is too long")]
#[case::stream_name_too_long(json!({"stream_name": "s".repeat(257), "file_name": "a.csv"}), "Field 'stream_name' must be at most 256 bytes")]
#[tokio::test]
async fn create_rejects_bad_fields(#[case] body: Value, #[case] message: &str) {
    let server = MockServer::start().await;
    let (status, body) = error_of(post_json(&server, CREATE, server.api_key(), body).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error_code": "bad_request", "message": message})
    );
    assert_eq!(server.import_count(), 0, "nothing is stored");
}

#[rstest]
#[case::malformed_json("application/json", "{\"stream_name\": ", 400, "bad_request")]
#[case::wrong_content_type(
    "text/plain",
    r#"{"stream_name":"s","file_name":"a.csv"}"#,
    400,
    "bad_request"
)]
#[case::form_encoded(
    "application/x-www-form-urlencoded",
    "stream_name=s&file_name=a.csv",
    400,
    "bad_request"
)]
#[case::json_with_charset(
    "application/json; charset=utf-8",
    r#"{"stream_name":"s","file_name":"a.csv"}"#,
    200,
    ""
)]
#[tokio::test]
async fn create_checks_the_body_encoding(
    #[case] content_type: &str,
    #[case] body: &'static str,
    #[case] status: u16,
    #[case] code: &str,
) {
    let server = MockServer::start().await;
    let response = http()
        .post(format!("{}{CREATE}", server.uri()))
        .header("u21-key", server.api_key())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), status);
    if status != 200 {
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error_code"], code);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[rstest]
#[case::create(CREATE)]
#[case::list(LIST)]
#[tokio::test]
async fn bodies_over_one_mebibyte_are_413(#[case] path: &str) {
    let server = MockServer::start().await;
    let padding = "x".repeat(1024 * 1024);
    let body = json!({"stream_name": "s", "file_name": "a.csv", "padding": padding});
    let (status, body) = error_of(post_json(&server, path, server.api_key(), body).await).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error_code": "payload_too_large"})
        )
    );
    // Chunked, with no Content-Length to go by.
    let chunks =
        futures_util::stream::iter((0..1100).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let response = http()
        .post(format!("{}{path}", server.uri()))
        .header("u21-key", server.api_key())
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn a_name_reused_in_a_stream_conflicts_unless_a_new_md5_hash_is_given() {
    let server = MockServer::start().await;
    create(&server, "s", "a.csv").await;
    let again = post_json(
        &server,
        CREATE,
        server.api_key(),
        json!({"stream_name": "s", "file_name": "a.csv"}),
    )
    .await;
    assert_eq!(
        error_of(again).await,
        (
            StatusCode::CONFLICT,
            json!({"error_code": "conflict", "message": "A file named 'a.csv' already exists in stream 's'; send a new md5_hash (a UUID) to upload it again, or use another file name"})
        )
    );
    let uuid = "0b7c8a2e-3f4d-4a59-9d7e-1c2b3a4d5e6f";
    let with_hash = post_json(
        &server,
        CREATE,
        server.api_key(),
        json!({"stream_name": "s", "file_name": "a.csv", "md5_hash": uuid}),
    )
    .await;
    assert_eq!(with_hash.status(), 200);
    let other_stream = post_json(
        &server,
        CREATE,
        server.api_key(),
        json!({"stream_name": "t", "file_name": "a.csv"}),
    )
    .await;
    assert_eq!(other_stream.status(), 200);
    assert_eq!(server.import_count(), 3);

    let lenient = MockServer::builder()
        .fidelity(Fidelity {
            reject_duplicate_file_names: false,
            ..Fidelity::default()
        })
        .start()
        .await;
    create(&lenient, "s", "a.csv").await;
    create(&lenient, "s", "a.csv").await;
}

enum Call {
    Create,
    Get,
    List,
}

async fn call(server: &MockServer, call: &Call, key: Option<&str>) -> reqwest::Response {
    let request = match call {
        Call::Create => http()
            .post(format!("{}{CREATE}", server.uri()))
            .json(&json!({"stream_name": "s", "file_name": "a.csv"})),
        Call::Get => http().get(format!("{}/v1/imports/1", server.uri())),
        Call::List => http()
            .post(format!("{}{LIST}", server.uri()))
            .json(&json!({})),
    };
    match key {
        Some(key) => request.header("u21-key", key),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

fn auth_server() -> u21_mock::MockServerBuilder {
    MockServer::builder()
        .key("full", "acme")
        .key_config(KeyConfig {
            key: "reader".into(),
            org: "acme".into(),
            permissions: vec![Permission::ImportsRead],
        })
        .key_config(KeyConfig {
            key: "writer".into(),
            org: "acme".into(),
            permissions: vec![Permission::ImportsWrite],
        })
}

#[rstest]
#[case::create_without_key(Call::Create, None, 401, "unauthorized")]
#[case::get_without_key(Call::Get, None, 401, "unauthorized")]
#[case::list_without_key(Call::List, None, 401, "unauthorized")]
#[case::empty_key(Call::List, Some(""), 401, "unauthorized")]
#[case::unknown_key(Call::Get, Some("nope"), 401, "unauthorized")]
#[case::key_is_case_sensitive(Call::Get, Some("FULL"), 401, "unauthorized")]
#[case::default_key_is_gone_once_keys_are_configured(
    Call::List,
    Some("u21-mock-dev-key"),
    401,
    "unauthorized"
)]
#[case::reader_cannot_create(Call::Create, Some("reader"), 403, "forbidden")]
#[case::writer_cannot_get(Call::Get, Some("writer"), 403, "forbidden")]
#[case::writer_cannot_list(Call::List, Some("writer"), 403, "forbidden")]
#[tokio::test]
async fn keys_and_permissions(
    #[case] what: Call,
    #[case] key: Option<&str>,
    #[case] status: u16,
    #[case] code: &str,
) {
    let server = auth_server().start().await;
    let (got, body) = error_of(call(&server, &what, key).await).await;
    assert_eq!((got.as_u16(), body), (status, json!({"error_code": code})));
}

#[tokio::test]
async fn permitted_keys_pass() {
    let server = auth_server().start().await;
    assert_eq!(
        call(&server, &Call::Create, Some("writer")).await.status(),
        200
    );
    assert_eq!(
        call(&server, &Call::Get, Some("reader")).await.status(),
        200
    );
    assert_eq!(call(&server, &Call::List, Some("full")).await.status(), 200);
}

#[rstest]
#[case::unknown_id("999", Fidelity::default(), 404, "resource_not_found")]
#[case::letters("abc", Fidelity::default(), 404, "resource_not_found")]
#[case::negative("-1", Fidelity::default(), 404, "resource_not_found")]
#[case::signed("+1", Fidelity::default(), 404, "resource_not_found")]
#[case::overflowing(
    "99999999999999999999999",
    Fidelity::default(),
    404,
    "resource_not_found"
)]
#[case::letters_by_switch("abc", Fidelity { malformed_id_bad_request: true, ..Fidelity::default() }, 400, "bad_request")]
#[tokio::test]
async fn unknown_and_malformed_ids(
    #[case] id: &str,
    #[case] fidelity: Fidelity,
    #[case] status: u16,
    #[case] code: &str,
) {
    let server = MockServer::builder().fidelity(fidelity).start().await;
    create(&server, "s", "a.csv").await;
    let response = http()
        .get(format!("{}/v1/imports/{id}", server.uri()))
        .header("u21-key", server.api_key())
        .send()
        .await
        .unwrap();
    let (got, body) = error_of(response).await;
    assert_eq!((got.as_u16(), &body["error_code"]), (status, &json!(code)));
}

#[rstest]
#[case::hidden_as_not_found(Fidelity::default(), 404)]
#[case::forbidden_by_switch(Fidelity { foreign_file_forbidden: true, ..Fidelity::default() }, 403)]
#[tokio::test]
async fn organisations_cannot_see_each_others_files(
    #[case] fidelity: Fidelity,
    #[case] status: u16,
) {
    let server = MockServer::builder()
        .key("alice", "org_a")
        .key("bob", "org_b")
        .fidelity(fidelity)
        .start()
        .await;
    let created = post_json(
        &server,
        CREATE,
        "alice",
        json!({"stream_name": "s", "file_name": "a.csv"}),
    )
    .await;
    let created: Value = created.json().await.unwrap();
    let id = created["file_id"].as_str().unwrap();
    assert!(created["form_fields"]["key"]
        .as_str()
        .unwrap()
        .starts_with("dev/org_org_a/"));
    let response = http()
        .get(format!("{}/v1/imports/{id}", server.uri()))
        .header("u21-key", "bob")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), status);
    let list: Value = post_json(&server, LIST, "bob", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total_count"], 0);
    let list: Value = post_json(&server, LIST, "alice", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total_count"], 1);
}

#[rstest]
#[case::statuses_not_a_list(json!({"statuses": "QUEUED"}), "Field 'statuses' must be a list of strings")]
#[case::status_not_a_string(json!({"statuses": [1]}), "Field 'statuses' must be a list of strings")]
#[case::unknown_status(json!({"statuses": ["DONE"]}), "Unknown status 'DONE' in 'statuses'; expected one of PENDING_UPLOAD, ADDED, QUEUED, PROCESSING, FINISHED, FAILED, DELETED")]
#[case::lower_case_status(json!({"statuses": ["queued"]}), "Unknown status 'queued' in 'statuses'; expected one of PENDING_UPLOAD, ADDED, QUEUED, PROCESSING, FINISHED, FAILED, DELETED")]
#[case::stream_names_not_a_list(json!({"stream_names": {"a": 1}}), "Field 'stream_names' must be a list of strings")]
#[case::created_after_fractional(json!({"created_after": 1.5}), "Field 'created_after' must be a UNIX timestamp in whole seconds")]
#[case::created_before_text(json!({"created_before": "1700000000"}), "Field 'created_before' must be a UNIX timestamp in whole seconds")]
#[case::offset_zero(json!({"offset": 0}), "Field 'offset' must be a page number of 1 or more")]
#[case::offset_text(json!({"offset": "1"}), "Field 'offset' must be a page number of 1 or more")]
#[case::limit_zero(json!({"limit": 0}), "Field 'limit' must be a whole number from 1 to 1000")]
#[case::limit_over_1000(json!({"limit": 1001}), "Field 'limit' must be a whole number from 1 to 1000")]
#[case::limit_negative(json!({"limit": -5}), "Field 'limit' must be a whole number from 1 to 1000")]
#[tokio::test]
async fn list_rejects_bad_filters(#[case] body: Value, #[case] message: &str) {
    let server = MockServer::start().await;
    let (status, body) = error_of(post_json(&server, LIST, server.api_key(), body).await).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error_code": "bad_request", "message": message})
        )
    );
}

/// Five files, one per second from T0, alternating streams; ids 1..=5.
async fn five_files() -> MockServer {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    for i in 1..=5 {
        create(
            &server,
            if i % 2 == 1 { "odd" } else { "even" },
            &format!("f{i}.csv"),
        )
        .await;
        server.advance(Duration::from_secs(1)).await;
    }
    server
}

async fn list_ids(server: &MockServer, body: Value) -> (Vec<String>, Value, Value) {
    let response = post_json(server, LIST, server.api_key(), body).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let ids = body["datafiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file_id"].as_str().unwrap().to_owned())
        .collect();
    (
        ids,
        body["response_count"].clone(),
        body["total_count"].clone(),
    )
}

#[rstest]
#[case::everything_newest_first(json!({}), &["5", "4", "3", "2", "1"], 5)]
#[case::the_seeds_first_page(json!({"offset": 1, "limit": 1000}), &["5", "4", "3", "2", "1"], 5)]
#[case::pages_count_from_one(json!({"offset": 2, "limit": 2}), &["3", "2"], 5)]
#[case::last_partial_page(json!({"offset": 3, "limit": 2}), &["1"], 5)]
#[case::past_the_end(json!({"offset": 9, "limit": 2}), &[], 5)]
#[case::streams_are_ored(json!({"stream_names": ["odd", "nope"]}), &["5", "3", "1"], 3)]
#[case::statuses_filter(json!({"statuses": ["PENDING_UPLOAD"]}), &["5", "4", "3", "2", "1"], 5)]
#[case::no_status_matches(json!({"statuses": ["FINISHED", "FAILED"]}), &[], 0)]
#[case::after_is_inclusive(json!({"created_after": T0_SECS + 3}), &["5", "4"], 2)]
#[case::before_is_exclusive(json!({"created_before": T0_SECS + 1}), &["1"], 1)]
#[case::fields_are_anded(json!({"created_after": T0_SECS + 1, "stream_names": ["even"], "limit": 1}), &["4"], 2)]
#[case::nulls_are_ignored(json!({"statuses": null, "offset": null}), &["5", "4", "3", "2", "1"], 5)]
#[tokio::test]
async fn list_filters_orders_and_pages(
    #[case] body: Value,
    #[case] expected: &[&str],
    #[case] total: u64,
) {
    let server = five_files().await;
    let (ids, response_count, total_count) = list_ids(&server, body).await;
    assert_eq!(ids, expected);
    assert_eq!(response_count, expected.len());
    assert_eq!(total_count, total);
}

#[tokio::test]
async fn list_takes_an_empty_body_as_no_filters() {
    let server = five_files().await;
    let response = http()
        .post(format!("{}{LIST}", server.uri()))
        .header("u21-key", server.api_key())
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["total_count"], 5);
}

#[tokio::test]
async fn rate_limit_headers_count_down_and_429_until_the_next_second() {
    let server = MockServer::builder()
        .clock(frozen_clock())
        .rate_limit(3)
        .start()
        .await;
    for remaining in ["2", "1", "0"] {
        let response = post_json(&server, LIST, server.api_key(), json!({})).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-ratelimit-limit"], "3");
        assert_eq!(response.headers()["x-ratelimit-remaining"], remaining);
        assert_eq!(
            response.headers()["x-ratelimit-reset"],
            (T0_SECS + 1).to_string().as_str()
        );
    }
    let refused = post_json(&server, LIST, server.api_key(), json!({})).await;
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(
        refused.headers()["x-ratelimit-reset"],
        (T0_SECS + 1).to_string().as_str()
    );
    assert_eq!(
        error_of(refused).await,
        (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error_code": "too_many_requests"})
        )
    );
    // Another route has its own bucket.
    assert_eq!(
        call(&server, &Call::Create, Some(server.api_key()))
            .await
            .status(),
        200
    );
    server.advance(Duration::from_secs(1)).await;
    assert_eq!(
        post_json(&server, LIST, server.api_key(), json!({}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn rate_limiting_can_be_switched_off() {
    let server = MockServer::builder()
        .clock(frozen_clock())
        .rate_limit(0)
        .start()
        .await;
    for _ in 0..250 {
        let response = post_json(&server, LIST, server.api_key(), json!({})).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn the_documented_default_is_200_per_second() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let mut statuses = Vec::new();
    for _ in 0..201 {
        statuses.push(
            call(&server, &Call::Get, Some(server.api_key()))
                .await
                .status()
                .as_u16(),
        );
    }
    assert!(
        statuses[..200].iter().all(|s| *s == 404),
        "200 calls pass the limiter"
    );
    assert_eq!(statuses[200], 429);
}

#[rstest]
#[case::unknown_path("GET", "/v1/nothing", 404, "resource_not_found")]
#[case::post_to_the_dashboard("POST", "/", 405, "method_not_allowed")]
#[case::get_on_list("GET", LIST, 405, "method_not_allowed")]
#[case::delete_an_import("DELETE", "/v1/imports/1", 405, "method_not_allowed")]
#[case::get_on_create("GET", CREATE, 405, "method_not_allowed")]
#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json(
    #[case] method: &str,
    #[case] path: &str,
    #[case] status: u16,
    #[case] code: &str,
) {
    let server = MockServer::start().await;
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = http()
        .request(method, format!("{}{path}", server.uri()))
        .header("u21-key", server.api_key())
        .send()
        .await
        .unwrap();
    let (got, body) = error_of(response).await;
    assert_eq!((got.as_u16(), body), (status, json!({"error_code": code})));
}

#[tokio::test]
async fn the_server_stops_when_its_handle_is_dropped() {
    let server = MockServer::start().await;
    let address = server.address();
    assert!(tokio::net::TcpStream::connect(address).await.is_ok());
    drop(server);
    // The listener closes once the server task sees the shutdown; yield until it has.
    let mut refused = false;
    for _ in 0..1000 {
        if tokio::net::TcpStream::connect(address).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "the port still accepts connections after drop");
}
