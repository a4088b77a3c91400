//! The files part: every import, its object and its lifecycle, with the timing profile and the
//! streams that shape them, and the clock's moves that make steps fall due.
//!
//! [`Files`] owns one lock, over the [`Shelf`]: the store (`super::store`), the timing and the
//! streams, so one critical section sees them agree. It stages each change to the database
//! (`super::persist`) under that lock, in the order changes are made, and waits for the commit
//! after releasing it. The rest is split by concern: `readings` reads landed objects off the
//! runtime and takes their outcomes back; `clock` moves the clock and changes the timing and
//! streams; `staging` hands changes to the database; `whole` exports, imports and loads the
//! whole state.

mod clock;
mod readings;
mod staging;
mod whole;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

pub(crate) use readings::Reading;

use super::persist::Persist;
use super::store::{NewImport, Refused, Store, StoredObject, Transition};
use super::ListQuery;
use crate::clock::Clock;
use crate::config::{stream_for, Config, StreamConfig, Timing};
use crate::error::Error;
use crate::model::{FileRecord, Status};

/// S3 keys are at most 1024 bytes of UTF-8.
const MAX_S3_KEY_BYTES: usize = 1024;
/// Stream names are labels set up in Unit21's UI; the fake keeps them short (every file and
/// journal entry carries one).
const MAX_STREAM_NAME_BYTES: usize = 256;

/// What the files part keeps under its one lock.
struct Shelf {
    store: Store,
    timing: Timing,
    /// Streams and schemas; the control plane can replace them at run time.
    streams: Vec<StreamConfig>,
    /// Readings asked for before the part was shared (while it loads); started by `start`.
    parked: Vec<Reading>,
}

/// The timing, streams and clock a reset that puts the settings back returns to.
#[derive(Clone, Debug, Default)]
pub(crate) struct StartSettings {
    pub timing: Timing,
    pub streams: Vec<StreamConfig>,
    pub clock: (Option<i64>, i64),
}

/// A file as one organisation may see it.
pub(crate) enum Lookup {
    Found(Arc<FileRecord>),
    /// It exists, in another organisation.
    Elsewhere,
    Missing,
}

/// The dashboard's view of one organisation.
pub(crate) struct Overview {
    /// Files per status, in [`Status::ALL`]'s order.
    pub counts: [u64; 7],
    pub streams: Vec<Arc<str>>,
    /// One page of its files.
    pub rows: Vec<Arc<FileRecord>>,
    /// How many files match the page's filters.
    pub matching: u64,
}

/// What the clock reads and how files move: what the control plane reports after a clock call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClockReading {
    pub now_ms: i64,
    pub frozen: bool,
    pub timing: Timing,
}

/// The files, their objects and their lifecycle. Shared as `Arc<Files>`.
pub(crate) struct Files {
    clock: Clock,
    /// Unit21's environment: the first segment of every S3 key.
    environment: String,
    /// `fidelity.reject_duplicate_file_names`.
    unique_names: bool,
    shelf: Mutex<Shelf>,
    /// Where finished objects live (a snapshot's objects are written there as it is read).
    objects_dir: PathBuf,
    /// With `--data-dir`, once loaded: the database.
    persist: Option<Persist>,
    readings: readings::Readers,
}

impl Files {
    pub fn new(config: &Config, clock: Clock, objects_dir: PathBuf) -> Self {
        Files {
            clock,
            environment: config.environment.clone(),
            unique_names: config.fidelity.reject_duplicate_file_names,
            shelf: Mutex::new(Shelf {
                store: Store::new(),
                timing: config.timing,
                streams: config.streams.clone(),
                parked: Vec::new(),
            }),
            objects_dir,
            persist: None,
            readings: readings::Readers::new(config.limits.concurrent_processing),
        }
    }

    // ---- Reads ----

    /// A file as `org` may see it, after the lifecycle steps the clock has reached.
    pub fn file_for(&self, org: &str, id: u64) -> Lookup {
        let shelf = self.caught_up();
        match shelf.store.get(org, id) {
            Some(record) => Lookup::Found(record.clone()),
            None if shelf.store.exists_elsewhere(org, id) => Lookup::Elsewhere,
            None => Lookup::Missing,
        }
    }

    /// A file in any organisation, as it is now.
    pub fn file(&self, id: u64) -> Option<Arc<FileRecord>> {
        self.caught_up().store.file(id).cloned()
    }

    /// One page of `org`'s files and the number of matches; the records are shared, so the
    /// caller serialises them after the lock is released.
    pub fn list(&self, org: &str, query: &ListQuery) -> (Vec<Arc<FileRecord>>, u64) {
        self.caught_up().store.list(org, query)
    }

    /// The dashboard's view of `org`: counts per status, its streams, and one page.
    pub fn overview(&self, org: &str, query: &ListQuery) -> Overview {
        let shelf = self.caught_up();
        let (counts, streams) = shelf.store.overview(org);
        let (rows, matching) = shelf.store.list(org, query);
        Overview {
            counts,
            streams,
            rows,
            matching,
        }
    }

    /// How many imports exist, in all organisations.
    pub fn import_count(&self) -> usize {
        self.shelf.lock().store.len()
    }

    /// The object stored under `key` in the bucket, if any.
    pub fn object(&self, key: &str) -> Option<StoredObject> {
        self.shelf.lock().store.object(key).cloned()
    }

    pub fn timing(&self) -> Timing {
        self.shelf.lock().timing
    }

    pub fn streams(&self) -> Vec<StreamConfig> {
        self.shelf.lock().streams.clone()
    }

    /// Whether `stream` is one `org` may upload to: any stream when none are configured.
    pub fn stream_is_configured(&self, org: &str, stream: &str) -> bool {
        stream_for(&self.shelf.lock().streams, org, stream).is_ok()
    }

    pub fn clock_reading(&self) -> ClockReading {
        ClockReading {
            now_ms: self.clock.now_millis(),
            frozen: self.clock.is_frozen(),
            timing: self.shelf.lock().timing,
        }
    }

    // ---- New files ----

    /// The name rules of every door that makes a file (the create call, `POST /_mock/files`,
    /// the dashboard's upload), in the create call's words: names not empty, without control
    /// characters, a stream of at most 256 bytes, and a file name whose S3 key fits 1,024
    /// bytes.
    pub fn check_names(&self, org: &str, stream_name: &str, file_name: &str) -> Result<(), String> {
        for (name, value) in [("stream_name", stream_name), ("file_name", file_name)] {
            if value.trim().is_empty() {
                return Err(format!("Field '{name}' must not be empty"));
            }
        }
        if file_name.chars().any(char::is_control) || stream_name.chars().any(char::is_control) {
            return Err(
                "Fields 'stream_name' and 'file_name' must not contain control characters".into(),
            );
        }
        if stream_name.len() > MAX_STREAM_NAME_BYTES {
            return Err(format!(
                "Field 'stream_name' must be at most {MAX_STREAM_NAME_BYTES} bytes"
            ));
        }
        let key = self.s3_key(org, self.clock.now_millis(), file_name);
        if key.len() > MAX_S3_KEY_BYTES {
            return Err("Field 'file_name' is too long".into());
        }
        Ok(())
    }

    /// Records a new PENDING_UPLOAD import under a key no other file has.
    pub async fn create(
        &self,
        org: &str,
        stream: &str,
        file_name: &str,
        md5_hash: Option<String>,
    ) -> Result<FileRecord, Error> {
        let (record, staged) = {
            let mut shelf = self.shelf.lock();
            let new = (org, stream, file_name, md5_hash);
            let record = self.insert(&mut shelf.store, new, Status::PENDING_UPLOAD, true)?;
            (record, self.stage(&mut shelf, false))
        };
        self.acknowledged(staged).await?;
        Ok(record)
    }

    /// Records a new import, its S3 key one no other file has.
    fn insert(
        &self,
        store: &mut Store,
        (org, stream, file_name, md5_hash): (&str, &str, &str, Option<String>),
        status: Status,
        may_refuse_name: bool,
    ) -> Result<FileRecord, Error> {
        let now_ms = self.clock.now_millis();
        // Two files never share a key (an upload would land on the wrong one): a key already
        // taken, by a file of the same name created in the same millisecond, moves to the
        // next millisecond.
        let mut key_ms = now_ms;
        while store.key_taken(&self.s3_key(org, key_ms, file_name)) {
            key_ms += 1;
        }
        let new = NewImport {
            org,
            stream,
            file_name,
            md5_hash,
            s3_key: self.s3_key(org, key_ms, file_name),
            created_ms: now_ms,
            status,
        };
        store
            .insert(new, may_refuse_name && self.unique_names)
            .map_err(|Refused::DuplicateName| Error::DuplicateName {
                stream_name: stream.to_owned(),
                file_name: file_name.to_owned(),
            })
    }

    /// Where a file created at `ms` is expected in the bucket: Unit21's key format.
    pub fn s3_key(&self, org: &str, ms: i64, file_name: &str) -> String {
        format!("{}/org_{org}/{ms}_{file_name}", self.environment)
    }

    /// Records a stored object under `key`: the import waiting for it becomes QUEUED and is
    /// read. Committed before it returns, so an acknowledged upload survives a crash; if it is
    /// not, the object's file is removed.
    pub async fn land(&self, key: &str, object: StoredObject) -> Result<(), Error> {
        let path = object.path.clone();
        let now_ms = self.clock.now_millis();
        let (job, replaced, staged) = {
            let mut shelf = self.shelf.lock();
            let timing = shelf.timing;
            let (job, replaced) = shelf.store.object_landed(key, object, now_ms, timing);
            // Opened now, under the lock: a second upload to the key may replace and delete
            // this object's file at once, and the reader must still read these bytes.
            let job = job.map(Reading::open);
            (job, replaced, self.stage(&mut shelf, false))
        };
        if let Err(err) = self.acknowledged(staged).await {
            remove_file_quietly(&path).await;
            return Err(err);
        }
        remove_replaced(replaced).await;
        if let Some(reading) = job {
            let (id, ticket) = reading.id_and_ticket();
            self.spawn_processing(reading);
            // Under `instant` the file ends as it lands: the answer waits for its reading
            // (other timings answer at once, and the file ends when its plan and its reading
            // both say so).
            self.read_if_due(id, ticket).await;
        }
        Ok(())
    }

    /// Files a stored object as an ADDED file (the dashboard's upload by hand); if it cannot
    /// be, the object's file is removed.
    pub async fn add(
        &self,
        org: &str,
        stream: &str,
        file_name: &str,
        object: StoredObject,
    ) -> Result<FileRecord, Error> {
        let path = object.path.clone();
        let inserted = {
            let mut shelf = self.shelf.lock();
            let new = (org, stream, file_name, None);
            self.insert(&mut shelf.store, new, Status::ADDED, false)
                .map(|record| {
                    let replaced = shelf.store.attach_object(&record.s3_key, object);
                    (record, replaced, self.stage(&mut shelf, false))
                })
        };
        let (record, replaced, staged) = match inserted {
            Ok(inserted) => inserted,
            Err(err) => {
                remove_file_quietly(&path).await;
                return Err(err);
            }
        };
        if let Err(err) = self.acknowledged(staged).await {
            remove_file_quietly(&path).await;
            return Err(err);
        }
        remove_replaced(replaced).await;
        Ok(record)
    }

    // ---- Moving files ----

    /// ADDED → QUEUED, as the UI's "process" action; the timing profile takes it from there.
    pub async fn start_processing(&self, id: u64) -> Result<(), Error> {
        let now_ms = self.clock.now_millis();
        let (job, staged) = {
            let mut shelf = self.shelf.lock();
            let timing = shelf.timing;
            let job = Reading::open(shelf.store.start_processing(id, now_ms, timing)?);
            (job, self.stage(&mut shelf, false))
        };
        self.acknowledged(staged).await?;
        self.spawn_processing(job);
        self.settle().await;
        Ok(())
    }

    /// Under `manual` timing, processes every QUEUED file now; returns how many started.
    pub async fn process_queued(&self) -> Result<usize, Error> {
        let (started, staged) = {
            let mut shelf = self.shelf.lock();
            let started = shelf.store.process_queued(self.clock.now_millis());
            (started, self.stage(&mut shelf, false))
        };
        self.acknowledged(staged).await?;
        self.settle().await;
        Ok(started)
    }

    /// Puts a file in a state by force, cancelling whatever its lifecycle had planned.
    pub async fn force(&self, id: u64, transition: Transition) -> Result<Arc<FileRecord>, Error> {
        self.settle().await;
        let now_ms = self.clock.now_millis();
        let (record, staged) = {
            let mut shelf = self.shelf.lock();
            let record = shelf.store.force(id, transition, now_ms)?;
            (record, self.stage(&mut shelf, false))
        };
        self.acknowledged(staged).await?;
        Ok(record)
    }

    #[cfg(test)]
    pub(crate) fn persist(&self) -> &Persist {
        self.persist.as_ref().expect("a data directory")
    }

    #[cfg(test)]
    pub(crate) fn objects_dir(&self) -> &Path {
        &self.objects_dir
    }
}

pub(crate) async fn remove_file_quietly(path: &Path) {
    if let Err(err) = tokio::fs::remove_file(path).await {
        if err.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(%err, path = %path.display(), "could not remove a file");
        }
    }
}

async fn remove_replaced(replaced: Option<PathBuf>) {
    if let Some(old) = replaced {
        if let Err(err) = tokio::fs::remove_file(&old).await {
            tracing::warn!(%err, path = %old.display(), "could not remove a replaced object");
        }
    }
}
