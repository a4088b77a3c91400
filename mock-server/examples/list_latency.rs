//! Run with: `cargo run --release -p u21-mock --example list_latency`
//!
//! Fills an in-process fake with 100,000 files through the create endpoint (ten streams,
//! one file in ten uploaded and FINISHED), then times `POST /v1/imports/list` pages of 1000
//! under several filters over loopback. Figures only: nothing here passes or fails.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use u21_mock::{Clock, MockServer};

const FILES: usize = 100_000;
const SAMPLES: usize = 200;

#[tokio::main]
async fn main() {
    let clock = Clock::frozen(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let server = MockServer::builder()
        .clock(clock.clone())
        .rate_limit(0)
        .start()
        .await;
    let http = reqwest::Client::new();
    let create = format!("{}/v1/imports/pre-signed-url/create", server.uri());

    let started = Instant::now();
    for batch in 0..FILES / 1000 {
        // A thousand files a second of clock time, so created_after/before have something to cut.
        clock.advance(Duration::from_secs(1));
        let results: Vec<Value> = futures_util::stream::iter(0..1000)
            .map(|i| {
                let n = batch * 1000 + i;
                let request = http
                    .post(&create)
                    .header("u21-key", server.api_key())
                    .json(&json!({"stream_name": format!("stream-{}", n % 10), "file_name": format!("f{n}.csv")}));
                async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        for created in results
            .iter()
            .filter(|c| c["file_id"].as_str().unwrap().ends_with('0'))
        {
            let mut form = reqwest::multipart::Form::new();
            for (name, value) in created["form_fields"].as_object().unwrap() {
                form = form.text(name.clone(), value.as_str().unwrap().to_owned());
            }
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(b"a\n1\n".to_vec()).file_name("f.csv"),
            );
            let response = http
                .post(created["url"].as_str().unwrap())
                .multipart(form)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 204);
        }
    }
    server.files().settle().await;
    println!(
        "filled {} files in {:.1} s",
        server.files().count(),
        started.elapsed().as_secs_f64()
    );

    let t0 = 1_700_000_000u64;
    let cases = [
        ("no filter, first page", json!({"limit": 1000})),
        (
            "one stream, page 5",
            json!({"stream_names": ["stream-3"], "offset": 5, "limit": 1000}),
        ),
        (
            "status FINISHED, page 3",
            json!({"statuses": ["FINISHED"], "offset": 3, "limit": 1000}),
        ),
        (
            "time window + 2 streams",
            json!({"created_after": t0 + 20, "created_before": t0 + 80, "stream_names": ["stream-1", "stream-2"], "offset": 2, "limit": 1000}),
        ),
        (
            "status + stream, last page",
            json!({"statuses": ["PENDING_UPLOAD"], "stream_names": ["stream-7"], "offset": 9, "limit": 1000}),
        ),
    ];
    println!("| list call (limit 1000, 100,000 stored) | items | total | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for (name, body) in cases {
        let mut times = Vec::with_capacity(SAMPLES);
        let mut last = bytes::Bytes::new();
        for _ in 0..SAMPLES {
            // The body is read in full but not parsed: the figure is the server's answer time.
            let started = Instant::now();
            last = http
                .post(format!("{}/v1/imports/list", server.uri()))
                .header("u21-key", server.api_key())
                .json(&body)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            times.push(started.elapsed());
        }
        let last: Value = serde_json::from_slice(&last).unwrap();
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {name} | {} | {} | {:.2} | {:.2} |",
            last["response_count"],
            last["total_count"],
            ms(times[SAMPLES / 2]),
            ms(times[SAMPLES * 99 / 100])
        );
    }
}
