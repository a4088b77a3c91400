//! The three Unit21 endpoints.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, request::Parts, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::body::{
    optional_integer, optional_string, optional_string_list, read_object, required_string,
};
use super::support::{public_url, put_rate_headers, ApiError};
use crate::config::{Fidelity, OffsetUnit, Permission};
use crate::engine::access::{Caller, Route};
use crate::engine::{Access, Files, ListQuery, Lookup, Settings};
use crate::model::{Datafile, Status};
use crate::s3::presign;

/// "Limited to 1000 records."
const MAX_LIMIT: i64 = 1000;

/// `POST /v1/imports/pre-signed-url/create`
pub(crate) async fn create(
    State(access): State<Arc<Access>>,
    State(files): State<Arc<Files>>,
    State(settings): State<Arc<Settings>>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let caller = match authorize(&access, &parts, Route::Create, Permission::ImportsWrite) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    let token = parts.extensions.get::<crate::s3::SecurityToken>();
    let result = create_inner(&files, &settings, &caller, &parts.headers, token, body).await;
    respond(&caller, result)
}

/// Checks the caller's key, rate limit and permission, reading the headers in place.
fn authorize(
    access: &Access,
    parts: &Parts,
    route: Route,
    permission: Permission,
) -> Result<Caller, ApiError> {
    let key = parts.headers.get("u21-key").and_then(|v| v.to_str().ok());
    Ok(access.authorize(key, route, permission)?)
}

/// The handler's answer, success or error, with the caller's rate-limit headers.
fn respond(caller: &Caller, result: Result<Response, ApiError>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    if let Some(rate) = caller.rate {
        put_rate_headers(response.headers_mut(), rate);
    }
    response
}

/// A JSON answer serialised from borrowed data (after any lock is released).
fn json_answer(value: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(value).expect("strings and integers always serialise");
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

#[derive(Serialize)]
struct CreateResponse {
    file_id: String,
    form_fields: presign::FormFields,
    url: String,
}

async fn create_inner(
    files: &Files,
    settings: &Settings,
    caller: &Caller,
    headers: &HeaderMap,
    security_token: Option<&crate::s3::SecurityToken>,
    body: Body,
) -> Result<Response, ApiError> {
    let fidelity = &settings.config().fidelity;
    let fields = read_object(headers, body, false, fidelity.non_json_body_status).await?;
    known_fields(&fields, &["stream_name", "file_name", "md5_hash"], fidelity)?;
    let stream_name = required_string(&fields, "stream_name")?;
    let file_name = required_string(&fields, "file_name")?;
    files
        .check_names(&caller.org, &stream_name, &file_name)
        .map_err(ApiError::bad_request)?;
    let md5_hash = optional_string(&fields, "md5_hash")?;
    if let Some(hash) = &md5_hash {
        if fidelity.md5_hash_must_be_uuid && uuid::Uuid::try_parse(hash).is_err() {
            return Err(ApiError::bad_request("Field 'md5_hash' must be a UUID"));
        }
    }
    if fidelity.reject_unknown_streams_at_create
        && !files.stream_is_configured(&caller.org, &stream_name)
    {
        return Err(ApiError::bad_request(format!(
            "Stream '{stream_name}' is not configured"
        )));
    }
    let record = files
        .create(&caller.org, &stream_name, &file_name, md5_hash)
        .await?;
    let config = settings.config();
    let response = CreateResponse {
        file_id: record.id.to_string(),
        form_fields: presign::form_fields(
            &config.s3,
            &config.bucket,
            &record.s3_key,
            record.created_ms,
            security_token.map(|token| token.0.as_str()),
        ),
        url: format!("{}/{}/", public_url(settings, headers), config.bucket),
    };
    Ok(json_answer(&response))
}

/// `GET /v1/imports/{file_id}`
pub(crate) async fn get(
    State(access): State<Arc<Access>>,
    State(files): State<Arc<Files>>,
    State(settings): State<Arc<Settings>>,
    file_id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    parts: Parts,
) -> Response {
    let caller = match authorize(&access, &parts, Route::Get, Permission::ImportsRead) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    // A segment that does not even decode (`%ff`) is as malformed as any other non-id.
    let file_id = file_id.map(|Path(id)| id).unwrap_or_default();
    let result = get_inner(&files, &settings.config().fidelity, &caller, &file_id);
    respond(&caller, result)
}

fn get_inner(
    files: &Files,
    fidelity: &Fidelity,
    caller: &Caller,
    file_id: &str,
) -> Result<Response, ApiError> {
    let is_digits = !file_id.is_empty() && file_id.bytes().all(|b| b.is_ascii_digit());
    let Some(id) = file_id.parse::<u64>().ok().filter(|_| is_digits) else {
        return Err(if fidelity.malformed_id_bad_request {
            ApiError::bad_request("file_id must be a string of digits")
        } else {
            ApiError::not_found()
        });
    };
    match files.file_for(&caller.org, id) {
        Lookup::Found(record) => Ok(json_answer(&Datafile::shaped(&record, fidelity))),
        Lookup::Elsewhere if fidelity.foreign_file_forbidden => Err(ApiError::forbidden()),
        Lookup::Elsewhere | Lookup::Missing => Err(ApiError::not_found()),
    }
}

/// `POST /v1/imports/list`
pub(crate) async fn list(
    State(access): State<Arc<Access>>,
    State(files): State<Arc<Files>>,
    State(settings): State<Arc<Settings>>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let caller = match authorize(&access, &parts, Route::List, Permission::ImportsRead) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    let fidelity = &settings.config().fidelity;
    let result = list_inner(&files, fidelity, &caller, &parts.headers, body).await;
    respond(&caller, result)
}

#[derive(Serialize)]
struct ListResponse<'a> {
    datafiles: Vec<Datafile<'a>>,
    response_count: usize,
    total_count: u64,
}

async fn list_inner(
    files: &Files,
    fidelity: &Fidelity,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let empty_is_object = !fidelity.empty_list_body_refused;
    let fields = read_object(
        headers,
        body,
        empty_is_object,
        fidelity.non_json_body_status,
    )
    .await?;
    known_fields(&fields, LIST_FIELDS, fidelity)?;
    let query = list_query(&fields, fidelity)?;
    if fidelity.unknown_stream_filter_refused {
        if let Some(stream) = query
            .stream_names
            .iter()
            .find(|stream| !files.stream_is_configured(&caller.org, stream))
        {
            return Err(ApiError::bad_request(format!(
                "Stream '{stream}' in 'stream_names' is not configured"
            )));
        }
    }
    // By switch, an empty filter list matches nothing rather than being no filter.
    let empty_filter = ["statuses", "stream_names"].iter().any(|name| {
        fields
            .get(*name)
            .and_then(|v| v.as_array())
            .is_some_and(Vec::is_empty)
    });
    let (page, total_count) = if fidelity.empty_filter_matches_nothing && empty_filter {
        (Vec::new(), 0)
    } else {
        files.list(&caller.org, &query)
    };
    // Serialised from the shared records, after the store's lock is released.
    let datafiles: Vec<Datafile> = page.iter().map(|r| Datafile::shaped(r, fidelity)).collect();
    Ok(json_answer(&ListResponse {
        response_count: datafiles.len(),
        datafiles,
        total_count,
    }))
}

/// The fields `POST /v1/imports/list` takes.
const LIST_FIELDS: &[&str] = &[
    "statuses",
    "stream_names",
    "created_after",
    "created_before",
    "offset",
    "limit",
];

/// A field the route does not take: ignored, or by switch a 400 naming it.
fn known_fields(
    fields: &super::body::Fields,
    known: &[&str],
    fidelity: &Fidelity,
) -> Result<(), ApiError> {
    match fields.keys().find(|name| !known.contains(&name.as_str())) {
        Some(name) if fidelity.reject_unknown_fields => {
            Err(ApiError::bad_request(format!("Unknown field: {name}")))
        }
        _ => Ok(()),
    }
}

/// Unit21's list request in the store's plain terms: the fidelity switches decide whether the
/// bounds include their second, what `offset` counts and the order.
fn list_query(fields: &super::body::Fields, fidelity: &Fidelity) -> Result<ListQuery, ApiError> {
    let request = parse_list_query(fields, fidelity.list_offset)?;
    let start = match request.created_after {
        Some(s) if fidelity.created_after_inclusive => s.saturating_mul(1000),
        Some(s) => s.saturating_add(1).saturating_mul(1000),
        None => i64::MIN,
    };
    let end = match request.created_before {
        Some(s) if fidelity.created_before_inclusive => s.saturating_add(1).saturating_mul(1000),
        Some(s) => s.saturating_mul(1000),
        None => i64::MAX,
    };
    let skip = match fidelity.list_offset {
        OffsetUnit::Page => request
            .offset
            .saturating_sub(1)
            .saturating_mul(request.limit),
        OffsetUnit::Record => request.offset,
    };
    Ok(ListQuery {
        created_ms: start..end,
        statuses: request.statuses,
        stream_names: request.stream_names,
        skip,
        limit: request.limit,
        newest_first: fidelity.list_newest_first,
    })
}

/// A list request's fields, validated.
struct ListRequest {
    created_after: Option<i64>,
    created_before: Option<i64>,
    statuses: Vec<Status>,
    stream_names: Vec<String>,
    offset: u64,
    limit: u64,
}

fn parse_list_query(
    fields: &super::body::Fields,
    unit: OffsetUnit,
) -> Result<ListRequest, ApiError> {
    let timestamp = "a UNIX timestamp in whole seconds";
    let created_after = optional_integer(fields, "created_after", timestamp)?;
    let created_before = optional_integer(fields, "created_before", timestamp)?;
    let statuses = optional_string_list(fields, "statuses")?
        .unwrap_or_default()
        .iter()
        .map(|name| {
            Status::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::bad_request(format!(
                    "Unknown status '{name}' in 'statuses'; expected one of {}",
                    known.join(", ")
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
    Ok(ListRequest {
        created_after,
        created_before,
        statuses,
        stream_names,
        offset: offset as u64,
        limit: limit as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(body: serde_json::Value, fidelity: &Fidelity) -> ListQuery {
        let serde_json::Value::Object(fields) = body else {
            panic!("an object")
        };
        list_query(&fields, fidelity).unwrap()
    }

    #[test]
    fn pages_count_from_one_and_records_from_zero() {
        let by_page = query(
            serde_json::json!({"offset": 2, "limit": 3}),
            &Fidelity::default(),
        );
        assert_eq!(
            (by_page.skip, by_page.limit, by_page.newest_first),
            (3, 3, true)
        );
        let by_record = Fidelity {
            list_offset: OffsetUnit::Record,
            list_newest_first: false,
            ..Fidelity::default()
        };
        let q = query(serde_json::json!({"offset": 2, "limit": 3}), &by_record);
        assert_eq!((q.skip, q.newest_first), (2, false));
    }

    #[test]
    fn bounds_are_after_inclusive_and_before_exclusive_unless_switched() {
        let body = serde_json::json!({"created_after": 2, "created_before": 5});
        assert_eq!(
            query(body.clone(), &Fidelity::default()).created_ms,
            2000..5000
        );
        let flipped = Fidelity {
            created_after_inclusive: false,
            created_before_inclusive: true,
            ..Fidelity::default()
        };
        assert_eq!(query(body, &flipped).created_ms, 3000..6000);
        assert_eq!(
            query(serde_json::json!({}), &Fidelity::default()).created_ms,
            i64::MIN..i64::MAX
        );
    }
}
