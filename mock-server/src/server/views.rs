//! The handle's views, grouped by concern: each calls the same engine operation as the
//! matching HTTP route, so it settles and persists the same way.

use std::time::{Duration, SystemTime};

use crate::clock::{to_millis, LATEST_MS};
use crate::config::Timing;
use crate::engine::{Engine, Fault, JournalEntry, JournalQuery, StoredObject, Transition};
use crate::error::Error;
use crate::model::FileRecord;

/// [`MockServer::clock`](super::MockServer::clock): the fake's clock and timing profile.
pub struct ClockControl<'a>(pub(super) &'a Engine);

impl ClockControl<'_> {
    /// The current time on the fake's clock.
    pub fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.0.now_ms().max(0) as u64)
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> i64 {
        self.0.now_ms()
    }

    /// True when the clock only moves when told to.
    pub fn is_frozen(&self) -> bool {
        self.0.files.clock_reading().frozen
    }

    /// Moves the clock forward (stopping at 9999-12-01, where the HTTP route refuses) and
    /// applies every lifecycle step that falls due, waiting for the reading of files whose
    /// processing ends within that time.
    ///
    /// # Panics
    /// When the fake has a data directory and cannot write the clock to it.
    pub async fn advance(&self, by: Duration) {
        let by = by.min(self.0.clock_room());
        if let Err(err) = self.0.files.advance(by).await {
            panic!("the fake's clock could not be moved: {}", err.detail());
        }
    }

    /// Freezes the clock at `at` (at most 9999-12-01) and applies what falls due.
    ///
    /// # Panics
    /// When the fake has a data directory and cannot write the clock to it.
    pub async fn set(&self, at: SystemTime) {
        let ms = to_millis(at).clamp(0, LATEST_MS) as u64;
        if let Err(err) = self.0.files.set_time(ms).await {
            panic!("the fake's clock could not be set: {}", err.detail());
        }
    }

    /// The timing profile in force.
    pub fn timing(&self) -> Timing {
        self.0.files.timing()
    }

    /// Switches the timing profile for files that land from now on.
    ///
    /// # Errors
    /// [`Error::Io`] when the data directory cannot be written; the profile is unchanged.
    pub async fn set_timing(&self, timing: Timing) -> Result<(), Error> {
        self.0.files.set_timing(timing).await.map(drop)
    }
}

/// [`MockServer::files`](super::MockServer::files): imports, their lifecycle and their objects.
pub struct Files<'a>(pub(super) &'a Engine);

impl Files<'_> {
    /// A file in any organisation, as it is now.
    pub async fn get(&self, file_id: u64) -> Option<FileRecord> {
        self.0.files.file(file_id).map(|r| FileRecord::clone(&r))
    }

    /// How many imports exist, in all organisations.
    pub fn count(&self) -> usize {
        self.0.files.import_count()
    }

    /// The object stored under `key` in the bucket, if any.
    pub fn object(&self, key: &str) -> Option<StoredObject> {
        self.0.files.object(key)
    }

    /// Applies every lifecycle step the clock has already reached.
    pub async fn settle(&self) {
        self.0.files.settle().await;
    }

    /// Puts a file in a state by force (PROCESSING, FINISHED with counts, FAILED with a code,
    /// DELETED), cancelling whatever its lifecycle had planned.
    ///
    /// # Errors
    /// [`Error::NoSuchFile`].
    pub async fn force(&self, file_id: u64, transition: Transition) -> Result<FileRecord, Error> {
        let record = self.0.files.force(file_id, transition).await?;
        Ok(FileRecord::clone(&record))
    }

    /// Adds a file as the UI's manual upload does: ADDED in the first key's organisation, its
    /// content stored, not yet processing.
    ///
    /// # Errors
    /// [`Error::Io`] when the object cannot be written to the data directory.
    pub async fn add(
        &self,
        stream: &str,
        file_name: &str,
        content: impl AsRef<[u8]>,
    ) -> Result<FileRecord, Error> {
        let org = self.0.settings.default_org();
        self.add_for(&org, stream, file_name, content).await
    }

    /// [`add`](Self::add) for a given organisation.
    ///
    /// # Errors
    /// [`Error::Io`] when the object cannot be written to the data directory.
    pub async fn add_for(
        &self,
        org: &str,
        stream: &str,
        file_name: &str,
        content: impl AsRef<[u8]>,
    ) -> Result<FileRecord, Error> {
        self.0
            .add_file(org, stream, file_name, content.as_ref())
            .await
    }

    /// ADDED → QUEUED, as the UI's "process" action; the timing profile takes it from there.
    ///
    /// # Errors
    /// [`Error::NoSuchFile`], or [`Error::WrongStatus`] when the file is not ADDED.
    pub async fn start_processing(&self, file_id: u64) -> Result<(), Error> {
        self.0.files.start_processing(file_id).await
    }

    /// Under [`Timing::Manual`], processes every QUEUED file now; returns how many started.
    ///
    /// # Errors
    /// [`Error::Io`] when the data directory cannot be written; nothing starts.
    pub async fn process_queued(&self) -> Result<usize, Error> {
        self.0.files.process_queued().await
    }
}

/// [`MockServer::faults`](super::MockServer::faults): failures injected into matching requests.
pub struct Faults<'a>(pub(super) &'a Engine);

impl Faults<'_> {
    /// Adds a fault; returns its id.
    ///
    /// # Errors
    /// [`Error::Invalid`] when it is out of bounds (a probability outside 0–1, no uses, a
    /// wait over a day, a delay over ten minutes), as the HTTP route refuses it.
    pub fn add(&self, fault: Fault) -> Result<u64, Error> {
        self.0.traffic.add_fault(fault)
    }

    /// Removes one fault.
    ///
    /// # Errors
    /// [`Error::NoSuchFault`].
    pub fn remove(&self, id: u64) -> Result<(), Error> {
        self.0.traffic.remove_fault(id)
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.0.traffic.clear_faults();
    }

    /// The active faults with their ids and the uses left.
    pub fn list(&self) -> Vec<(u64, Fault, Option<u32>)> {
        self.0.traffic.faults()
    }
}

/// [`MockServer::journal`](super::MockServer::journal): the requests clients sent, and what they were answered.
pub struct Journal<'a>(pub(super) &'a Engine);

impl Journal<'_> {
    /// The entries matching `query`, oldest first.
    pub fn requests(&self, query: &JournalQuery) -> Vec<JournalEntry> {
        self.0.traffic.requests(query)
    }

    /// Empties the journal (sequence numbers keep counting).
    pub fn clear(&self) {
        self.0.traffic.clear_requests();
    }
}
