//! The three Unit21 endpoints.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::access::{Caller, Route};
use super::body::{
    optional_integer, optional_string, optional_string_list, read_object, required_string,
};
use super::error::ApiError;
use crate::config::{OffsetUnit, Permission};
use crate::model::{Datafile, Status};
use crate::s3::presign;
use crate::state::AppState;
use crate::store::{CreateError, ListQuery};

/// S3 keys are at most 1024 bytes of UTF-8.
const MAX_S3_KEY_BYTES: usize = 1024;
/// Stream names are labels set up in Unit21's UI; the fake keeps them short (every file and
/// journal entry carries one).
const MAX_STREAM_NAME_BYTES: usize = 256;
/// "Limited to 1000 records."
const MAX_LIMIT: i64 = 1000;

/// `POST /v1/imports/pre-signed-url/create`
pub(crate) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = match state.authorize(&headers, Route::Create, Permission::ImportsWrite) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    let result = create_inner(&state, &caller, &headers, body).await;
    caller.respond(result)
}

#[derive(Serialize)]
struct CreateResponse {
    file_id: String,
    form_fields: presign::FormFields,
    url: String,
}

async fn create_inner(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let fields = read_object(headers, body, false).await?;
    let stream_name = required_string(&fields, "stream_name")?;
    let file_name = required_string(&fields, "file_name")?;
    if file_name.chars().any(char::is_control) || stream_name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "Fields 'stream_name' and 'file_name' must not contain control characters",
        ));
    }
    if stream_name.len() > MAX_STREAM_NAME_BYTES {
        return Err(ApiError::bad_request(format!(
            "Field 'stream_name' must be at most {MAX_STREAM_NAME_BYTES} bytes"
        )));
    }
    let md5_hash = optional_string(&fields, "md5_hash")?;
    if let Some(hash) = &md5_hash {
        if uuid::Uuid::try_parse(hash).is_err() {
            return Err(ApiError::bad_request("Field 'md5_hash' must be a UUID"));
        }
    }
    let now_ms = state.clock.now_millis();
    let environment = &state.config.environment;
    let key_for = |org: &str, ms: i64| format!("{environment}/org_{org}/{ms}_{file_name}");
    if key_for(&caller.org, now_ms).len() > MAX_S3_KEY_BYTES {
        return Err(ApiError::bad_request("Field 'file_name' is too long"));
    }
    let record = state
        .store
        .lock()
        .create(
            &caller.org,
            &stream_name,
            &file_name,
            md5_hash,
            key_for,
            now_ms,
            &state.config.fidelity,
        )
        .map_err(|CreateError::Conflict| {
            ApiError::Conflict(format!(
                "A file named '{file_name}' already exists in stream '{stream_name}'; send a new md5_hash (a UUID) to upload it again, or use another file name"
            ))
        })?;
    state.persist().await;
    let response = CreateResponse {
        file_id: record.id.to_string(),
        form_fields: presign::form_fields(state, &record.s3_key, now_ms),
        url: format!("{}/{}/", state.public_url, state.config.bucket),
    };
    Ok(Json(response).into_response())
}

/// `GET /v1/imports/{file_id}`
pub(crate) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    file_id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let caller = match state.authorize(&headers, Route::Get, Permission::ImportsRead) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    // A segment that does not even decode (`%ff`) is as malformed as any other non-id.
    let file_id = file_id.map(|Path(id)| id).unwrap_or_default();
    let result = get_inner(&state, &caller, &file_id).await;
    caller.respond(result)
}

async fn get_inner(state: &AppState, caller: &Caller, file_id: &str) -> Result<Response, ApiError> {
    let fidelity = &state.config.fidelity;
    let is_digits = !file_id.is_empty() && file_id.bytes().all(|b| b.is_ascii_digit());
    let Some(id) = file_id.parse::<u64>().ok().filter(|_| is_digits) else {
        return Err(if fidelity.malformed_id_bad_request {
            ApiError::bad_request("file_id must be a string of digits")
        } else {
            ApiError::NotFound
        });
    };
    state.settle().await;
    let store = state.store.lock();
    match store.get(&caller.org, id) {
        Some(record) => Ok(Json(Datafile::from(record)).into_response()),
        None if fidelity.foreign_file_forbidden && store.exists_elsewhere(&caller.org, id) => {
            Err(ApiError::Forbidden)
        }
        None => Err(ApiError::NotFound),
    }
}

/// `POST /v1/imports/list`
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = match state.authorize(&headers, Route::List, Permission::ImportsRead) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    let result = list_inner(&state, &caller, &headers, body).await;
    caller.respond(result)
}

#[derive(Serialize)]
struct ListResponse<'a> {
    datafiles: Vec<Datafile<'a>>,
    response_count: usize,
    total_count: u64,
}

async fn list_inner(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let fields = read_object(headers, body, true).await?;
    let query = parse_list_query(&fields, state.config.fidelity.list_offset)?;
    state.settle().await;
    // Serialised straight from the store's records: no copies, and a short lock.
    let bytes = {
        let store = state.store.lock();
        let (page, total_count) = store.list(&caller.org, &query, &state.config.fidelity);
        let datafiles: Vec<Datafile> = page.into_iter().map(Datafile::from).collect();
        let page = ListResponse {
            response_count: datafiles.len(),
            datafiles,
            total_count,
        };
        serde_json::to_vec(&page).expect("strings and integers always serialise")
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response())
}

fn parse_list_query(fields: &super::body::Fields, unit: OffsetUnit) -> Result<ListQuery, ApiError> {
    let timestamp = "a UNIX timestamp in whole seconds";
    let created_after = optional_integer(fields, "created_after", timestamp)?;
    let created_before = optional_integer(fields, "created_before", timestamp)?;
    let statuses = optional_string_list(fields, "statuses")?
        .unwrap_or_default()
        .iter()
        .map(|name| {
            Status::parse(name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Unknown status '{name}' in 'statuses'; expected one of PENDING_UPLOAD, ADDED, QUEUED, PROCESSING, FINISHED, FAILED, DELETED"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let stream_names = optional_string_list(fields, "stream_names")?.unwrap_or_default();
    let (first, offset_what) = match unit {
        OffsetUnit::Page => (1, "a page number of 1 or more"),
        OffsetUnit::Record => (0, "a record count of 0 or more"),
    };
    let offset = optional_integer(fields, "offset", offset_what)?.unwrap_or(first);
    if offset < first {
        return Err(ApiError::bad_request(format!(
            "Field 'offset' must be {offset_what}"
        )));
    }
    let limit_what = "a whole number from 1 to 1000";
    let limit = optional_integer(fields, "limit", limit_what)?.unwrap_or(MAX_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "Field 'limit' must be {limit_what}"
        )));
    }
    Ok(ListQuery {
        created_after,
        created_before,
        statuses,
        stream_names,
        offset: offset as u64,
        limit: limit as u64,
    })
}
