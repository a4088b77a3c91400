//! `u21-bench`: drives the release `u21-mock` over loopback and prints a table of figures.
//! It measures; it does not pass or fail.
//!
//! Run with: `cargo build --release --workspace --bins && target/release/u21-bench`

mod durable;
mod load;
mod server;

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use server::Server;

/// Measures the fake: start-up, GET throughput, list latency, upload, processing, and a soak.
#[derive(Debug, Parser)]
struct Args {
    /// Seconds of GET load per turn (each server gets three turns).
    #[arg(long, default_value_t = 3)]
    get_seconds: u64,
    /// Concurrent connections for the GET load.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds the soak runs.
    #[arg(long, default_value_t = 20)]
    soak_seconds: u64,
    /// Concurrent clients in the soak.
    #[arg(long, default_value_t = 200)]
    soak_clients: usize,
    /// Only these measures (startup, get, list, durable, upload, soak).
    #[arg(long)]
    only: Vec<String>,
    /// Internal: serve this JSON from a bare axum route, as the GET measure's reference.
    #[arg(long, hide = true)]
    serve_bare: Option<String>,
}

struct Row {
    measure: String,
    figure: String,
    target: &'static str,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(body) = args.serve_bare {
        return server::serve_bare(body).await;
    }
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let mut rows = Vec::new();
    if wanted("startup") {
        rows.push(startup().await?);
    }
    if wanted("get") {
        rows.extend(get_throughput(&args).await?);
    }
    if wanted("durable") {
        rows.extend(durable::measure().await?);
    }
    if wanted("list") {
        rows.push(list_latency().await?);
    }
    if wanted("upload") {
        rows.extend(upload_and_processing().await?);
    }
    if wanted("soak") {
        rows.push(soak(&args).await?);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\n| measure | figure | target |\n|---|---|---|");
    for row in rows {
        let _ = writeln!(out, "| {} | {} | {} |", row.measure, row.figure, row.target);
    }
    Ok(())
}

async fn startup() -> anyhow::Result<Row> {
    let binary = server::binary()?;
    let mut times = Vec::new();
    for _ in 0..20 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let started = Instant::now();
        let mut child = std::process::Command::new(&binary)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let request = b"GET /_mock/health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                use std::io::Read;
                stream.write_all(&request)?;
                let mut head = [0u8; 12];
                if stream.read_exact(&mut head).is_ok() && &head[9..12] == b"200" {
                    break;
                }
            }
            std::hint::spin_loop();
        }
        times.push(started.elapsed());
        let _ = child.kill();
        let _ = child.wait();
    }
    times.sort();
    Ok(Row {
        measure: "start-up to the first answered request (median of 20)".into(),
        figure: format!("{:.1} ms", times[10].as_secs_f64() * 1000.0),
        target: "< 10 ms",
    })
}

/// One GET load against one server: requests per second, latencies, server CPU per request.
struct GetFigures {
    rps: f64,
    p50: Duration,
    p99: Duration,
    cpu_us: f64,
}

/// GET throughput of the fake (journal on and off) and of a bare axum route serving the same
/// JSON. The three are measured in turns, [`GET_ROUNDS`] rounds of `--get-seconds` each, and
/// each figure is the median of its rounds: load on this machine drifts between runs, and
/// turns let the fake and its reference share the drift.
async fn get_throughput(args: &Args) -> anyhow::Result<Vec<Row>> {
    let mut servers = Vec::new();
    let mut answer = None;
    for (label, extra) in [
        ("journal on (default)", vec!["--rate-limit", "0"]),
        (
            "journal off",
            vec!["--rate-limit", "0", "--journal-capacity", "0"],
        ),
    ] {
        let server = Server::start(&extra)?;
        let http = reqwest::Client::new();
        let created: serde_json::Value = http
            .post(format!("{}/v1/imports/pre-signed-url/create", server.base))
            .header("u21-key", "u21-mock-dev-key")
            .json(&json!({"stream_name": "bench", "file_name": "a.csv"}))
            .send()
            .await?
            .json()
            .await?;
        let path = format!("/v1/imports/{}", created["file_id"].as_str().unwrap_or("1"));
        answer = Some(
            http.get(format!("{}{path}", server.base))
                .header("u21-key", "u21-mock-dev-key")
                .send()
                .await?
                .text()
                .await?,
        );
        servers.push((format!("u21-mock, {label}"), server, path));
    }
    // The same answer from a bare axum route: the ceiling this machine and load generator
    // allow, against which the fake's own cost shows.
    let bare = Server::bare(&answer.unwrap_or_default())?;
    servers.push((
        "bare axum route, same JSON (reference)".into(),
        bare,
        "/v1/imports/1".into(),
    ));
    let mut rounds: Vec<Vec<GetFigures>> = servers.iter().map(|_| Vec::new()).collect();
    for _ in 0..GET_ROUNDS {
        for (i, (_, server, path)) in servers.iter().enumerate() {
            rounds[i].push(get_load(args, server, path).await?);
        }
    }
    let medians: Vec<GetFigures> = rounds.into_iter().map(median).collect();
    let mut rows: Vec<Row> = servers
        .iter()
        .zip(&medians)
        .map(|((label, _, _), f)| Row {
            measure: format!(
                "GET /v1/imports/{{id}}, {} connections, rate limit off: {label} (median of {GET_ROUNDS} turns)",
                args.connections
            ),
            figure: format!(
                "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, server CPU {:.1} µs/request",
                f.rps,
                f.p50.as_secs_f64() * 1e3,
                f.p99.as_secs_f64() * 1e3,
                f.cpu_us
            ),
            target: "> 80,000 req/s",
        })
        .collect();
    let (fake, reference) = (&medians[0], &medians[2]);
    rows.push(Row {
        measure: "GET, journal on, against the bare route: share of its req/s; CPU per request"
            .into(),
        figure: format!(
            "{:.0}% of its req/s; {:.2}× its CPU per request",
            fake.rps / reference.rps * 100.0,
            fake.cpu_us / reference.cpu_us
        ),
        target: "≥ 70%; ≤ 1.4×",
    });
    Ok(rows)
}

/// Turns of GET load per server.
const GET_ROUNDS: usize = 3;

fn median(mut figures: Vec<GetFigures>) -> GetFigures {
    figures.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    let middle = figures.len() / 2;
    let mut cpu: Vec<f64> = figures.iter().map(|f| f.cpu_us).collect();
    cpu.sort_by(f64::total_cmp);
    let mut chosen = figures.swap_remove(middle);
    chosen.cpu_us = cpu[middle];
    chosen
}

async fn get_load(args: &Args, server: &Server, path: &str) -> anyhow::Result<GetFigures> {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: bench\r\nu21-key: u21-mock-dev-key\r\n\r\n")
            .into_bytes();
    let cpu_before = server.cpu_seconds();
    let (rps, p50, p99) = load::run(
        &server.addr(),
        request,
        args.connections,
        Duration::from_secs(args.get_seconds),
    )
    .await?;
    let requests = rps * args.get_seconds as f64;
    let cpu_us = (server.cpu_seconds() - cpu_before) / requests * 1e6;
    Ok(GetFigures {
        rps,
        p50,
        p99,
        cpu_us,
    })
}

async fn list_latency() -> anyhow::Result<Row> {
    let server = Server::start(&["--rate-limit", "0"])?;
    let snapshot = durable::hundred_thousand_files();
    let http = reqwest::Client::new();
    let loaded = http
        .put(format!("{}/_mock/state", server.base))
        .json(&snapshot)
        .send()
        .await?;
    anyhow::ensure!(
        loaded.status() == 204,
        "loading 100,000 files: {}",
        loaded.status()
    );
    let body = json!({"stream_names": ["stream-3", "stream-4"], "statuses": ["FINISHED", "PENDING_UPLOAD"], "created_after": 1_700_000_100, "offset": 3, "limit": 1000});
    let mut times = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let page = http
            .post(format!("{}/v1/imports/list", server.base))
            .header("u21-key", "u21-mock-dev-key")
            .json(&body)
            .send()
            .await?
            .bytes()
            .await?;
        times.push(started.elapsed());
        anyhow::ensure!(page.len() > 100_000, "a page of 1000 files");
    }
    times.sort();
    Ok(Row {
        measure: "POST /v1/imports/list, 100,000 stored, filtered page of 1000 (200 calls)".into(),
        figure: format!(
            "p50 {:.2} ms, p99 {:.2} ms",
            times[100].as_secs_f64() * 1e3,
            times[198].as_secs_f64() * 1e3
        ),
        target: "p50 < 5 ms",
    })
}

async fn upload_and_processing() -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("bench.toml");
    // `manual`: the file is read as soon as it lands, and `process-queued` returns once it is
    // read, so upload and reading are timed apart.
    std::fs::write(&config, "rate_limit = 0\ntiming = \"manual\"\n[[streams]]\nname = \"bench\"\ncolumns = [{ name = \"id\", type = \"integer\", required = true }, { name = \"amount\", type = \"number\", required = true }, { name = \"memo\", type = \"string\" }]\n")?;
    let path = dir.path().join("big.csv");
    let rows = {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        writeln!(file, "id,amount,memo")?;
        let (mut written, mut i) = (15u64, 0u64);
        while written < 314_000_000 {
            let row = format!("{i},{}.{:02},memo for record {i}\n", i % 100_000, i % 100);
            written += row.len() as u64;
            file.write_all(row.as_bytes())?;
            i += 1;
        }
        i
    };
    let size = std::fs::metadata(&path)?.len();
    let server = Server::start(&["--config", config.to_str().unwrap_or_default()])?;
    let client = u21_client::Client::builder()
        .base_url(&server.base)
        .api_key("u21-mock-dev-key")
        .build()?;
    let idle = server.peak_rss_mib();
    let other = client.create_upload("bench", "other.csv", None).await?;
    let form = client.create_upload("bench", "big.csv", None).await?;
    let started = Instant::now();
    client.upload_to(&form, &path, None).await?;
    let upload = started.elapsed();
    let after_upload = server.peak_rss_mib();
    let started = Instant::now();
    let processed = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{}/_mock/process-queued", server.base))
            .send(),
    );
    let mut reads = reads_while(&client, &other.file_id, &processed).await?;
    processed.await??.error_for_status()?;
    let processing = started.elapsed();
    let file = client.get(&form.file_id).await?;
    anyhow::ensure!(
        file.successful_count == rows,
        "expected {rows} records, got {file:?}"
    );
    let mb = size as f64 / 1e6;
    let (md5_alone, csv_alone) = references(&path)?;
    Ok(vec![
        Row {
            measure: format!("form-POST upload of {mb:.0} MB, every check on, ETag included"),
            figure: format!("{:.0} MB/s", mb / upload.as_secs_f64()),
            target: "> 700 MB/s",
        },
        Row {
            measure: "reference: MD5 of the same file alone, one core (md-5, as the fake uses)"
                .into(),
            figure: format!("{:.0} MB/s", mb / md5_alone.as_secs_f64()),
            target: "(the upload's ceiling)",
        },
        Row {
            measure: "server peak RSS: idle / after the upload / after processing".into(),
            figure: format!(
                "{idle:.1} / {after_upload:.1} / {:.1} MiB",
                server.peak_rss_mib()
            ),
            target: "< 16 MiB",
        },
        Row {
            measure: format!("processing a {mb:.0} MB CSV with a 3-column schema ({rows} rows)"),
            figure: format!("{:.0} MB/s", mb / processing.as_secs_f64()),
            target: "> 450 MB/s",
        },
        Row {
            measure: format!(
                "GET of another file and list, one after the other, while the {mb:.0} MB CSV is read ({} reads)",
                reads.len()
            ),
            figure: format!(
                "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                durable::percentile(&mut reads, 0.50),
                durable::percentile(&mut reads, 0.99),
                durable::percentile(&mut reads, 1.0)
            ),
            target: "p99 ≤ 10 ms",
        },
        Row {
            measure: "reference: the csv crate's bare record loop over the same file".into(),
            figure: format!("{:.0} MB/s", mb / csv_alone.as_secs_f64()),
            target: "(processing's ceiling)",
        },
    ])
}

/// Latencies of GETs of `file_id` and lists, one after the other on one client, until
/// `done` finishes.
async fn reads_while<T>(
    client: &u21_client::Client,
    file_id: &str,
    done: &tokio::task::JoinHandle<T>,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    while !done.is_finished() {
        let started = Instant::now();
        if latencies.len() % 2 == 0 {
            client.get(file_id).await?;
        } else {
            client.list(&u21_client::ListRequest::default()).await?;
        }
        latencies.push(started.elapsed());
    }
    anyhow::ensure!(
        !latencies.is_empty(),
        "the file was read before any read was made"
    );
    Ok(latencies)
}

/// How long MD5 alone and a bare csv record loop take over `path` (from the page cache), in
/// this process: the floors under the upload and processing figures.
fn references(path: &std::path::Path) -> anyhow::Result<(Duration, Duration)> {
    use md5::Digest;
    use std::io::Read;
    let started = Instant::now();
    let mut file = std::fs::File::open(path)?;
    let mut md5 = md5::Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
    }
    std::hint::black_box(md5.finalize());
    let md5_alone = started.elapsed();

    let started = Instant::now();
    let mut reader = csv::ReaderBuilder::new()
        .buffer_capacity(256 * 1024)
        .from_path(path)?;
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    while reader.read_byte_record(&mut record)? {
        rows += 1;
    }
    std::hint::black_box(rows);
    Ok((md5_alone, started.elapsed()))
}

async fn soak(args: &Args) -> anyhow::Result<Row> {
    let server = Server::start(&["--rate-limit", "0", "--timing", "fast"])?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("one-mb.csv");
    let mut body = String::from("id,memo\n");
    let mut records = 0;
    while body.len() < 1_000_000 {
        body.push_str(&format!("{records},soak record {records}\n"));
        records += 1;
    }
    std::fs::write(&path, body)?;
    let report = u21_bench::soak::soak(
        &server.base,
        "u21-mock-dev-key",
        args.soak_clients,
        Duration::from_secs(args.soak_seconds),
        &path,
        records,
    )
    .await?;
    for problem in report.problems.iter().take(10) {
        eprintln!("soak: {problem}");
    }
    Ok(Row {
        measure: format!(
            "soak: {} clients uploading 1 MB files and waiting, {} s, timing fast",
            args.soak_clients, args.soak_seconds
        ),
        figure: format!(
            "{} uploads, {} finished, {} listed, {} problems, server peak RSS {:.1} MiB",
            report.uploads,
            report.finished,
            report.listed,
            report.problems.len(),
            server.peak_rss_mib()
        ),
        target: "every file accounted for",
    })
}
