//! Run with: `cargo build --release -p u21-mock --bin u21-mock && cargo run --release -p u21-client --example upload_rss`
//!
//! Uploads a 300 MiB CSV from disk with the client library to a `u21-mock` started as its own
//! process, and prints this (client) process's peak resident memory before and after: the
//! file is streamed, so the figure should not move with the file's size. Figures only.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use u21_client::{Client, WaitOptions};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib / 1024.0
}

#[tokio::main]
async fn main() {
    let exe = std::env::current_exe().unwrap();
    let server_binary = exe
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .join("u21-mock");
    assert!(
        server_binary.exists(),
        "build it first: cargo build --release -p u21-mock --bin u21-mock"
    );
    let mut server = Command::new(server_binary)
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
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = u21_mock::ready::base_url_from_banner(&line)
        .expect("the banner's first line")
        .to_owned();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(file, "id,amount,memo").unwrap();
        let mut written = 0u64;
        let mut i = 0u64;
        while written < 314_000_000 {
            let row = format!("{i},{}.{:02},memo for record {i}\n", i % 100_000, i % 100);
            written += row.len() as u64;
            file.write_all(row.as_bytes()).unwrap();
            i += 1;
        }
    }
    let size = std::fs::metadata(&path).unwrap().len();

    let client = Client::builder()
        .base_url(&base)
        .api_key("u21-mock-dev-key")
        .build()
        .unwrap();
    let before = peak_rss_mib();
    let started = Instant::now();
    let form = client.upload_file("bench", &path, None).await.unwrap();
    let upload_secs = started.elapsed().as_secs_f64();
    let file = client
        .wait(&form.file_id, &WaitOptions::default())
        .await
        .unwrap();
    let after = peak_rss_mib();
    let _ = server.kill();
    let _ = server.wait();

    println!(
        "file: {size} bytes; {} with {} records",
        file.status, file.successful_count
    );
    println!("| measure                          | figure        |");
    println!("|----------------------------------|---------------|");
    println!("| client peak RSS before upload    | {before:>8.1} MiB |");
    println!("| client peak RSS after upload     | {after:>8.1} MiB |");
    println!(
        "| upload rate (client and server)  | {:>7.0} MB/s |",
        size as f64 / 1e6 / upload_secs
    );
}
