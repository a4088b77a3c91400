//! Reading and checking JSON request bodies, with Unit21's 1 MB limit and messages that name
//! the field at fault.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use serde_json::{Map, Value};

use super::error::ApiError;

/// Unit21 asks for POST bodies under 1 MB; the fake accepts up to 1 MiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How much of a request the fake reads before sending a refusal; past it, the connection
/// simply closes after the answer.
pub(crate) const REFUSAL_DRAIN_BYTES: usize = 8 * 1024 * 1024;
/// How long that drain waits for a chunk before it gives up and answers.
const REFUSAL_DRAIN_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads and drops what is left of a request body (up to [`REFUSAL_DRAIN_BYTES`]) before a
/// refusal goes out, as S3 and other servers do: a client still sending would otherwise see
/// a reset instead of the answer, take it for a network error, and retry.
pub(crate) async fn drain_before_refusing(stream: &mut axum::body::BodyDataStream) {
    use futures_util::StreamExt;
    let mut seen = 0;
    while seen <= REFUSAL_DRAIN_BYTES {
        // A client that stopped sending is not waited for: the refusal goes out.
        match tokio::time::timeout(REFUSAL_DRAIN_IDLE, stream.next()).await {
            Ok(Some(Ok(chunk))) => seen += chunk.len(),
            _ => return,
        }
    }
}

/// A request's JSON object.
pub(crate) type Fields = Map<String, Value>;

/// Reads the body as a JSON object. `empty_is_object` lets a route take no body at all.
pub(crate) async fn read_object(
    headers: &HeaderMap,
    body: Body,
    empty_is_object: bool,
) -> Result<Fields, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|err| {
            let too_large = std::error::Error::source(&err)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::PayloadTooLarge
            } else {
                ApiError::bad_request("The request body could not be read")
            }
        })?;
    if bytes.is_empty() && empty_is_object {
        return Ok(Fields::new());
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::bad_request(
            "Content-Type must be application/json",
        ));
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
