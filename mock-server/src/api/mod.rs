//! Unit21's JSON API: `/v1/imports/...`.

pub(crate) mod access;
pub(crate) mod body;
pub(crate) mod error;
mod imports;

use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;

use crate::state::AppState;

/// The Unit21 routes. A wrong method on a known path is 405; unknown paths fall through to the
/// app's JSON 404.
pub(crate) fn routes() -> Router<AppState> {
    let wrong_method = || async { ApiError::MethodNotAllowed };
    Router::new()
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
}
