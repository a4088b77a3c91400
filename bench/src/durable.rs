//! `--data-dir` at scale: with 100,000 files already stored, how long a create and an upload
//! take to be acknowledged (committed to the database first), whether GETs slow down while
//! others write, and how long a restart takes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::Server;
use crate::Row;

const KEY: &str = "u21-mock-dev-key";

/// The 100,000 files the list measure also uses, as a snapshot for `PUT /_mock/state`.
pub fn hundred_thousand_files() -> Value {
    files_snapshot(100_000)
}

/// `n` files, a third FINISHED, as a snapshot for `PUT /_mock/state` (54,000 make 16 MiB).
fn files_snapshot(n: u64) -> Value {
    let t0: i64 = 1_700_000_000_000;
    let files: Vec<_> = (1..=n)
        .map(|id| {
            let finished = id % 3 == 0;
            json!({"id": id, "org": "demo", "stream_name": format!("stream-{}", id % 10), "file_name": format!("f{id}.csv"), "md5_hash": null,
                   "key": format!("dev/org_demo/{}_f{id}.csv", t0 + id as i64 * 10), "created_ms": t0 + id as i64 * 10,
                   "status": if finished { "FINISHED" } else { "PENDING_UPLOAD" },
                   "process_start_ms": if finished { json!(t0 + id as i64 * 10) } else { json!(null) },
                   "process_end_ms": if finished { json!(t0 + id as i64 * 10) } else { json!(null) },
                   "successful_count": if finished { 10 } else { 0 }, "failure_count": 0, "failure_code": null, "plan": null})
        })
        .collect();
    json!({"version": 1, "clock": {"frozen_at_ms": null, "offset_ms": 0}, "timing": "instant", "streams": [], "next_id": n + 1, "files": files, "objects": []})
}

/// The `p` quantile of `times`, in milliseconds.
pub(crate) fn percentile(times: &mut [Duration], p: f64) -> f64 {
    times.sort();
    let i = ((times.len() as f64 - 1.0) * p).round() as usize;
    times[i].as_secs_f64() * 1e3
}

async fn create(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<Value> {
    let response = http
        .post(format!("{base}/v1/imports/pre-signed-url/create"))
        .header("u21-key", KEY)
        .json(&json!({"stream_name": "bench", "file_name": name}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "create: {}", response.status());
    Ok(response.json().await?)
}

async fn upload(http: &reqwest::Client, created: &Value) -> anyhow::Result<()> {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in created["form_fields"].as_object().into_iter().flatten() {
        form = form.text(name.clone(), value.as_str().unwrap_or_default().to_owned());
    }
    let form = form.part(
        "file",
        reqwest::multipart::Part::bytes(b"a,b\n1,2\n".repeat(128)).file_name("f.csv"),
    );
    let response = http
        .post(created["url"].as_str().unwrap_or_default())
        .multipart(form)
        .send()
        .await?;
    anyhow::ensure!(response.status() == 204, "upload: {}", response.status());
    Ok(())
}

/// Upload acknowledgement times (ms) of `n` fresh files on `server`.
async fn upload_times(server: &Server, n: usize) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::new();
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let created = create(&http, &server.base, &format!("u{i}.csv")).await?;
        let started = Instant::now();
        upload(&http, &created).await?;
        times.push(started.elapsed());
    }
    Ok(times)
}

/// GET latencies (p50, p99 in ms) over 8 connections for 2 s.
async fn get_latency(server: &Server) -> anyhow::Result<(f64, f64)> {
    let request =
        format!("GET /v1/imports/50000 HTTP/1.1\r\nHost: bench\r\nu21-key: {KEY}\r\n\r\n")
            .into_bytes();
    let (_, p50, p99) =
        crate::load::run(&server.addr(), request, 8, Duration::from_secs(2)).await?;
    Ok((p50.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3))
}

/// Peak memory of a fake taking one 16 MiB `PUT /_mock/state`.
async fn import_memory() -> anyhow::Result<Row> {
    let server = Server::start(&["--rate-limit", "0"])?;
    let body = serde_json::to_vec(&files_snapshot(54_000))?;
    let before = server.peak_rss_mib();
    let response = reqwest::Client::new()
        .put(format!("{}/_mock/state", server.base))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await?;
    anyhow::ensure!(response.status() == 204, "import: {}", response.status());
    Ok(Row {
        measure: format!(
            "PUT /_mock/state, a {:.1} MiB document (54,000 files): server peak RSS before / after",
            body.len() as f64 / (1024.0 * 1024.0)
        ),
        figure: format!("{before:.1} / {:.1} MiB", server.peak_rss_mib()),
        target: "not hundreds of MB",
    })
}

pub async fn measure() -> anyhow::Result<Vec<Row>> {
    let import = import_memory().await?;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let data_arg = data.to_string_lossy().into_owned();
    let args = [
        "--rate-limit",
        "0",
        "--timing",
        "instant",
        "--data-dir",
        data_arg.as_str(),
    ];
    let server = Server::start(&args)?;
    let http = reqwest::Client::new();
    let snapshot = hundred_thousand_files();
    let started = Instant::now();
    let loaded = http
        .put(format!("{}/_mock/state", server.base))
        .json(&snapshot)
        .send()
        .await?;
    anyhow::ensure!(loaded.status() == 204, "loading: {}", loaded.status());
    let import_ms = started.elapsed().as_secs_f64() * 1e3;
    drop(snapshot);

    // One client: each create waits for its own commit.
    let mut creates = Vec::new();
    for i in 0..1000 {
        let started = Instant::now();
        create(&http, &server.base, &format!("c{i}.csv")).await?;
        creates.push(started.elapsed());
    }
    let (create_p50, create_p99) = (
        percentile(&mut creates, 0.5),
        percentile(&mut creates, 0.99),
    );

    // Four clients at once: commits are shared.
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..4 {
        let base = server.base.clone();
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..250 {
                create(&http, &base, &format!("p{c}-{i}.csv")).await?;
            }
            anyhow::Ok(())
        }));
    }
    for client in clients {
        client.await??;
    }
    let creates_per_second = 1000.0 / started.elapsed().as_secs_f64();

    // Uploads, against the same uploads to a fake without a data directory.
    let mut durable_uploads = upload_times(&server, 200).await?;
    let memory = Server::start(&["--rate-limit", "0", "--timing", "instant"])?;
    let mut memory_uploads = upload_times(&memory, 200).await?;
    drop(memory);
    let (durable_upload, memory_upload) = (
        percentile(&mut durable_uploads, 0.5),
        percentile(&mut memory_uploads, 0.5),
    );

    // GETs alone, then while four clients create without pause.
    let (quiet_p50, quiet_p99) = get_latency(&server).await?;
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut writers = Vec::new();
    for c in 0..4 {
        let base = server.base.clone();
        let writing = writing.clone();
        writers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut i = 0;
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                create(&http, &base, &format!("w{c}-{i}.csv")).await?;
                i += 1;
            }
            anyhow::Ok(i)
        }));
    }
    let (busy_p50, busy_p99) = get_latency(&server).await?;
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut written = 0;
    for writer in writers {
        written += writer.await??;
    }

    // Restart: from spawn to the banner, which the fake prints once the state is loaded.
    drop(server);
    let started = Instant::now();
    let restarted = Server::start(&args)?;
    let restart_ms = started.elapsed().as_secs_f64() * 1e3;
    let count: Value = http
        .post(format!("{}/v1/imports/list", restarted.base))
        .header("u21-key", KEY)
        .json(&json!({"limit": 1}))
        .send()
        .await?
        .json()
        .await?;
    let total = count["total_count"].as_u64().unwrap_or(0);
    anyhow::ensure!(total > 100_000, "the restart kept {total} files");

    Ok(vec![
        import,
        Row {
            measure: "--data-dir, 100,000 files stored: create acknowledged (1,000 in a row)"
                .into(),
            figure: format!("p50 {create_p50:.2} ms, p99 {create_p99:.2} ms"),
            target: "p50 ≤ 2 ms, p99 ≤ 10 ms",
        },
        Row {
            measure: "--data-dir: creates by 4 clients at once".into(),
            figure: format!("{creates_per_second:.0} creates/s"),
            target: "",
        },
        Row {
            measure: "--data-dir: upload (1 KiB) acknowledged, against no data dir (200 each)"
                .into(),
            figure: format!(
                "p50 {durable_upload:.2} ms against {memory_upload:.2} ms: +{:.2} ms",
                durable_upload - memory_upload
            ),
            target: "≤ +2 ms",
        },
        Row {
            measure: "--data-dir: GET latency, quiet / while 4 clients create".into(),
            figure: format!(
                "p50 {quiet_p50:.2} / {busy_p50:.2} ms, p99 {quiet_p99:.2} / {busy_p99:.2} ms ({written} creates meanwhile)"
            ),
            target: "unaffected",
        },
        Row {
            measure: format!(
                "--data-dir: restart with {total} files (spawn to serving); their import took {import_ms:.0} ms"
            ),
            figure: format!("{restart_ms:.0} ms"),
            target: "≤ 1 s",
        },
    ])
}
