//! `--data-dir`: the fake's store of record, an SQLite database beside the objects.
//!
//! The engine keeps serving from memory; every acknowledged change is also a transaction here,
//! committed before the answer goes out. Changes are handed to one writer thread in the order
//! they were made (under the store's lock), and the thread commits whatever has gathered in one
//! transaction (one `fsync` for many concurrent changes). A change that cannot be committed is
//! refused: its caller gets an error, and the engine reloads its memory from the database, so
//! memory and disk agree again on what was acknowledged.
//!
//! The directory is the fake's alone:
//! - `u21-mock.lock`, locked for as long as the fake runs (a second fake on it is refused, and
//!   told the first one's pid);
//! - `u21-mock-data-dir`, the marker: a directory without it is only taken if it is empty (or
//!   holds a `state.json` from an earlier version, migrated once to `state.json.migrated`);
//! - `state.sqlite` (with `-wal` and `-shm`): tables `meta`, `files`, `objects` (see
//!   [`SCHEMA`]); read it with the `sqlite3` shell;
//! - `objects/`, bytes of stored objects under generated names (32 hex digits);
//! - `incoming/`, uploads still streaming (`upload-*`), emptied at start-up.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};

use parking_lot::Mutex;
use rusqlite::{params, Connection};
use tokio::sync::oneshot;

pub(crate) use crate::engine::store::is_generated_name;
use crate::engine::store::{Change, StoreContents};
use crate::error::Error;

pub(crate) use super::rows::StoredSettings;
use super::rows::{add_outcome_column, apply, read_all, write_loop, Pending};

pub(crate) const DATABASE: &str = "state.sqlite";
const MARKER: &str = "u21-mock-data-dir";
pub(crate) const LOCK: &str = "u21-mock.lock";
const LEGACY_STATE: &str = "state.json";

/// The tables, as `sqlite3 state.sqlite .schema` shows them.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,   -- schema_version, next_id, clock_frozen_at_ms, clock_offset_ms, timing, streams (JSON)
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    id               INTEGER PRIMARY KEY,
    org              TEXT NOT NULL,
    stream_name      TEXT NOT NULL,
    file_name        TEXT NOT NULL,
    md5_hash         TEXT,
    s3_key           TEXT NOT NULL UNIQUE,
    created_ms       INTEGER NOT NULL,
    status           TEXT NOT NULL,    -- PENDING_UPLOAD, ADDED, QUEUED, PROCESSING, FINISHED, FAILED, DELETED
    process_start_ms INTEGER,
    process_end_ms   INTEGER,
    successful_count INTEGER NOT NULL,
    failure_count    INTEGER NOT NULL,
    failure_code     TEXT,             -- unparseable_file, invalid_schema, stream_not_configured, unknown
    plan_start_ms    INTEGER,          -- when a QUEUED file starts processing (timing profile)
    plan_end_ms      INTEGER,          -- when it ends
    history          TEXT NOT NULL,    -- JSON: [{\"status\": …, \"at_ms\": …}, …]
    outcome          TEXT              -- JSON, once a file in flight is read: {\"finished\": {\"successful\": …, \"failed\": …}} or {\"failed\": \"<code>\"}
);
CREATE TABLE IF NOT EXISTS objects (
    key  TEXT PRIMARY KEY,   -- the S3 key
    file TEXT NOT NULL,      -- its bytes: objects/<file>
    size INTEGER NOT NULL,
    etag TEXT NOT NULL
);
";
/// 2 added `files.outcome`; a version 1 database gains the column when it is opened.
const SCHEMA_VERSION: &str = "2";

/// An open data directory: its lock, and the writer thread's queue.
pub(crate) struct Durable {
    dir: PathBuf,
    /// `None` once closed: changes are refused from then on.
    queue: Mutex<Option<mpsc::Sender<Pending>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Locked for as long as the fake runs; released by [`Durable::close`].
    lock: Mutex<Option<File>>,
    /// Tests set it to make every commit fail, as a full disk does.
    #[cfg_attr(not(test), allow(dead_code))]
    failing: Arc<AtomicBool>,
}

/// What a data directory held when it was opened.
pub(crate) struct Opened {
    pub durable: Durable,
    pub contents: StoreContents,
    pub settings: StoredSettings,
}

impl Durable {
    /// Opens `dir` as the fake's data directory: locks it, checks it is the fake's (or empty,
    /// or an earlier version's, migrated), and reads what it holds. `objects_dir` is where
    /// object files are.
    pub fn open(dir: &Path, objects_dir: &Path) -> Result<Opened, Error> {
        let io = |what: &str| Error::io(format!("{what} {}", dir.display()));
        std::fs::create_dir_all(dir).map_err(io("cannot create the data directory"))?;
        let lock = take_lock(dir)?;
        let marker = dir.join(MARKER);
        let database = dir.join(DATABASE);
        let legacy = dir.join(LEGACY_STATE);
        let migrate = if marker.exists() {
            if !database.exists() {
                return Err(refused(
                    dir,
                    format!(
                        "its database {} is missing; the fake will not start empty on a directory that held state (restore the file, or start on a new directory)",
                        database.display()
                    ),
                ));
            }
            None
        } else if legacy.exists() {
            Some(legacy.clone())
        } else if is_empty_but_ours(dir)? {
            None
        } else {
            return Err(refused(
                dir,
                "it is not empty and is not a u21-mock data directory (it has no u21-mock-data-dir marker); choose an empty or new directory".into(),
            ));
        };
        let mut connection =
            Connection::open(&database).map_err(|e| database_error(&database, "cannot open", e))?;
        // A directory that held state must have the fake's tables. A database emptied to 0
        // bytes opens as a new one, and starting empty on it would delete every object as a
        // stray: refused, and the file left as it is (this query writes nothing; a file that is
        // not a database fails the next step, which says so).
        let tables: rusqlite::Result<i64> = connection.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'files'",
            [],
            |row| row.get(0),
        );
        if marker.exists() && matches!(tables, Ok(0)) {
            return Err(refused(
                dir,
                format!(
                    "its database {} holds none of the fake's tables (it is empty: {} bytes); the fake will not start empty on a directory that held state (restore the file, or start on a new directory)",
                    database.display(),
                    std::fs::metadata(&database).map_or(0, |m| m.len())
                ),
            ));
        }
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
            )
            .and_then(|()| connection.execute_batch(SCHEMA))
            .and_then(|()| add_outcome_column(&connection))
            .map_err(|e| database_error(&database, "cannot prepare", e))?;
        if let Some(legacy) = migrate {
            migrate_legacy(&mut connection, &legacy, objects_dir)?;
        }
        set_meta(&connection, "schema_version", SCHEMA_VERSION)
            .map_err(|e| database_error(&database, "cannot write", e))?;
        if !marker.exists() {
            write_marker(&marker).map_err(io("cannot mark the data directory"))?;
        }
        let (contents, settings) = read_all(&connection, objects_dir).map_err(|message| {
            refused(
                dir,
                format!("{} holds invalid data: {message}", database.display()),
            )
        })?;
        let (queue, receiver) = mpsc::channel();
        let failing = Arc::new(AtomicBool::new(false));
        let failing_for_writer = failing.clone();
        let writer = std::thread::Builder::new()
            .name("u21-mock-db".into())
            .spawn(move || write_loop(connection, receiver, &failing_for_writer))
            .map_err(io("cannot start the database writer for"))?;
        Ok(Opened {
            durable: Durable {
                dir: dir.to_owned(),
                queue: Mutex::new(Some(queue)),
                writer: Mutex::new(Some(writer)),
                lock: Mutex::new(Some(lock)),
                failing,
            },
            contents,
            settings,
        })
    }

    /// Hands `change`, made in `epoch`, to the writer; the answer says whether it committed.
    /// Called under the store's lock, so changes reach the database in the order they were
    /// made.
    pub fn send(&self, epoch: u64, change: Change) -> oneshot::Receiver<Result<(), String>> {
        let (ack, answer) = oneshot::channel();
        let pending = Pending { epoch, change, ack };
        let refused = match self.queue.lock().as_ref() {
            Some(queue) => queue.send(pending).err().map(|mpsc::SendError(p)| p),
            None => Some(pending),
        };
        if let Some(pending) = refused {
            let _ = pending.ack.send(Err("the fake is stopping".into()));
        }
        answer
    }

    /// Makes every commit fail (or succeed again), as a full disk would.
    #[cfg(test)]
    pub fn fail_commits(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::Release);
    }

    /// Stops taking changes, waits for the writer to commit what it has, and releases the
    /// directory for another fake.
    pub fn close(&self) {
        drop(self.queue.lock().take());
        if let Some(writer) = self.writer.lock().take() {
            let _ = writer.join();
        }
        drop(self.lock.lock().take());
    }

    /// Everything the database holds now (to bring memory back in line after a refusal).
    pub fn reread(&self, objects_dir: &Path) -> Result<(StoreContents, StoredSettings), String> {
        let database = self.dir.join(DATABASE);
        let connection = Connection::open(&database).map_err(|e| e.to_string())?;
        read_all(&connection, objects_dir)
    }
}

fn refused(dir: &Path, why: String) -> Error {
    Error::Io {
        context: format!("cannot use {} as the data directory", dir.display()),
        source: std::io::Error::other(why),
    }
}

fn database_error(path: &Path, what: &str, err: rusqlite::Error) -> Error {
    Error::Io {
        context: format!("{what} the database {}", path.display()),
        source: std::io::Error::other(err),
    }
}

/// Locks the directory, or says which process holds it.
fn take_lock(dir: &Path) -> Result<File, Error> {
    let path = dir.join(LOCK);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(Error::io(format!("cannot open {}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)
                .and_then(|()| writeln!(file, "{}", std::process::id()))
                .map_err(Error::io(format!("cannot write {}", path.display())))?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            Err(refused(
                dir,
                format!(
                    "another u21-mock is using it{}; stop that one, or give this one another --data-dir",
                    if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {holder})")
                    }
                ),
            ))
        }
        Err(std::fs::TryLockError::Error(err)) => {
            Err(Error::io(format!("cannot lock {}", path.display()))(err))
        }
    }
}

/// True when the directory holds nothing but what the fake itself makes before its marker
/// (the lock file, empty `objects/` and `incoming/`, a database being created).
fn is_empty_but_ours(dir: &Path) -> Result<bool, Error> {
    let entries =
        std::fs::read_dir(dir).map_err(Error::io(format!("cannot read {}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(Error::io(format!("cannot read {}", dir.display())))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = match name.as_ref() {
            LOCK => true,
            "objects" | "incoming" => std::fs::read_dir(entry.path())
                .map(|mut d| d.next().is_none())
                .unwrap_or(false),
            _ => false,
        };
        if !ours {
            return Ok(false);
        }
    }
    Ok(true)
}

fn write_marker(path: &Path) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(
        b"This directory holds a u21-mock state: state.sqlite, objects/ and incoming/.\n",
    )?;
    file.sync_all()?;
    if let Some(parent) = path.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

pub(super) fn set_meta(connection: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    connection.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Loads an earlier version's `state.json` into the database once, then renames it.
fn migrate_legacy(
    connection: &mut Connection,
    legacy: &Path,
    objects_dir: &Path,
) -> Result<(), Error> {
    let bytes =
        std::fs::read(legacy).map_err(Error::io(format!("cannot read {}", legacy.display())))?;
    let snapshot: crate::engine::snapshot::Snapshot =
        serde_json::from_slice(&bytes).map_err(|e| Error::Io {
            context: format!("cannot migrate {}", legacy.display()),
            source: std::io::Error::other(e),
        })?;
    let parts = snapshot.into_parts(objects_dir).map_err(|e| Error::Io {
        context: format!("cannot migrate {}", legacy.display()),
        source: std::io::Error::other(e),
    })?;
    let change = Change {
        reset: true,
        files: parts.contents.files,
        objects: parts
            .contents
            .objects
            .into_iter()
            .map(|(key, object)| (key, Some(object)))
            .collect(),
        meta: vec![
            ("next_id", parts.contents.next_id.to_string()),
            (
                "clock_frozen_at_ms",
                parts.clock.0.map_or(String::new(), |ms| ms.to_string()),
            ),
            ("clock_offset_ms", parts.clock.1.to_string()),
            ("timing", parts.timing.as_str().to_owned()),
            (
                "streams",
                serde_json::to_string(&parts.streams).expect("streams serialise"),
            ),
        ],
    };
    let tx = connection
        .transaction()
        .map_err(|e| database_error(legacy, "cannot migrate", e))?;
    apply(&tx, &change).map_err(|e| database_error(legacy, "cannot migrate", e))?;
    tx.commit()
        .map_err(|e| database_error(legacy, "cannot migrate", e))?;
    let done = legacy.with_extension("json.migrated");
    std::fs::rename(legacy, &done)
        .map_err(Error::io(format!("cannot rename {}", legacy.display())))?;
    tracing::warn!(from = %legacy.display(), to = %done.display(), "migrated an earlier state.json into state.sqlite");
    Ok(())
}
