//! Reading and checking JSON request bodies, with Unit21's 1 MB limit and messages that name
//! the field at fault.

use axum::body::Body;
use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::support::{read_bounded, ApiError, BodyError};

/// Unit21 asks for POST bodies under 1 MB; the fake accepts up to 1 MiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A request's JSON object.
pub(crate) type Fields = Map<String, Value>;

/// Reads the body as a JSON object. `empty_is_object` lets a route take no body at all.
pub(crate) async fn read_object(
    headers: &HeaderMap,
    body: Body,
    empty_is_object: bool,
    not_json_status: u16,
) -> Result<Fields, ApiError> {
    let bytes = read_bounded(headers, body, MAX_BODY_BYTES)
        .await
        .map_err(|err| match err {
            BodyError::TooLarge => ApiError::payload_too_large(),
            BodyError::Unreadable => ApiError::bad_request("The request body could not be read"),
        })?;
    if bytes.is_empty() && empty_is_object {
        return Ok(Fields::new());
    }
    if !super::support::is_json(headers) {
        const NOT_JSON: &str = "Content-Type must be application/json";
        return Err(match not_json_status {
            415 => ApiError::unsupported_media_type(NOT_JSON),
            _ => ApiError::bad_request(NOT_JSON),
        });
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(ApiError::bad_request(
            "The request body must be a JSON object",
        )),
        Err(err) => Err(ApiError::bad_request(format!("Malformed JSON: {err}"))),
    }
}

/// A required, non-empty string field.
pub(crate) fn required_string(fields: &Fields, name: &str) -> Result<String, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Err(ApiError::bad_request(format!(
            "Missing required field: {name}"
        ))),
        Some(Value::String(s)) if s.trim().is_empty() => Err(ApiError::bad_request(format!(
            "Field '{name}' must not be empty"
        ))),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::bad_request(format!(
            "Field '{name}' must be a string"
        ))),
    }
}

/// An optional string field; `null` counts as absent.
pub(crate) fn optional_string(fields: &Fields, name: &str) -> Result<Option<String>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!(
            "Field '{name}' must be a string"
        ))),
    }
}

/// An optional whole-number field; `null` counts as absent.
pub(crate) fn optional_integer(
    fields: &Fields,
    name: &str,
    what: &str,
) -> Result<Option<i64>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(_) => Err(ApiError::bad_request(format!(
            "Field '{name}' must be {what}"
        ))),
    }
}

/// An optional list of strings; `null` counts as absent.
pub(crate) fn optional_string_list(
    fields: &Fields,
    name: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    let wrong = || ApiError::bad_request(format!("Field '{name}' must be a list of strings"));
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong()),
    }
}
