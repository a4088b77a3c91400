//! Run with: `cargo build --release -p u21-mock --bin u21-mock --example upload_memory && target/release/examples/upload_memory`
//!
//! Starts the release `u21-mock` binary as its own process, uploads a generated 300 MiB CSV
//! through the pre-signed form (every check on, ETag included), waits for processing, and
//! prints the server's peak resident memory (`VmHWM`) with the upload and processing rates.
//! Figures only: nothing here passes or fails.

mod common;

use std::time::Instant;

use bytes::Bytes;
use common::peak_rss_mib;

const TOTAL: u64 = 314_572_800;
const HEADER: &str = "id,amount,memo\n";
/// Every row is the same length, so the file can be sized to the byte in advance.
const ROW_LEN: u64 = 46;

fn row(i: u64) -> String {
    let row = format!(
        "{i:08},{:>8}.{:02},memo for record {i:08}\n",
        i % 100_000,
        i % 100
    );
    assert_eq!(row.len() as u64, ROW_LEN);
    row
}

#[tokio::main]
async fn main() {
    let (mut child, base) = common::start_server();
    let pid = child.id();
    let idle = peak_rss_mib(pid);

    let http = reqwest::Client::new();
    let created = common::create(&http, &base, "big.csv").await;

    let rows = (TOTAL - HEADER.len() as u64) / ROW_LEN;
    let size = HEADER.len() as u64 + rows * ROW_LEN;
    let chunks = futures_util::stream::iter(
        std::iter::once(Bytes::from_static(HEADER.as_bytes())).chain(
            (0..rows).step_by(16_384).map(move |start| {
                let end = (start + 16_384).min(rows);
                Bytes::from((start..end).map(row).collect::<String>())
            }),
        ),
    )
    .map(Ok::<_, std::io::Error>);
    let mut form = common::form_fields(&created);
    let file =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(chunks), size)
            .file_name("big.csv");
    form = form.part("file", file);

    let started = Instant::now();
    let response = http
        .post(created["url"].as_str().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    let upload_secs = started.elapsed().as_secs_f64();
    assert_eq!(
        response.status(),
        204,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let after_upload = peak_rss_mib(pid);

    let started = Instant::now();
    let status = common::status(&http, &base, &created).await;
    let processing_secs = started.elapsed().as_secs_f64();
    let after_processing = peak_rss_mib(pid);
    let _ = child.kill();
    let _ = child.wait();

    let mb = size as f64 / 1_000_000.0;
    println!(
        "file: {size} bytes ({rows} CSV rows); status {} with {} successful, {} failed",
        status["status"], status["successful_count"], status["failure_count"]
    );
    println!("| measure                               | figure        |");
    println!("|---------------------------------------|---------------|");
    println!("| server peak RSS at start              | {idle:>8.1} MiB |");
    println!("| server peak RSS after the upload      | {after_upload:>8.1} MiB |");
    println!("| server peak RSS after processing      | {after_processing:>8.1} MiB |");
    println!(
        "| upload (client and server, loopback)  | {:>7.0} MB/s |",
        mb / upload_secs
    );
    println!("| first status read (waits for reading) | {processing_secs:>9.2} s  |");
}

use futures_util::StreamExt;
