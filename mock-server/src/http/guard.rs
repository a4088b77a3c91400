//! Who may use the control plane and the dashboard. A fake on a developer's machine is reached
//! by every web page the developer opens, so without a token the control plane answers only
//! requests that can come from its own origin:
//!
//! - the `Host` must be a loopback name, the listen address, the public URL's host or a host
//!   allowed by `--allow-host` (DNS rebinding points a foreign name at 127.0.0.1; its `Host`
//!   still names the foreign site);
//! - an `Origin`, when a browser sends one, must be such a host too (a foreign page's `fetch`
//!   or form post carries the page's origin);
//! - a POST or PUT with a body must say `application/json` (what a foreign page cannot send
//!   without a CORS preflight, which the fake never grants); the dashboard's own upload, a
//!   multipart form, is the one exception, guarded by the origin check.
//!
//! A token opens the control plane to any host: with `--control-token`, a request carrying it
//! passes, one without it is refused.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::support::ApiError;
use super::AppState;

/// The host part of `host[:port]` or `[v6]:port`, without brackets.
pub(crate) fn host_without_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

fn allowed(state: &AppState, authority: &str) -> bool {
    let host = host_without_port(authority.trim());
    state
        .control_hosts
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(host))
}

fn token_given(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-u21-mock-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        })
}

/// The middleware in front of every control and dashboard route.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(expected) = state.settings().config().control.token.as_deref() {
        return match token_given(request.headers()) {
            Some(given) if crate::s3::sign::same(given, expected) => next.run(request).await,
            _ => ApiError::unauthorized()
                .saying("the control API needs its token")
                .into_response(),
        };
    }
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default();
    if !allowed(&state, host) {
        return ApiError::forbidden()
            .saying(format!(
                "the control API answers only its own host names (Host was '{}'); allow this one with --allow-host, or set --control-token",
                host.chars().filter(|c| !c.is_control()).take(100).collect::<String>()
            ))
            .into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let same_origin = origin
            .split_once("://")
            .is_some_and(|(_, authority)| allowed(&state, authority));
        if !same_origin {
            return ApiError::forbidden()
                .saying("cross-origin calls to the control API are refused; call it from its own pages, a script, or with --control-token")
                .into_response();
        }
    }
    let writes = matches!(*request.method(), Method::POST | Method::PUT);
    if writes {
        let content_type = super::support::media_type(headers);
        let declared = super::support::declared_length(headers);
        let has_body = declared.map_or(headers.contains_key(header::TRANSFER_ENCODING), |n| n > 0);
        let upload = request.uri().path() == "/_mock/dashboard/upload";
        let acceptable = match content_type.as_deref() {
            Some("application/json") => true,
            Some("multipart/form-data") => upload,
            Some(_) => false,
            None => !has_body,
        };
        if !acceptable {
            return ApiError::unsupported_media_type(
                "control calls send their body as Content-Type: application/json",
            )
            .into_response();
        }
    }
    next.run(request).await
}
