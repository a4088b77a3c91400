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

mod control_plane;
mod dropping;
mod fidelity;
mod headers;
mod listing_and_limits;
mod logging;
