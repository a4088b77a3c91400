//! `u21`: Unit21 file imports from the command line. Thin: flags in, library calls, output.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use futures_util::TryStreamExt;
use u21_client::{Client, Datafile, Error, ListRequest, Status, WaitOptions};

/// Exit codes, so scripts can tell what happened.
mod exit {
    /// The command did what it was asked.
    pub const OK: u8 = 0;
    /// Anything else: configuration, a file that cannot be read.
    pub const OTHER: u8 = 1;
    /// Wrong flags or arguments (clap's own code).
    pub const _USAGE: u8 = 2;
    /// Unit21 or S3 refused, or could not be reached.
    pub const API: u8 = 3;
    /// The file ended FAILED.
    pub const FILE_FAILED: u8 = 4;
    /// `wait` gave up before the file reached a final status.
    pub const TIMEOUT: u8 = 5;
    /// No connection could be made to Unit21 (or the fake).
    pub const UNREACHABLE: u8 = 6;
}

const EXAMPLES: &str = "Examples:
  export U21_BASE_URL=sandbox1 U21_API_KEY=...
  u21 upload txns.csv --stream transactions --wait
  u21 upload txns.csv --stream transactions --md5-hash new   # the name is taken: send it again
  u21 status 166
  u21 wait 166 --timeout 600
  u21 list --status FAILED --stream transactions --after 1700000000 --all
  u21 --json list --all | jq '.[].file_id'

Exit codes: 0 done, 1 other error, 2 usage, 3 API or S3 error, 4 the file FAILED, 5 wait timed out,
6 the server could not be reached.";

/// Upload files to Unit21 and follow their processing.
#[derive(Debug, Parser)]
#[command(name = "u21", version, after_help = EXAMPLES)]
struct Cli {
    /// Environment (sandbox1, sandbox2, sandbox-eu, production, production2, production-eu) or URL.
    #[arg(long, env = "U21_BASE_URL", global = true)]
    base_url: Option<String>,
    /// The u21-key.
    #[arg(long, env = "U21_API_KEY", global = true, hide_env_values = true)]
    api_key: Option<String>,
    /// Trust the certificate authorities in this PEM file (besides the built-in roots), for a
    /// server with a private certificate, such as a fake serving HTTPS.
    #[arg(long, env = "U21_CA_FILE", global = true, value_name = "PEM")]
    ca_file: Option<std::path::PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds one request may take.
    #[arg(long, global = true, default_value_t = 60)]
    request_timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a form and upload FILE with it (streamed from disk).
    // The usage line is written out: clap's own lists the global flags that U21_BASE_URL and
    // U21_API_KEY filled in, as if they were missing.
    #[command(override_usage = "u21 upload [OPTIONS] --stream <STREAM> <FILE>")]
    Upload {
        /// The CSV, JSON, JSONL or Parquet file.
        file: PathBuf,
        /// The stream to land it in.
        #[arg(long)]
        stream: String,
        /// Unit21's md5_hash (a UUID, despite its name), or `new` for a fresh one: uploads a
        /// file whose name the stream already has (otherwise a 409).
        #[arg(long, value_name = "UUID|new", value_parser = md5_hash)]
        md5_hash: Option<String>,
        /// Then wait for processing to end.
        #[arg(long)]
        wait: bool,
        /// Seconds to wait at most.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
    },
    /// Show a file's status.
    #[command(override_usage = "u21 status [OPTIONS] <ID>")]
    Status {
        /// The file id.
        id: String,
    },
    /// Wait until a file is FINISHED, FAILED or DELETED.
    #[command(override_usage = "u21 wait [OPTIONS] <ID>")]
    Wait {
        /// The file id.
        id: String,
        /// Seconds to wait at most.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
    },
    /// List files, newest first.
    List {
        /// Only this status (repeatable).
        #[arg(long = "status", value_name = "STATUS")]
        statuses: Vec<String>,
        /// Only this stream (repeatable).
        #[arg(long = "stream", value_name = "STREAM")]
        streams: Vec<String>,
        /// Created at or after this Unix second.
        #[arg(long)]
        after: Option<i64>,
        /// Created before this Unix second.
        #[arg(long)]
        before: Option<i64>,
        /// The page to show (from 1).
        #[arg(long)]
        offset: Option<u64>,
        /// Files per page (1 to 1000).
        #[arg(long)]
        limit: Option<u64>,
        /// Every page, not just one.
        #[arg(long)]
        all: bool,
    },
}

/// `--md5-hash`: a UUID as given, or `new` for a random one.
fn md5_hash(value: &str) -> Result<String, String> {
    if value == "new" {
        return Ok(uuid::Uuid::new_v4().to_string());
    }
    uuid::Uuid::parse_str(value)
        .map(|_| value.to_owned())
        .map_err(|_| "a UUID (Unit21's md5_hash is one), or `new` for a fresh one".to_owned())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let uploading = matches!(cli.command, Command::Upload { .. });
    let base_url = cli.base_url.clone();
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(err) if err.is_connection() && err.status().is_none() => {
            // The whole reqwest chain says little more than this; the hint says what to do.
            let target = base_url
                .as_deref()
                .and_then(|b| u21_client::resolve_base_url(b).ok())
                .unwrap_or_else(|| "the server".into());
            let message = printable(&format!("cannot reach {target}: {}", root_cause(&err)));
            if json {
                println!(
                    "{}",
                    serde_json::json!({"error": message, "status": null, "error_code": null, "s3_code": null})
                );
            } else {
                eprintln!("u21: {message}");
                if message.contains("certificate") {
                    eprintln!("hint: the server's certificate is not trusted; if a private authority signed it (a fake serving HTTPS), give that authority's PEM file with --ca-file or U21_CA_FILE");
                } else {
                    eprintln!("hint: is the server running? For the local fake: `cargo run -p u21-mock`, then U21_BASE_URL=http://localhost:8021");
                }
            }
            ExitCode::from(exit::UNREACHABLE)
        }
        Err(err) => {
            if json {
                let body = serde_json::json!({"error": err.to_string(), "status": err.status(), "error_code": err.error_code(), "s3_code": err.s3_code()});
                println!("{body}");
            } else {
                eprintln!("u21: {}", printable(&err.to_string()));
                if uploading && err.status() == Some(409) {
                    eprintln!(
                        "hint: `u21 upload … --md5-hash new` sends it again under the same name"
                    );
                }
            }
            ExitCode::from(if err.is_config() || err.is_io() {
                exit::OTHER
            } else if err.is_wait_timeout() {
                exit::TIMEOUT
            } else {
                exit::API
            })
        }
    }
}

/// The innermost cause of an error, e.g. "Connection refused (os error 111)".
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

async fn run(cli: Cli) -> Result<u8, Error> {
    let mut builder = Client::builder().timeout(Duration::from_secs(cli.request_timeout));
    if let Some(url) = cli.base_url {
        builder = builder.base_url(url);
    }
    if let Some(key) = cli.api_key {
        builder = builder.api_key(key);
    }
    if let Some(path) = cli.ca_file {
        builder = builder.ca_file(path);
    }
    let client = builder.build()?;
    match cli.command {
        Command::Upload {
            file,
            stream,
            md5_hash,
            wait,
            timeout,
        } => {
            let bar = progress_bar(cli.json);
            let progress: Option<u21_client::Progress> = bar.clone().map(|bar| {
                Arc::new(move |sent: u64, total: u64| {
                    bar.set_length(total);
                    bar.set_position(sent);
                }) as u21_client::Progress
            });
            let form = client
                .upload_file_with_md5_hash(&stream, &file, md5_hash.as_deref(), progress)
                .await?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            if !wait {
                let file = client.get(&form.file_id).await?;
                show_file(&file, cli.json);
                return Ok(exit::OK);
            }
            finish_wait(&client, &form.file_id, timeout, cli.json).await
        }
        Command::Status { id } => {
            show_file(&client.get(&id).await?, cli.json);
            Ok(exit::OK)
        }
        Command::Wait { id, timeout } => finish_wait(&client, &id, timeout, cli.json).await,
        Command::List {
            statuses,
            streams,
            after,
            before,
            offset,
            limit,
            all,
        } => {
            let request = ListRequest {
                created_after: after,
                created_before: before,
                statuses: statuses
                    .iter()
                    .map(|s| Status::from_name(&s.to_ascii_uppercase()))
                    .collect(),
                stream_names: streams,
                offset,
                limit,
            };
            let (files, total) = if all {
                let files: Vec<Datafile> = client.list_all(request).try_collect().await?;
                let total = files.len() as u64;
                (files, total)
            } else {
                let page = client.list(&request).await?;
                (page.datafiles, page.total_count)
            };
            show_list(&files, total, cli.json);
            Ok(exit::OK)
        }
    }
}

async fn finish_wait(client: &Client, id: &str, timeout: u64, json: bool) -> Result<u8, Error> {
    let options = WaitOptions {
        timeout: Duration::from_secs(timeout),
        ..WaitOptions::default()
    };
    let file = client.wait(id, &options).await?;
    show_file(&file, json);
    Ok(if file.status == Status::Failed {
        exit::FILE_FAILED
    } else {
        exit::OK
    })
}

fn progress_bar(json: bool) -> Option<indicatif::ProgressBar> {
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} uploading [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    Some(bar)
}

fn when(secs: Option<i64>) -> String {
    let Some(secs) = secs else { return "-".into() };
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => secs.to_string(),
    }
}

/// Server text as the terminal gets it: control characters (escape sequences, bells, carriage
/// returns, line breaks) written as Rust escapes, so an answer cannot drive the terminal or
/// forge a line of output.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn show_file(file: &Datafile, json: bool) {
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string(file).expect("serialisable")
        );
        return;
    }
    let rows = [
        ("file_id", file.file_id.clone()),
        ("file_name", file.file_name.clone()),
        (
            "file_type",
            file.file_type.clone().unwrap_or_else(|| "-".into()),
        ),
        ("status", file.status.to_string()),
        (
            "failure_code",
            file.failure_code.clone().unwrap_or_else(|| "-".into()),
        ),
        ("successful_count", file.successful_count.to_string()),
        ("failure_count", file.failure_count.to_string()),
        ("date_created", when(Some(file.date_created))),
        ("process_start_time", when(file.process_start_time)),
        ("process_end_time", when(file.process_end_time)),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "{name:<19} {}", printable(&value));
    }
}

fn show_list(files: &[Datafile], total: u64, json: bool) {
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string(files).expect("serialisable")
        );
        return;
    }
    let header = [
        "FILE_ID",
        "STATUS",
        "TYPE",
        "OK",
        "FAILED",
        "FAILURE_CODE",
        "CREATED",
        "FILE_NAME",
    ];
    let rows: Vec<[String; 8]> = files
        .iter()
        .map(|f| {
            [
                f.file_id.clone(),
                f.status.to_string(),
                f.file_type.clone().unwrap_or_default(),
                f.successful_count.to_string(),
                f.failure_count.to_string(),
                f.failure_code.clone().unwrap_or_else(|| "-".into()),
                when(Some(f.date_created)),
                f.file_name.clone(),
            ]
            .map(|cell| printable(&cell))
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
    let _ = writeln!(out, "{} of {total} files", files.len());
}
