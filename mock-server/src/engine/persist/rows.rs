//! The database's rows: the writer thread that commits changes as they gather, and the
//! reading of every row back into the store's contents.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use crate::config::{StreamConfig, Timing};
pub(crate) use crate::engine::store::is_generated_name;
use crate::engine::store::{Change, Flight, StoreContents, StoredObject};
use crate::lifecycle::Plan;
use crate::model::{FailureCode, FileRecord, FileType, Status, StatusChange};
use crate::processing::Outcome;

/// The writer thread: commits what has gathered, one transaction at a time.
pub(super) fn write_loop(
    mut connection: Connection,
    queue: mpsc::Receiver<Pending>,
    failing: &AtomicBool,
) {
    // After a failed commit, changes made in that epoch (or before) are refused: memory is
    // being reloaded from the database, and they are gone from it.
    let mut failed_epoch: Option<u64> = None;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (stale, fresh): (Vec<Pending>, Vec<Pending>) = batch
            .into_iter()
            .partition(|p| failed_epoch.is_some_and(|failed| p.epoch <= failed));
        for pending in stale {
            let _ = pending
                .ack
                .send(Err("an earlier change could not be written".into()));
        }
        if fresh.is_empty() {
            continue;
        }
        let result = connection.transaction().and_then(|tx| {
            for pending in &fresh {
                apply(&tx, &pending.change)?;
            }
            if failing.load(Ordering::Acquire) {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                    Some("database or disk is full (injected)".into()),
                ));
            }
            tx.commit()
        });
        match result {
            Ok(()) => {
                for pending in fresh {
                    let _ = pending.ack.send(Ok(()));
                }
            }
            Err(err) => {
                tracing::error!(%err, "could not write the state; the change is refused");
                failed_epoch = fresh.iter().map(|p| p.epoch).max();
                for pending in fresh {
                    let _ = pending.ack.send(Err(err.to_string()));
                }
            }
        }
    }
}

pub(super) fn apply(tx: &rusqlite::Transaction<'_>, change: &Change) -> rusqlite::Result<()> {
    if change.reset {
        tx.execute_batch("DELETE FROM files; DELETE FROM objects;")?;
    }
    if !change.files.is_empty() {
        let mut upsert = tx.prepare_cached(
            "INSERT OR REPLACE INTO files (id, org, stream_name, file_name, md5_hash, s3_key, created_ms, status, process_start_ms, process_end_ms, successful_count, failure_count, failure_code, plan_start_ms, plan_end_ms, history, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )?;
        for (f, flight) in &change.files {
            let plan = flight.plan;
            upsert.execute(params![
                f.id as i64,
                &*f.org,
                &*f.stream,
                f.file_name,
                f.md5_hash,
                f.s3_key,
                f.created_ms,
                f.status.as_str(),
                f.process_start_ms,
                f.process_end_ms,
                f.successful_count as i64,
                f.failure_count as i64,
                f.failure_code.map(FailureCode::as_str),
                plan.map(|p| p.start_ms),
                plan.map(|p| p.end_ms),
                serde_json::to_string(&f.history).expect("a history serialises"),
                flight
                    .outcome
                    .map(|o| serde_json::to_string(&o).expect("an outcome serialises")),
            ])?;
        }
    }
    for (key, object) in &change.objects {
        match object {
            Some(object) => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO objects (key, file, size, etag) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    key,
                    object_file_name(&object.path),
                    object.size as i64,
                    object.etag
                ])?;
            }
            None => {
                tx.prepare_cached("DELETE FROM objects WHERE key = ?1")?
                    .execute(params![key])?;
            }
        }
    }
    for (key, value) in &change.meta {
        tx.prepare_cached(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )?
        .execute(params![key, value])?;
    }
    Ok(())
}

fn object_file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Everything in the database, checked row by row.
pub(super) fn read_all(
    connection: &Connection,
    objects_dir: &Path,
) -> Result<(StoreContents, StoredSettings), String> {
    let meta = |key: &str| -> Result<Option<String>, String> {
        connection
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| e.to_string())
    };
    let next_id = match meta("next_id")? {
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| format!("meta next_id is '{v}', not a number"))?,
        None => 1,
    };
    let frozen = match meta("clock_frozen_at_ms")?.filter(|v| !v.is_empty()) {
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| format!("meta clock_frozen_at_ms is '{v}'"))?,
        ),
        None => None,
    };
    let offset = match meta("clock_offset_ms")? {
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| format!("meta clock_offset_ms is '{v}'"))?,
        None => 0,
    };
    let timing = match meta("timing")? {
        Some(v) => Some(
            serde_json::from_value::<Timing>(serde_json::Value::String(v.clone()))
                .map_err(|_| format!("meta timing is '{v}'"))?,
        ),
        None => None,
    };
    let streams = match meta("streams")? {
        Some(v) => Some(serde_json::from_str(&v).map_err(|e| format!("meta streams: {e}"))?),
        None => None,
    };
    let mut statement = connection
        .prepare("SELECT id, org, stream_name, file_name, md5_hash, s3_key, created_ms, status, process_start_ms, process_end_ms, successful_count, failure_count, failure_code, plan_start_ms, plan_end_ms, history, outcome FROM files ORDER BY id")
        .map_err(|e| e.to_string())?;
    let mut rows = statement.query([]).map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        files.push(file_row(row)?);
    }
    let mut statement = connection
        .prepare("SELECT key, file, size, etag FROM objects ORDER BY key")
        .map_err(|e| e.to_string())?;
    let mut rows = statement.query([]).map_err(|e| e.to_string())?;
    let mut objects = Vec::new();
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let key: String = row.get(0).map_err(|e| e.to_string())?;
        let file: String = row.get(1).map_err(|e| e.to_string())?;
        if !is_generated_name(&file) {
            return Err(format!(
                "object '{key}' names the file '{file}', which the fake did not make"
            ));
        }
        let size: i64 = row.get(2).map_err(|e| e.to_string())?;
        objects.push((
            key,
            StoredObject {
                path: objects_dir.join(file),
                size: size.max(0) as u64,
                etag: row.get(3).map_err(|e| e.to_string())?,
            },
        ));
    }
    Ok((
        StoreContents {
            next_id,
            files,
            objects,
        },
        StoredSettings {
            clock: (frozen, offset),
            timing,
            streams,
        },
    ))
}

fn file_row(row: &rusqlite::Row<'_>) -> Result<(FileRecord, Flight), String> {
    let id: i64 = row.get(0).map_err(|e| e.to_string())?;
    let bad =
        |what: &str, value: &str| format!("file {id}: {what} '{value}' is not one the fake knows");
    let get_text =
        |i: usize| -> Result<String, String> { row.get(i).map_err(|e| format!("file {id}: {e}")) };
    let status_text = get_text(7)?;
    let status = Status::parse(&status_text).ok_or_else(|| bad("status", &status_text))?;
    let failure_code: Option<String> = row.get(12).map_err(|e| format!("file {id}: {e}"))?;
    let failure_code = match failure_code {
        Some(code) => Some(
            serde_json::from_value::<FailureCode>(serde_json::Value::String(code.clone()))
                .map_err(|_| bad("failure code", &code))?,
        ),
        None => None,
    };
    let history_text = get_text(15)?;
    let history: Vec<StatusChange> =
        serde_json::from_str(&history_text).map_err(|e| format!("file {id}: history: {e}"))?;
    let plan_start: Option<i64> = row.get(13).map_err(|e| format!("file {id}: {e}"))?;
    let plan_end: Option<i64> = row.get(14).map_err(|e| format!("file {id}: {e}"))?;
    let plan = match (plan_start, plan_end) {
        (Some(start_ms), Some(end_ms)) => Some(Plan { start_ms, end_ms }),
        _ => None,
    };
    let outcome: Option<String> = row.get(16).map_err(|e| format!("file {id}: {e}"))?;
    let outcome = match outcome {
        Some(text) => {
            Some(serde_json::from_str::<Outcome>(&text).map_err(|_| bad("outcome", &text))?)
        }
        None => None,
    };
    let file_name = get_text(3)?;
    let count = |i: usize| -> Result<u64, String> {
        let n: i64 = row.get(i).map_err(|e| format!("file {id}: {e}"))?;
        u64::try_from(n).map_err(|_| format!("file {id}: a negative count"))
    };
    let record = FileRecord {
        id: u64::try_from(id).map_err(|_| format!("file {id}: a negative id"))?,
        org: get_text(1)?.into(),
        stream: get_text(2)?.into(),
        file_type: FileType::from_file_name(&file_name),
        file_name,
        md5_hash: row.get(4).map_err(|e| format!("file {id}: {e}"))?,
        s3_key: get_text(5)?,
        created_ms: row.get(6).map_err(|e| format!("file {id}: {e}"))?,
        status,
        process_start_ms: row.get(8).map_err(|e| format!("file {id}: {e}"))?,
        process_end_ms: row.get(9).map_err(|e| format!("file {id}: {e}"))?,
        successful_count: count(10)?,
        failure_count: count(11)?,
        failure_code,
        history,
    };
    Ok((record, Flight { plan, outcome }))
}

/// Brings a version 1 `files` table up to date: the outcome of a file in flight was not kept.
pub(super) fn add_outcome_column(connection: &Connection) -> rusqlite::Result<()> {
    let has_it: i64 = connection.query_row(
        "SELECT count(*) FROM pragma_table_info('files') WHERE name = 'outcome'",
        [],
        |row| row.get(0),
    )?;
    if has_it == 0 {
        connection.execute_batch("ALTER TABLE files ADD COLUMN outcome TEXT")?;
    }
    Ok(())
}

/// Settings kept in `meta`.
pub(crate) struct StoredSettings {
    pub clock: (Option<i64>, i64),
    pub timing: Option<Timing>,
    pub streams: Option<Vec<StreamConfig>>,
}

/// A change waiting for the writer, and where its answer goes.
pub(super) struct Pending {
    pub epoch: u64,
    pub change: Change,
    pub ack: oneshot::Sender<Result<(), String>>,
}
