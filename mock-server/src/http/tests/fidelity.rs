//! Each fidelity switch against its default: the same request, answered both ways, so a team
//! whose sandbox settles a point the other way can make the fake agree (FIDELITY.md).

use axum::body::Body;
use axum::http::Request;
use rstest::rstest;
use serde_json::json;

use super::{App, CREATE, KEY, LIST};
use crate::config::{Config, Fidelity, StreamConfig};

fn app_with(fidelity: Fidelity) -> App {
    App::with(Config {
        fidelity,
        ..Config::default()
    })
}

#[rstest]
#[case::refused_by_default(Fidelity::default(), 400)]
#[case::taken_as_given(Fidelity { md5_hash_must_be_uuid: false, ..Fidelity::default() }, 200)]
#[tokio::test]
async fn an_md5_hash_that_is_not_a_uuid(#[case] fidelity: Fidelity, #[case] status: u16) {
    let app = app_with(fidelity);
    let body = json!({"stream_name": "s", "file_name": "a.csv", "md5_hash": "d41d8cd98f00b204"});
    let answer = app.post(CREATE, KEY, body).await;
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(app.engine.import_count(), usize::from(status == 200));
}

#[rstest]
#[case::create_400(CREATE, Fidelity::default(), 400, "bad_request")]
#[case::list_400(LIST, Fidelity::default(), 400, "bad_request")]
#[case::create_415(CREATE, Fidelity { non_json_body_status: 415, ..Fidelity::default() }, 415, "unsupported_media_type")]
#[case::list_415(LIST, Fidelity { non_json_body_status: 415, ..Fidelity::default() }, 415, "unsupported_media_type")]
#[tokio::test]
async fn a_body_that_is_not_json(
    #[case] path: &str,
    #[case] fidelity: Fidelity,
    #[case] status: u16,
    #[case] code: &str,
) {
    let app = app_with(fidelity);
    let request = Request::post(path)
        .header("u21-key", KEY)
        .header("content-type", "text/plain")
        .body(Body::from(r#"{"stream_name":"s","file_name":"a.csv"}"#))
        .unwrap();
    let answer = app.send(request).await;
    assert_eq!(answer.status, status);
    assert_eq!(answer.body["error_code"], code);
    assert_eq!(
        answer.body["message"],
        "Content-Type must be application/json"
    );
    assert_eq!(app.engine.import_count(), 0);
}

#[rstest]
#[case::get_on_list_405("GET", LIST, Fidelity::default(), 405, "method_not_allowed")]
#[case::delete_an_import_405(
    "DELETE",
    "/v1/imports/1",
    Fidelity::default(),
    405,
    "method_not_allowed"
)]
#[case::get_on_list_404("GET", LIST, Fidelity { wrong_method_status: 404, ..Fidelity::default() }, 404, "resource_not_found")]
#[case::get_on_create_404("GET", CREATE, Fidelity { wrong_method_status: 404, ..Fidelity::default() }, 404, "resource_not_found")]
#[tokio::test]
async fn a_known_path_with_another_method(
    #[case] method: &str,
    #[case] path: &str,
    #[case] fidelity: Fidelity,
    #[case] status: u16,
    #[case] code: &str,
) {
    let app = app_with(fidelity);
    let answer = app.call(method, path, Some(KEY), None).await;
    assert_eq!(answer.status, status);
    assert_eq!(answer.body, json!({"error_code": code}));
}

#[rstest]
#[case::create_ignored(CREATE, Fidelity::default(), 200)]
#[case::list_ignored(LIST, Fidelity::default(), 200)]
#[case::create_refused(CREATE, Fidelity { reject_unknown_fields: true, ..Fidelity::default() }, 400)]
#[case::list_refused(LIST, Fidelity { reject_unknown_fields: true, ..Fidelity::default() }, 400)]
#[tokio::test]
async fn a_field_the_route_does_not_know(
    #[case] path: &str,
    #[case] fidelity: Fidelity,
    #[case] status: u16,
) {
    let app = app_with(fidelity);
    let body = if path == LIST {
        json!({"limit": 10, "colour": "red"})
    } else {
        json!({"stream_name": "s", "file_name": "a.csv", "colour": "red"})
    };
    let answer = app.post(path, KEY, body).await;
    assert_eq!(answer.status, status, "{}", answer.body);
    if status == 400 {
        assert_eq!(
            answer.body,
            json!({"error_code": "bad_request", "message": "Unknown field: colour"})
        );
    }
}

#[rstest]
#[case::accepted_then_failed_by_default(Fidelity::default(), "elsewhere", 200)]
#[case::refused_at_create(Fidelity { reject_unknown_streams_at_create: true, ..Fidelity::default() }, "elsewhere", 400)]
#[case::a_configured_stream_is_taken(Fidelity { reject_unknown_streams_at_create: true, ..Fidelity::default() }, "trades", 200)]
#[tokio::test]
async fn a_stream_that_is_not_configured(
    #[case] fidelity: Fidelity,
    #[case] stream: &str,
    #[case] status: u16,
) {
    let app = App::with(Config {
        fidelity,
        streams: vec![StreamConfig::new("trades")],
        ..Config::default()
    });
    let body = json!({"stream_name": stream, "file_name": "a.csv"});
    let answer = app.post(CREATE, KEY, body).await;
    assert_eq!(answer.status, status, "{}", answer.body);
    if status == 400 {
        assert_eq!(
            answer.body["message"],
            format!("Stream '{stream}' is not configured")
        );
    }
}

/// With no stream configured, every stream is one: the switch refuses nothing.
#[tokio::test]
async fn without_configured_streams_every_stream_is_taken() {
    let app = app_with(Fidelity {
        reject_unknown_streams_at_create: true,
        ..Fidelity::default()
    });
    app.create("anything", "a.csv").await;
}

#[rstest]
#[case::bad_request(400, true)]
#[case::unsupported_media_type(415, true)]
#[case::any_other(418, false)]
fn a_non_json_status_is_one_of_the_two(#[case] status: u16, #[case] valid: bool) {
    let config = Config {
        fidelity: Fidelity {
            non_json_body_status: status,
            ..Fidelity::default()
        },
        ..Config::default()
    };
    assert_eq!(config.validate().is_ok(), valid);
}

#[rstest]
#[case::method_not_allowed(405, true)]
#[case::not_found(404, true)]
#[case::any_other(400, false)]
fn a_wrong_method_status_is_one_of_the_two(#[case] status: u16, #[case] valid: bool) {
    let config = Config {
        fidelity: Fidelity {
            wrong_method_status: status,
            ..Fidelity::default()
        },
        ..Config::default()
    };
    assert_eq!(config.validate().is_ok(), valid);
}
