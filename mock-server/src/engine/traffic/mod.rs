//! The traffic part: what the control plane records of every request (the journal) and what
//! it injects into them (faults). The only part shaped by HTTP: it takes methods, paths and
//! headers as they arrive.
//!
//! [`Traffic`] owns its two locks, the journal's and the faults', and never holds one while it
//! takes the other; nothing outside it reaches either. An atomic flag lets a request skip the
//! faults' lock while no fault is active, which is nearly always.

mod faults;
mod journal;

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

pub use faults::{Fault, FaultAction};
pub(crate) use journal::KeptEntry;
pub use journal::{BodySummary, JournalEntry, JournalQuery, JOURNAL_BODY_BYTES};

use self::faults::Faults;
use self::journal::Journal;
use crate::clock::Clock;
use crate::error::Error;

/// The journal and the faults.
pub(crate) struct Traffic {
    clock: Clock,
    journal: Mutex<Journal>,
    /// The journal's capacity: 0 keeps nothing.
    capacity: usize,
    faults: Mutex<Faults>,
    /// True while any fault is active: requests skip the faults' lock otherwise.
    armed: AtomicBool,
}

impl Traffic {
    pub fn new(clock: Clock, capacity: usize) -> Self {
        Traffic {
            clock,
            journal: Mutex::new(Journal::new(capacity)),
            capacity,
            faults: Mutex::new(Faults::default()),
            armed: AtomicBool::new(false),
        }
    }

    /// The instant requests are recorded at, on the fake's clock (ms since the epoch).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Forgets every journal entry and every fault.
    pub fn clear(&self) {
        self.clear_requests();
        self.clear_faults();
    }

    // ---- Faults ----

    /// Adds a fault, once its bounds are checked; returns its id.
    pub fn add_fault(&self, fault: Fault) -> Result<u64, Error> {
        fault.validate().map_err(Error::Invalid)?;
        let id = self.faults.lock().add(fault).ok_or_else(|| {
            Error::Invalid(format!(
                "at most {} faults may be active at once; remove some first (DELETE /_mock/faults)",
                faults::MAX_FAULTS
            ))
        })?;
        self.armed.store(true, Ordering::Release);
        Ok(id)
    }

    /// Removes one fault.
    pub fn remove_fault(&self, id: u64) -> Result<(), Error> {
        let mut faults = self.faults.lock();
        let removed = faults.remove(id);
        self.armed.store(!faults.is_empty(), Ordering::Release);
        removed.then_some(()).ok_or(Error::NoSuchFault(id))
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        let mut faults = self.faults.lock();
        faults.clear();
        self.armed.store(false, Ordering::Release);
    }

    /// The active faults with their ids and the uses left.
    pub fn faults(&self) -> Vec<(u64, Fault, Option<u32>)> {
        self.faults.lock().list()
    }

    /// The fault to apply to a request, if any; counts its use.
    pub fn pick_fault(&self, method: &str, path: &str) -> Option<FaultAction> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        self.faults.lock().pick(method, path)
    }

    // ---- The journal ----

    /// True when the journal keeps entries (its capacity is not 0).
    pub fn journal_enabled(&self) -> bool {
        self.capacity > 0
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
}
