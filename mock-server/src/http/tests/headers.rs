//! What every route reads from the headers in one way: the media type (case-insensitive, its
//! parameters aside) and the declared length. An `Application/JSON` body is JSON to the
//! handler, and to the journal alike.

use axum::body::Body;
use axum::http::Request;
use rstest::rstest;
use serde_json::json;

use super::{App, CREATE, KEY};
use crate::engine::JournalQuery;

#[rstest]
#[case::lower("application/json")]
#[case::mixed_case("Application/JSON")]
#[case::with_a_parameter("application/json; charset=utf-8")]
#[case::spaced_and_upper(" APPLICATION/JSON ;charset=UTF-8")]
#[tokio::test]
async fn a_json_body_in_any_spelling_is_taken_and_journalled(#[case] content_type: &str) {
    let app = App::new();
    let body = json!({"stream_name": "s", "file_name": "a.csv"});
    let text = body.to_string();
    let request = Request::post(CREATE)
        .header("u21-key", KEY)
        .header("content-type", content_type)
        .header("content-length", text.len())
        .body(Body::from(text))
        .unwrap();
    let answer = app.send(request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let journal = app.engine.traffic.requests(&JournalQuery::default());
    let entry = journal.last().expect("journalled");
    assert_eq!(entry.body.json.as_ref(), Some(&body), "{content_type}");
}
