//! Reading landed objects: each on the blocking pool, at most `limits.concurrent_processing`
//! at once, with no lock held; the outcome comes back to the files part, which stores it
//! before anyone can see it. Reads never wait for a reading (a file read past its planned end
//! shows PROCESSING until its outcome is in); the clock's calls do, so a test that moves the
//! clock sees each file end exactly when its plan says.

use std::sync::{Arc, OnceLock, Weak};

use parking_lot::MutexGuard;

use super::{Files, Shelf};
use crate::config::stream_for;
use crate::engine::store::ProcessingJob;
use crate::model::FailureCode;
use crate::processing::{self, Outcome, StreamCheck};

/// A file to read, with its object's file opened when the file was queued.
pub(crate) struct Reading {
    job: ProcessingJob,
    file: std::io::Result<std::fs::File>,
}

impl Reading {
    pub fn open(job: ProcessingJob) -> Reading {
        let file = std::fs::File::open(&job.object);
        Reading { job, file }
    }

    pub fn id_and_ticket(&self) -> (u64, u64) {
        (self.job.id, self.job.ticket)
    }
}

/// What the readers share: their slots, the count of outcomes taken in, and the way back.
pub(super) struct Readers {
    /// One permit per file being read at once (see `Limits::concurrent_processing`).
    slots: Arc<tokio::sync::Semaphore>,
    /// Counts the outcomes taken in: whoever waits for a reading watches it.
    outcomes_taken: tokio::sync::watch::Sender<u64>,
    /// The part as shared (see [`Files::start`]): readers hand their outcomes back to it.
    shared: OnceLock<Weak<Files>>,
    /// Tests hold readers here: each waits for a permit before it reads.
    #[cfg(test)]
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl Readers {
    pub fn new(concurrent: usize) -> Self {
        Readers {
            slots: Arc::new(tokio::sync::Semaphore::new(concurrent)),
            outcomes_taken: tokio::sync::watch::Sender::new(0),
            shared: OnceLock::new(),
            #[cfg(test)]
            gate: None,
        }
    }
}

impl Files {
    /// The part, shared: the readings asked for while it loaded start now.
    pub fn start(self: &Arc<Self>) {
        self.readings
            .shared
            .set(Arc::downgrade(self))
            .expect("the files part is started once");
        let parked = std::mem::take(&mut self.shelf.lock().parked);
        for reading in parked {
            self.spawn_processing(reading);
        }
    }

    /// Makes every reader wait for a permit from `gate` before it reads: a test decides when
    /// a file's processing ends. Before [`Files::start`].
    #[cfg(test)]
    pub fn hold_readers(&mut self, gate: Arc<tokio::sync::Semaphore>) {
        self.readings.gate = Some(gate);
    }

    /// Changes each time an outcome is taken in.
    #[cfg(test)]
    pub fn outcomes_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.readings.outcomes_taken.subscribe()
    }

    /// Applies every lifecycle step the clock has reached, first waiting (lock released) for
    /// the readings of files due to end.
    pub async fn settle(&self) {
        let mut shelf = self
            .wait_for_readings(|shelf, now_ms| shelf.store.reading_due(now_ms))
            .await;
        shelf.store.catch_up(self.clock.now_millis());
    }

    /// Waits until every reading in flight is in (an export carries each file's outcome).
    pub(super) async fn wait_for_every_reading(&self) {
        drop(
            self.wait_for_readings(|shelf, _| shelf.store.reading_any())
                .await,
        );
    }

    /// Waits until reading `ticket` of file `id` is in, if the file is due to end by now.
    pub(super) async fn read_if_due(&self, id: u64, ticket: u64) {
        let reading = |shelf: &Shelf, now_ms| shelf.store.awaits_reading(id, ticket, now_ms);
        drop(self.wait_for_readings(reading).await);
    }

    /// Waits (lock released) while `reading` says the store still waits for a reading; returns
    /// the shelf, locked, once it does not.
    async fn wait_for_readings(
        &self,
        reading: impl Fn(&Shelf, i64) -> bool,
    ) -> MutexGuard<'_, Shelf> {
        loop {
            // Watched before the check, so an outcome taken in between is not missed.
            let mut taken = self.readings.outcomes_taken.subscribe();
            if let Some(shelf) = self.shelf_unless(&reading) {
                return shelf;
            }
            let _ = taken.changed().await;
        }
    }

    /// The shelf, locked, unless `reading` says it still waits for a reading.
    fn shelf_unless(
        &self,
        reading: &impl Fn(&Shelf, i64) -> bool,
    ) -> Option<MutexGuard<'_, Shelf>> {
        let shelf = self.shelf.lock();
        (!reading(&shelf, self.clock.now_millis())).then_some(shelf)
    }

    /// The shelf, locked, with every step the clock has reached applied. Never waits: a file
    /// still being read past its planned end shows PROCESSING until its outcome is taken in.
    pub(super) fn caught_up(&self) -> MutexGuard<'_, Shelf> {
        let now_ms = self.clock.now_millis();
        let mut shelf = self.shelf.lock();
        if shelf.store.has_due(now_ms) {
            shelf.store.catch_up(now_ms);
        }
        shelf
    }

    /// Reads a landed object on the blocking pool and hands the outcome back. The outcome is
    /// delivered even if the reader panics, so nobody waits for it forever.
    pub(super) fn spawn_processing(&self, reading: Reading) {
        let check = {
            let mut shelf = self.shelf.lock();
            if self.readings.shared.get().is_none() {
                shelf.parked.push(reading);
                return;
            }
            StreamCheck::from_config(stream_for(
                &shelf.streams,
                &reading.job.org,
                &reading.job.stream,
            ))
        };
        let files = self.readings.shared.get().cloned().expect("checked above");
        let Reading { job, file } = reading;
        let slots = self.readings.slots.clone();
        #[cfg(test)]
        let gate = self.readings.gate.clone();
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
            if let Some(files) = files.upgrade() {
                files.take_outcome(id, ticket, result).await;
            }
        });
    }

    /// Stores a reading's outcome with its file (committed, with a data directory), ending the
    /// file now if it is past its planned end; then wakes whoever waits for readings.
    async fn take_outcome(&self, id: u64, ticket: u64, outcome: Outcome) {
        let now_ms = self.clock.now_millis();
        let staged = {
            let mut shelf = self.shelf.lock();
            if shelf.store.record_outcome(id, ticket, outcome, now_ms) {
                // Steps the clock has reached are applied (and stored) with it: a file whose
                // end nobody saw pass ends at its planned end.
                shelf.store.catch_up(now_ms);
                self.stage(&mut shelf, false)
            } else {
                None
            }
        };
        if let Err(err) = self.acknowledged(staged).await {
            tracing::error!(%err, file_id = id, "cannot store a file's outcome; it is read again");
        }
        self.readings.outcomes_taken.send_modify(|n| *n += 1);
    }
}
