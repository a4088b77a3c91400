//! What every JSON route shares: Unit21's error shape (the one error type of the Unit21 API,
//! the control plane and the dashboard's JSON answers), the engine's errors in that shape,
//! the rate-limit headers, and the extractors for control bodies and ids.
//!
//! Unit21's shape is `{"error_code": "<snake_case>"}`, plus `"message"` where the fake has
//! something to say: on 400s, on its own 409, and on every control-plane refusal. Internal
//! detail goes to the log, never into a response.

use std::borrow::Cow;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{request::Parts, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::engine::access::{Denied, RateInfo};
use crate::error::Error;

/// A refusal in Unit21's JSON shape.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: Option<String>,
    rate: Option<RateInfo>,
    /// What went wrong inside, for the log (never the client).
    cause: Option<crate::error::InternalCause>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str) -> Self {
        Self {
            status,
            code,
            message: None,
            rate: None,
            cause: None,
        }
    }

    /// Adds a message saying what is wrong.
    pub fn saying(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// 400 with a message naming what is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request").saying(message)
    }

    /// 401: missing or unknown `u21-key` (or control token).
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized")
    }

    /// 403: the key lacks the permission, or (by switch) the file is another organisation's.
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden")
    }

    /// 404.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "resource_not_found")
    }

    /// 405 on a known path.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    }

    /// 409 with a message saying what to change.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict").saying(message)
    }

    /// 413: the body is over the limit.
    pub fn payload_too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    }

    /// 415: the body is not in a type the route takes.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").saying(message)
    }

    /// 429, with the rate-limit headers.
    pub fn too_many_requests(rate: RateInfo) -> Self {
        Self {
            rate: Some(rate),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
        }
    }

    /// 500.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error")
    }

    /// 503.
    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable")
    }

    /// The refusal Unit21 gives with this status, by its usual code.
    pub fn with_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            401 => "unauthorized",
            403 => "forbidden",
            404 => "resource_not_found",
            405 => "method_not_allowed",
            409 => "conflict",
            413 => "payload_too_large",
            415 => "unsupported_media_type",
            429 => "too_many_requests",
            503 => "service_unavailable",
            500..=599 => "internal_server_error",
            _ => "bad_request",
        };
        Self::new(status, code)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(64);
        body.extend_from_slice(b"{\"error_code\":\"");
        body.extend_from_slice(self.code.as_bytes());
        body.push(b'"');
        if let Some(message) = &self.message {
            body.extend_from_slice(b",\"message\":");
            serde_json::to_writer(&mut body, message).expect("a string always serialises");
        }
        body.push(b'}');
        let mut response = (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if let Some(rate) = self.rate {
            put_rate_headers(response.headers_mut(), rate);
        }
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(cause);
        }
        response
    }
}

/// The engine's refusals in Unit21's shape, with the message a user acts on.
impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::NoSuchFile(_) => ApiError::not_found().saying("no such file"),
            Error::NoSuchFault(id) => ApiError::not_found().saying(format!("no fault {id}")),
            Error::WrongStatus(message) => ApiError::conflict(message),
            Error::DuplicateName { stream_name, file_name } => ApiError::conflict(format!(
                "A file named '{file_name}' already exists in stream '{stream_name}'; send a new md5_hash (a UUID) to upload it again, or use another file name"
            )),
            Error::Invalid(message) => ApiError::bad_request(message),
            Error::Config(err) => ApiError::bad_request(err.to_string()),
            err @ Error::Io { .. } => ApiError {
                cause: Some(crate::error::InternalCause::new(err)),
                ..ApiError::internal().saying("the fake could not read or write its data directory; see its log")
            },
        }
    }
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Unauthorized => ApiError::unauthorized(),
            Denied::Forbidden => ApiError::forbidden(),
            Denied::RateLimited(rate) => ApiError::too_many_requests(rate),
        }
    }
}

/// Writes `X-RateLimit-Limit`, `-Remaining` and `-Reset` from integers, with no strings made.
pub(crate) fn put_rate_headers(headers: &mut HeaderMap, rate: RateInfo) {
    headers.insert(
        HeaderName::from_static("x-ratelimit-limit"),
        HeaderValue::from(rate.limit),
    );
    headers.insert(
        HeaderName::from_static("x-ratelimit-remaining"),
        HeaderValue::from(rate.remaining),
    );
    headers.insert(
        HeaderName::from_static("x-ratelimit-reset"),
        HeaderValue::from(rate.reset),
    );
}

/// The base URL clients reach the fake at, for this request: the configured public URL, or
/// under `--public-url auto` the request's own `Host` (so a fake behind a container's mapped
/// port hands out upload URLs its client can reach). A `Host` that is not a plain
/// `host[:port]` falls back to the listen address rather than being written into a URL.
pub(crate) fn public_url<'a>(
    settings: &'a crate::engine::Settings,
    headers: &HeaderMap,
) -> Cow<'a, str> {
    if !settings.public_url_is_auto() {
        return Cow::Borrowed(settings.public_url());
    }
    headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|host| is_plain_authority(host))
        .map_or(Cow::Borrowed(settings.public_url()), |host| {
            Cow::Owned(format!("http://{host}"))
        })
}

/// `host[:port]` and nothing else: no user info, path, query or spaces, and a port that is
/// one (at most 65535).
fn is_plain_authority(value: &str) -> bool {
    let Ok(authority) = value.parse::<axum::http::uri::Authority>() else {
        return false;
    };
    let has_port = authority.host().len() < value.len();
    value.len() <= 255
        && !value.contains('@')
        && authority.as_str() == value
        && !authority.host().is_empty()
        && (!has_port || authority.port_u16().is_some())
}

/// A numeric id from the path, or a 400 in Unit21's shape saying it is not one.
pub(crate) struct Id(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<u64>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Id(id)),
            Err(_) => Err(ApiError::bad_request(
                "the path must name a file by its numeric id",
            )),
        }
    }
}

/// A control call's JSON body (an empty body reads as `{}`), or a 400 saying what is wrong.
pub(crate) struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|err| ApiError::bad_request(err.body_text()))?;
        let bytes = if bytes.is_empty() {
            axum::body::Bytes::from_static(b"{}")
        } else {
            bytes
        };
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|err| ApiError::bad_request(format!("Invalid body: {err}")))
    }
}

/// Why a body could not be read whole.
pub(crate) enum BodyError {
    /// Its `Content-Length`, or what it sent, is over the bound.
    TooLarge,
    /// It broke off.
    Unreadable,
}

/// A request's media type: its `Content-Type` without parameters, trimmed and lower-cased
/// (`Application/JSON; charset=utf-8` is `application/json`), as RFC 9110 compares them.
/// Every route reads the type through this, so the handler and the journal agree.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

/// Whether a request says its body is JSON, read as [`media_type`] reads it (without making a
/// string: every request asks).
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// A request's `Content-Length`, when it has a readable one.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads a whole request body of at most `limit` bytes, refusing a longer one on its
/// `Content-Length` before reading and while reading.
pub(crate) async fn read_bounded(
    headers: &HeaderMap,
    body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, BodyError> {
    if declared_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let over = std::error::Error::source(&err)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over {
            BodyError::TooLarge
        } else {
            BodyError::Unreadable
        }
    })
}

/// How much of a refused request's body the fake reads and drops after answering; past it,
/// the connection closes.
pub(crate) const LINGER_BYTES: usize = 1024 * 1024 * 1024;
/// How long it waits for the next chunk, and for all of them.
const LINGER_IDLE: std::time::Duration = std::time::Duration::from_secs(1);
const LINGER_TOTAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads and drops what is left of a refused request's body on a task of its own, while the
/// refusal goes out at once (up to [`LINGER_BYTES`], a second without a byte, 30 s in all).
/// Closing with the client's bytes unread would make the kernel reset the connection, and a
/// reset discards an answer the client has not read yet: a client still sending its body
/// (an upload over the size bound, a snapshot refused at its first byte) would see a broken
/// pipe instead of the refusal, take it for a network error, and retry. Web servers linger
/// the same way (nginx's `lingering_close`).
pub(crate) fn linger_after_refusal<S, E>(mut stream: S)
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Send + Unpin + 'static,
{
    use futures_util::StreamExt;
    tokio::spawn(async move {
        let drained = async {
            let mut seen = 0;
            while seen <= LINGER_BYTES {
                match tokio::time::timeout(LINGER_IDLE, stream.next()).await {
                    Ok(Some(Ok(chunk))) => seen += chunk.len(),
                    _ => return,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_TOTAL, drained).await;
    });
}

/// Bytes a streamed response holds at most per chunk; at most [`WAITING_CHUNKS`] wait for a
/// slow client, so a streamed answer costs a quarter of a mebibyte whatever its length.
const CHUNK_BYTES: usize = 64 * 1024;
const WAITING_CHUNKS: usize = 3;

/// A response body that `write` produces on the blocking pool, handed to the client in chunks
/// as it takes them: the writer waits while the client is slow, and stops (its writes fail
/// as a broken pipe) once the client has gone. A write that fails cuts the body short, so the
/// client sees a broken answer, never a whole-looking one.
pub(crate) fn body_written_by(
    what: &'static str,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send + 'static,
) -> axum::body::Body {
    let (chunks, waiting) = tokio::sync::mpsc::channel(WAITING_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            buffer: Vec::with_capacity(CHUNK_BYTES),
            chunks,
        };
        let written = write(&mut out).and_then(|()| std::io::Write::flush(&mut out));
        if let Err(err) = written {
            if err.kind() != std::io::ErrorKind::BrokenPipe {
                tracing::warn!(%err, "{what} was cut short");
                let _ = out.chunks.blocking_send(Err(err));
            }
        }
    });
    let stream = futures_util::stream::unfold(waiting, |mut waiting| async move {
        waiting.recv().await.map(|chunk| (chunk, waiting))
    });
    axum::body::Body::from_stream(stream)
}

struct ChunkWriter {
    buffer: Vec<u8>,
    chunks: tokio::sync::mpsc::Sender<std::io::Result<axum::body::Bytes>>,
}

impl std::io::Write for ChunkWriter {
    /// Takes all of `data`, a chunk at a time: writers that handle a short write badly (a
    /// base64 encoder answers the next write with `Ok(0)`) never see one.
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            let taken = rest.len().min(CHUNK_BYTES - self.buffer.len());
            self.buffer.extend_from_slice(&rest[..taken]);
            rest = &rest[taken..];
            if self.buffer.len() == CHUNK_BYTES {
                self.flush()?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES));
        self.chunks
            .blocking_send(Ok(chunk.into()))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}
