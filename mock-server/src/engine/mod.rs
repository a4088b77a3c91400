//! The engine: everything the fake holds and every rule that changes it, with no HTTP in it.
//!
//! It is made of parts, each owning its own lock (or needing none), as mini-redis's `Db` does;
//! no part takes another's lock, so there is no order to keep between them:
//! - `files`: imports, objects' records, lifecycle, timing and streams, under one lock, with
//!   the readings of landed objects and the whole state's export, import and load;
//! - `objects`: the upload pipeline's directories and slots (no lock);
//! - `access`: keys, permissions and the rate limiter (its own lock);
//! - `traffic`: the journal and the faults (a lock each, never nested);
//! - `settings`: the configuration and the settings a full reset returns to (read-only);
//! - `persist`: with `--data-dir`, the database every acknowledged change is committed to
//!   before it is answered; `snapshot`: the state as one portable JSON document; `store`:
//!   the plain data the files part keeps.
//!
//! What spans parts stays here: making and loading the engine, the resets, and files that
//! arrive with bytes (stored by `objects`, then recorded by `files`). Callers name the part
//! they use (`engine.files.list(…)`), so a reader can tell the room of every line.

pub(crate) mod access;
mod files;
mod objects;
mod persist;
mod settings;
mod snapshot;
mod store;
mod traffic;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub(crate) use self::access::Access;
pub(crate) use self::files::{ClockReading, Files, Lookup, Overview, StartSettings};
pub(crate) use self::objects::{Chunks, Incoming, Objects, Refusal};
pub(crate) use self::settings::Settings;
pub(crate) use self::traffic::Traffic;
pub use self::traffic::JOURNAL_BODY_BYTES;
pub use self::traffic::{BodySummary, Fault, FaultAction, JournalEntry, JournalQuery};
pub(crate) use store::ListQuery;
pub use store::StoredObject;
pub use store::Transition;

use self::persist::Durable;
pub(crate) use self::persist::LOCK as DATA_DIR_LOCK;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::Error;
use crate::model::FileRecord;

/// Where seeded clocks start: 2024-01-01T00:00:00Z, plus the seed in seconds.
const SEED_EPOCH_SECS: u64 = 1_704_067_200;

/// The fake's state and rules, as parts. Shared as `Arc<Engine>`; each part is shared too, so
/// a route can hold just the part it uses.
pub(crate) struct Engine {
    pub settings: Arc<Settings>,
    pub access: Arc<Access>,
    pub traffic: Arc<Traffic>,
    pub files: Arc<Files>,
    pub objects: Arc<Objects>,
    clock: Clock,
    /// With `--data-dir`: the directory, opened by [`Engine::load`].
    data_dir: Option<PathBuf>,
}

/// What a reset forgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reset {
    /// Files, objects, the journal, faults and rate-limit windows; the settings stay.
    State,
    /// All of that, and the timing, streams and clock go back to how the fake started.
    StateAndSettings,
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
        let objects = Objects::new(data_dir, persistent, config.limits.concurrent_uploads);
        // A data directory is checked before anything is made in it (see `load`).
        if !persistent {
            objects.create_dirs()?;
        }
        let start = StartSettings {
            timing: config.timing,
            streams: config.streams.clone(),
            clock: clock.parts(),
        };
        Ok(Engine {
            access: Arc::new(Access::new(&config, clock.clone())),
            traffic: Arc::new(Traffic::new(clock.clone(), config.control.journal_capacity)),
            files: Arc::new(Files::new(
                &config,
                clock.clone(),
                objects.objects_dir().to_owned(),
            )),
            objects: Arc::new(objects),
            settings: Arc::new(Settings::new(config, public_url, start)),
            clock,
            data_dir: persistent.then(|| data_dir.to_owned()),
        })
    }

    /// The engine, loaded, shared with everything that serves it; the files it loaded that
    /// still have to be read start being read now.
    pub fn share(self) -> Arc<Engine> {
        self.files.start();
        Arc::new(self)
    }

    /// The current instant on the fake's clock (ms since the epoch); takes no lock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_millis()
    }

    /// How far the clock may still be advanced.
    pub fn clock_room(&self) -> Duration {
        self.clock.room()
    }

    #[cfg(test)]
    pub fn clock_for_tests(&self) -> &Clock {
        &self.clock
    }

    pub fn config(&self) -> &Config {
        self.settings.config()
    }

    /// Opens the data directory, if the fake has one, and loads what it holds; drops what a
    /// crash left behind (partial uploads in `incoming/`, object files no object refers to),
    /// touching only names the fake itself makes. With `keep_stored_settings`, the timing
    /// profile and streams stored there win over the configuration's; otherwise the
    /// configuration's win, and are stored. Before [`Engine::share`].
    pub async fn load(&mut self, keep_stored_settings: bool) -> Result<(), Error> {
        let Some(dir) = self.data_dir.clone() else {
            return Ok(());
        };
        let objects_dir = self.objects.objects_dir().to_owned();
        let opened = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || Durable::open(&dir, &objects_dir))
                .await
                .map_err(|e| {
                    Error::io("cannot open the data directory")(std::io::Error::other(e))
                })??
        };
        self.objects.create_dirs()?;
        let context = format!("cannot load the state in {}", dir.display());
        let files = Arc::get_mut(&mut self.files).expect("loaded before it is shared");
        let written_before = files
            .load(
                opened.durable,
                opened.contents,
                opened.settings,
                keep_stored_settings,
            )
            .map_err(|message| Error::Io {
                context: context.clone(),
                source: std::io::Error::other(message),
            })?;
        self.objects
            .sweep(&self.files.object_paths())
            .await
            .map_err(Error::io(context))?;
        // What is in force now is what the directory holds from here on (nothing to write
        // when it is what the directory held).
        if keep_stored_settings && written_before {
            return Ok(());
        }
        self.files.save_settings().await
    }

    /// Takes what is in force now (after [`Engine::load`]) as the settings a
    /// [`Reset::StateAndSettings`] goes back to.
    pub fn remember_start_settings(&mut self) {
        let start = self.files.current_settings();
        Arc::get_mut(&mut self.settings)
            .expect("remembered before it is shared")
            .start = start;
    }

    /// Forgets every file, object, journal entry, fault and rate-limit window, and with
    /// [`Reset::StateAndSettings`] puts the timing, streams and clock back as they started.
    pub async fn reset(&self, what: Reset) -> Result<(), Error> {
        let start = (what == Reset::StateAndSettings).then_some(&self.settings.start);
        self.forget_requests();
        self.files.clear(start, None).await
    }

    /// Resets, then freezes the clock at an instant derived from `seed`: the same calls after
    /// the same seed give the same ids, keys and timestamps.
    pub async fn seed(&self, seed: u64) -> Result<ClockReading, Error> {
        let at =
            SystemTime::UNIX_EPOCH + Duration::from_secs(SEED_EPOCH_SECS + seed % 1_000_000_000);
        self.forget_requests();
        self.files.clear(None, Some(at)).await?;
        Ok(self.files.clock_reading())
    }

    /// The parts of a reset that are not files: rate-limit windows, the journal, faults.
    fn forget_requests(&self) {
        self.access.reset();
        self.traffic.clear();
    }

    /// Stores a received upload under `key`: the import waiting for it becomes QUEUED and is
    /// read. Committed before it returns, so an acknowledged upload survives a crash.
    pub async fn land_object(&self, key: &str, incoming: Incoming) -> Result<(), Error> {
        let object = self.objects.store(incoming).await?;
        self.files.land(key, object).await
    }

    /// A file uploaded by hand in the UI: stored, ADDED, not yet processing.
    pub async fn add_file(
        &self,
        org: &str,
        stream: &str,
        file_name: &str,
        content: &[u8],
    ) -> Result<FileRecord, Error> {
        let incoming = self.objects.write(content)?;
        self.add_file_object(org, stream, file_name, incoming).await
    }

    /// `POST /_mock/files`: a file whose names pass the create call's rules, stored, ADDED,
    /// and with `process` QUEUED at once; returned as it is then.
    pub async fn file_by_control(
        &self,
        org: &str,
        stream: &str,
        file_name: &str,
        content: &[u8],
        process: bool,
    ) -> Result<Arc<FileRecord>, Error> {
        self.files
            .check_names(org, stream, file_name)
            .map_err(Error::Invalid)?;
        let record = self.add_file(org, stream, file_name, content).await?;
        if process {
            self.files.start_processing(record.id).await?;
        }
        self.files
            .file(record.id)
            .ok_or(Error::NoSuchFile(record.id))
    }

    /// Files a received upload as an ADDED file (the dashboard's upload by hand).
    pub async fn add_file_object(
        &self,
        org: &str,
        stream: &str,
        file_name: &str,
        incoming: Incoming,
    ) -> Result<FileRecord, Error> {
        let object = self.objects.store(incoming).await?;
        self.files.add(org, stream, file_name, object).await
    }

    /// Releases the data directory: changes are refused from now on.
    pub fn close(&self) {
        self.files.close();
    }
}

#[cfg(test)]
mod tests;
