//! Internal errors are logged once, by the journal-and-faults service, from the response: the
//! conversions that make the 500s log nothing, and the client never sees the cause.

use axum::http::{Method, Uri};
use axum::response::IntoResponse;

use crate::error::{Error, InternalCause};
use crate::http::observe::log_internal;
use crate::http::support::ApiError;
use crate::s3::error::S3Error;

/// What was logged (at any level) while `during` ran, one string per line.
fn logged(during: impl FnOnce()) -> Vec<String> {
    crate::test_support::logged(tracing::Level::TRACE, during)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_io_error_is_logged_once_from_the_response_with_its_cause() {
    let mut response = None;
    let while_converting = logged(|| {
        let err = Error::Io {
            context: "committing file 7".into(),
            source: std::io::Error::other("No space left on device"),
        };
        response = Some(ApiError::from(err).into_response());
    });
    assert!(while_converting.is_empty(), "{while_converting:?}");
    let response = response.unwrap();
    assert_eq!(response.status(), 500);
    let cause = response
        .extensions()
        .get::<InternalCause>()
        .expect("carried");
    assert_eq!(
        cause.to_string(),
        "committing file 7: No space left on device"
    );
    assert!(
        matches!(
            cause.error().downcast_ref::<Error>(),
            Some(Error::Io { .. })
        ),
        "the cause is the engine's error itself, typed"
    );
    let lines = logged(|| {
        log_internal(
            &Method::POST,
            &Uri::from_static("/v1/imports/list"),
            &response,
        )
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("ERROR"), "{lines:?}");
    assert!(
        lines[0].contains("POST /v1/imports/list: committing file 7: No space left on device"),
        "{lines:?}"
    );
}

#[test]
fn an_s3_internal_error_keeps_its_cause_from_the_client_and_for_the_log() {
    let mut response = None;
    let while_converting = logged(|| {
        let cause = std::io::Error::other("reading the part: broken pipe");
        response = Some(S3Error::internal(cause).into_response());
    });
    assert!(while_converting.is_empty(), "{while_converting:?}");
    let response = response.unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(
        response
            .extensions()
            .get::<InternalCause>()
            .map(ToString::to_string)
            .as_deref(),
        Some("reading the part: broken pipe")
    );
}

#[test]
fn an_answer_without_a_cause_logs_nothing() {
    let response = ApiError::not_found().into_response();
    let lines =
        logged(|| log_internal(&Method::GET, &Uri::from_static("/v1/imports/9"), &response));
    assert!(lines.is_empty(), "{lines:?}");
}
