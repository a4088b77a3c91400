//! The client under test. Scenarios talk to a [`Driver`]: the reference client in-process, or
//! any program through the adapter protocol.
//!
//! # The adapter protocol
//! `conformance/ADAPTERS.md` is the full description. In short: the program is started once
//! with `U21_BASE_URL` and `U21_API_KEY` in its environment, reads one JSON request per line on
//! stdin and writes one JSON answer per line on stdout, in order. Every request has an `id` and
//! an `op`; every answer repeats the `id` and has either `"ok": true, "result": …` or
//! `"ok": false, "error": {"status", "error_code", "s3_code", "message", "timed_out"}` (fields
//! unknown to the client may be `null`). Its stderr is for logs: the kit keeps the last
//! [`STDERR_KEPT`] bytes (scenarios check that the key never shows there) and echoes it with
//! the key masked.
//!
//! | op | request fields | result |
//! |---|---|---|
//! | `create` | `stream`, `file_name` | the create response as received |
//! | `upload_form` | `form` (a create response), `path` | `{}` once S3 accepted the file |
//! | `upload` | `stream`, `path` | the create response, once uploaded |
//! | `status` | `file_id` | the file as received |
//! | `wait` | `file_id`, `timeout_secs` | the file once FINISHED, FAILED or DELETED |
//! | `list` | `request` (the list body) | the list response as received |
//! | `list_all` | `request` (filters) | `{"datafiles": [...]}`: every page |
//!
//! Every operation has a deadline ([`Deadlines`]): an adapter that misses it is killed and
//! started again for the next operation, so one stuck call fails one scenario, not the run.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::TryStreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::Mutex;
use u21_client::{Client, ListRequest, PresignedUpload, Status, WaitOptions};

/// How a client reported a failure.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DriverError {
    /// HTTP status, if the client saw one.
    pub status: Option<u16>,
    /// Unit21's `error_code`.
    pub error_code: Option<String>,
    /// S3's `<Code>`.
    pub s3_code: Option<String>,
    /// Whatever the client said.
    pub message: String,
    /// True when the client gave up because its own deadline passed (`wait`'s timeout).
    pub timed_out: bool,
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(status) = self.status {
            write!(f, " (status {status})")?;
        }
        Ok(())
    }
}

/// What a driver operation returns.
pub type DriverResult = Result<Value, DriverError>;

/// The operations scenarios drive a client through. Results are raw JSON.
pub trait Driver: Send + Sync {
    /// What the report calls this client.
    fn name(&self) -> String;
    /// `create`: the pre-signed form.
    fn create<'a>(&'a self, stream: &'a str, file_name: &'a str) -> BoxFuture<'a, DriverResult>;
    /// `upload_form`: post a file with a form from `create`.
    fn upload_form<'a>(&'a self, form: &'a Value, path: &'a Path) -> BoxFuture<'a, DriverResult>;
    /// `upload`: create and post in one.
    fn upload<'a>(&'a self, stream: &'a str, path: &'a Path) -> BoxFuture<'a, DriverResult>;
    /// `status`: the file.
    fn status<'a>(&'a self, file_id: &'a str) -> BoxFuture<'a, DriverResult>;
    /// `wait`: the file once final.
    fn wait<'a>(&'a self, file_id: &'a str, timeout: Duration) -> BoxFuture<'a, DriverResult>;
    /// `list`: one page.
    fn list<'a>(&'a self, request: &'a Value) -> BoxFuture<'a, DriverResult>;
    /// `list_all`: `{"datafiles": [...]}` over every page.
    fn list_all<'a>(&'a self, request: &'a Value) -> BoxFuture<'a, DriverResult>;
    /// What the client has logged so far (an adapter's stderr), for the secrecy checks.
    fn diagnostics(&self) -> String {
        String::new()
    }
    /// Ends the client when the run is over: an adapter has its stdin closed and is given
    /// [`CLOSE_GRACE`] to exit by itself (and clean up after itself) before it is killed.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// The reference client, `u21_client`, in-process.
pub struct ReferenceDriver {
    client: Client,
}

impl ReferenceDriver {
    /// A client for `base_url` and `api_key`, with its default retry policy and
    /// `request_timeout` (see [`Deadlines::request`]).
    ///
    /// # Panics
    /// When the base URL is not a URL.
    pub fn new(base_url: &str, api_key: &str, request_timeout: Duration) -> Self {
        let retry = u21_client::RetryPolicy {
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(500),
            ..Default::default()
        };
        let client = Client::builder()
            .base_url(base_url)
            .api_key(api_key)
            .retry(retry)
            .timeout(request_timeout)
            .build()
            .expect("a valid base URL");
        Self { client }
    }
}

fn from_client(err: u21_client::Error) -> DriverError {
    DriverError {
        status: err.status(),
        error_code: err.error_code().map(str::to_owned),
        s3_code: err.s3_code().map(str::to_owned),
        timed_out: err.is_wait_timeout(),
        message: err.to_string(),
    }
}

fn to_value<T: serde::Serialize>(value: T) -> Value {
    serde_json::to_value(value).expect("serialisable")
}

/// The filters of a JSON list body, as the client's request type.
fn list_request(request: &Value) -> ListRequest {
    let strings = |name: &str| -> Vec<String> {
        request[name]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    ListRequest {
        created_after: request["created_after"].as_i64(),
        created_before: request["created_before"].as_i64(),
        statuses: strings("statuses")
            .iter()
            .map(|s| Status::from_name(s))
            .collect(),
        stream_names: strings("stream_names"),
        offset: request["offset"].as_u64(),
        limit: request["limit"].as_u64(),
    }
}

impl Driver for ReferenceDriver {
    fn name(&self) -> String {
        "reference client (u21_client)".into()
    }

    fn create<'a>(&'a self, stream: &'a str, file_name: &'a str) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            self.client
                .create_upload(stream, file_name, None)
                .await
                .map(to_value)
                .map_err(from_client)
        })
    }

    fn upload_form<'a>(&'a self, form: &'a Value, path: &'a Path) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            let form: PresignedUpload =
                serde_json::from_value(form.clone()).map_err(|e| DriverError {
                    message: e.to_string(),
                    ..Default::default()
                })?;
            self.client
                .upload_to(&form, path, None)
                .await
                .map(|()| json!({}))
                .map_err(from_client)
        })
    }

    fn upload<'a>(&'a self, stream: &'a str, path: &'a Path) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            self.client
                .upload_file(stream, path, None)
                .await
                .map(to_value)
                .map_err(from_client)
        })
    }

    fn status<'a>(&'a self, file_id: &'a str) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            self.client
                .get(file_id)
                .await
                .map(to_value)
                .map_err(from_client)
        })
    }

    fn wait<'a>(&'a self, file_id: &'a str, timeout: Duration) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            let options = WaitOptions {
                timeout,
                interval: Duration::from_millis(100),
                max_interval: Duration::from_secs(2),
            };
            self.client
                .wait(file_id, &options)
                .await
                .map(to_value)
                .map_err(from_client)
        })
    }

    fn list<'a>(&'a self, request: &'a Value) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            self.client
                .list(&list_request(request))
                .await
                .map(to_value)
                .map_err(from_client)
        })
    }

    fn list_all<'a>(&'a self, request: &'a Value) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            let files: Vec<u21_client::Datafile> = self
                .client
                .list_all(list_request(request))
                .try_collect()
                .await
                .map_err(from_client)?;
            Ok(json!({"datafiles": files}))
        })
    }
}

/// How long an adapter may take to answer, and how long it is asked to let one request go
/// unanswered. `wait` gets its own timeout on top of `op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// Any operation.
    pub op: Duration,
    /// The request timeout the client is asked to keep, in its environment as
    /// `U21_REQUEST_TIMEOUT_SECS` (whole seconds, at least 1): a request that gets no answer
    /// for that long is given up (and retried where that is safe). The default suits a fake on
    /// this machine; see [`Target::request_timeout`](crate::Target::request_timeout).
    pub request: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            op: Duration::from_secs(15),
            request: Duration::from_secs(1),
        }
    }
}

/// The last bytes of an adapter's stderr that the kit keeps.
pub const STDERR_KEPT: usize = 64 * 1024;

/// How long an adapter has to exit once its stdin is closed at the end of a run.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Any program speaking the adapter protocol.
pub struct AdapterDriver {
    name: String,
    launch: Launch,
    deadlines: Deadlines,
    io: Mutex<Option<AdapterIo>>,
    stderr: Arc<parking_lot::Mutex<String>>,
}

/// What starts the program again after it was killed.
struct Launch {
    program: String,
    args: Vec<String>,
    base_url: String,
    api_key: String,
    request_timeout: Duration,
    /// The authorities the adapter trusts when `U21_CA_FILE` is set (see [`trust_bundle`]);
    /// removed with the driver.
    trust: Option<tempfile::TempPath>,
}

/// Where distributions keep their certificate authorities, for OpenSSL and curl: the first
/// that exists goes into [`trust_bundle`], so trusting a private authority keeps the public
/// ones (a sandbox behind a company's proxy needs both).
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// One PEM file with the authorities of `U21_CA_FILE`, of every file the trust variables
/// already name, and of the system's bundle: each variable replaces its stack's roots, so
/// the adapter gets all of them under every name.
fn trust_bundle(authorities: &std::path::Path) -> std::io::Result<tempfile::TempPath> {
    use std::io::Write as _;
    let mut pem = std::fs::read(authorities)?;
    let mut sources: Vec<std::path::PathBuf> = TRUST_VARIABLES
        .iter()
        .filter_map(std::env::var_os)
        .map(Into::into)
        .chain(
            SYSTEM_BUNDLES
                .iter()
                .map(std::path::PathBuf::from)
                .find(|p| p.is_file()),
        )
        .collect();
    sources.sort();
    sources.dedup();
    for source in sources {
        if let Ok(more) = std::fs::read(&source) {
            pem.push(b'\n');
            pem.extend(more);
        }
    }
    let mut file = tempfile::NamedTempFile::new()?;
    file.write_all(&pem)?;
    Ok(file.into_temp_path())
}

struct AdapterIo {
    child: Child,
    stdin: ChildStdin,
    stdout: BoundedLines<ChildStdout>,
}

/// The longest answer line read from an adapter (an answer holds one Unit21 answer, at most a
/// list page: a few hundred KB).
/// The variables through which HTTP stacks take extra certificate authorities: OpenSSL (and
/// so Python's ssl), Python's requests, Node, curl.
const TRUST_VARIABLES: [&str; 4] = [
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "CURL_CA_BUNDLE",
];

const MAX_ANSWER_LINE: usize = 16 * 1024 * 1024;
/// The longest log line kept from an adapter's stderr; the rest of a longer one is dropped.
const MAX_LOG_LINE: usize = 8 * 1024;
/// The most of a broken answer a failure message quotes.
const QUOTED: usize = 2 * 1024;

/// Lines from an adapter's stream, each read up to a bound: the rest of a longer line is read
/// and dropped, so an adapter cannot make the kit hold (or report) more than the bound.
struct BoundedLines<R> {
    reader: BufReader<R>,
    max: usize,
}

/// A line, and whether it was cut at the bound.
struct Line {
    text: String,
    cut: bool,
}

impl<R: AsyncRead + Unpin> BoundedLines<R> {
    fn new(reader: R, max: usize) -> Self {
        Self {
            reader: BufReader::new(reader),
            max,
        }
    }

    /// The next line without its line ending; `None` at the end of the stream.
    async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        let (mut kept, mut cut, mut read_any) = (Vec::new(), false, false);
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if !read_any {
                    return Ok(None);
                }
                break;
            }
            read_any = true;
            let newline = available.iter().position(|&b| b == b'\n');
            let part = &available[..newline.unwrap_or(available.len())];
            let room = self.max.saturating_sub(kept.len());
            cut |= part.len() > room;
            kept.extend_from_slice(&part[..part.len().min(room)]);
            let used = newline.map_or(available.len(), |i| i + 1);
            self.reader.consume(used);
            if newline.is_some() {
                break;
            }
        }
        if kept.last() == Some(&b'\r') {
            kept.pop();
        }
        Ok(Some(Line {
            text: String::from_utf8_lossy(&kept).into_owned(),
            cut,
        }))
    }
}

/// At most [`QUOTED`] bytes of `text`, cut at a character boundary (mask the key first: a cut
/// can split it).
fn quoted(text: &str) -> &str {
    let end = (QUOTED.min(text.len())..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[..end]
}

impl AdapterDriver {
    /// Starts `program` with `args`, pointed at the target, held to `deadlines`.
    ///
    /// # Errors
    /// When the program cannot be started.
    pub fn spawn(
        program: &str,
        args: &[String],
        base_url: &str,
        api_key: &str,
        deadlines: Deadlines,
    ) -> std::io::Result<Self> {
        let launch = Launch {
            program: program.to_owned(),
            args: args.to_vec(),
            base_url: base_url.to_owned(),
            api_key: api_key.to_owned(),
            request_timeout: deadlines.request,
            trust: std::env::var_os("U21_CA_FILE")
                .map(|path| trust_bundle(path.as_ref()))
                .transpose()?,
        };
        let stderr = Arc::new(parking_lot::Mutex::new(String::new()));
        let io = launch.start(&stderr)?;
        let name = std::iter::once(program.to_owned())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Self {
            name: format!("adapter `{name}`"),
            launch,
            deadlines,
            io: Mutex::new(Some(io)),
            stderr,
        })
    }

    fn send(&self, op: &'static str, mut request: Value) -> BoxFuture<'_, DriverResult> {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Box::pin(async move {
            let broken = |message: String| DriverError {
                message,
                ..Default::default()
            };
            let deadline = self.deadlines.op
                + Duration::from_secs_f64(
                    request["timeout_secs"]
                        .as_f64()
                        .unwrap_or(0.0)
                        .clamp(0.0, 86_400.0),
                );
            let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            request["id"] = id.into();
            request["op"] = op.into();
            let mut guard = self.io.lock().await;
            if guard.is_none() {
                *guard = Some(
                    self.launch
                        .start(&self.stderr)
                        .map_err(|e| broken(format!("cannot start the adapter again: {e}")))?,
                );
            }
            let io = guard.as_mut().expect("started above");
            let exchange = async {
                io.stdin
                    .write_all(format!("{request}\n").as_bytes())
                    .await
                    .map_err(|e| broken(format!("adapter stdin: {e}")))?;
                io.stdin
                    .flush()
                    .await
                    .map_err(|e| broken(format!("adapter stdin: {e}")))?;
                // Answers to earlier requests that a cut-off scenario stopped waiting for
                // are passed over.
                loop {
                    let line = match io.stdout.next_line().await {
                        Err(e) => return Err(broken(format!("adapter stdout: {e}"))),
                        Ok(None) => {
                            let status = io.child.try_wait().ok().flatten();
                            return Err(broken(format!(
                                "the adapter exited ({}) instead of answering {op}",
                                status.map_or("still running".into(), |s| s.to_string())
                            )));
                        }
                        Ok(Some(line)) if line.cut => {
                            return Err(broken(format!(
                                "the adapter's answer to {op} is longer than {MAX_ANSWER_LINE} bytes: not read further ({}…)",
                                quoted(&self.masked(&line.text))
                            )))
                        }
                        Ok(Some(line)) => line.text,
                    };
                    let answer: Value = serde_json::from_str(&line).map_err(|e| {
                        broken(format!(
                            "the adapter's answer to {op} is not JSON ({e}): {}",
                            quoted(&self.masked(&line))
                        ))
                    })?;
                    match answer["id"].as_u64() {
                        Some(seen) if seen < id => continue,
                        Some(seen) if seen == id => return Ok(answer),
                        _ => {
                            return Err(broken(format!(
                                "the adapter answered id {} to request {id}",
                                answer["id"]
                            )))
                        }
                    }
                }
            };
            let answer = match tokio::time::timeout(deadline, exchange).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(err)) => {
                    // The conversation is out of step: the next operation gets a new process.
                    *guard = None;
                    return Err(err);
                }
                Err(_) => {
                    *guard = None;
                    return Err(broken(format!(
                        "the adapter did not answer {op} within its deadline of {:.1} s; it was stopped and will be started again",
                        deadline.as_secs_f64()
                    )));
                }
            };
            if answer["ok"] == true {
                return Ok(answer["result"].clone());
            }
            let error = &answer["error"];
            Err(DriverError {
                status: error["status"].as_u64().map(|s| s as u16),
                error_code: error["error_code"].as_str().map(str::to_owned),
                s3_code: error["s3_code"].as_str().map(str::to_owned),
                timed_out: error["timed_out"] == true,
                message: error["message"]
                    .as_str()
                    .unwrap_or("the adapter reported an error")
                    .to_owned(),
            })
        })
    }

    fn masked(&self, text: &str) -> String {
        mask(text, &self.launch.api_key)
    }
}

/// `text` with every occurrence of `secret` replaced, so the kit's own output never shows it.
pub(crate) fn mask(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "****")
    }
}

impl Launch {
    fn start(&self, stderr: &Arc<parking_lot::Mutex<String>>) -> std::io::Result<AdapterIo> {
        let mut command = tokio::process::Command::new(&self.program);
        // A private authority (`U21_CA_FILE`) reaches the adapter's HTTP stack by the variable
        // each one reads: Python's ssl and requests, Node, curl.
        if let Some(bundle) = &self.trust {
            for variable in TRUST_VARIABLES {
                command.env(variable, bundle);
            }
        }
        let mut child = command
            .args(&self.args)
            .env("U21_BASE_URL", &self.base_url)
            .env("U21_API_KEY", &self.api_key)
            .env(
                "U21_REQUEST_TIMEOUT_SECS",
                self.request_timeout.as_secs().max(1).to_string(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BoundedLines::new(child.stdout.take().expect("piped"), MAX_ANSWER_LINE);
        let mut lines = BoundedLines::new(child.stderr.take().expect("piped"), MAX_LOG_LINE);
        let (kept, key) = (Arc::clone(stderr), self.api_key.clone());
        tokio::spawn(async move {
            while let Ok(Some(Line {
                text: mut line,
                cut,
            })) = lines.next_line().await
            {
                if cut {
                    // The key may straddle the cut: drop as much of the end as the key is
                    // long, so no prefix of it survives masking.
                    let mut end = line.len().saturating_sub(key.len());
                    while !line.is_char_boundary(end) {
                        end -= 1;
                    }
                    line.truncate(end);
                    line.push_str(" …(cut)");
                }
                eprintln!("adapter: {}", mask(&line, &key));
                let mut kept = kept.lock();
                kept.push_str(&line);
                kept.push('\n');
                if kept.len() > STDERR_KEPT {
                    let cut = kept.len() - STDERR_KEPT;
                    let cut = (cut..kept.len())
                        .find(|&i| kept.is_char_boundary(i))
                        .unwrap_or(kept.len());
                    kept.drain(..cut);
                }
            }
        });
        Ok(AdapterIo {
            child,
            stdin,
            stdout,
        })
    }
}

impl Driver for AdapterDriver {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn create<'a>(&'a self, stream: &'a str, file_name: &'a str) -> BoxFuture<'a, DriverResult> {
        self.send("create", json!({"stream": stream, "file_name": file_name}))
    }

    fn upload_form<'a>(&'a self, form: &'a Value, path: &'a Path) -> BoxFuture<'a, DriverResult> {
        self.send("upload_form", json!({"form": form, "path": path}))
    }

    fn upload<'a>(&'a self, stream: &'a str, path: &'a Path) -> BoxFuture<'a, DriverResult> {
        self.send("upload", json!({"stream": stream, "path": path}))
    }

    fn status<'a>(&'a self, file_id: &'a str) -> BoxFuture<'a, DriverResult> {
        self.send("status", json!({"file_id": file_id}))
    }

    fn wait<'a>(&'a self, file_id: &'a str, timeout: Duration) -> BoxFuture<'a, DriverResult> {
        self.send(
            "wait",
            json!({"file_id": file_id, "timeout_secs": timeout.as_secs_f64()}),
        )
    }

    fn list<'a>(&'a self, request: &'a Value) -> BoxFuture<'a, DriverResult> {
        self.send("list", json!({"request": request}))
    }

    fn list_all<'a>(&'a self, request: &'a Value) -> BoxFuture<'a, DriverResult> {
        self.send("list_all", json!({"request": request}))
    }

    fn diagnostics(&self) -> String {
        self.stderr.lock().clone()
    }

    /// The protocol's way to stop (ADAPTERS.md: "exit when stdin closes"), so an adapter can
    /// remove its temporary files; one that does not exit in time is killed.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            let Some(AdapterIo {
                mut child, stdin, ..
            }) = self.io.lock().await.take()
            else {
                return;
            };
            drop(stdin);
            if tokio::time::timeout(CLOSE_GRACE, child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        })
    }
}
