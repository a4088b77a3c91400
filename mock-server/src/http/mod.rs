//! HTTP: thin adapters over the [`Engine`]. Each route reads its request, calls one engine
//! operation, and writes the answer in its API's own format; none takes a lock or knows how
//! the state is kept.
//!
//! - `imports` (+ `body`): Unit21's JSON routes and their request validation;
//! - `upload`: S3's form POST, streamed to disk;
//! - `control` (+ `guard`): `/_mock/…`, answering only its own origin or its token;
//! - `dashboard`: the page at `/` and its fragments; `openapi`: `/openapi.json`;
//! - `observe`: the layer that journals requests and injects faults;
//! - `support`: the one Unit21 JSON error type and the extractors every JSON route shares.

mod body;
mod control;
mod dashboard;
mod guard;
mod imports;
mod observe;
mod openapi;
mod support;
mod upload;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::engine::{Access, Engine, Files, Objects, Settings, Traffic};
use support::ApiError;

/// What the router holds: the engine's parts, and who may use the control plane. A handler
/// takes the parts it uses as `State<Arc<Files>>`, `State<Arc<Access>>`, … (axum's
/// `FromRef`), so its signature says which rooms of the engine it touches; only the control
/// plane's whole-state calls (reset, seed) take the whole `State<Arc<Engine>>`.
#[derive(Clone)]
pub(crate) struct AppState {
    engine: Arc<Engine>,
    /// Host names (lower case, no port) the control plane answers without its token.
    control_hosts: Arc<[String]>,
}

/// Each part of the engine is a substate of [`AppState`].
macro_rules! substates {
    ($($part:ident: $ty:ty),* $(,)?) => {$(
        impl FromRef<AppState> for Arc<$ty> {
            fn from_ref(state: &AppState) -> Arc<$ty> {
                state.engine.$part.clone()
            }
        }
    )*};
}

substates!(files: Files, access: Access, traffic: Traffic, settings: Settings, objects: Objects);

impl FromRef<AppState> for Arc<Engine> {
    fn from_ref(state: &AppState) -> Arc<Engine> {
        state.engine.clone()
    }
}

impl AppState {
    pub fn new(engine: Arc<Engine>) -> Self {
        let settings = &engine.settings;
        let mut control_hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(str::to_owned)
            .chain(
                settings
                    .config()
                    .control
                    .allowed_hosts
                    .iter()
                    .map(|h| h.to_ascii_lowercase()),
            )
            .collect();
        if let Some(host) = settings
            .public_url()
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or_default())
            .map(guard::host_without_port)
        {
            control_hosts.push(host.to_ascii_lowercase());
        }
        Self {
            engine,
            control_hosts: control_hosts.into(),
        }
    }

    /// The engine's settings (configuration, public URL): read-only, no lock.
    fn settings(&self) -> &Settings {
        &self.engine.settings
    }
}

pub(crate) use observe::Observed;

/// Which of the fake's endpoints a connection came in on: the Unit21 API and S3 on one port
/// (the default), or, with S3 listening apart, each on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// Every route.
    Both,
    /// The Unit21 API, the control plane and the dashboard.
    Api,
    /// S3's form POST.
    S3,
}

/// Whether `path` is the Unit21 API's, the control plane's or the dashboard's (else S3's).
fn is_api_path(path: &str) -> bool {
    path == "/" || path.starts_with("/v1/") || path.starts_with("/_mock") || path == "/openapi.json"
}

/// With S3 on its own endpoint, each endpoint answers only its own routes, as two hosts
/// would: an upload sent to the API's host is Unit21's 404, an API call sent to S3's host
/// names a bucket S3 does not have. A client that ignores the form's `url` is found out.
/// Checked by the journal-and-faults service, which reads every request's path anyway (a
/// middleware layer of its own cost every GET about a microsecond); the accept loop tags a
/// request with its endpoint only when S3 listens apart.
pub(crate) fn misdirected(request: &axum::extract::Request) -> Option<Response> {
    let endpoint = *request.extensions().get::<Endpoint>()?;
    let path = request.uri().path();
    match (endpoint, is_api_path(path)) {
        (Endpoint::Api, false) => Some(ApiError::not_found().into_response()),
        (Endpoint::S3, true) => {
            let bucket = path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default();
            Some(crate::s3::error::S3Error::no_such_bucket(bucket).into_response())
        }
        _ => None,
    }
}

/// HTTP/1.1 requires exactly one `Host` (RFC 9112 §3.2): a request with none or several is
/// answered 400 in its route's format (a second `Host` could make the control plane's origin
/// check and the public URL read different hosts). HTTP/1.0 may omit it.
async fn one_host(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let hosts = request.headers().get_all(http::header::HOST).iter().count();
    if request.version() != http::Version::HTTP_11 || hosts == 1 {
        return next.run(request).await;
    }
    let path = request.uri().path();
    if is_api_path(path) {
        ApiError::bad_request(format!(
            "an HTTP/1.1 request must carry exactly one Host header, not {hosts}"
        ))
        .into_response()
    } else {
        crate::s3::error::S3Error::host_required().into_response()
    }
}

/// Every route the fake serves, behind the journal and the faults (which see every request but
/// the control API's own).
pub(crate) fn app(engine: Arc<Engine>) -> Observed {
    // A known path asked with another method: 405, or by switch the 404 of an unknown path.
    let wrong_method_status = engine.config().fidelity.wrong_method_status;
    let state = AppState::new(engine);
    let wrong_method = move || async move {
        if wrong_method_status == 404 {
            ApiError::not_found()
        } else {
            ApiError::method_not_allowed()
        }
    };
    let mut app = Router::new()
        .route(
            "/v1/imports/pre-signed-url/create",
            post(imports::create).fallback(wrong_method),
        )
        .route(
            "/v1/imports/list",
            post(imports::list).fallback(wrong_method),
        )
        .route(
            "/v1/imports/{file_id}",
            get(imports::get).fallback(wrong_method),
        )
        // S3: `POST /{bucket}` and `/{bucket}/` take uploads; `POST /{bucket}/{key}` is 405.
        .route(
            "/{bucket}",
            post(upload::upload).fallback(upload::unsupported),
        )
        .route(
            "/{bucket}/",
            post(upload::upload).fallback(upload::unsupported),
        )
        .route(
            "/{bucket}/{*key}",
            post(upload::post_to_object).fallback(upload::unsupported),
        )
        .route(
            "/_mock/health",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/openapi.json", get(openapi::document));
    if state.settings().config().control.enabled {
        // The dashboard's page holds no data; its fragments sit behind the control guard.
        app = app
            .merge(control::routes().merge(dashboard::routes()).route_layer(
                axum::middleware::from_fn_with_state(state.clone(), guard::guard),
            ))
            .route("/", get(dashboard::page).fallback(wrong_method));
    }
    let router = app
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::middleware::from_fn(one_host))
        .with_state(state.clone());
    Observed::new(router, &state)
}
