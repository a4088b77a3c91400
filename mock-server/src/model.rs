//! The import record and its wire shape, in the protocol's own words.

use std::sync::Arc;

use serde::Serialize;

/// The seven documented statuses of an imported file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum Status {
    /// Pre-signed form issued, object not landed yet.
    PENDING_UPLOAD,
    /// Uploaded by hand in the UI; processing not started.
    ADDED,
    /// Waiting to be picked up.
    QUEUED,
    /// Being processed.
    PROCESSING,
    /// Done; some records may still have failed.
    FINISHED,
    /// Hard failure; see `failure_code`.
    FAILED,
    /// Removed.
    DELETED,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 7] = [
        Status::PENDING_UPLOAD,
        Status::ADDED,
        Status::QUEUED,
        Status::PROCESSING,
        Status::FINISHED,
        Status::FAILED,
        Status::DELETED,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::PENDING_UPLOAD => "PENDING_UPLOAD",
            Status::ADDED => "ADDED",
            Status::QUEUED => "QUEUED",
            Status::PROCESSING => "PROCESSING",
            Status::FINISHED => "FINISHED",
            Status::FAILED => "FAILED",
            Status::DELETED => "DELETED",
        }
    }

    /// Parses a wire name; names are case-sensitive, as the documentation writes them.
    pub fn parse(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// True for statuses a file never leaves on its own.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::FINISHED | Status::FAILED | Status::DELETED)
    }

    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Why a file FAILED.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// Not really the format its name says, or an odd delimiter.
    UnparseableFile,
    /// Headers or values do not match the stream's configuration.
    InvalidSchema,
    /// The stream has no configuration.
    StreamNotConfigured,
    /// Anything else (akin to a 500).
    Unknown,
}

impl FailureCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::UnparseableFile => "unparseable_file",
            FailureCode::InvalidSchema => "invalid_schema",
            FailureCode::StreamNotConfigured => "stream_not_configured",
            FailureCode::Unknown => "unknown",
        }
    }
}

/// The format of a file, from its name's extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileType {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet (listed in the flat-file overview; only its framing is checked).
    Parquet,
    /// Any other extension, upper-cased; such files FAIL `unparseable_file`.
    Other(String),
}

impl FileType {
    /// Derives the type from a file name's extension, case-insensitively.
    pub fn from_file_name(name: &str) -> FileType {
        // The extension of the last path segment only: `../../etc/passwd` has none.
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let ext = base
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => FileType::Csv,
            "json" => FileType::Json,
            "jsonl" | "ndjson" => FileType::Jsonl,
            "parquet" => FileType::Parquet,
            // Capped, so a name cannot make `file_type` long.
            _ => FileType::Other(
                ext.chars()
                    .take(16)
                    .collect::<String>()
                    .to_ascii_uppercase(),
            ),
        }
    }

    /// The upper-case wire name (`CSV`, `JSON`, …).
    pub fn as_str(&self) -> &str {
        match self {
            FileType::Csv => "CSV",
            FileType::Json => "JSON",
            FileType::Jsonl => "JSONL",
            FileType::Parquet => "PARQUET",
            FileType::Other(ext) => ext,
        }
    }
}

/// One import as the store keeps it.
#[derive(Clone, Debug)]
pub struct FileRecord {
    /// Sequential numeric id, sent as a string of digits.
    pub id: u64,
    /// The owning organisation.
    pub org: Arc<str>,
    /// The stream it was created for.
    pub stream: Arc<str>,
    /// The name the client gave.
    pub file_name: String,
    /// Derived from `file_name`.
    pub file_type: FileType,
    /// The optional uniqueness UUID from the create call.
    pub md5_hash: Option<String>,
    /// Where the object is expected in the bucket.
    pub s3_key: String,
    /// When the create call was made (ms since the epoch, on the fake's clock).
    pub created_ms: i64,
    /// The current status.
    pub status: Status,
    /// When processing started.
    pub process_start_ms: Option<i64>,
    /// When processing ended.
    pub process_end_ms: Option<i64>,
    /// Records that succeeded.
    pub successful_count: u64,
    /// Records that failed.
    pub failure_count: u64,
    /// Why it FAILED.
    pub failure_code: Option<FailureCode>,
    /// Every status the file has had, oldest first, with when it was entered. Not part of
    /// Unit21's API: the dashboard shows it.
    pub history: Vec<StatusChange>,
}

/// A status a file entered, and when (ms since the epoch, on the fake's clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StatusChange {
    /// The status entered.
    pub status: Status,
    /// When.
    pub at_ms: i64,
}

/// The JSON shape of `GET /v1/imports/{file_id}` and of each `datafiles` item.
#[derive(Debug, Serialize)]
pub struct Datafile<'a> {
    /// A string of digits on the wire, written without an intermediate `String`.
    #[serde(serialize_with = "digits")]
    file_id: u64,
    file_name: &'a str,
    file_type: Option<&'a str>,
    date_created: i64,
    process_start_time: Option<i64>,
    process_end_time: Option<i64>,
    successful_count: Option<u64>,
    failure_count: Option<u64>,
    status: Status,
    failure_code: Option<FailureCode>,
}

impl<'a> From<&'a FileRecord> for Datafile<'a> {
    fn from(r: &'a FileRecord) -> Self {
        // Unit21 reports whole epoch seconds.
        let secs = |ms: i64| ms.div_euclid(1000);
        Datafile {
            file_id: r.id,
            file_name: &r.file_name,
            file_type: Some(r.file_type.as_str()),
            date_created: secs(r.created_ms),
            process_start_time: r.process_start_ms.map(secs),
            process_end_time: r.process_end_ms.map(secs),
            successful_count: Some(r.successful_count),
            failure_count: Some(r.failure_count),
            status: r.status,
            failure_code: r.failure_code,
        }
    }
}

impl<'a> Datafile<'a> {
    /// The shape as the fidelity switches decide it: `file_type` of an extension Unit21 does
    /// not take, and the counts before processing ends, may be `null`.
    pub fn shaped(r: &'a FileRecord, fidelity: &crate::config::Fidelity) -> Self {
        let mut datafile = Datafile::from(r);
        if fidelity.unknown_file_type_null && matches!(r.file_type, FileType::Other(_)) {
            datafile.file_type = None;
        }
        if fidelity.counts_null_until_processed && r.process_end_ms.is_none() {
            datafile.successful_count = None;
            datafile.failure_count = None;
        }
        datafile
    }
}

fn digits<S: serde::Serializer>(id: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_types_follow_the_extension() {
        assert_eq!(FileType::from_file_name("a.CSV"), FileType::Csv);
        assert_eq!(FileType::from_file_name("a.b.jsonl").as_str(), "JSONL");
        assert_eq!(FileType::from_file_name("x.txt").as_str(), "TXT");
        assert_eq!(FileType::from_file_name("noext").as_str(), "");
        // Only the last path segment has an extension.
        assert_eq!(FileType::from_file_name("../../etc/passwd").as_str(), "");
        assert_eq!(FileType::from_file_name("dir.v2/rows").as_str(), "");
        assert_eq!(FileType::from_file_name("a\\b.d\\rows.csv"), FileType::Csv);
        assert_eq!(
            FileType::from_file_name(&format!("a.{}", "x".repeat(100))).as_str(),
            "XXXXXXXXXXXXXXXX"
        );
    }

    #[test]
    fn status_names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(Status::parse("finished"), None);
        assert_eq!(
            serde_json::to_value(FailureCode::InvalidSchema).unwrap(),
            "invalid_schema"
        );
    }
}
