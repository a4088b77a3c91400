//! Reads an uploaded object the way Unit21's ingestion would and decides how it ends:
//! FINISHED with record counts, or FAILED with a failure code.
//!
//! Every reader streams from disk with a fixed-size buffer, so memory does not grow with the
//! file (Parquet: with its largest row group). A record is a CSV row, a JSON array item, a JSONL
//! line or a Parquet row.

mod csv_file;
mod json_file;
mod parquet_budget;
mod parquet_file;
mod schema;

use std::fs::File;
use std::io::BufReader;
#[cfg(test)]
use std::path::Path;

use crate::config::StreamConfig;
use crate::model::{FailureCode, FileType};

pub(crate) use schema::Schema;

const READ_BUFFER: usize = 256 * 1024;
/// Files this large are parsed and checked on two threads (see `csv_file`).
const TWO_THREADS_FROM: u64 = 16 * 1024 * 1024;

/// How a processed file ends. Stored with a file still in flight (see `--data-dir`), as
/// `{"finished": {"successful": …, "failed": …}}` or `{"failed": "<failure code>"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Processing completed; some records may have failed.
    Finished {
        /// Records accepted.
        successful: u64,
        /// Records rejected.
        failed: u64,
    },
    /// Processing stopped with a hard failure.
    Failed(FailureCode),
}

/// What the stream a file was sent to expects.
#[derive(Clone, Debug)]
pub enum StreamCheck {
    /// Streams are configured, but not this one.
    NotConfigured,
    /// Any well-formed record is accepted.
    Any,
    /// Records must follow this schema.
    Schema(Schema),
}

impl StreamCheck {
    pub(crate) fn from_config(found: Result<Option<&StreamConfig>, ()>) -> StreamCheck {
        match found {
            Err(()) => StreamCheck::NotConfigured,
            Ok(None) => StreamCheck::Any,
            Ok(Some(stream)) => Schema::from_config(stream)
                .map(StreamCheck::Schema)
                .unwrap_or(StreamCheck::Any),
        }
    }
}

/// Processes the object at `path` as a file of `file_type` for a stream expecting `check`.
#[cfg(test)]
pub fn process(path: &Path, file_type: &FileType, check: &StreamCheck) -> Outcome {
    process_file(File::open(path), file_type, check)
}

/// Processes an object opened when its file was queued (an open file outlives a second upload
/// replacing the object) as a file of `file_type` for a stream expecting `check`.
pub fn process_file(
    file: std::io::Result<File>,
    file_type: &FileType,
    check: &StreamCheck,
) -> Outcome {
    let schema = match check {
        StreamCheck::NotConfigured => return Outcome::Failed(FailureCode::StreamNotConfigured),
        StreamCheck::Any => None,
        StreamCheck::Schema(schema) => Some(schema),
    };
    let file = match file {
        Ok(file) => file,
        Err(err) => {
            tracing::error!(%err, "cannot open stored object");
            return Outcome::Failed(FailureCode::Unknown);
        }
    };
    let result = match file_type {
        // The csv reader buffers on its own; a BufReader under it would only copy.
        FileType::Csv => {
            let large = file.metadata().is_ok_and(|m| m.len() >= TWO_THREADS_FROM);
            csv_file::process(file, schema, large)
        }
        FileType::Json => {
            json_file::process_array(BufReader::with_capacity(READ_BUFFER, file), schema)
        }
        FileType::Jsonl => {
            json_file::process_lines(BufReader::with_capacity(READ_BUFFER, file), schema)
        }
        FileType::Parquet => parquet_file::process(file, schema),
        FileType::Other(_) => Err(FailureCode::UnparseableFile),
    };
    match result {
        Ok((successful, failed)) => Outcome::Finished { successful, failed },
        Err(code) => Outcome::Failed(code),
    }
}

/// Counts returned by a reader: (successful, failed).
type Counts = Result<(u64, u64), FailureCode>;

#[cfg(test)]
mod tests;
