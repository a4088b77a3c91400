//! Run with: `cargo build --release -p u21-mock --bin u21-mock --example upload_memory && target/release/examples/upload_memory`
//!
//! Starts the release `u21-mock` binary as its own process, uploads a generated 300 MiB CSV
//! through the pre-signed form (every check on, ETag included), waits for processing, and
//! prints the server's peak resident memory (`VmHWM`) with the upload and processing rates.
//! Figures only: nothing here passes or fails.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use bytes::Bytes;
use serde_json::{json, Value};

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

fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let release = exe
        .parent()
        .and_then(|examples| examples.parent())
        .expect("target/release");
    release.join("u21-mock")
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("Linux /proc");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib / 1024.0
}

#[tokio::main]
async fn main() {
    let binary = server_binary();
    assert!(
        binary.exists(),
        "build it first: cargo build --release -p u21-mock --bin u21-mock"
    );
    let mut child = Command::new(&binary)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--timing",
            "instant",
            "--rate-limit",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .trim_start_matches("u21-mock listening on ")
        .to_owned();
    let pid = child.id();
    let idle = peak_rss_mib(pid);

    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{base}/v1/imports/pre-signed-url/create"))
        .header("u21-key", "u21-mock-dev-key")
        .json(&json!({"stream_name": "bench", "file_name": "big.csv"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

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
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in created["form_fields"].as_object().unwrap() {
        form = form.text(name.clone(), value.as_str().unwrap().to_owned());
    }
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
    let status: Value = http
        .get(format!(
            "{base}/v1/imports/{}",
            created["file_id"].as_str().unwrap()
        ))
        .header("u21-key", "u21-mock-dev-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
