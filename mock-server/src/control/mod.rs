//! The control plane: what makes the fake more than a static mock. Every control is a method
//! on [`MockServer`](crate::MockServer) and a route under `/_mock/` (see `routes`), both
//! calling the operations here.

mod faults;
mod guard;
mod journal;
mod observe;
mod routes;
mod snapshot;

use std::time::SystemTime;

pub use faults::{Fault, FaultAction, Faults};
pub(crate) use guard::host_without_port;
pub use journal::{Journal, JournalEntry, JournalQuery};
pub(crate) use observe::observe;
pub(crate) use routes::{file_json, routes, Refusal};

use crate::config::{StreamConfig, Timing};
use crate::model::FileRecord;
use crate::state::AppState;
use crate::store::{ControlError, StoredObject, Transition};

/// Where seeded clocks start: 2024-01-01T00:00:00Z, plus the seed in seconds.
const SEED_EPOCH_SECS: u64 = 1_704_067_200;

impl AppState {
    /// Forgets every file, object, journal entry, fault and rate-limit window.
    pub(crate) async fn reset(&self) {
        let paths = self.store.lock().clear();
        *self.rate_limiter.lock() = crate::api::access::RateLimiter::new(self.config.rate_limit);
        self.journal.lock().clear();
        self.faults.lock().clear();
        for path in paths {
            let _ = tokio::fs::remove_file(path).await;
        }
        self.persist().await;
    }

    /// Resets, then freezes the clock at an instant derived from `seed`: the same calls after
    /// the same seed give the same ids, keys and timestamps.
    pub(crate) async fn seed(&self, seed: u64) {
        self.reset().await;
        let at = SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs(SEED_EPOCH_SECS + seed % 1_000_000_000);
        self.clock.set(at);
        self.persist().await;
    }

    pub(crate) fn set_timing(&self, timing: Timing) {
        *self.timing.lock() = timing;
    }

    pub(crate) fn set_streams(&self, streams: Vec<StreamConfig>) {
        *self.streams.write() = streams;
    }

    pub(crate) async fn force(
        &self,
        id: u64,
        transition: Transition,
    ) -> Result<FileRecord, ControlError> {
        self.settle().await;
        let now_ms = self.clock.now_millis();
        let record = self.store.lock().force(id, transition, now_ms).cloned()?;
        self.persist().await;
        Ok(record)
    }

    /// A file uploaded by hand in the UI: stored, ADDED, not yet processing.
    pub(crate) async fn add_manual(
        &self,
        org: &str,
        stream: &str,
        file_name: &str,
        content: &[u8],
    ) -> std::io::Result<FileRecord> {
        let path = self
            .objects_dir
            .join(uuid::Uuid::new_v4().simple().to_string());
        tokio::fs::write(&path, content).await?;
        let etag = {
            use md5::Digest;
            format!("\"{}\"", hex::encode(md5::Md5::digest(content)))
        };
        let object = StoredObject {
            path,
            size: content.len() as u64,
            etag,
        };
        Ok(self.add_manual_object(org, stream, file_name, object).await)
    }

    /// Files an object already in the object store as an ADDED file.
    pub(crate) async fn add_manual_object(
        &self,
        org: &str,
        stream: &str,
        file_name: &str,
        object: StoredObject,
    ) -> FileRecord {
        let environment = &self.config.environment;
        let key_for = |org: &str, ms: i64| format!("{environment}/org_{org}/{ms}_{file_name}");
        let now_ms = self.clock.now_millis();
        let (record, replaced) = self
            .store
            .lock()
            .add_manual(org, stream, file_name, key_for, object, now_ms);
        if let Some(old) = replaced {
            let _ = tokio::fs::remove_file(old).await;
        }
        self.persist().await;
        record
    }

    /// Under `manual` timing, processes every QUEUED file now; returns how many started.
    pub(crate) async fn process_queued(&self) -> usize {
        let started = self.store.lock().process_queued(self.clock.now_millis());
        self.settle().await;
        self.persist().await;
        started
    }

    /// ADDED → QUEUED, as the UI's "process" action.
    pub(crate) async fn start_processing(&self, id: u64) -> Result<(), ControlError> {
        let timing = *self.timing.lock();
        let job = self
            .store
            .lock()
            .start_processing(id, self.clock.now_millis(), timing)?;
        self.spawn_processing(job);
        self.persist().await;
        Ok(())
    }

    /// The organisation of the first configured key: where control calls put files by default.
    pub(crate) fn default_org(&self) -> String {
        self.config.effective_keys()[0].org.clone()
    }
}
