//! The service in front of every route: it writes each request to the journal and applies the
//! first matching fault. Control routes and the dashboard pass through untouched.
//!
//! It wraps the whole router (a cheap `Arc` to clone) rather than being a route layer, which
//! would clone a boxed service per request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRef, Request};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::Service;

use super::support::{linger_after_refusal, ApiError};
use super::AppState;
use crate::engine::access::RateInfo;
use crate::engine::{Access, BodySummary, FaultAction, Settings, Traffic, JOURNAL_BODY_BYTES};
use crate::error::InternalCause;
use crate::s3::error::S3Error;

/// A request a fault said to drop: the service ends it with this error, and hyper closes the
/// connection without an answer (no panic: the same under `panic = "abort"`).
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dropped by a fault")
    }
}

impl std::error::Error for Dropped {}

/// The router behind the journal and the faults: what the server serves.
#[derive(Clone)]
pub(crate) struct Observed {
    router: Router,
    parts: Arc<Watching>,
}

/// The parts of the engine the service uses: the journal and faults, the keys (a body is kept
/// only from a known caller), and the settings (a canned 429's limit).
struct Watching {
    traffic: Arc<Traffic>,
    access: Arc<Access>,
    settings: Arc<Settings>,
}

impl Observed {
    pub fn new(router: Router, state: &AppState) -> Self {
        let parts = Watching {
            traffic: FromRef::from_ref(state),
            access: FromRef::from_ref(state),
            settings: FromRef::from_ref(state),
        };
        Self {
            router,
            parts: Arc::new(parts),
        }
    }
}

impl<B> Service<http::Request<B>> for Observed
where
    B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Dropped;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Dropped>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Dropped>> {
        // The router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(observe(this.parts, request.map(Body::new), this.router))
    }
}

async fn observe(
    parts: Arc<Watching>,
    request: Request,
    mut next: Router,
) -> Result<Response, Dropped> {
    let Watching {
        traffic,
        access,
        settings,
    } = &*parts;
    let path = request.uri().path();
    // The fake's own pages and controls are not the client's traffic; nor is the icon a
    // browser asks for beside the dashboard.
    if path.starts_with("/_mock/")
        || path == "/openapi.json"
        || path == "/"
        || path == "/favicon.ico"
    {
        if let Some(refusal) = super::misdirected(&request) {
            return Ok(refusal);
        }
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let response = run(&mut next, request).await;
        log_internal(&method, &uri, &response);
        return Ok(response);
    }
    let started = std::time::Instant::now();
    // A body is kept only from a caller the fake knows: anyone can send a body without a key,
    // and the journal must not grow on their account.
    let known_caller = request
        .headers()
        .get("u21-key")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|key| access.is_known_key(key));
    let (request, body, raw) = summarise(request).await;
    let raw = raw.filter(|_| known_caller);
    let method = request.method().clone();
    let uri = request.uri().clone();
    // The journal masks secrets when it is read, not now.
    let seq = traffic.journal_enabled().then(|| {
        let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        traffic.record_request(&method, target.to_owned(), request.headers(), body, raw)
    });

    // A request to the wrong endpoint is journalled and refused; it meets no fault.
    let misdirected = super::misdirected(&request);
    let fault = match misdirected {
        Some(_) => None,
        None => traffic.pick_fault(method.as_str(), request.uri().path()),
    };
    let response = match (misdirected, fault) {
        (Some(refusal), _) => refusal,
        (None, fault) => match fault {
            None => run(&mut next, request).await,
            Some(FaultAction::Latency { ms }) => {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                run(&mut next, request).await
            }
            Some(FaultAction::Stall { ms }) => {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                return Err(Dropped);
            }
            Some(FaultAction::SecurityToken { token }) => {
                let mut request = request;
                request
                    .extensions_mut()
                    .insert(crate::s3::SecurityToken(token));
                run(&mut next, request).await
            }
            // The socket closes with no answer at all.
            Some(FaultAction::DropConnection) => return Err(Dropped),
            Some(FaultAction::TruncateBody) => truncated(run(&mut next, request).await).await,
            Some(action) => {
                // The rest of the request is read after the answer, so the client hears it.
                linger_after_refusal(request.into_body().into_data_stream());
                canned(settings, traffic, action)
            }
        },
    };
    log_internal(&method, &uri, &response);
    let status = response.status().as_u16();
    if let Some(seq) = seq {
        traffic.record_answer(seq, status);
    }
    // One line per request, so a user sees what their client did.
    if tracing::enabled!(target: "u21_mock::request", tracing::Level::INFO) {
        let line = request_line(&method, &uri, status, started.elapsed());
        tracing::info!(target: "u21_mock::request", "{line}");
    }
    Ok(response)
}

/// A request's log line, `GET /v1/imports/1 200 0.4 ms`, written from integers: formatted
/// by `core::fmt` (a float to one decimal, `Uri`'s display) it cost about a microsecond of
/// every request's dozen.
fn request_line(
    method: &http::Method,
    uri: &http::Uri,
    status: u16,
    elapsed: std::time::Duration,
) -> String {
    let target = match uri.path_and_query() {
        // A request in absolute form (`GET http://host/path`) is shown as it came.
        Some(_) if uri.scheme().is_some() => std::borrow::Cow::Owned(uri.to_string()),
        Some(pq) => std::borrow::Cow::Borrowed(pq.as_str()),
        None => std::borrow::Cow::Borrowed(uri.path()),
    };
    let mut line = String::with_capacity(method.as_str().len() + target.len() + 24);
    line.push_str(method.as_str());
    line.push(' ');
    line.push_str(&target);
    line.push(' ');
    push_digits(&mut line, u64::from(status));
    let tenths_of_ms = (elapsed.as_micros() + 50) / 100;
    line.push(' ');
    push_digits(
        &mut line,
        u64::try_from(tenths_of_ms / 10).unwrap_or(u64::MAX),
    );
    line.push('.');
    line.push(char::from(b'0' + (tenths_of_ms % 10) as u8));
    line.push_str(" ms");
    line
}

/// Appends `n` in decimal.
fn push_digits(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
}

/// Logs what went wrong inside behind a 500, once, here: the routes' errors carry it on the
/// response ([`InternalCause`]) and never log it themselves.
pub(super) fn log_internal(method: &http::Method, uri: &http::Uri, response: &Response) {
    if let Some(cause) = response.extensions().get::<InternalCause>() {
        tracing::error!(
            status = response.status().as_u16(),
            "{method} {uri}: {cause}"
        );
    }
}

async fn run(router: &mut Router, request: Request) -> Response {
    match router.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Reads small JSON bodies for the journal (and hands them on); describes the rest.
async fn summarise(request: Request) -> (Request, BodySummary, Option<axum::body::Bytes>) {
    let headers = request.headers();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let declared = super::support::declared_length(headers);
    let is_json = super::support::is_json(headers);
    let summary = BodySummary {
        content_type,
        bytes: declared,
        json: None,
    };
    if !(is_json && declared.is_some_and(|n| n <= JOURNAL_BODY_BYTES as u64)) {
        return (request, summary, None);
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, JOURNAL_BODY_BYTES).await {
        Ok(bytes) => bytes,
        // The body broke off; the handler will see an empty one and answer accordingly.
        Err(_) => return (Request::from_parts(parts, Body::empty()), summary, None),
    };
    (
        Request::from_parts(parts, Body::from(bytes.clone())),
        summary,
        Some(bytes),
    )
}

/// The real answer's headers, but only half its body, then the connection ends.
async fn truncated(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let half = bytes.slice(..bytes.len() / 2);
    // Yield once between the half and the error: hyper writes the headers and the half while
    // the body is pending, then the error closes the connection.
    let chunks = futures_util::stream::unfold(0u8, move |step| {
        let half = half.clone();
        async move {
            match step {
                0 => Some((Ok(half), 1)),
                1 => {
                    tokio::task::yield_now().await;
                    Some((Err(std::io::Error::other("fault: truncated body")), 2))
                }
                _ => None,
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(chunks))
}

fn canned(settings: &Settings, traffic: &Traffic, action: FaultAction) -> Response {
    match action {
        FaultAction::Status {
            status,
            body,
            headers,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, body).into_response();
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) =
                    (HeaderName::try_from(name), HeaderValue::try_from(value))
                {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        FaultAction::RateLimited { retry_after_secs } => {
            let config = settings.config();
            let limit = if config.rate_limit == 0 {
                crate::config::DEFAULT_RATE_LIMIT
            } else {
                config.rate_limit
            };
            // Fault bounds keep the wait to a day, so no overflow here.
            let reset = traffic
                .now_ms()
                .div_euclid(1000)
                .saturating_add(i64::try_from(retry_after_secs).unwrap_or(i64::MAX));
            let mut response = ApiError::too_many_requests(RateInfo {
                limit,
                remaining: 0,
                reset,
            })
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        FaultAction::InternalError => ApiError::internal().into_response(),
        FaultAction::Unavailable => ApiError::unavailable().into_response(),
        FaultAction::S3SlowDown => S3Error::slow_down().into_response(),
        FaultAction::S3InternalError => S3Error::internal_error().into_response(),
        FaultAction::Latency { .. }
        | FaultAction::Stall { .. }
        | FaultAction::SecurityToken { .. }
        | FaultAction::DropConnection
        | FaultAction::TruncateBody => unreachable!("handled by the caller"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// The line is the one `core::fmt` wrote before, byte for byte.
    #[test]
    fn the_request_line_reads_as_core_fmt_wrote_it() {
        let uris = [
            "/v1/imports/1",
            "/v1/imports/list?x=%20y&z",
            "/",
            "http://example.test:8080/u21-mock-uploads/?a=b",
            "*",
        ];
        let micros = [
            0,
            1,
            49,
            51,
            149,
            999,
            1_001,
            12_340,
            1_234_567,
            86_400_000_001,
        ];
        for (i, uri) in uris.iter().enumerate() {
            let uri: http::Uri = uri.parse().unwrap();
            for (method, status) in [(http::Method::GET, 200), (http::Method::POST, 429)] {
                for &us in &micros {
                    let elapsed = Duration::from_micros(us);
                    let status = status + i as u16;
                    let expected = format!(
                        "{method} {uri} {status} {:.1} ms",
                        elapsed.as_secs_f64() * 1000.0
                    );
                    assert_eq!(
                        super::request_line(&method, &uri, status, elapsed),
                        expected
                    );
                }
            }
        }
    }
}
