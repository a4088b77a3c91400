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
    assert_eq!(app.engine.files.import_count(), usize::from(status == 200));
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
    assert_eq!(app.engine.files.import_count(), 0);
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

#[rstest]
#[case::exact_by_default(Fidelity::default(), 401)]
#[case::any_case_by_switch(Fidelity { keys_case_sensitive: false, ..Fidelity::default() }, 200)]
#[tokio::test]
async fn a_key_in_another_case(#[case] fidelity: Fidelity, #[case] status: u16) {
    let app = app_with(fidelity);
    let answer = app.post(LIST, &KEY.to_ascii_uppercase(), json!({})).await;
    assert_eq!(answer.status, status, "{}", answer.body);
}

/// Keys that differ only in case are one key when case is ignored: configuring both is an
/// error, not a silent pick.
#[test]
fn keys_that_differ_only_in_case_clash_when_case_is_ignored() {
    let config = |case_sensitive| Config {
        keys: vec![
            crate::config::KeyConfig::new("Team-Key", "a"),
            crate::config::KeyConfig::new("team-key", "b"),
        ],
        fidelity: Fidelity {
            keys_case_sensitive: case_sensitive,
            ..Fidelity::default()
        },
        ..Config::default()
    };
    assert!(config(true).validate().is_ok());
    assert!(config(false).validate().is_err());
}

#[rstest]
#[case::no_filters_by_default(Fidelity::default(), 200)]
#[case::refused_by_switch(Fidelity { empty_list_body_refused: true, ..Fidelity::default() }, 400)]
#[tokio::test]
async fn a_list_call_with_no_body(#[case] fidelity: Fidelity, #[case] status: u16) {
    let app = app_with(fidelity);
    app.create("s", "a.csv").await;
    let request = Request::post(LIST)
        .header("u21-key", KEY)
        .header("content-type", "application/json")
        .body(Body::empty())
        .unwrap();
    let answer = app.send(request).await;
    assert_eq!(answer.status, status, "{}", answer.body);
    if status == 200 {
        assert_eq!(answer.body["total_count"], 1);
    }
}

#[rstest]
#[case::matches_nothing_by_default(Fidelity::default(), 200)]
#[case::refused_by_switch(Fidelity { unknown_stream_filter_refused: true, ..Fidelity::default() }, 400)]
#[tokio::test]
async fn a_list_filter_naming_a_stream_that_is_not_configured(
    #[case] fidelity: Fidelity,
    #[case] status: u16,
) {
    let app = App::with(Config {
        fidelity,
        streams: vec![StreamConfig::new("trades")],
        ..Config::default()
    });
    let answer = app
        .post(LIST, KEY, json!({"stream_names": ["elsewhere"]}))
        .await;
    assert_eq!(answer.status, status, "{}", answer.body);
    if status == 200 {
        assert_eq!(answer.body["total_count"], 0);
    } else {
        assert_eq!(
            answer.body["message"],
            "Stream 'elsewhere' in 'stream_names' is not configured"
        );
    }
    let known = app
        .post(LIST, KEY, json!({"stream_names": ["trades"]}))
        .await;
    assert_eq!(known.status, 200);
}

#[rstest]
#[case::no_filter_by_default(Fidelity::default(), json!({"statuses": []}), 1)]
#[case::no_filter_by_default_streams(Fidelity::default(), json!({"stream_names": []}), 1)]
#[case::nothing_by_switch(Fidelity { empty_filter_matches_nothing: true, ..Fidelity::default() }, json!({"statuses": []}), 0)]
#[case::nothing_by_switch_streams(Fidelity { empty_filter_matches_nothing: true, ..Fidelity::default() }, json!({"stream_names": []}), 0)]
#[case::null_is_still_no_filter(Fidelity { empty_filter_matches_nothing: true, ..Fidelity::default() }, json!({"statuses": null}), 1)]
#[tokio::test]
async fn an_empty_filter_list(
    #[case] fidelity: Fidelity,
    #[case] body: serde_json::Value,
    #[case] listed: u64,
) {
    let app = app_with(fidelity);
    app.create("s", "a.csv").await;
    let answer = app.post(LIST, KEY, body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["total_count"], listed);
    assert_eq!(
        answer.body["datafiles"].as_array().unwrap().len() as u64,
        listed
    );
}

#[rstest]
#[case::upper_cased_by_default(Fidelity::default(), json!("TXT"), json!(0))]
#[case::null_by_switch(Fidelity { unknown_file_type_null: true, ..Fidelity::default() }, json!(null), json!(0))]
#[case::counts_null_by_switch(Fidelity { counts_null_until_processed: true, ..Fidelity::default() }, json!("TXT"), json!(null))]
#[tokio::test]
async fn a_new_files_shape(
    #[case] fidelity: Fidelity,
    #[case] file_type: serde_json::Value,
    #[case] count: serde_json::Value,
) {
    let app = app_with(fidelity);
    let created = app.create("s", "notes.txt").await;
    let id = created["file_id"].as_str().unwrap();
    let got = app
        .call("GET", &format!("/v1/imports/{id}"), Some(KEY), None)
        .await
        .body;
    let listed = app.post(LIST, KEY, json!({})).await.body["datafiles"][0].clone();
    for shape in [got, listed] {
        assert_eq!(shape["file_type"], file_type, "{shape}");
        assert_eq!(shape["successful_count"], count, "{shape}");
        assert_eq!(shape["failure_count"], count, "{shape}");
    }
}

/// A known type keeps its name under the switch; counts come back once processing ends.
#[tokio::test]
async fn the_switches_leave_known_types_and_finished_counts_alone() {
    let app = App::with(Config {
        timing: crate::config::Timing::Instant,
        fidelity: Fidelity {
            unknown_file_type_null: true,
            counts_null_until_processed: true,
            ..Fidelity::default()
        },
        ..Config::default()
    });
    let created = app.create("s", "a.csv").await;
    let id: u64 = created["file_id"].as_str().unwrap().parse().unwrap();
    app.engine
        .files
        .force(
            id,
            crate::engine::Transition::Finished {
                successful: 3,
                failed: 1,
            },
        )
        .await
        .unwrap();
    let got = app
        .call("GET", &format!("/v1/imports/{id}"), Some(KEY), None)
        .await
        .body;
    assert_eq!(got["file_type"], "CSV");
    assert_eq!(
        (
            got["successful_count"].clone(),
            got["failure_count"].clone()
        ),
        (json!(3), json!(1))
    );
}
