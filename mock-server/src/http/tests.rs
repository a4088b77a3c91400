//! The HTTP tables, on the router itself: each request goes through [`app`] with
//! `tower::ServiceExt::oneshot`, every layer included (the journal, faults, the control guard),
//! with no socket and no server task.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use rstest::rstest;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::app;
use crate::clock::Clock;
use crate::config::{Config, Fidelity, KeyConfig, Permission, Timing};
use crate::engine::Engine;

const CREATE: &str = "/v1/imports/pre-signed-url/create";
const LIST: &str = "/v1/imports/list";
const KEY: &str = "u21-mock-dev-key";
const T0_SECS: i64 = 1_700_000_000;

/// The router over a fresh engine on a frozen clock, with a temporary object store.
struct App {
    router: super::Observed,
    engine: Arc<Engine>,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl App {
    fn new() -> Self {
        Self::with(Config {
            timing: Timing::Instant,
            ..Config::default()
        })
    }

    fn with(config: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::frozen(UNIX_EPOCH + Duration::from_secs(T0_SECS as u64));
        let engine = Engine::new(
            config,
            clock,
            "http://localhost:8021".into(),
            dir.path(),
            false,
        )
        .unwrap()
        .share();
        App {
            router: app(engine.clone()),
            engine,
            _dir: dir,
        }
    }

    /// Sends `request` through every layer; without a `Host`, it gets `localhost`, as every
    /// HTTP/1.1 client sends one (the fake refuses a request without).
    async fn send(&self, mut request: Request<Body>) -> Answer {
        if !request.headers().contains_key("host") {
            request
                .headers_mut()
                .insert("host", "localhost".parse().unwrap());
        }
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header("u21-key", key);
        }
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> Answer {
        self.call("POST", path, Some(key), Some(body)).await
    }

    async fn create(&self, stream: &str, file_name: &str) -> Value {
        let answer = self
            .post(
                CREATE,
                KEY,
                json!({"stream_name": stream, "file_name": file_name}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body
    }
}

/// A refusal must be JSON in Unit21's shape.
fn refusal(answer: &Answer) -> (u16, Value) {
    assert_eq!(answer.headers["content-type"], "application/json");
    (answer.status.as_u16(), answer.body.clone())
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
    let app = App::new();
    let answer = app.post(CREATE, KEY, body).await;
    assert_eq!(
        refusal(&answer),
        (
            400,
            json!({"error_code": "bad_request", "message": message})
        )
    );
    assert_eq!(app.engine.files.import_count(), 0, "nothing is stored");
}

#[rstest]
#[case::malformed_json("application/json", "{\"stream_name\": ", 400)]
#[case::wrong_content_type("text/plain", r#"{"stream_name":"s","file_name":"a.csv"}"#, 400)]
#[case::form_encoded(
    "application/x-www-form-urlencoded",
    "stream_name=s&file_name=a.csv",
    400
)]
#[case::json_with_charset(
    "application/json; charset=utf-8",
    r#"{"stream_name":"s","file_name":"a.csv"}"#,
    200
)]
#[tokio::test]
async fn create_checks_the_body_encoding(
    #[case] content_type: &str,
    #[case] body: &'static str,
    #[case] status: u16,
) {
    let app = App::new();
    let request = Request::post(CREATE)
        .header("u21-key", KEY)
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    let answer = app.send(request).await;
    assert_eq!(answer.status, status);
    if status != 200 {
        assert_eq!(answer.body["error_code"], "bad_request");
        assert!(answer.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
}

#[rstest]
#[case::create(CREATE)]
#[case::list(LIST)]
#[tokio::test]
async fn bodies_over_one_mebibyte_are_413(#[case] path: &str) {
    let app = App::new();
    let padding = "x".repeat(1024 * 1024);
    let body = json!({"stream_name": "s", "file_name": "a.csv", "padding": padding});
    let answer = app.post(path, KEY, body).await;
    assert_eq!(
        refusal(&answer),
        (413, json!({"error_code": "payload_too_large"}))
    );
    // Chunked, with no Content-Length to go by.
    let chunks =
        futures_util::stream::iter((0..1100).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let request = Request::post(path)
        .header("u21-key", KEY)
        .header("content-type", "application/json")
        .body(Body::from_stream(chunks))
        .unwrap();
    assert_eq!(app.send(request).await.status, 413);
}

#[tokio::test]
async fn a_name_reused_in_a_stream_conflicts_unless_a_new_md5_hash_is_given() {
    let app = App::new();
    app.create("s", "a.csv").await;
    let again = app
        .post(
            CREATE,
            KEY,
            json!({"stream_name": "s", "file_name": "a.csv"}),
        )
        .await;
    assert_eq!(
        refusal(&again),
        (
            409,
            json!({"error_code": "conflict", "message": "A file named 'a.csv' already exists in stream 's'; send a new md5_hash (a UUID) to upload it again, or use another file name"})
        )
    );
    let uuid = "0b7c8a2e-3f4d-4a59-9d7e-1c2b3a4d5e6f";
    let with_hash = app
        .post(
            CREATE,
            KEY,
            json!({"stream_name": "s", "file_name": "a.csv", "md5_hash": uuid}),
        )
        .await;
    assert_eq!(with_hash.status, 200);
    app.create("t", "a.csv").await;
    assert_eq!(app.engine.files.import_count(), 3);

    let lenient = App::with(Config {
        fidelity: Fidelity {
            reject_duplicate_file_names: false,
            ..Fidelity::default()
        },
        ..Config::default()
    });
    lenient.create("s", "a.csv").await;
    lenient.create("s", "a.csv").await;
}

#[derive(Clone, Copy)]
enum Call {
    Create,
    Get,
    List,
}

async fn call(app: &App, what: Call, key: Option<&str>) -> Answer {
    match what {
        Call::Create => {
            let body = json!({"stream_name": "s", "file_name": "a.csv"});
            app.call("POST", CREATE, key, Some(body)).await
        }
        Call::Get => app.call("GET", "/v1/imports/1", key, None).await,
        Call::List => app.call("POST", LIST, key, Some(json!({}))).await,
    }
}

fn auth_app() -> App {
    App::with(Config {
        keys: vec![
            KeyConfig::new("full", "acme"),
            KeyConfig {
                key: "reader".into(),
                org: "acme".into(),
                permissions: vec![Permission::ImportsRead],
            },
            KeyConfig {
                key: "writer".into(),
                org: "acme".into(),
                permissions: vec![Permission::ImportsWrite],
            },
        ],
        ..Config::default()
    })
}

#[rstest]
#[case::create_without_key(Call::Create, None, 401, "unauthorized")]
#[case::get_without_key(Call::Get, None, 401, "unauthorized")]
#[case::list_without_key(Call::List, None, 401, "unauthorized")]
#[case::empty_key(Call::List, Some(""), 401, "unauthorized")]
#[case::unknown_key(Call::Get, Some("nope"), 401, "unauthorized")]
#[case::key_is_case_sensitive(Call::Get, Some("FULL"), 401, "unauthorized")]
#[case::default_key_is_gone_once_keys_are_configured(Call::List, Some(KEY), 401, "unauthorized")]
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
    let app = auth_app();
    let answer = call(&app, what, key).await;
    assert_eq!(refusal(&answer), (status, json!({"error_code": code})));
}

#[tokio::test]
async fn permitted_keys_pass() {
    let app = auth_app();
    assert_eq!(call(&app, Call::Create, Some("writer")).await.status, 200);
    assert_eq!(call(&app, Call::Get, Some("reader")).await.status, 200);
    assert_eq!(call(&app, Call::List, Some("full")).await.status, 200);
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
#[case::undecodable("%ff", Fidelity::default(), 404, "resource_not_found")]
#[case::letters_by_switch("abc", Fidelity { malformed_id_bad_request: true, ..Fidelity::default() }, 400, "bad_request")]
#[tokio::test]
async fn unknown_and_malformed_ids(
    #[case] id: &str,
    #[case] fidelity: Fidelity,
    #[case] status: u16,
    #[case] code: &str,
) {
    let app = App::with(Config {
        fidelity,
        ..Config::default()
    });
    app.create("s", "a.csv").await;
    let answer = app
        .call("GET", &format!("/v1/imports/{id}"), Some(KEY), None)
        .await;
    let (got, body) = refusal(&answer);
    assert_eq!((got, &body["error_code"]), (status, &json!(code)));
}

#[rstest]
#[case::hidden_as_not_found(Fidelity::default(), 404)]
#[case::forbidden_by_switch(Fidelity { foreign_file_forbidden: true, ..Fidelity::default() }, 403)]
#[tokio::test]
async fn organisations_cannot_see_each_others_files(
    #[case] fidelity: Fidelity,
    #[case] status: u16,
) {
    let app = App::with(Config {
        keys: vec![
            KeyConfig::new("alice", "org_a"),
            KeyConfig::new("bob", "org_b"),
        ],
        fidelity,
        ..Config::default()
    });
    let created = app
        .post(
            CREATE,
            "alice",
            json!({"stream_name": "s", "file_name": "a.csv"}),
        )
        .await
        .body;
    let id = created["file_id"].as_str().unwrap();
    assert!(created["form_fields"]["key"]
        .as_str()
        .unwrap()
        .starts_with("dev/org_org_a/"));
    let answer = app
        .call("GET", &format!("/v1/imports/{id}"), Some("bob"), None)
        .await;
    assert_eq!(answer.status, status);
    assert_eq!(
        app.post(LIST, "bob", json!({})).await.body["total_count"],
        0
    );
    assert_eq!(
        app.post(LIST, "alice", json!({})).await.body["total_count"],
        1
    );
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
    let answer = App::new().post(LIST, KEY, body).await;
    assert_eq!(
        refusal(&answer),
        (
            400,
            json!({"error_code": "bad_request", "message": message})
        )
    );
}

/// Five files, one per second from T0, alternating streams; ids 1..=5.
async fn five_files() -> App {
    let app = App::new();
    for i in 1..=5 {
        app.create(
            if i % 2 == 1 { "odd" } else { "even" },
            &format!("f{i}.csv"),
        )
        .await;
        app.engine
            .files
            .advance(Duration::from_secs(1))
            .await
            .unwrap();
    }
    app
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
    let app = five_files().await;
    let answer = app.post(LIST, KEY, body).await;
    assert_eq!(answer.status, 200);
    let ids: Vec<&str> = answer.body["datafiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(answer.body["response_count"], expected.len());
    assert_eq!(answer.body["total_count"], total);
}

#[tokio::test]
async fn list_takes_an_empty_body_as_no_filters() {
    let app = five_files().await;
    let answer = app.call("POST", LIST, Some(KEY), None).await;
    assert_eq!(answer.body["total_count"], 5);
}

#[tokio::test]
async fn rate_limit_headers_count_down_and_429_until_the_next_second() {
    let app = App::with(Config {
        rate_limit: 3,
        ..Config::default()
    });
    let reset = (T0_SECS + 1).to_string();
    for remaining in ["2", "1", "0"] {
        let answer = app.post(LIST, KEY, json!({})).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.headers["x-ratelimit-limit"], "3");
        assert_eq!(answer.headers["x-ratelimit-remaining"], remaining);
        assert_eq!(answer.headers["x-ratelimit-reset"], reset.as_str());
    }
    let refused = app.post(LIST, KEY, json!({})).await;
    assert_eq!(refused.headers["x-ratelimit-remaining"], "0");
    assert_eq!(refused.headers["x-ratelimit-reset"], reset.as_str());
    assert_eq!(
        refusal(&refused),
        (429, json!({"error_code": "too_many_requests"}))
    );
    // Another route has its own bucket.
    assert_eq!(call(&app, Call::Create, Some(KEY)).await.status, 200);
    app.engine
        .files
        .advance(Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(app.post(LIST, KEY, json!({})).await.status, 200);
}

#[tokio::test]
async fn rate_limiting_can_be_switched_off() {
    let app = App::with(Config {
        rate_limit: 0,
        ..Config::default()
    });
    for _ in 0..250 {
        let answer = app.post(LIST, KEY, json!({})).await;
        assert_eq!(answer.status, 200);
        assert!(answer.headers.get("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn the_documented_default_is_200_per_second() {
    let app = App::new();
    let mut statuses = Vec::new();
    for _ in 0..201 {
        statuses.push(call(&app, Call::Get, Some(KEY)).await.status.as_u16());
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
    let answer = App::new().call(method, path, Some(KEY), None).await;
    assert_eq!(refusal(&answer), (status, json!({"error_code": code})));
}

/// Requests to the control plane as a local script sends them.
async fn control(app: &App, method: &str, path: &str, body: Option<Value>) -> Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost:8021");
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    app.send(request.body(body).unwrap()).await
}

#[rstest]
#[case::advance_past_the_last_instant("/_mock/clock/advance", json!({"seconds": u64::MAX}))]
#[case::set_past_the_last_instant("/_mock/clock/set", json!({"epoch_ms": u64::MAX}))]
#[case::unknown_field("/_mock/clock/advance", json!({"minutes": 1}))]
#[case::fault_probability("/_mock/faults", json!({"path": "/v1/*", "action": {"kind": "internal_error"}, "probability": 2.0}))]
#[case::fault_no_uses("/_mock/faults", json!({"path": "/v1/*", "action": {"kind": "internal_error"}, "times": 0}))]
#[case::fault_wait_over_a_day("/_mock/faults", json!({"path": "/v1/*", "action": {"kind": "rate_limited", "retry_after_secs": 86_401}}))]
#[case::fault_delay_over_ten_minutes("/_mock/faults", json!({"path": "/v1/*", "action": {"kind": "latency", "ms": 600_001}}))]
#[case::unknown_failure_code("/_mock/files/1/transition", json!({"status": "FAILED", "failure_code": "nope"}))]
#[case::forced_added("/_mock/files/1/transition", json!({"status": "ADDED"}))]
#[case::id_not_a_number("/_mock/files/x/transition", json!({"status": "DELETED"}))]
#[tokio::test]
async fn control_calls_refuse_bad_input_in_unit21s_shape(#[case] path: &str, #[case] body: Value) {
    let app = App::new();
    app.create("s", "a.csv").await;
    let before = app.engine.files.clock_reading().now_ms;
    let answer = control(&app, "POST", path, Some(body)).await;
    let (status, body) = refusal(&answer);
    assert_eq!((status, &body["error_code"]), (400, &json!("bad_request")));
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(
        app.engine.files.clock_reading().now_ms,
        before,
        "the clock did not move"
    );
    assert!(app.engine.traffic.faults().is_empty(), "no fault was added");
}

#[rstest]
#[case::foreign_host(&[("host", "evil.example")], 403, "forbidden")]
#[case::cross_origin(&[("host", "localhost"), ("origin", "https://evil.example")], 403, "forbidden")]
#[case::form_post(&[("host", "localhost"), ("content-type", "text/plain")], 415, "unsupported_media_type")]
#[tokio::test]
async fn the_control_plane_answers_only_its_own_origin(
    #[case] headers: &[(&str, &str)],
    #[case] status: u16,
    #[case] code: &str,
) {
    let app = App::new();
    let mut request = Request::post("/_mock/reset");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.create("s", "a.csv").await;
    let answer = app.send(request.body(Body::from("{}")).unwrap()).await;
    let (got, body) = refusal(&answer);
    assert_eq!((got, &body["error_code"]), (status, &json!(code)));
    assert_eq!(app.engine.files.import_count(), 1, "nothing was reset");
}

#[tokio::test]
async fn a_control_token_opens_the_plane_to_any_host_and_closes_it_without() {
    let mut config = Config::default();
    config.control.token = Some("s3cret-token".into());
    let app = App::with(config);
    let request = |token: Option<&str>| {
        let mut request = Request::get("/_mock/clock").header("host", "fake.internal");
        if let Some(token) = token {
            request = request.header("x-u21-mock-token", token);
        }
        request.body(Body::empty()).unwrap()
    };
    assert_eq!(app.send(request(Some("s3cret-token"))).await.status, 200);
    let refused = app.send(request(None)).await;
    assert_eq!(refusal(&refused).0, 401);
    assert_eq!(app.send(request(Some("wrong"))).await.status, 401);
}

#[tokio::test]
async fn faults_answer_in_the_routes_own_format_and_are_journalled() {
    let app = App::new();
    let fault = |action: Value| json!({"path": "/v1/imports/*", "action": action, "times": 1});
    control(
        &app,
        "POST",
        "/_mock/faults",
        Some(fault(
            json!({"kind": "rate_limited", "retry_after_secs": 3}),
        )),
    )
    .await;
    let limited = app.call("GET", "/v1/imports/1", Some(KEY), None).await;
    assert_eq!(
        refusal(&limited),
        (429, json!({"error_code": "too_many_requests"}))
    );
    assert_eq!(limited.headers["retry-after"], "3");
    assert_eq!(
        limited.headers["x-ratelimit-reset"],
        (T0_SECS + 3).to_string().as_str()
    );
    control(
        &app,
        "POST",
        "/_mock/faults",
        Some(fault(json!({"kind": "unavailable"}))),
    )
    .await;
    let unavailable = app.call("GET", "/v1/imports/1", Some(KEY), None).await;
    assert_eq!(
        refusal(&unavailable),
        (503, json!({"error_code": "service_unavailable"}))
    );
    // The fault is spent: the real answer again.
    assert_eq!(
        app.call("GET", "/v1/imports/1", Some(KEY), None)
            .await
            .status,
        404
    );
    let journal = control(&app, "GET", "/_mock/requests", None).await.body;
    let statuses: Vec<&Value> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["status"])
        .collect();
    assert_eq!(statuses, [&json!(429), &json!(503), &json!(404)]);
    assert_eq!(journal["requests"][0]["headers"]["u21-key"], "****-key");
}

#[tokio::test]
async fn a_snapshot_over_its_bound_is_refused_in_unit21s_shape() {
    let app = App::new();
    let request = Request::put("/_mock/state")
        .header("host", "localhost")
        .header("content-type", "application/json")
        // Refused on what it declares, before a byte is read.
        .header("content-length", (2u64 << 30).to_string())
        .body(Body::empty())
        .unwrap();
    let answer = app.send(request).await;
    let (status, body) = refusal(&answer);
    assert_eq!(
        (status, &body["error_code"]),
        (413, &json!("payload_too_large")),
        "{body}"
    );
}

mod any_input {
    //! Random bodies at every route: each answer comes in its route's format, and none is a
    //! 5xx or a panic.

    use proptest::prelude::*;
    use proptest::test_runner::{Config as Runner, TestRunner};

    use super::*;

    /// The keys the routes read, so random objects reach their checks.
    const KEYS: &[&str] = &[
        "stream_name",
        "file_name",
        "md5_hash",
        "statuses",
        "stream_names",
        "offset",
        "limit",
        "created_after",
        "created_before",
        "seconds",
        "ms",
        "epoch_ms",
        "seed",
        "timing",
        "status",
        "failure_code",
        "successful_count",
        "org",
        "content",
        "content_base64",
        "process",
        "version",
        "files",
        "objects",
        "clock",
        "name",
        "columns",
    ];

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            "[ -~]{0,12}".prop_map(Value::from),
            prop::sample::select(vec![
                "QUEUED",
                "FINISHED",
                "manual",
                "s",
                "a.csv",
                "0b7c8a2e-3f4d-4a59-9d7e-1c2b3a4d5e6f"
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..6).prop_map(
                    |map| Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                ),
            ]
        })
    }

    fn body() -> impl Strategy<Value = (Vec<u8>, &'static str)> {
        prop_oneof![
            json().prop_map(|v| (v.to_string().into_bytes(), "application/json")),
            prop::collection::vec(any::<u8>(), 0..256).prop_map(|b| (b, "application/json")),
            prop::collection::vec(any::<u8>(), 0..256)
                .prop_map(|b| (b, "multipart/form-data; boundary=x")),
            "[ -~\\r\\n]{0,200}".prop_map(|s| {
                (
                    format!("--x\r\n{s}\r\n--x--\r\n").into_bytes(),
                    "multipart/form-data; boundary=x",
                )
            }),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| (b, "text/plain")),
        ]
    }

    const ROUTES: &[(&str, &str)] = &[
        ("POST", CREATE),
        ("POST", LIST),
        ("GET", "/v1/imports/1"),
        ("POST", "/u21-mock-uploads/"),
        ("POST", "/u21-mock-uploads/some/key"),
        ("POST", "/other-bucket/"),
        ("POST", "/_mock/clock/advance"),
        ("POST", "/_mock/clock/set"),
        ("POST", "/_mock/timing"),
        ("POST", "/_mock/seed"),
        ("POST", "/_mock/files"),
        ("POST", "/_mock/files/1/transition"),
        ("POST", "/_mock/files/1/process"),
        ("POST", "/_mock/process-queued"),
        ("PUT", "/_mock/streams"),
        ("PUT", "/_mock/state"),
        ("GET", "/_mock/requests"),
        ("GET", "/_mock/faults"),
        ("POST", "/_mock/dashboard/upload"),
        ("GET", "/_mock/dashboard/imports"),
    ];

    #[test]
    fn every_route_answers_random_input_in_its_format_without_a_5xx() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let app = App::new();
        runtime.block_on(app.create("s", "a.csv"));
        let mut runner = TestRunner::new(Runner {
            cases: 1500,
            failure_persistence: None,
            ..Runner::default()
        });
        let strategy = (0..ROUTES.len(), body(), any::<bool>());
        runner
            .run(&strategy, |(route, (bytes, content_type), with_key)| {
                let (method, path) = ROUTES[route];
                let mut request = Request::builder()
                    .method(method)
                    .uri(path)
                    .header("host", "localhost")
                    .header("content-type", content_type);
                if with_key {
                    request = request.header("u21-key", KEY);
                }
                let request = request.body(Body::from(bytes)).unwrap();
                let answer = runtime.block_on(app.send(request));
                prop_assert!(
                    answer.status.as_u16() < 500,
                    "{method} {path} ({content_type}): {} {}",
                    answer.status,
                    answer.body
                );
                let content_type = answer
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let s3 = !path.starts_with("/v1") && !path.starts_with("/_mock");
                if s3 && !answer.status.is_success() && answer.status != 303 {
                    prop_assert_eq!(content_type, "application/xml", "{} {}", method, path);
                } else if !s3 && path != "/_mock/dashboard/imports" {
                    prop_assert!(
                        content_type.starts_with("application/json") || answer.status == 204,
                        "{method} {path}: {} answered {content_type:?}",
                        answer.status
                    );
                }
                Ok(())
            })
            .unwrap();
    }
}

/// `public_url = "auto"`: the pre-signed `url` (and the OpenAPI server) name the host the
/// request came to, so a fake behind a port mapping hands out reachable URLs; a `Host` that
/// is not a plain authority is never written into a URL.
#[rstest]
#[case::mapped_port("localhost:32768", "http://localhost:32768/u21-mock-uploads/")]
#[case::service_name("u21-mock:8021", "http://u21-mock:8021/u21-mock-uploads/")]
#[case::ipv6("[::1]:9000", "http://[::1]:9000/u21-mock-uploads/")]
#[case::user_info("user@evil.test", "http://localhost:8021/u21-mock-uploads/")]
#[case::path("evil.test/x", "http://localhost:8021/u21-mock-uploads/")]
#[case::empty("", "http://localhost:8021/u21-mock-uploads/")]
#[case::port_out_of_range("host:99999", "http://localhost:8021/u21-mock-uploads/")]
#[tokio::test]
async fn an_auto_public_url_is_the_requests_host(#[case] host: &str, #[case] url: &str) {
    let app = App::with(Config {
        timing: Timing::Instant,
        public_url: Some("auto".into()),
        ..Config::default()
    });
    let request = Request::builder()
        .method("POST")
        .uri(CREATE)
        .header("host", host)
        .header("u21-key", KEY)
        .header("content-type", "application/json")
        .body(Body::from(r#"{"stream_name": "s", "file_name": "a.csv"}"#))
        .unwrap();
    let answer = app.send(request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["url"], url);
}

#[tokio::test]
async fn a_fixed_public_url_ignores_the_host() {
    let app = App::new();
    let request = Request::builder()
        .method("GET")
        .uri("/openapi.json")
        .header("host", "elsewhere.test:1")
        .body(Body::empty())
        .unwrap();
    let answer = app.send(request).await;
    assert_eq!(answer.body["servers"][0]["url"], "http://localhost:8021");
}
mod dropping;
mod fidelity;
mod headers;
mod logging;
