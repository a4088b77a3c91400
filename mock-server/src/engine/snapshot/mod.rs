//! The whole state as one portable JSON document: exported and imported over `/_mock/state`
//! (objects inline, base64), streamed both ways (`export`, `import`), and the `state.json` an
//! earlier version kept in `--data-dir` (objects by file name), which is migrated into the
//! database once.

mod export;
mod import;

pub(super) use export::write_document;
pub(super) use import::{read_document, Refusal};

use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::store::{Flight, StoreContents, StoredObject};
use crate::config::{StreamConfig, Timing};
use crate::lifecycle::Plan;
use crate::model::{FailureCode, FileRecord, FileType, Status, StatusChange};
use crate::processing::Outcome;

const VERSION: u32 = 1;

/// Everything the fake holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Snapshot {
    version: u32,
    clock: ClockSnapshot,
    timing: Timing,
    streams: Vec<StreamConfig>,
    next_id: u64,
    files: Vec<FileSnapshot>,
    objects: Vec<ObjectSnapshot>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockSnapshot {
    frozen_at_ms: Option<i64>,
    offset_ms: i64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSnapshot {
    id: u64,
    org: String,
    stream_name: String,
    file_name: String,
    md5_hash: Option<String>,
    key: String,
    created_ms: i64,
    status: Status,
    process_start_ms: Option<i64>,
    process_end_ms: Option<i64>,
    successful_count: u64,
    failure_count: u64,
    failure_code: Option<FailureCode>,
    plan: Option<Plan>,
    /// A file in flight that was read: how it ends when its plan says it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
    /// Absent in snapshots from before status histories were kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    history: Vec<StatusChange>,
}

/// An object: in an export its bytes travel inline; on disk it names its file in `objects/`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectSnapshot {
    key: String,
    size: u64,
    etag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_base64: Option<String>,
}

/// What a snapshot is made of, taken from the engine's locks in one go.
pub(super) struct Parts {
    pub contents: StoreContents,
    /// `(frozen_at_ms, offset_ms)`, as [`Clock::parts`](crate::Clock::parts) gives them.
    pub clock: (Option<i64>, i64),
    pub timing: Timing,
    pub streams: Vec<StreamConfig>,
}

impl Snapshot {
    /// The parts to restore; inline objects are written to `objects_dir` under generated names.
    /// Blocking: run it off the runtime's threads.
    pub(super) fn into_parts(self, objects_dir: &Path) -> Result<Parts, String> {
        if self.version != VERSION {
            return Err(format!(
                "snapshot version {} is not {VERSION}",
                self.version
            ));
        }
        let mut objects = Vec::with_capacity(self.objects.len());
        for object in self.objects {
            let path = match (object.content_base64, object.file) {
                (Some(b64), _) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|_| format!("object '{}' is not valid base64", object.key))?;
                    let path = objects_dir.join(uuid::Uuid::new_v4().simple().to_string());
                    std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
                    path
                }
                (None, Some(file)) if super::store::is_generated_name(&file) => {
                    objects_dir.join(file)
                }
                _ => {
                    return Err(format!(
                        "object '{}' has neither content_base64 nor a file",
                        object.key
                    ))
                }
            };
            objects.push((
                object.key,
                StoredObject {
                    path,
                    size: object.size,
                    etag: object.etag,
                },
            ));
        }
        Ok(Parts {
            contents: StoreContents {
                next_id: self.next_id,
                files: self
                    .files
                    .into_iter()
                    .map(FileSnapshot::into_record)
                    .collect(),
                objects,
            },
            clock: (self.clock.frozen_at_ms, self.clock.offset_ms),
            timing: self.timing,
            streams: self.streams,
        })
    }
}

impl FileSnapshot {
    fn from_record(f: FileRecord, flight: Flight) -> Self {
        FileSnapshot {
            id: f.id,
            org: f.org.to_string(),
            stream_name: f.stream.to_string(),
            file_name: f.file_name,
            md5_hash: f.md5_hash,
            key: f.s3_key,
            created_ms: f.created_ms,
            status: f.status,
            process_start_ms: f.process_start_ms,
            process_end_ms: f.process_end_ms,
            successful_count: f.successful_count,
            failure_count: f.failure_count,
            failure_code: f.failure_code,
            plan: flight.plan,
            outcome: flight.outcome,
            history: f.history,
        }
    }

    fn into_record(self) -> (FileRecord, Flight) {
        let record = FileRecord {
            id: self.id,
            org: self.org.into(),
            stream: self.stream_name.into(),
            file_type: FileType::from_file_name(&self.file_name),
            file_name: self.file_name,
            md5_hash: self.md5_hash,
            s3_key: self.key,
            created_ms: self.created_ms,
            status: self.status,
            process_start_ms: self.process_start_ms,
            process_end_ms: self.process_end_ms,
            successful_count: self.successful_count,
            failure_count: self.failure_count,
            failure_code: self.failure_code,
            // Without a history, the current status is all that is known, as of its last
            // known time.
            history: if self.history.is_empty() {
                vec![StatusChange {
                    status: self.status,
                    at_ms: self
                        .process_end_ms
                        .or(self.process_start_ms)
                        .unwrap_or(self.created_ms),
                }]
            } else {
                self.history
            },
        };
        let flight = Flight {
            plan: self.plan,
            outcome: self.outcome,
        };
        (record, flight)
    }
}
