//! Routes beyond the three Unit21 calls: unknown routes and methods, the control plane (its
//! refusals, its origin and token), faults in each route's own format, snapshots, any input
//! at all, and the public URL in forms and the OpenAPI document.

use super::*;

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
pub(super) async fn control(app: &App, method: &str, path: &str, body: Option<Value>) -> Answer {
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
