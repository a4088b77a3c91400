//! Listing (filters, order, pages) and the rate limit.

use super::*;

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
