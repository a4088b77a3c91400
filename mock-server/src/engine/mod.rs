//! The engine: everything the fake holds and every rule that changes it, with no HTTP in it.
//!
//! [`Engine`] owns every lock (the store, the rate limiter, the timing profile, the streams,
//! the journal, the faults); nothing outside this module takes one. Each operation is one
//! method, and each method that changes what a restart must see persists before it returns,
//! so the HTTP routes, the dashboard and [`MockServer`](crate::MockServer) all settle and
//! persist the same way. Locks are held for short synchronous sections, never across an
//! `.await`, and taken in one order where two are needed: store, then anything else.
//!
//! The parts, each plain data the engine holds:
//! - `store`: imports, the per-organisation index, lifecycle steps, objects;
//! - `access`: keys, permissions and the rate limiter;
//! - `journal`, `faults`: what the control plane records and injects;
//! - `snapshot`: the whole state as one portable JSON document, exported and imported;
//! - `durable`: with `--data-dir`, the SQLite database every acknowledged change is committed
//!   to before it is answered, the directory's lock and marker.

pub(crate) mod access;
mod durable;
mod faults;
mod journal;
pub(crate) mod scratch;
mod snapshot;
mod store;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};

pub use faults::{Fault, FaultAction};
pub use journal::{BodySummary, JournalEntry, JournalQuery, JOURNAL_BODY_BYTES};
pub(crate) use store::ListQuery;
pub use store::StoredObject;
pub use store::Transition;

use self::access::{Caller, Denied, Keys, RateLimiter, Route};
use self::durable::Durable;
use self::faults::Faults;
use self::journal::{Journal, KeptEntry};
use self::store::{Change, NewImport, ProcessingJob, Refused, Store};
use crate::clock::{Clock, LATEST_MS};
use crate::config::{stream_for, Config, Permission, StreamConfig, Timing};
use crate::error::Error;
use crate::model::{FailureCode, FileRecord, Status};
use crate::processing::{self, Outcome, StreamCheck};

/// Where seeded clocks start: 2024-01-01T00:00:00Z, plus the seed in seconds.
const SEED_EPOCH_SECS: u64 = 1_704_067_200;

/// The fake's state and rules. Shared as `Arc<Engine>`.
pub(crate) struct Engine {
    config: Config,
    keys: Keys,
    clock: Clock,
    /// Base URL clients reach the fake at, without a trailing slash (under `--public-url
    /// auto`, the fallback for a request without a usable `Host`).
    public_url: String,
    /// `--public-url auto`: each request's `Host` names the base URL (see `http::support`).
    public_url_auto: bool,
    store: Mutex<Store>,
    rate_limiter: Mutex<RateLimiter>,
    timing: Mutex<Timing>,
    /// Streams and schemas; the control plane can replace them at run time.
    streams: RwLock<Vec<StreamConfig>>,
    journal: Mutex<Journal>,
    faults: Mutex<Faults>,
    /// True while any fault is active: requests skip the faults' lock otherwise.
    faults_armed: AtomicBool,
    /// Where finished objects live, each under a generated name.
    objects_dir: PathBuf,
    /// Where uploads stream to before they are accepted, on the same filesystem.
    incoming_dir: PathBuf,
    /// With `--data-dir`: the directory, and once loaded, its database.
    data_dir: Option<PathBuf>,
    durable: Option<Durable>,
    /// Bumped when memory is reloaded from the database after a refused write: changes made
    /// before are refused too (see `durable`).
    epoch: AtomicU64,
    /// One permit per upload streaming its file (see `Limits::concurrent_uploads`).
    upload_slots: tokio::sync::Semaphore,
    /// The timing, streams and clock in force once started: what a reset that puts the
    /// settings back returns to (a test fixture's isolation between tests).
    start_settings: StartSettings,
    /// One permit per file being read at once (see `Limits::concurrent_processing`).
    reading_slots: Arc<tokio::sync::Semaphore>,
    /// Counts the outcomes taken in: whoever waits for a reading watches it.
    outcomes_taken: tokio::sync::watch::Sender<u64>,
    /// The engine as shared (see [`Engine::share`]): readers hand their outcomes back to it.
    shared: std::sync::OnceLock<std::sync::Weak<Engine>>,
    /// Readings asked for before the engine was shared (while it loads); started by `share`.
    parked: Mutex<Vec<Reading>>,
    /// Tests hold readers here: each waits for a permit before it reads.
    #[cfg(test)]
    reader_gate: Option<Arc<tokio::sync::Semaphore>>,
}

/// See [`Engine::remember_start_settings`].
#[derive(Clone, Debug, Default)]
struct StartSettings {
    timing: Timing,
    streams: Vec<StreamConfig>,
    clock: (Option<i64>, i64),
}

/// What a reset forgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reset {
    /// Files, objects, the journal, faults and rate-limit windows; the settings stay.
    State,
    /// All of that, and the timing, streams and clock go back to how the fake started.
    StateAndSettings,
}

/// A file as one organisation may see it.
pub(crate) enum Lookup {
    Found(Arc<FileRecord>),
    /// It exists, in another organisation.
    Elsewhere,
    Missing,
}

/// What the clock reads and how files move: what the control plane reports after a clock call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClockReading {
    pub now_ms: i64,
    pub frozen: bool,
    pub timing: Timing,
}

impl Engine {
    /// An engine with nothing stored; [`Engine::load`] reads a persisted state.
    pub fn new(
        config: Config,
        clock: Clock,
        public_url: String,
        data_dir: &Path,
        persistent: bool,
    ) -> Result<Self, Error> {
        let objects_dir = data_dir.join("objects");
        let incoming_dir = data_dir.join("incoming");
        // A data directory is checked before anything is made in it (see `load`).
        if !persistent {
            create_dirs(&[&objects_dir, &incoming_dir])?;
        }
        let keys = Keys::new(&config);
        let start_clock = clock.parts();
        Ok(Engine {
            rate_limiter: Mutex::new(RateLimiter::new(config.rate_limit, keys.len())),
            keys,
            upload_slots: tokio::sync::Semaphore::new(config.limits.concurrent_uploads),
            store: Mutex::new(Store::new()),
            timing: Mutex::new(config.timing),
            streams: RwLock::new(config.streams.clone()),
            journal: Mutex::new(Journal::new(config.control.journal_capacity)),
            faults: Mutex::new(Faults::default()),
            faults_armed: AtomicBool::new(false),
            clock,
            public_url_auto: config.public_url.as_deref() == Some(crate::config::PUBLIC_URL_AUTO),
            public_url: public_url.trim_end_matches('/').to_owned(),
            objects_dir,
            incoming_dir,
            data_dir: persistent.then(|| data_dir.to_owned()),
            durable: None,
            epoch: AtomicU64::new(0),
            start_settings: StartSettings {
                timing: config.timing,
                streams: config.streams.clone(),
                clock: start_clock,
            },
            reading_slots: Arc::new(tokio::sync::Semaphore::new(
                config.limits.concurrent_processing,
            )),
            outcomes_taken: tokio::sync::watch::Sender::new(0),
            shared: std::sync::OnceLock::new(),
            parked: Mutex::new(Vec::new()),
            config,
            #[cfg(test)]
            reader_gate: None,
        })
    }

    /// The engine, loaded, shared with everything that serves it; the files it loaded that
    /// still have to be read start being read now.
    pub fn share(self) -> Arc<Engine> {
        let engine = Arc::new(self);
        engine
            .shared
            .set(Arc::downgrade(&engine))
            .expect("an engine is shared once");
        let parked = std::mem::take(&mut *engine.parked.lock());
        for reading in parked {
            engine.spawn_processing(reading);
        }
        engine
    }

    // ---- What the engine was configured with ----

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The base URL written into pre-signed forms, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// True under `--public-url auto`: the URL each request names is written into its forms.
    pub fn public_url_is_auto(&self) -> bool {
        self.public_url_auto
    }

    /// The current instant on the fake's clock (ms since the epoch); takes no lock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_millis()
    }

    /// How far the clock may still be advanced.
    pub fn clock_room(&self) -> Duration {
        self.clock.room()
    }

    pub fn clock_reading(&self) -> ClockReading {
        ClockReading {
            now_ms: self.clock.now_millis(),
            frozen: self.clock.is_frozen(),
            timing: *self.timing.lock(),
        }
    }

    /// True when the key is configured.
    pub fn is_known_key(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// The organisation of a configured key.
    pub fn org_of_key(&self, key: &str) -> Option<Arc<str>> {
        self.keys.org(key).cloned()
    }

    /// The organisation of the first configured key: where control calls put files by default.
    pub fn default_org(&self) -> String {
        self.config.effective_keys()[0].org.clone()
    }

    /// Every organisation that has a key, sorted.
    pub fn orgs(&self) -> Vec<String> {
        let mut orgs: Vec<String> = self
            .config
            .effective_keys()
            .into_iter()
            .map(|k| k.org)
            .collect();
        orgs.sort();
        orgs.dedup();
        orgs
    }

    pub fn timing(&self) -> Timing {
        *self.timing.lock()
    }

    /// Whether `stream` is one `org` may upload to: any stream when none are configured.
    pub(crate) fn stream_is_configured(&self, org: &str, stream: &str) -> bool {
        stream_for(&self.streams.read(), org, stream).is_ok()
    }

    pub fn streams(&self) -> Vec<StreamConfig> {
        self.streams.read().clone()
    }

    /// True when objects and the state must survive a crash (`--data-dir`).
    pub fn is_durable(&self) -> bool {
        self.data_dir.is_some()
    }

    // ---- The Unit21 API ----

    /// Checks the key, then the rate limit, then the permission.
    pub fn authorize(
        &self,
        key: Option<&str>,
        route: Route,
        permission: Permission,
    ) -> Result<Caller, Denied> {
        let bucket = self.config.fidelity.rate_limit_per_route.then_some(route);
        let now_ms = self.clock.now_millis();
        self.keys.authorize(
            &mut self.rate_limiter.lock(),
            key,
            bucket,
            permission,
            now_ms,
            std::time::Instant::now(),
        )
    }

    /// Records a new PENDING_UPLOAD import under a key no other file has.
    pub async fn create(
        &self,
        org: &str,
        stream: &str,
        file_name: &str,
        md5_hash: Option<String>,
    ) -> Result<FileRecord, Error> {
        let unique = self.config.fidelity.reject_duplicate_file_names;
        let (record, staged) = {
            let mut store = self.store.lock();
            let new = (org, stream, file_name, md5_hash);
            let record = self.insert(&mut store, new, Status::PENDING_UPLOAD, unique)?;
            (record, self.stage(&mut store, Vec::new()))
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
        unique_name: bool,
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
            .insert(new, unique_name)
            .map_err(|Refused::DuplicateName| Error::DuplicateName {
                stream_name: stream.to_owned(),
                file_name: file_name.to_owned(),
            })
    }

    /// Where a file created at `ms` is expected in the bucket: Unit21's key format.
    pub fn s3_key(&self, org: &str, ms: i64, file_name: &str) -> String {
        format!("{}/org_{org}/{ms}_{file_name}", self.config.environment)
    }

    /// A file as `org` may see it, after the lifecycle steps the clock has reached.
    pub async fn file_for(&self, org: &str, id: u64) -> Lookup {
        let store = self.caught_up();
        match store.get(org, id) {
            Some(record) => Lookup::Found(record.clone()),
            None if store.exists_elsewhere(org, id) => Lookup::Elsewhere,
            None => Lookup::Missing,
        }
    }

    /// A file in any organisation, as it is now.
    pub async fn file(&self, id: u64) -> Option<Arc<FileRecord>> {
        self.caught_up().file(id).cloned()
    }

    /// One page of `org`'s files and the number of matches; the records are shared, so the
    /// caller serialises them after the lock is released.
    pub async fn list(&self, org: &str, query: &ListQuery) -> (Vec<Arc<FileRecord>>, u64) {
        self.caught_up().list(org, query)
    }

    /// The dashboard's view of `org`: counts per status, its streams, and one page.
    pub async fn overview(
        &self,
        org: &str,
        query: &ListQuery,
    ) -> ([u64; 7], Vec<Arc<str>>, Vec<Arc<FileRecord>>, u64) {
        let store = self.caught_up();
        let (counts, streams) = store.overview(org);
        let (rows, matching) = store.list(org, query);
        (counts, streams, rows, matching)
    }

    /// How many imports exist, in all organisations.
    pub fn import_count(&self) -> usize {
        self.store.lock().len()
    }

    /// The object stored under `key` in the bucket, if any.
    pub fn object(&self, key: &str) -> Option<StoredObject> {
        self.store.lock().object(key).cloned()
    }

    // ---- Objects ----

    /// A place for an upload's bytes while they stream in, beside the object store.
    pub fn incoming_file(&self) -> std::io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&self.incoming_dir)
    }

    /// One of the `limits.concurrent_uploads` slots, when one is free.
    pub async fn upload_slot_wait(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.upload_slots
            .acquire()
            .await
            .expect("the upload slots are never closed")
    }

    /// Stores a received upload under `key`: the import waiting for it becomes QUEUED and is
    /// read. Committed before it returns, so an acknowledged upload survives a crash.
    pub async fn land_object(&self, key: &str, incoming: Incoming) -> Result<(), Error> {
        let object = self.store_object(incoming).await?;
        let path = object.path.clone();
        let timing = *self.timing.lock();
        let now_ms = self.clock.now_millis();
        let (job, replaced, staged) = {
            let mut store = self.store.lock();
            let (job, replaced) = store.object_landed(key, object, now_ms, timing);
            // Opened now, under the lock: a second upload to the key may replace and delete
            // this object's file at once, and the reader must still read these bytes.
            let job = job.map(Reading::open);
            (job, replaced, self.stage(&mut store, Vec::new()))
        };
        if let Err(err) = self.acknowledged(staged).await {
            remove_file_quietly(&path).await;
            return Err(err);
        }
        remove_replaced(replaced).await;
        if let Some(reading) = job {
            let (id, ticket) = (reading.job.id, reading.job.ticket);
            self.spawn_processing(reading);
            // Under `instant` the file ends as it lands: the answer waits for its reading
            // (other timings answer at once, and the file ends when its plan and its reading
            // both say so).
            self.read_if_due(id, ticket).await;
        }
        Ok(())
    }

    /// Moves a received upload into `objects/`; with a data directory, the rename reaches the
    /// disk before the object is recorded.
    async fn store_object(&self, incoming: Incoming) -> Result<StoredObject, Error> {
        let object = incoming.into_object(&self.objects_dir)?;
        if self.is_durable() {
            let synced = async {
                tokio::fs::File::open(&self.objects_dir)
                    .await?
                    .sync_all()
                    .await
            };
            if let Err(err) = synced.await {
                remove_file_quietly(&object.path).await;
                return Err(Error::io("cannot store the object")(err));
            }
        }
        Ok(object)
    }

    /// A file uploaded by hand in the UI: stored, ADDED, not yet processing.
    pub async fn add_file(
        &self,
        org: &str,
        stream: &str,
        file_name: &str,
        content: &[u8],
    ) -> Result<FileRecord, Error> {
        let mut temp = self
            .incoming_file()
            .map_err(Error::io("cannot store the file"))?;
        let etag = {
            use md5::Digest;
            use std::io::Write;
            temp.write_all(content)
                .and_then(|()| {
                    if self.is_durable() {
                        temp.as_file().sync_all()
                    } else {
                        Ok(())
                    }
                })
                .map_err(Error::io("cannot store the file"))?;
            format!("\"{}\"", hex::encode(md5::Md5::digest(content)))
        };
        let incoming = Incoming {
            temp: temp.into_temp_path(),
            size: content.len() as u64,
            etag,
        };
        self.add_file_object(org, stream, file_name, incoming).await
    }

    /// Files a received upload as an ADDED file (the dashboard's upload by hand).
    pub async fn add_file_object(
        &self,
        org: &str,
        stream: &str,
        file_name: &str,
        incoming: Incoming,
    ) -> Result<FileRecord, Error> {
        let object = self.store_object(incoming).await?;
        let path = object.path.clone();
        let inserted = {
            let mut store = self.store.lock();
            let new = (org, stream, file_name, None);
            self.insert(&mut store, new, Status::ADDED, false)
                .map(|record| {
                    let replaced = store.attach_object(&record.s3_key, object);
                    (record, replaced, self.stage(&mut store, Vec::new()))
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
        let timing = *self.timing.lock();
        let now_ms = self.clock.now_millis();
        let (job, staged) = {
            let mut store = self.store.lock();
            let job = Reading::open(store.start_processing(id, now_ms, timing)?);
            (job, self.stage(&mut store, Vec::new()))
        };
        self.acknowledged(staged).await?;
        self.spawn_processing(job);
        self.settle().await;
        Ok(())
    }

    /// Under `manual` timing, processes every QUEUED file now; returns how many started.
    pub async fn process_queued(&self) -> Result<usize, Error> {
        let (started, staged) = {
            let mut store = self.store.lock();
            let started = store.process_queued(self.clock.now_millis());
            (started, self.stage(&mut store, Vec::new()))
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
            let mut store = self.store.lock();
            let record = store.force(id, transition, now_ms)?;
            (record, self.stage(&mut store, Vec::new()))
        };
        self.acknowledged(staged).await?;
        Ok(record)
    }

    /// Applies every lifecycle step the clock has reached, first waiting (lock released) for
    /// the readings of files due to end: what the clock calls do, so a test that moves the
    /// clock sees each file end exactly when its plan says.
    pub async fn settle(&self) {
        self.wait_for_readings(|store, now_ms| store.reading_due(now_ms))
            .await
            .catch_up(self.clock.now_millis());
    }

    /// Waits until reading `ticket` of file `id` is in, if the file is due to end by now.
    async fn read_if_due(&self, id: u64, ticket: u64) {
        let reading = |store: &Store, now_ms| store.awaits_reading(id, ticket, now_ms);
        drop(self.wait_for_readings(reading).await);
    }

    /// Waits (lock released) while `reading` says the store still waits for a reading; returns
    /// the store, locked, once it does not.
    async fn wait_for_readings(
        &self,
        reading: impl Fn(&Store, i64) -> bool,
    ) -> parking_lot::MutexGuard<'_, Store> {
        loop {
            // Watched before the check, so an outcome taken in between is not missed.
            let mut taken = self.outcomes_taken.subscribe();
            if let Some(store) = self.store_unless(&reading) {
                return store;
            }
            let _ = taken.changed().await;
        }
    }

    /// The store, locked, unless `reading` says it still waits for a reading.
    fn store_unless(
        &self,
        reading: &impl Fn(&Store, i64) -> bool,
    ) -> Option<parking_lot::MutexGuard<'_, Store>> {
        let store = self.store.lock();
        (!reading(&store, self.clock.now_millis())).then_some(store)
    }

    /// The store, locked, with every step the clock has reached applied. Never waits: a file
    /// still being read past its planned end shows PROCESSING until its outcome is taken in.
    fn caught_up(&self) -> parking_lot::MutexGuard<'_, Store> {
        let now_ms = self.clock.now_millis();
        let mut store = self.store.lock();
        if store.has_due(now_ms) {
            store.catch_up(now_ms);
        }
        store
    }

    /// Reads a landed object on the blocking pool, at most `limits.concurrent_processing` at
    /// once, and hands the outcome back to the engine, which stores it before anyone sees it.
    /// The outcome is delivered even if the reader panics, so nobody waits for it forever.
    fn spawn_processing(&self, reading: Reading) {
        let Some(engine) = self.shared.get().cloned() else {
            self.parked.lock().push(reading);
            return;
        };
        let Reading { job, file } = reading;
        let check =
            StreamCheck::from_config(stream_for(&self.streams.read(), &job.org, &job.stream));
        let slots = self.reading_slots.clone();
        #[cfg(test)]
        let gate = self.reader_gate.clone();
        tokio::spawn(async move {
            #[cfg(test)]
            if let Some(gate) = gate {
                gate.acquire().await.expect("never closed").forget();
            }
            let ProcessingJob {
                id,
                ticket,
                file_type,
                ..
            } = job;
            let slot = slots.acquire_owned().await.expect("never closed");
            let result = tokio::task::spawn_blocking(move || {
                let outcome = processing::process_file(file, &file_type, &check);
                drop(slot);
                outcome
            })
            .await
            .unwrap_or_else(|err| {
                tracing::error!(%err, file_id = id, "processing panicked");
                Outcome::Failed(FailureCode::Unknown)
            });
            tracing::debug!(file_id = id, ?result, "processed");
            if let Some(engine) = engine.upgrade() {
                engine.take_outcome(id, ticket, result).await;
            }
        });
    }

    /// Stores a reading's outcome with its file (committed, with a data directory), ending the
    /// file now if it is past its planned end; then wakes whoever waits for readings.
    async fn take_outcome(&self, id: u64, ticket: u64, outcome: Outcome) {
        let now_ms = self.clock.now_millis();
        let staged = {
            let mut store = self.store.lock();
            if store.record_outcome(id, ticket, outcome, now_ms) {
                // Steps the clock has reached are applied (and stored) with it: a file whose
                // end nobody saw pass ends at its planned end.
                store.catch_up(now_ms);
                self.stage(&mut store, Vec::new())
            } else {
                None
            }
        };
        if let Err(err) = self.acknowledged(staged).await {
            tracing::error!(%err, file_id = id, "cannot store a file's outcome; it is read again");
        }
        self.outcomes_taken.send_modify(|n| *n += 1);
    }

    // ---- The clock and settings ----

    /// Moves the clock forward and applies what falls due. Refused past [`LATEST_MS`].
    pub async fn advance(&self, by: Duration) -> Result<ClockReading, Error> {
        if by > self.clock.room() {
            return Err(Error::Invalid(format!(
                "the clock cannot move past {} (it is {}): advance by less",
                crate::clock::iso8601_millis(LATEST_MS),
                crate::clock::iso8601_millis(self.clock.now_millis())
            )));
        }
        self.clock.advance(by);
        self.settle().await;
        self.save_settings().await?;
        Ok(self.clock_reading())
    }

    /// Freezes the clock at `epoch_ms` and applies what falls due. Refused past [`LATEST_MS`].
    pub async fn set_time(&self, epoch_ms: u64) -> Result<ClockReading, Error> {
        if epoch_ms > LATEST_MS as u64 {
            return Err(Error::Invalid(format!(
                "epoch_ms must be at most {LATEST_MS} ({})",
                crate::clock::iso8601_millis(LATEST_MS)
            )));
        }
        self.clock.set(UNIX_EPOCH + Duration::from_millis(epoch_ms));
        self.settle().await;
        self.save_settings().await?;
        Ok(self.clock_reading())
    }

    /// Switches the timing profile for files that land from now on.
    pub async fn set_timing(&self, timing: Timing) -> Result<ClockReading, Error> {
        *self.timing.lock() = timing;
        self.save_settings().await?;
        Ok(self.clock_reading())
    }

    /// Replaces every stream configuration, once it is checked.
    pub async fn set_streams(&self, streams: Vec<StreamConfig>) -> Result<(), Error> {
        Config {
            streams: streams.clone(),
            ..Config::default()
        }
        .validate()?;
        *self.streams.write() = streams;
        self.save_settings().await
    }

    /// Writes the clock, the timing profile and the streams (with any lifecycle steps applied
    /// since the last change).
    async fn save_settings(&self) -> Result<(), Error> {
        let staged = {
            let mut store = self.store.lock();
            let settings = self.settings_rows();
            self.stage(&mut store, settings)
        };
        self.acknowledged(staged).await
    }

    /// Takes what is in force now (after [`Engine::load`]) as the settings a
    /// [`Reset::StateAndSettings`] goes back to.
    pub fn remember_start_settings(&mut self) {
        self.start_settings = StartSettings {
            timing: *self.timing.lock(),
            streams: self.streams.read().clone(),
            clock: self.clock.parts(),
        };
    }

    /// Forgets every file, object, journal entry, fault and rate-limit window, and with
    /// [`Reset::StateAndSettings`] puts the timing, streams and clock back as they started.
    pub async fn reset(&self, what: Reset) -> Result<(), Error> {
        let (paths, staged) = self.clear(None, what);
        self.acknowledged(staged).await?;
        for path in paths {
            remove_file_quietly(&path).await;
        }
        Ok(())
    }

    /// Everything [`Engine::reset`] forgets, forgotten at once (and the clock set to `at`, if
    /// given): returns the object files to delete once the change is acknowledged.
    fn clear(&self, at: Option<SystemTime>, what: Reset) -> (Vec<PathBuf>, Option<Staged>) {
        let mut store = self.store.lock();
        if what == Reset::StateAndSettings {
            let start = &self.start_settings;
            *self.timing.lock() = start.timing;
            *self.streams.write() = start.streams.clone();
            self.clock.restore(start.clock.0, start.clock.1);
        }
        *self.rate_limiter.lock() = RateLimiter::new(self.config.rate_limit, self.keys.len());
        self.journal.lock().clear();
        self.faults.lock().clear();
        self.faults_armed.store(false, Ordering::Release);
        if let Some(at) = at {
            self.clock.set(at);
        }
        let paths = store.clear();
        let settings = self.settings_rows();
        (paths, self.stage(&mut store, settings))
    }

    /// Resets, then freezes the clock at an instant derived from `seed`: the same calls after
    /// the same seed give the same ids, keys and timestamps.
    pub async fn seed(&self, seed: u64) -> Result<ClockReading, Error> {
        let at =
            SystemTime::UNIX_EPOCH + Duration::from_secs(SEED_EPOCH_SECS + seed % 1_000_000_000);
        let (paths, staged) = self.clear(Some(at), Reset::State);
        self.acknowledged(staged).await?;
        for path in paths {
            remove_file_quietly(&path).await;
        }
        Ok(self.clock_reading())
    }

    // ---- Faults and the journal ----

    /// Adds a fault, once its bounds are checked; returns its id.
    pub fn add_fault(&self, fault: Fault) -> Result<u64, Error> {
        fault.validate().map_err(Error::Invalid)?;
        let id = self.faults.lock().add(fault).ok_or_else(|| {
            Error::Invalid(format!(
                "at most {} faults may be active at once; remove some first (DELETE /_mock/faults)",
                faults::MAX_FAULTS
            ))
        })?;
        self.faults_armed.store(true, Ordering::Release);
        Ok(id)
    }

    /// Removes one fault.
    pub fn remove_fault(&self, id: u64) -> Result<(), Error> {
        let mut faults = self.faults.lock();
        let removed = faults.remove(id);
        self.faults_armed
            .store(!faults.is_empty(), Ordering::Release);
        removed.then_some(()).ok_or(Error::NoSuchFault(id))
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.faults.lock().clear();
        self.faults_armed.store(false, Ordering::Release);
    }

    /// The active faults with their ids and the uses left.
    pub fn faults(&self) -> Vec<(u64, Fault, Option<u32>)> {
        self.faults.lock().list()
    }

    /// The fault to apply to a request, if any; counts its use.
    pub fn pick_fault(&self, method: &str, path: &str) -> Option<FaultAction> {
        if !self.faults_armed.load(Ordering::Acquire) {
            return None;
        }
        self.faults.lock().pick(method, path)
    }

    /// True when the journal keeps entries (its capacity is not 0).
    pub fn journal_enabled(&self) -> bool {
        self.config.control.journal_capacity > 0
    }

    /// Records a request in the journal; returns its sequence number.
    pub fn record_request(
        &self,
        method: &http::Method,
        target: String,
        headers: &http::HeaderMap,
        body: BodySummary,
        raw: Option<bytes::Bytes>,
    ) -> u64 {
        let at_ms = self.clock.now_millis();
        let headers = journal::pack_headers(headers);
        self.journal
            .lock()
            .record(at_ms, method, target, headers, body, raw)
    }

    /// Records the status answered to request `seq`.
    pub fn record_answer(&self, seq: u64, status: u16) {
        self.journal.lock().answered(seq, status);
    }

    /// The journal's entries matching `query`, oldest first, and how many it keeps in all.
    pub(crate) fn journal_entries(&self, query: &JournalQuery) -> (Vec<KeptEntry>, usize) {
        let journal = self.journal.lock();
        (journal.matching(query), journal.len())
    }

    /// The journal's entries matching `query`, oldest first, as the journal shows them.
    pub fn requests(&self, query: &JournalQuery) -> Vec<JournalEntry> {
        self.journal_entries(query)
            .0
            .iter()
            .map(KeptEntry::to_entry)
            .collect()
    }

    /// Empties the journal (sequence numbers keep counting).
    pub fn clear_requests(&self) {
        self.journal.lock().clear();
    }

    // ---- The whole state ----

    fn capture_parts(&self) -> snapshot::Parts {
        let contents = self.store.lock().export();
        snapshot::Parts {
            contents,
            clock: self.clock.parts(),
            timing: *self.timing.lock(),
            streams: self.streams.read().clone(),
        }
    }

    /// The whole state as `GET /_mock/state` returns it, taken once every file in flight is
    /// read and every due step applied, to be written with [`StateDocument::write_to`] as it goes out.
    pub async fn export_document(&self) -> StateDocument {
        // Every reading in flight is waited for, so an export carries each file's outcome and
        // two exports of an unchanged fake are the same.
        drop(self.wait_for_readings(|store, _| store.reading_any()).await);
        self.settle().await;
        StateDocument(self.capture_parts())
    }

    /// The whole state as one JSON value, objects inline: [`Engine::export_document`] parsed
    /// (for the in-process handle; HTTP streams the document instead).
    pub async fn export(&self) -> Result<serde_json::Value, Error> {
        let document = self.export_document().await;
        tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            document.write_to(&mut bytes)?;
            serde_json::from_slice(&bytes).map_err(std::io::Error::other)
        })
        .await
        .map_err(|e| Error::io("cannot read an object back")(std::io::Error::other(e)))?
        .map_err(Error::io("cannot read an object back"))
    }

    /// Reads an exported document from `input` as it arrives, its objects written to the
    /// object store as they are decoded; [`Engine::restore`] then puts it in force. Blocking:
    /// run it off the runtime's threads. A document that goes wrong is refused where it does,
    /// with the objects it brought removed.
    pub fn read_snapshot(&self, input: impl std::io::Read) -> Result<SnapshotParts, Error> {
        snapshot::read_document(input, &self.objects_dir)
            .map(SnapshotParts)
            .map_err(|refusal| match refusal {
                snapshot::Refusal::Invalid(why) => {
                    Error::Invalid(format!("Invalid snapshot: {why}"))
                }
                snapshot::Refusal::Io(err) => Error::io("cannot store a snapshot's object")(err),
            })
    }

    /// Replaces the whole state with an exported one, given as a JSON value.
    pub async fn import(self: &Arc<Self>, snapshot: serde_json::Value) -> Result<(), Error> {
        let bytes = serde_json::to_vec(&snapshot).expect("a JSON value serialises");
        let engine = self.clone();
        let parts = tokio::task::spawn_blocking(move || engine.read_snapshot(&bytes[..]))
            .await
            .map_err(|e| Error::Invalid(format!("Invalid snapshot: {e}")))??;
        self.restore(parts).await
    }

    /// Puts a snapshot read by [`Engine::read_snapshot`] in force, replacing the whole state.
    pub async fn restore(&self, parts: SnapshotParts) -> Result<(), Error> {
        let parts = parts.0;
        let brought: Vec<PathBuf> = parts
            .contents
            .objects
            .iter()
            .map(|(_, object)| object.path.clone())
            .collect();
        let (store, jobs) = match Store::import(parts.contents) {
            Ok(imported) => imported,
            Err(why) => {
                for path in &brought {
                    remove_file_quietly(path).await;
                }
                return Err(Error::Invalid(format!("Invalid snapshot: {why}")));
            }
        };
        let new_paths = store.object_paths();
        // Two objects under one key: the first one's file is not used.
        for path in brought.iter().filter(|p| !new_paths.contains(*p)) {
            remove_file_quietly(path).await;
        }
        let (replaced, jobs, staged) = {
            let mut current = self.store.lock();
            let replaced = std::mem::replace(&mut *current, store);
            let jobs: Vec<Reading> = jobs.into_iter().map(Reading::open).collect();
            self.clock.restore(parts.clock.0, parts.clock.1);
            *self.timing.lock() = parts.timing;
            *self.streams.write() = parts.streams;
            let mut change = current.whole();
            change.meta.extend(self.settings_rows());
            (replaced, jobs, self.send(change))
        };
        let old_paths = replaced.object_paths();
        if let Err(err) = self.acknowledged(staged).await {
            for path in new_paths.difference(&old_paths) {
                remove_file_quietly(path).await;
            }
            return Err(err);
        }
        for job in jobs {
            self.spawn_processing(job);
        }
        // Objects of the replaced state that the new one does not use.
        for path in old_paths.difference(&new_paths) {
            remove_file_quietly(path).await;
        }
        Ok(())
    }

    // ---- Durability ----

    /// The clock, timing and streams as `meta` rows.
    fn settings_rows(&self) -> Vec<(&'static str, String)> {
        let (frozen, offset) = self.clock.parts();
        vec![
            (
                "clock_frozen_at_ms",
                frozen.map_or(String::new(), |ms| ms.to_string()),
            ),
            ("clock_offset_ms", offset.to_string()),
            ("timing", self.timing.lock().as_str().to_owned()),
            (
                "streams",
                serde_json::to_string(&*self.streams.read()).expect("streams serialise"),
            ),
        ]
    }

    /// Under the store's lock: hands what changed (and `meta`) to the database, in the order
    /// changes are made. `None` without a data directory.
    fn stage(&self, store: &mut Store, meta: Vec<(&'static str, String)>) -> Option<Staged> {
        self.durable.as_ref()?;
        let mut change = store.take_change();
        change.meta.extend(meta);
        self.send(change)
    }

    fn send(&self, change: Change) -> Option<Staged> {
        let durable = self.durable.as_ref()?;
        if change.is_empty() {
            return None;
        }
        Some(durable.send(self.epoch.load(Ordering::Acquire), change))
    }

    /// Waits until a staged change is committed. If it cannot be, the change is refused:
    /// memory is reloaded from the database (which does not have it), and the caller answers
    /// an error.
    async fn acknowledged(&self, staged: Option<Staged>) -> Result<(), Error> {
        let Some(answer) = staged else {
            return Ok(());
        };
        let why = match answer.await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(why)) => why,
            Err(_) => "the database writer has stopped".to_owned(),
        };
        self.reload_after_refusal();
        Err(Error::Io {
            context: "cannot write the state to the data directory; the change was not made".into(),
            source: std::io::Error::other(why),
        })
    }

    /// Puts memory back to what the database holds, after a change it could not take.
    fn reload_after_refusal(&self) {
        let Some(durable) = self.durable.as_ref() else {
            return;
        };
        let mut store = self.store.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let reread = durable
            .reread(&self.objects_dir)
            .and_then(|(contents, settings)| Ok((Store::import(contents)?, settings)));
        match reread {
            Ok(((reloaded, jobs), settings)) => {
                *store = reloaded;
                let jobs: Vec<Reading> = jobs.into_iter().map(Reading::open).collect();
                self.clock.restore(settings.clock.0, settings.clock.1);
                if let Some(timing) = settings.timing {
                    *self.timing.lock() = timing;
                }
                if let Some(streams) = settings.streams {
                    *self.streams.write() = streams;
                }
                drop(store);
                for job in jobs {
                    self.spawn_processing(job);
                }
            }
            Err(err) => {
                tracing::error!(%err, "cannot read the state back after a refused write");
            }
        }
    }

    /// Releases the data directory (see `Durable::close`): changes are refused from now on.
    pub fn close(&self) {
        if let Some(durable) = self.durable.as_ref() {
            durable.close();
        }
    }

    /// Opens the data directory, if the fake has one, and loads what it holds; drops what a
    /// crash left behind (partial uploads in `incoming/`, object files no object refers to),
    /// touching only names the fake itself makes. With `keep_stored_settings`, the timing
    /// profile and streams stored there win over the configuration's; otherwise the
    /// configuration's win, and are stored.
    pub async fn load(&mut self, keep_stored_settings: bool) -> Result<(), Error> {
        let Some(dir) = self.data_dir.clone() else {
            return Ok(());
        };
        let objects_dir = self.objects_dir.clone();
        let opened = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || Durable::open(&dir, &objects_dir))
                .await
                .map_err(|e| {
                    Error::io("cannot open the data directory")(std::io::Error::other(e))
                })??
        };
        create_dirs(&[&self.objects_dir, &self.incoming_dir])?;
        let context = format!("cannot load the state in {}", dir.display());
        let (store, jobs) = Store::import(opened.contents).map_err(|message| Error::Io {
            context: context.clone(),
            source: std::io::Error::other(message),
        })?;
        let settings = opened.settings;
        // Settings are written at a directory's first start: a directory without them is new.
        let written_before = settings.timing.is_some();
        *self.store.lock() = store;
        if written_before {
            // A directory written before holds the clock as it was left.
            self.clock.restore(settings.clock.0, settings.clock.1);
        }
        if keep_stored_settings {
            if let Some(timing) = settings.timing {
                *self.timing.lock() = timing;
            }
            if let Some(streams) = settings.streams {
                *self.streams.write() = streams;
            }
        }
        self.durable = Some(opened.durable);
        for job in jobs {
            self.spawn_processing(Reading::open(job));
        }
        remove_all_in(&self.incoming_dir, |name| name.starts_with("upload-"))
            .await
            .map_err(Error::io(context.clone()))?;
        let kept = self.store.lock().object_paths();
        let objects_dir = self.objects_dir.clone();
        remove_all_in(&self.objects_dir, |name| {
            durable::is_generated_name(name) && !kept.contains(&objects_dir.join(name))
        })
        .await
        .map_err(Error::io(context))?;
        // What is in force now is what the directory holds from here on (nothing to write
        // when it is what the directory held).
        if keep_stored_settings && written_before {
            return Ok(());
        }
        self.save_settings().await
    }
}

#[cfg(test)]
mod tests;

/// The state as exported, taken at one instant; its objects are read as it is written.
pub(crate) struct StateDocument(snapshot::Parts);

impl StateDocument {
    /// Writes the JSON document to `out`, each object read from disk as it goes. Blocking.
    /// Fails if an object changed since the state was taken (what was written is then cut
    /// short, and no JSON parser takes it).
    pub fn write_to(self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        snapshot::write_document(self.0, out)
    }
}

/// A snapshot read and checked, its objects already in the object store.
pub(crate) struct SnapshotParts(snapshot::Parts);

/// A change handed to the database; the answer says whether it was committed.
type Staged = tokio::sync::oneshot::Receiver<Result<(), String>>;

fn create_dirs(dirs: &[&Path]) -> Result<(), Error> {
    for dir in dirs {
        std::fs::create_dir_all(dir)
            .map_err(Error::io(format!("cannot create {}", dir.display())))?;
    }
    Ok(())
}

async fn remove_file_quietly(path: &Path) {
    if let Err(err) = tokio::fs::remove_file(path).await {
        if err.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(%err, path = %path.display(), "could not remove a file");
        }
    }
}

/// A file to read, with its object's file opened when the file was queued.
struct Reading {
    job: ProcessingJob,
    file: std::io::Result<std::fs::File>,
}

impl Reading {
    fn open(job: ProcessingJob) -> Reading {
        let file = std::fs::File::open(&job.object);
        Reading { job, file }
    }
}

/// An upload on disk that is not yet an object; dropping it deletes the file.
pub(crate) struct Incoming {
    pub temp: tempfile::TempPath,
    pub size: u64,
    /// Quoted hex MD5.
    pub etag: String,
}

impl Incoming {
    /// Moves the file into the object store under a generated name (never a client's).
    fn into_object(self, objects_dir: &Path) -> Result<StoredObject, Error> {
        let path: PathBuf = objects_dir.join(uuid::Uuid::new_v4().simple().to_string());
        self.temp
            .persist(&path)
            .map_err(|err| Error::io("cannot store the object")(err.error))?;
        Ok(StoredObject {
            path,
            size: self.size,
            etag: self.etag,
        })
    }
}

async fn remove_replaced(replaced: Option<PathBuf>) {
    if let Some(old) = replaced {
        if let Err(err) = tokio::fs::remove_file(&old).await {
            tracing::warn!(%err, path = %old.display(), "could not remove a replaced object");
        }
    }
}

/// Removes the files in `dir` whose names `doomed` picks; anything else is left, with a warning.
async fn remove_all_in(dir: &Path, doomed: impl Fn(&str) -> bool) -> std::io::Result<()> {
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if doomed(&name) {
            let _ = tokio::fs::remove_file(entry.path()).await;
        } else if !name.starts_with("upload-") && !durable::is_generated_name(&name) {
            tracing::warn!(path = %entry.path().display(), "a file the fake did not make; left as it is");
        }
    }
    Ok(())
}
