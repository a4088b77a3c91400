//! The API's types, in its own words.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A file's status. Unknown names are kept as [`Status::Other`] rather than failing, so a new
/// status on Unit21's side does not break a client built today.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// `PENDING_UPLOAD`: the form was issued, the object has not landed.
    PendingUpload,
    /// `ADDED`: uploaded by hand in Unit21's UI.
    Added,
    /// `QUEUED`: waiting to be processed.
    Queued,
    /// `PROCESSING`.
    Processing,
    /// `FINISHED`: done; some records may still have failed.
    Finished,
    /// `FAILED`: see the failure code.
    Failed,
    /// `DELETED`.
    Deleted,
    /// A status this client does not know.
    Other(String),
}

impl Status {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Status::PendingUpload => "PENDING_UPLOAD",
            Status::Added => "ADDED",
            Status::Queued => "QUEUED",
            Status::Processing => "PROCESSING",
            Status::Finished => "FINISHED",
            Status::Failed => "FAILED",
            Status::Deleted => "DELETED",
            Status::Other(name) => name,
        }
    }

    /// From a wire name (exactly as written, upper case).
    pub fn from_name(name: &str) -> Status {
        match name {
            "PENDING_UPLOAD" => Status::PendingUpload,
            "ADDED" => Status::Added,
            "QUEUED" => Status::Queued,
            "PROCESSING" => Status::Processing,
            "FINISHED" => Status::Finished,
            "FAILED" => Status::Failed,
            "DELETED" => Status::Deleted,
            other => Status::Other(other.to_owned()),
        }
    }

    /// FINISHED, FAILED and DELETED: a file does not leave them on its own.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Status::Finished | Status::Failed | Status::Deleted)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Status::from_name(&String::deserialize(d)?))
    }
}

/// A file as `GET /v1/imports/{file_id}` and the list describe it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Datafile {
    /// Digits as a string (an integer in Unit21's 2022 API: both are accepted).
    #[serde(deserialize_with = "string_or_number")]
    pub file_id: String,
    /// The name given at create.
    pub file_name: String,
    /// `CSV`, `JSON`, …
    pub file_type: Option<String>,
    /// Unix seconds of the create call.
    pub date_created: i64,
    /// Unix seconds, once processing started.
    pub process_start_time: Option<i64>,
    /// Unix seconds, once processing ended.
    pub process_end_time: Option<i64>,
    /// Records accepted (0 when absent, or `null` before processing ends).
    #[serde(default, deserialize_with = "null_as_zero")]
    pub successful_count: u64,
    /// Records rejected (0 when absent, or `null` before processing ends).
    #[serde(default, deserialize_with = "null_as_zero")]
    pub failure_count: u64,
    /// Where it is in the lifecycle.
    pub status: Status,
    /// Why it FAILED: `unparseable_file`, `invalid_schema`, `stream_not_configured`, `unknown`.
    pub failure_code: Option<String>,
}

/// One page of `POST /v1/imports/list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatafileList {
    /// The files of this page.
    pub datafiles: Vec<Datafile>,
    /// How many are on this page.
    pub response_count: u64,
    /// How many match in all.
    pub total_count: u64,
}

/// What the create call returns: where and how to upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresignedUpload {
    /// The new file's id.
    #[serde(deserialize_with = "string_or_number")]
    pub file_id: String,
    /// The form fields to post before the file, in order.
    #[serde(deserialize_with = "ordered_fields", serialize_with = "fields_as_map")]
    pub form_fields: Vec<(String, String)>,
    /// Where to post the form. Always use it: the host differs between environments.
    pub url: String,
}

impl PresignedUpload {
    /// The object key the form uploads to.
    pub fn key(&self) -> Option<&str> {
        self.form_fields
            .iter()
            .find(|(n, _)| n == "key")
            .map(|(_, v)| v.as_str())
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or a number, got {other}"
        ))),
    }
}

/// A count Unit21 may leave `null` until a file is processed (FIDELITY.md's decided point
/// `counts_null_until_processed`): read as 0, the count so far.
fn null_as_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or(0))
}

fn ordered_fields<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    let map = serde_json::Map::deserialize(d)?;
    map.into_iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(s) => Ok((name, s)),
            other => Err(serde::de::Error::custom(format!(
                "form field {name} is not a string: {other}"
            ))),
        })
        .collect()
}

fn fields_as_map<S: Serializer>(fields: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(fields.len()))?;
    for (name, value) in fields {
        map.serialize_entry(name, value)?;
    }
    map.end()
}

/// Filters and paging for [`Client::list`](crate::Client::list); every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ListRequest {
    /// Files created at or after this Unix second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_after: Option<i64>,
    /// Files created before this Unix second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_before: Option<i64>,
    /// Any of these statuses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<Status>,
    /// Any of these streams.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stream_names: Vec<String>,
    /// Which page (from 1) or, with record offsets, how many files to skip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Page size, 1 to 1000 (Unit21's default is 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl ListRequest {
    /// Every file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only files with this status (call again to add more).
    pub fn status(mut self, status: Status) -> Self {
        self.statuses.push(status);
        self
    }

    /// Only files in this stream (call again to add more).
    pub fn stream(mut self, stream: impl Into<String>) -> Self {
        self.stream_names.push(stream.into());
        self
    }

    /// Created at or after this Unix second.
    pub fn created_after(mut self, secs: i64) -> Self {
        self.created_after = Some(secs);
        self
    }

    /// Created before this Unix second.
    pub fn created_before(mut self, secs: i64) -> Self {
        self.created_before = Some(secs);
        self
    }

    /// The page (or record offset).
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// The page size.
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_may_be_numbers_and_unknown_statuses_survive() {
        let file: Datafile = serde_json::from_str(
            r#"{"file_id": 166, "file_name": "a.csv", "file_type": "CSV", "date_created": 1, "process_start_time": null,
                "process_end_time": null, "successful_count": 0, "failure_count": 0, "status": "ARCHIVED", "failure_code": null}"#,
        )
        .unwrap();
        assert_eq!(
            (file.file_id.as_str(), file.status),
            ("166", Status::Other("ARCHIVED".into()))
        );
        assert!(!Status::Queued.is_terminal() && Status::Failed.is_terminal());
    }

    #[test]
    fn null_counts_and_a_null_file_type_are_read_as_nothing_yet() {
        let file: Datafile = serde_json::from_str(
            r#"{"file_id": "7", "file_name": "a.txt", "file_type": null, "date_created": 1, "process_start_time": null,
                "process_end_time": null, "successful_count": null, "failure_count": null, "status": "PENDING_UPLOAD", "failure_code": null}"#,
        )
        .unwrap();
        assert_eq!((file.successful_count, file.failure_count), (0, 0));
        assert_eq!(file.file_type, None);
    }

    #[test]
    fn form_fields_keep_their_order() {
        let form: PresignedUpload = serde_json::from_str(
            r#"{"file_id": "1", "form_fields": {"key": "k", "AWSAccessKeyId": "a", "policy": "p", "signature": "s"}, "url": "u"}"#,
        )
        .unwrap();
        let names: Vec<&str> = form.form_fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["key", "AWSAccessKeyId", "policy", "signature"]);
        assert_eq!(form.key(), Some("k"));
    }

    #[test]
    fn list_requests_send_only_what_is_set() {
        let request = ListRequest::new()
            .status(Status::Finished)
            .stream("s")
            .limit(10);
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::json!({"statuses": ["FINISHED"], "stream_names": ["s"], "limit": 10})
        );
    }
}
