//! [`Client`]: the three Unit21 endpoints, the S3 upload, and what is built on them.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::{Stream, StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::environment::resolve_base_url;
use crate::error::{Error, Kind, Result};
use crate::model::{Datafile, DatafileList, ListRequest, PresignedUpload};
use crate::retry::RetryPolicy;

/// Called with the bytes of the file sent so far and the file's size.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// What `offset` counts in list calls. Unit21 does not document it; see FIDELITY.md.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OffsetUnit {
    /// 1-based pages of `limit` files (the fake's default, as Unit21's other list routes).
    #[default]
    Page,
    /// 0-based count of files to skip.
    Record,
}

/// A client for one Unit21 environment and key. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: Arc<str>,
    api_key: Arc<str>,
    retry: RetryPolicy,
    offset_unit: OffsetUnit,
    /// Each API request's whole limit.
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("api_key", &"****")
            .finish()
    }
}

/// Configures a [`Client`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ClientBuilder {
    base_url: Option<String>,
    api_key: Option<String>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
    offset_unit: OffsetUnit,
    ca_file: Option<std::path::PathBuf>,
}

impl ClientBuilder {
    /// An environment name (`sandbox1`, `sandbox2`, `sandbox-eu`, `production`, `production2`,
    /// `production-eu`) or any URL. Default: `U21_BASE_URL`.
    pub fn base_url(mut self, url_or_environment: impl Into<String>) -> Self {
        self.base_url = Some(url_or_environment.into());
        self
    }

    /// The `u21-key`. Default: `U21_API_KEY`.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The longest a Unit21 API request may take, answer included (default 60 s). Uploads get
    /// no overall limit (300 MB take what they take) but fail when the connection stalls this
    /// long.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The longest a connection may take to open (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// When and how to retry.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// What `offset` counts when listing every page.
    pub fn offset_unit(mut self, unit: OffsetUnit) -> Self {
        self.offset_unit = unit;
        self
    }

    /// Also trust the certificate authorities in this PEM file (besides the built-in roots),
    /// for a server with a private certificate, such as a fake serving HTTPS. Default:
    /// `U21_CA_FILE`, when set.
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// A configuration error when there is no base URL or no key, or the base URL is neither a
    /// known environment nor a URL.
    pub fn build(self) -> Result<Client> {
        let base = self
            .base_url
            .or_else(|| std::env::var("U21_BASE_URL").ok())
            .ok_or_else(|| {
                Error::config("no base URL: give an environment name or a URL, or set U21_BASE_URL")
            })?;
        let base_url = resolve_base_url(&base).map_err(Error::config)?;
        let api_key = self
            .api_key
            .or_else(|| std::env::var("U21_API_KEY").ok())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| Error::config("no API key: give one, or set U21_API_KEY"))?;
        let timeout = self.timeout.unwrap_or(Duration::from_secs(60));
        let mut http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(10)))
            .read_timeout(timeout)
            // S3 answers a redirect only when the form asks for one; follow nothing silently.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("u21-client/", env!("CARGO_PKG_VERSION")));
        let ca_file = self
            .ca_file
            .or_else(|| std::env::var_os("U21_CA_FILE").map(Into::into));
        if let Some(path) = ca_file {
            for authority in certificate_authorities(&path)? {
                http = http.add_root_certificate(authority);
            }
        }
        let http = http
            .build()
            .map_err(|err| Error::config(format!("cannot build the HTTP client: {err}")))?;
        Ok(Client {
            http,
            base_url: base_url.into(),
            api_key: api_key.into(),
            retry: self.retry.unwrap_or_default(),
            offset_unit: self.offset_unit,
            timeout,
        })
    }
}

/// The certificates of a PEM file given as `ca_file` (or `U21_CA_FILE`).
fn certificate_authorities(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>> {
    let unusable = |why: String| {
        Error::config(format!(
            "the CA file {} (ca_file or U21_CA_FILE) {why}",
            path.display()
        ))
    };
    let pem = std::fs::read(path).map_err(|err| unusable(format!("cannot be read: {err}")))?;
    let authorities = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|err| unusable(format!("is not PEM: {err}")))?;
    if authorities.is_empty() {
        return Err(unusable("holds no certificate".into()));
    }
    Ok(authorities)
}

/// Whether a failed call may be sent again without risk of doing its work twice.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Safety {
    /// Reads: retry on 429, 5xx and connection errors.
    Idempotent,
    /// Create: retry only when the server surely did nothing (429, 503, no connection made).
    NotIdempotent,
}

/// How [`Client::wait`] polls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// The first pause between polls; it grows by half each time.
    pub interval: Duration,
    /// The longest pause between polls.
    pub max_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30 * 60),
            interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(30),
        }
    }
}

impl Client {
    /// A builder; see [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The base URL in use.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `POST /v1/imports/pre-signed-url/create`: a form to upload one file with.
    ///
    /// # Errors
    /// Unit21's refusal (400 bad field, 401, 403, 409 name already used, 429 after retries),
    /// a transport error, or an answer of the wrong shape.
    pub async fn create_upload(
        &self,
        stream_name: &str,
        file_name: &str,
        md5_hash: Option<&str>,
    ) -> Result<PresignedUpload> {
        let mut body = serde_json::json!({"stream_name": stream_name, "file_name": file_name});
        if let Some(hash) = md5_hash {
            body["md5_hash"] = hash.into();
        }
        self.call(
            Method::POST,
            "/v1/imports/pre-signed-url/create",
            Some(&body),
            Safety::NotIdempotent,
        )
        .await
    }

    /// `GET /v1/imports/{file_id}`.
    ///
    /// # Errors
    /// As [`Client::create_upload`]; a file of another organisation is not found.
    pub async fn get(&self, file_id: &str) -> Result<Datafile> {
        let encoded: String = file_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if encoded != file_id || file_id.is_empty() {
            return Err(Error::config(format!("'{file_id}' is not a file id")));
        }
        self.call(
            Method::GET,
            &format!("/v1/imports/{file_id}"),
            None,
            Safety::Idempotent,
        )
        .await
    }

    /// `POST /v1/imports/list`: one page.
    ///
    /// # Errors
    /// As [`Client::create_upload`].
    pub async fn list(&self, request: &ListRequest) -> Result<DatafileList> {
        let body = serde_json::to_value(request).expect("serialisable");
        self.call(
            Method::POST,
            "/v1/imports/list",
            Some(&body),
            Safety::Idempotent,
        )
        .await
    }

    /// Every file matching `request`, page after page (of `request.limit`, default 1000),
    /// starting from the first page whatever `request.offset` says. Each file comes once: a
    /// file created while paging pushes the others one place down (the list is newest first),
    /// so a file already seen on one page can show up again on the next, and is passed over.
    /// Paging stops on a short or empty page, or once `total_count` files have been seen.
    pub fn list_all(&self, request: ListRequest) -> impl Stream<Item = Result<Datafile>> + '_ {
        let limit = request.limit.unwrap_or(1000);
        let first = match self.offset_unit {
            OffsetUnit::Page => 1,
            OffsetUnit::Record => 0,
        };
        let pages = futures_util::stream::try_unfold(Some((first, 0u64)), move |cursor| {
            let request = request.clone();
            async move {
                let Some((offset, seen)) = cursor else {
                    return Ok::<_, Error>(None);
                };
                let page = self
                    .list(&ListRequest {
                        offset: Some(offset),
                        limit: Some(limit),
                        ..request
                    })
                    .await?;
                let seen = seen + page.datafiles.len() as u64;
                // Stop on a short page or once everything counted has been seen.
                let done = (page.datafiles.len() as u64) < limit || seen >= page.total_count;
                let next = match self.offset_unit {
                    OffsetUnit::Page => offset + 1,
                    OffsetUnit::Record => offset + limit,
                };
                Ok(Some((page.datafiles, (!done).then_some((next, seen)))))
            }
        });
        let mut seen = std::collections::HashSet::new();
        pages
            .map_ok(move |files| {
                let fresh: Vec<Datafile> = files
                    .into_iter()
                    .filter(|f| seen.insert(f.file_id.clone()))
                    .collect();
                futures_util::stream::iter(fresh.into_iter().map(Ok::<_, Error>))
            })
            .try_flatten()
    }

    /// Posts the file at `path` to a pre-signed form, streaming it from disk. Retried on S3's
    /// 5xx and when no connection could be made; never once the post is on its way without
    /// an answer (a dropped or stalled connection: S3 may have stored it, or refused it while
    /// it was still being sent), and never after S3 accepted or refused it.
    ///
    /// # Errors
    /// S3's refusal (with its code and message), a transport error, or the file being unreadable.
    pub async fn upload_to(
        &self,
        form: &PresignedUpload,
        path: &Path,
        progress: Option<Progress>,
    ) -> Result<()> {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let mut attempt = 0;
        loop {
            let size = tokio::fs::metadata(path)
                .await
                .map_err(|err| Error::file(path, err))?
                .len();
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|err| Error::file(path, err))?;
            let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let counter = sent.clone();
            let progress = progress.clone();
            let chunks = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).inspect(
                move |chunk| {
                    if let Ok(chunk) = chunk {
                        let total = counter
                            .fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed)
                            + chunk.len() as u64;
                        if let Some(progress) = &progress {
                            progress(total, size);
                        }
                    }
                },
            );
            let part = reqwest::multipart::Part::stream_with_length(
                reqwest::Body::wrap_stream(chunks),
                size,
            )
            .file_name(file_name.clone());
            let form_body = form
                .form_fields
                .iter()
                .fold(reqwest::multipart::Form::new(), |f, (name, value)| {
                    f.text(name.clone(), value.clone())
                })
                .part("file", part);
            let outcome = self.http.post(&form.url).multipart(form_body).send().await;
            let retryable = match &outcome {
                // S3 answered and stored nothing.
                Ok(response) => response.status().is_server_error(),
                // Only when the connection was never made: once the post is on its way S3
                // may have stored it, or refused it while it was still being sent (as it does
                // a file over the policy's maximum), and a second post would do that again.
                Err(err) => err.is_connect(),
            };
            if retryable && attempt < self.retry.max_retries {
                self.pause_before_retry(attempt, outcome.as_ref().ok())
                    .await;
                attempt += 1;
                continue;
            }
            let response = outcome?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let body = read_bounded(response, MAX_S3_ERROR_BYTES)
                .await
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            return Err(s3_error(status, &body));
        }
    }

    /// Create plus upload in one call: the file's name is the path's. Returns the form used
    /// (with the new `file_id`).
    ///
    /// # Errors
    /// As [`Client::create_upload`] and [`Client::upload_to`].
    pub async fn upload_file(
        &self,
        stream_name: &str,
        path: &Path,
        progress: Option<Progress>,
    ) -> Result<PresignedUpload> {
        self.upload_file_with_md5_hash(stream_name, path, None, progress)
            .await
    }

    /// [`Client::upload_file`] with Unit21's `md5_hash` (a UUID, despite its name): a new one
    /// uploads a file whose name is already used in the stream, which is otherwise a 409.
    ///
    /// # Errors
    /// As [`Client::upload_file`].
    pub async fn upload_file_with_md5_hash(
        &self,
        stream_name: &str,
        path: &Path,
        md5_hash: Option<&str>,
        progress: Option<Progress>,
    ) -> Result<PresignedUpload> {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::config(format!("{} has no file name", path.display())))?;
        // Checked before the create call, so a file that cannot be sent leaves no
        // PENDING_UPLOAD import behind.
        let readable = async {
            let metadata = tokio::fs::metadata(path).await?;
            if !metadata.is_file() {
                return Err(std::io::Error::other("it is not a regular file"));
            }
            tokio::fs::File::open(path).await.map(drop)
        };
        readable.await.map_err(|err| Error::file(path, err))?;
        let form = self
            .create_upload(stream_name, &file_name, md5_hash)
            .await?;
        self.upload_to(&form, path, progress).await?;
        Ok(form)
    }

    /// Polls a file, pausing longer each time, until it reaches FINISHED, FAILED or DELETED.
    /// A FAILED file is returned, not an error: its `failure_code` says why.
    ///
    /// # Errors
    /// A timeout error (see [`Error::is_timeout`]) naming the last status seen, or any error
    /// of [`Client::get`].
    pub async fn wait(&self, file_id: &str, options: &WaitOptions) -> Result<Datafile> {
        let started = Instant::now();
        let mut pause = options.interval;
        loop {
            let file = self.get(file_id).await?;
            if file.status.is_terminal() {
                return Ok(file);
            }
            let left = options.timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(Error::new(Kind::WaitTimeout {
                    file_id: file_id.to_owned(),
                    last_status: file.status.to_string(),
                }));
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = pause.mul_f64(1.5).min(options.max_interval);
        }
    }

    /// Waits as the retry policy says, or as long as the refusing answer asked.
    async fn pause_before_retry(&self, attempt: u32, refusal: Option<&reqwest::Response>) {
        let delay = self
            .retry
            .delay(attempt, refusal.map(|r| r.headers()), SystemTime::now());
        tokio::time::sleep(delay).await;
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        safety: Safety,
    ) -> Result<T> {
        let url = format!("{}{path}", self.base_url);
        let mut attempt = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .timeout(self.timeout)
                .header("u21-key", &*self.api_key)
                .header("accept", "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let outcome = request.send().await;
            let retryable = match (&outcome, safety) {
                (Ok(r), _)
                    if r.status() == StatusCode::TOO_MANY_REQUESTS
                        || r.status() == StatusCode::SERVICE_UNAVAILABLE =>
                {
                    true
                }
                (Ok(r), Safety::Idempotent) => r.status().is_server_error(),
                (Ok(_), Safety::NotIdempotent) => false,
                (Err(err), Safety::Idempotent) => !err.is_builder(),
                // Only when the request surely never reached the server.
                (Err(err), Safety::NotIdempotent) => err.is_connect(),
            };
            if retryable && attempt < self.retry.max_retries {
                self.pause_before_retry(attempt, outcome.as_ref().ok())
                    .await;
                attempt += 1;
                continue;
            }
            let response = outcome?;
            let status = response.status();
            let bytes = match read_bounded(response, MAX_ANSWER_BYTES).await {
                Ok(bytes) => bytes,
                // An answer cut off (or stalled) half-way is a dropped connection: a read is
                // sent again; a create may have made its file, so it is reported.
                Err(err)
                    if (err.is_connection() || err.is_timeout())
                        && safety == Safety::Idempotent
                        && attempt < self.retry.max_retries =>
                {
                    self.pause_before_retry(attempt, None).await;
                    attempt += 1;
                    continue;
                }
                Err(err) => return Err(err),
            };
            if status.is_success() {
                return serde_json::from_slice(&bytes).map_err(|err| {
                    Error::new(Kind::Decode {
                        status: status.as_u16(),
                        detail: format!("{err}: {}", preview(&bytes)),
                    })
                });
            }
            return Err(api_error(status, &bytes));
        }
    }
}

/// The longest answer Unit21's API is read to: a list page of 1,000 files is about 300 KB, so
/// this is far past any real one, and a server that sends more (or never stops) is refused.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// The longest S3 error read (S3's XML errors are a few hundred bytes).
const MAX_S3_ERROR_BYTES: usize = 64 * 1024;

/// Reads an answer's body, refusing one longer than `max` bytes as it arrives.
async fn read_bounded(mut response: reqwest::Response, max: usize) -> Result<bytes::Bytes> {
    let status = response.status().as_u16();
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(Error::new(Kind::Decode {
                status,
                detail: format!("the answer is longer than {max} bytes: not read further"),
            }));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    format!("{text:?}")
}

fn api_error(status: StatusCode, bytes: &[u8]) -> Error {
    let body: Option<Value> = serde_json::from_slice(bytes).ok();
    let field = |name: &str| {
        body.as_ref()
            .and_then(|b| b.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Error::new(Kind::Api {
        status: status.as_u16(),
        error_code: field("error_code"),
        message: field("message"),
    })
}

/// S3's XML error, or a decode error when the body is not one.
fn s3_error(status: StatusCode, body: &str) -> Error {
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(
            body[start..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        )
    };
    match (element("Code"), element("Message")) {
        (Some(code), Some(message)) => Error::new(Kind::S3 {
            status: status.as_u16(),
            code,
            message,
        }),
        _ => Error::new(Kind::Decode {
            status: status.as_u16(),
            detail: format!("not an S3 error document: {}", preview(body.as_bytes())),
        }),
    }
}
