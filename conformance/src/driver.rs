//! The client under test. Scenarios talk to a [`Driver`]: the reference client in-process, or
//! any program through the adapter protocol.
//!
//! # The adapter protocol
//! The program is started once with `U21_BASE_URL` and `U21_API_KEY` in its environment. It
//! reads one JSON request per line on stdin and writes one JSON answer per line on stdout, in
//! order. Every request has an `id` and an `op`; every answer repeats the `id` and has either
//! `"ok": true, "result": …` or `"ok": false, "error": {"status", "error_code", "s3_code",
//! "message"}` (fields unknown to the client may be `null`).
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
//! The program should retry as a good client would (429, 5xx, dropped connections) and
//! exit when stdin closes.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::TryStreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
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
}

/// The reference client, `u21_client`, in-process.
pub struct ReferenceDriver {
    client: Client,
}

impl ReferenceDriver {
    /// A client for `base_url` and `api_key`, with its default retry policy.
    ///
    /// # Panics
    /// When the base URL is not a URL.
    pub fn new(base_url: &str, api_key: &str) -> Self {
        let retry = u21_client::RetryPolicy {
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(500),
            ..Default::default()
        };
        let client = Client::builder()
            .base_url(base_url)
            .api_key(api_key)
            .retry(retry)
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

/// Any program speaking the adapter protocol.
pub struct AdapterDriver {
    name: String,
    io: Mutex<AdapterIo>,
}

struct AdapterIo {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    next_id: u64,
}

impl AdapterDriver {
    /// Starts `program` with `args`, pointed at the target.
    ///
    /// # Errors
    /// When the program cannot be started.
    pub fn spawn(
        program: &str,
        args: &[String],
        base_url: &str,
        api_key: &str,
    ) -> std::io::Result<Self> {
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .env("U21_BASE_URL", base_url)
            .env("U21_API_KEY", api_key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        let name = std::iter::once(program.to_owned())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Self {
            name: format!("adapter `{name}`"),
            io: Mutex::new(AdapterIo {
                child,
                stdin,
                stdout,
                next_id: 1,
            }),
        })
    }

    fn send(&self, op: &'static str, mut request: Value) -> BoxFuture<'_, DriverResult> {
        Box::pin(async move {
            let broken = |message: String| DriverError {
                message,
                ..Default::default()
            };
            let mut io = self.io.lock().await;
            let id = io.next_id;
            io.next_id += 1;
            request["id"] = id.into();
            request["op"] = op.into();
            let line = format!("{request}\n");
            io.stdin
                .write_all(line.as_bytes())
                .await
                .map_err(|e| broken(format!("adapter stdin: {e}")))?;
            io.stdin
                .flush()
                .await
                .map_err(|e| broken(format!("adapter stdin: {e}")))?;
            let answer =
                match tokio::time::timeout(Duration::from_secs(120), io.stdout.next_line()).await {
                    Err(_) => {
                        return Err(broken(format!(
                            "the adapter did not answer {op} within 120 s"
                        )))
                    }
                    Ok(Err(e)) => return Err(broken(format!("adapter stdout: {e}"))),
                    Ok(Ok(None)) => {
                        let status = io.child.try_wait().ok().flatten();
                        return Err(broken(format!(
                            "the adapter exited ({status:?}) instead of answering {op}"
                        )));
                    }
                    Ok(Ok(Some(line))) => line,
                };
            let answer: Value = serde_json::from_str(&answer)
                .map_err(|e| broken(format!("the adapter's answer is not JSON ({e}): {answer}")))?;
            if answer["id"] != id {
                return Err(broken(format!(
                    "the adapter answered id {} to request {id}",
                    answer["id"]
                )));
            }
            if answer["ok"] == true {
                return Ok(answer["result"].clone());
            }
            let error = &answer["error"];
            Err(DriverError {
                status: error["status"].as_u64().map(|s| s as u16),
                error_code: error["error_code"].as_str().map(str::to_owned),
                s3_code: error["s3_code"].as_str().map(str::to_owned),
                message: error["message"]
                    .as_str()
                    .unwrap_or("the adapter reported an error")
                    .to_owned(),
            })
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
}
