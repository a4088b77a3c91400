//! A fault that drops the connection (at once, or after a stall) ends the request as an error
//! of the service, which hyper turns into a closed socket with no answer: no panic, so it
//! behaves the same under `panic = "abort"` and never reaches a panic hook.

use axum::body::Body;
use axum::http::Request;
use rstest::rstest;
use serde_json::json;
use tower::ServiceExt;

use super::control_plane::control;
use super::{App, KEY};

#[rstest]
#[case::drop_connection(json!({"kind": "drop_connection"}))]
#[case::stall(json!({"kind": "stall", "ms": 1}))]
#[tokio::test]
async fn a_dropped_request_is_an_error_of_the_service_not_a_panic(
    #[case] action: serde_json::Value,
) {
    let app = App::new();
    control(
        &app,
        "POST",
        "/_mock/faults",
        Some(json!({"path": "/v1/imports/*", "action": action, "times": 1})),
    )
    .await;
    let request = Request::get("/v1/imports/1")
        .header("host", "localhost")
        .header("u21-key", KEY)
        .body(Body::empty())
        .unwrap();
    let answer = tokio::spawn(app.router.clone().oneshot(request))
        .await
        .expect("the request's task ends without a panic");
    assert!(answer.is_err(), "no answer is given");
    // The fault is spent and journalled; the next request is answered.
    let next = app.call("GET", "/v1/imports/1", Some(KEY), None).await;
    assert_eq!(next.status, 404);
}
