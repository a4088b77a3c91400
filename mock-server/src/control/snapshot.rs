//! The whole state as one document: exported and imported over `/_mock/state`, and written to
//! `--data-dir` after every acknowledged change, so a restart (or a crash) keeps it.
//!
//! On disk the document is `state.json`, replaced atomically (write a temporary file, sync it,
//! rename it over the old one, sync the directory). Objects live beside it in `objects/` under
//! generated names; uploads in progress live in `incoming/`, which start-up empties, so a
//! process killed mid-upload leaves neither a partial object nor a changed status.

use std::path::Path;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::{StreamConfig, Timing};
use crate::lifecycle::Plan;
use crate::model::{FailureCode, FileRecord, FileType, Status, StatusChange};
use crate::state::AppState;
use crate::store::{Store, StoredObject};

const VERSION: u32 = 1;
const STATE_FILE: &str = "state.json";

/// Everything the fake holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
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

/// Whether objects travel inline or by file name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Objects {
    Inline,
    ByFile,
}

impl AppState {
    async fn capture(&self, objects: Objects) -> std::io::Result<Snapshot> {
        let crate::store::StoreContents {
            next_id,
            files,
            objects: stored,
        } = self.store.lock().export();
        let (frozen_at_ms, offset_ms) = self.clock.parts();
        let mut object_snapshots = Vec::with_capacity(stored.len());
        for (key, object) in stored {
            let file = object
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            let content_base64 = match objects {
                Objects::Inline => Some(
                    base64::engine::general_purpose::STANDARD
                        .encode(tokio::fs::read(&object.path).await?),
                ),
                Objects::ByFile => None,
            };
            let file = (objects == Objects::ByFile).then_some(file).flatten();
            object_snapshots.push(ObjectSnapshot {
                key,
                size: object.size,
                etag: object.etag,
                file,
                content_base64,
            });
        }
        Ok(Snapshot {
            version: VERSION,
            clock: ClockSnapshot {
                frozen_at_ms,
                offset_ms,
            },
            timing: *self.timing.lock(),
            streams: self.streams.read().clone(),
            next_id,
            files: files
                .into_iter()
                .map(|(f, plan)| FileSnapshot::from_record(f, plan))
                .collect(),
            objects: object_snapshots,
        })
    }

    /// Replaces the whole state with `snapshot`.
    async fn restore(&self, snapshot: Snapshot) -> Result<(), String> {
        if snapshot.version != VERSION {
            return Err(format!(
                "snapshot version {} is not {VERSION}",
                snapshot.version
            ));
        }
        let mut objects = Vec::with_capacity(snapshot.objects.len());
        for object in snapshot.objects {
            let path = match (object.content_base64, object.file) {
                (Some(b64), _) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|_| format!("object '{}' is not valid base64", object.key))?;
                    let path = self
                        .objects_dir
                        .join(uuid::Uuid::new_v4().simple().to_string());
                    tokio::fs::write(&path, bytes)
                        .await
                        .map_err(|e| e.to_string())?;
                    path
                }
                (None, Some(file)) if is_plain_name(&file) => self.objects_dir.join(file),
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
        let files = snapshot
            .files
            .into_iter()
            .map(FileSnapshot::into_record)
            .collect();
        let (store, jobs) = Store::import(crate::store::StoreContents {
            next_id: snapshot.next_id,
            files,
            objects,
        });
        let replaced = std::mem::replace(&mut *self.store.lock(), store);
        self.clock
            .restore(snapshot.clock.frozen_at_ms, snapshot.clock.offset_ms);
        self.set_timing(snapshot.timing);
        self.set_streams(snapshot.streams);
        for job in jobs {
            self.spawn_processing(job);
        }
        // Objects of the replaced state that the new one does not use.
        let kept = self.store.lock().object_paths();
        for path in replaced.object_paths() {
            if !kept.contains(&path) {
                let _ = tokio::fs::remove_file(&path).await;
            }
        }
        Ok(())
    }

    /// Writes the state to `--data-dir`, if the fake has one, before a change is acknowledged.
    pub(crate) async fn persist(&self) {
        let Some(dir) = self.persist_dir.as_ref() else {
            return;
        };
        // One writer at a time, each capturing the state at its turn: the newest state is
        // always the one left on disk.
        let _turn = self.persist_turn.lock().await;
        let result = async {
            let snapshot = self.capture(Objects::ByFile).await?;
            let bytes = serde_json::to_vec(&snapshot).map_err(std::io::Error::other)?;
            write_atomically(dir, STATE_FILE, &bytes).await
        }
        .await;
        if let Err(err) = result {
            tracing::error!(%err, dir = %dir.display(), "could not persist the state");
        }
    }

    /// Loads `state.json` from `dir` if there is one, dropping anything a crash left behind:
    /// partial uploads in `incoming/` and objects no file refers to.
    pub(crate) async fn load_persisted(&self, dir: &Path) -> Result<(), String> {
        let mut incoming = tokio::fs::read_dir(&self.incoming_dir)
            .await
            .map_err(|e| e.to_string())?;
        while let Ok(Some(entry)) = incoming.next_entry().await {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
        let path = dir.join(STATE_FILE);
        match tokio::fs::read(&path).await {
            Ok(bytes) => {
                let snapshot: Snapshot = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                self.restore(snapshot).await?;
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(format!("{}: {err}", path.display())),
        }
        let kept = self.store.lock().object_paths();
        let mut objects = tokio::fs::read_dir(&self.objects_dir)
            .await
            .map_err(|e| e.to_string())?;
        while let Ok(Some(entry)) = objects.next_entry().await {
            if !kept.contains(&entry.path()) {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        Ok(())
    }
}

/// A generated object name: no separators, no dots, so never a path outside `objects/`.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let temp = dir.join(format!(".{name}.tmp"));
    let mut file = tokio::fs::File::create(&temp).await?;
    file.write_all(bytes).await?;
    file.sync_all().await?;
    drop(file);
    tokio::fs::rename(&temp, dir.join(name)).await?;
    // The rename itself must reach the disk too.
    tokio::fs::File::open(dir).await?.sync_all().await
}

impl FileSnapshot {
    fn from_record(f: FileRecord, plan: Option<Plan>) -> Self {
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
            plan,
            history: f.history,
        }
    }

    fn into_record(self) -> (FileRecord, Option<Plan>) {
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
        (record, self.plan)
    }
}

/// `GET /_mock/state`: the whole state, objects inline.
pub(crate) async fn export(State(state): State<AppState>) -> Response {
    match state.export_json().await {
        Ok(snapshot) => Json(snapshot).into_response(),
        Err(err) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            err.to_string(),
        ),
    }
}

/// `PUT /_mock/state`: replace the whole state with an exported one.
pub(crate) async fn import(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let result = match serde_json::from_slice(&body) {
        Ok(snapshot) => state.import_json(snapshot).await,
        Err(err) => Err(format!("Invalid snapshot: {err}")),
    };
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(message) => refusal(StatusCode::BAD_REQUEST, "bad_request", message),
    }
}

fn refusal(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(json!({"error_code": code, "message": message})),
    )
        .into_response()
}

impl AppState {
    /// The snapshot as JSON, objects inline: what `GET /_mock/state` returns.
    pub(crate) async fn export_json(&self) -> std::io::Result<serde_json::Value> {
        self.settle().await;
        let snapshot = self.capture(Objects::Inline).await?;
        Ok(serde_json::to_value(snapshot).expect("serialisable"))
    }

    /// Replaces the state with an exported snapshot: what `PUT /_mock/state` does.
    pub(crate) async fn import_json(&self, snapshot: serde_json::Value) -> Result<(), String> {
        let snapshot: Snapshot =
            serde_json::from_value(snapshot).map_err(|e| format!("Invalid snapshot: {e}"))?;
        self.restore(snapshot).await?;
        self.persist().await;
        Ok(())
    }
}
