//! How files move: an object landing, processing started by hand or by the timing profile,
//! transitions forced by the control plane, and the lifecycle steps that fall due as the clock
//! moves.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Store, StoredObject};
use crate::config::Timing;
use crate::error::Error;
use crate::lifecycle::{self, Plan};
use crate::model::{FailureCode, FileRecord, FileType, Status, StatusChange};
use crate::processing::Outcome;

/// Tells one reading from another, so the outcome of a reading whose file was since reset,
/// replaced by an import or re-read after a refused write changes nothing.
static NEXT_TICKET: AtomicU64 = AtomicU64::new(1);

/// A state a control call can force a file into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// PROCESSING, staying there until told otherwise.
    Processing,
    /// FINISHED with these counts.
    Finished {
        /// `successful_count`.
        successful: u64,
        /// `failure_count`.
        failed: u64,
    },
    /// FAILED with this code.
    Failed(FailureCode),
    /// DELETED.
    Deleted,
}

/// A file whose object just landed and must now be read.
pub(crate) struct ProcessingJob {
    pub id: u64,
    /// Names this reading when its outcome comes back (see [`Store::record_outcome`]).
    pub ticket: u64,
    pub org: Arc<str>,
    pub stream: Arc<str>,
    pub file_type: FileType,
    pub object: PathBuf,
}

/// What a file still in flight carries beside its record, stored with it: when its steps fall
/// due, and its outcome once it is read (so a restart never reads it again).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flight {
    pub plan: Option<Plan>,
    pub outcome: Option<Outcome>,
}

pub(super) struct InFlight {
    plan: Option<Plan>,
    /// The reading's outcome, once it is done.
    outcome: Option<Outcome>,
    /// The reading that will deliver the outcome; 0 when the outcome came stored.
    ticket: u64,
    /// Its planned end has passed while it was still being read: it ends when the outcome
    /// comes back.
    overdue: bool,
}

impl InFlight {
    fn is_due_unread(&self, now_ms: i64) -> bool {
        self.outcome.is_none() && self.plan.is_some_and(|plan| plan.end_ms <= now_ms)
    }
}

impl Store {
    /// Stores an object under `key`, replacing any earlier one. When it is the object an import
    /// waits for, the import becomes QUEUED and the returned job must be run. The second value
    /// is a replaced object's file, for the caller to delete outside the lock.
    pub fn object_landed(
        &mut self,
        key: &str,
        object: StoredObject,
        now_ms: i64,
        timing: Timing,
    ) -> (Option<ProcessingJob>, Option<PathBuf>) {
        let replaced = self.objects.insert(key, object);
        self.dirty_objects.insert(key.to_owned());
        let Some(&id) = self.by_s3_key.get(key) else {
            return (None, replaced);
        };
        if self.files[&id].status != Status::PENDING_UPLOAD {
            // The import already has its object; a second upload replaces the bytes only.
            return (None, replaced);
        }
        (self.queue(id, now_ms, timing), replaced)
    }

    /// Stores the object of a file added by hand (ADDED); returns the file it replaced.
    pub fn attach_object(&mut self, key: &str, object: StoredObject) -> Option<PathBuf> {
        self.dirty_objects.insert(key.to_owned());
        self.objects.insert(key, object)
    }

    /// Moves a file whose object is stored to QUEUED, planning its processing.
    fn queue(&mut self, id: u64, now_ms: i64, timing: Timing) -> Option<ProcessingJob> {
        let size = self.objects.get(&self.files[&id].s3_key)?.size;
        let job = self.reader(id)?;
        let plan = lifecycle::plan(timing, now_ms, size);
        // The plan is part of the file's row: set it before the row is taken.
        self.set_status(id, Status::QUEUED, now_ms);
        if let Some(plan) = plan {
            self.due.insert((plan.start_ms, id));
        }
        self.in_flight.get_mut(&id).expect("just queued").plan = plan;
        Some(job)
    }

    /// ADDED → QUEUED: what the UI's "process" action does.
    pub fn start_processing(
        &mut self,
        id: u64,
        now_ms: i64,
        timing: Timing,
    ) -> Result<ProcessingJob, Error> {
        let file = self.files.get(&id).ok_or(Error::NoSuchFile(id))?;
        if file.status != Status::ADDED {
            return Err(Error::WrongStatus(format!(
                "file {id} is {}; only ADDED files can be started",
                file.status.as_str()
            )));
        }
        self.queue(id, now_ms, timing)
            .ok_or(Error::WrongStatus(format!("file {id} has no object")))
    }

    /// Puts a file in a state by force, cancelling whatever its lifecycle had planned.
    pub fn force(
        &mut self,
        id: u64,
        transition: Transition,
        now_ms: i64,
    ) -> Result<Arc<FileRecord>, Error> {
        if !self.files.contains_key(&id) {
            return Err(Error::NoSuchFile(id));
        }
        self.in_flight.remove(&id);
        let status = match transition {
            Transition::Processing => Status::PROCESSING,
            Transition::Finished { .. } => Status::FINISHED,
            Transition::Failed(_) => Status::FAILED,
            Transition::Deleted => Status::DELETED,
        };
        self.set_status(id, status, now_ms);
        let file = self.file_mut(id);
        match transition {
            Transition::Processing => {
                file.process_start_ms = Some(now_ms);
                file.process_end_ms = None;
            }
            Transition::Finished { successful, failed } => {
                file.process_start_ms.get_or_insert(now_ms);
                file.process_end_ms = Some(now_ms);
                (file.successful_count, file.failure_count, file.failure_code) =
                    (successful, failed, None);
            }
            Transition::Failed(code) => {
                file.process_start_ms.get_or_insert(now_ms);
                file.process_end_ms = Some(now_ms);
                (file.successful_count, file.failure_count, file.failure_code) = (0, 0, Some(code));
            }
            Transition::Deleted => {}
        }
        Ok(self.files[&id].clone())
    }

    /// Under `manual` timing: starts and ends processing of every QUEUED file at `now_ms`.
    pub fn process_queued(&mut self, now_ms: i64) -> usize {
        let mut started = 0;
        for (id, flight) in &mut self.in_flight {
            if flight.plan.is_none() {
                flight.plan = Some(Plan {
                    start_ms: now_ms,
                    end_ms: now_ms,
                });
                self.due.insert((now_ms, *id));
                self.dirty_files.insert(*id);
                started += 1;
            }
        }
        started
    }

    /// True when a lifecycle step is due by `now_ms`: the cheap check before [`catch_up`].
    ///
    /// [`catch_up`]: Store::catch_up
    pub fn has_due(&self, now_ms: i64) -> bool {
        self.due.first().is_some_and(|&(at, _)| at <= now_ms)
    }

    /// Applies every lifecycle step due by `now_ms`. A file whose planned end has passed while
    /// it is still being read stays PROCESSING (nobody waits for it: see
    /// [`Store::record_outcome`]), so nobody ever sees a state the clock has not reached.
    pub fn catch_up(&mut self, now_ms: i64) {
        while let Some((at, id)) = self.due.first().copied().filter(|&(at, _)| at <= now_ms) {
            self.due.remove(&(at, id));
            let Some(flight) = self.in_flight.get_mut(&id) else {
                continue;
            };
            let Some(plan) = flight.plan else { continue };
            match self.files[&id].status {
                Status::QUEUED => {
                    self.set_status(id, Status::PROCESSING, plan.start_ms);
                    self.file_mut(id).process_start_ms = Some(plan.start_ms);
                    self.due.insert((plan.end_ms, id));
                }
                Status::PROCESSING => match flight.outcome {
                    Some(outcome) => self.finish(id, plan.end_ms, outcome),
                    None => flight.overdue = true,
                },
                // Moved on by other means (deleted, say): the step no longer applies.
                _ => {
                    self.in_flight.remove(&id);
                    self.dirty_files.insert(id);
                }
            }
        }
    }

    /// Takes the outcome of a reading. It is stored with the file; a file already past its
    /// planned end finishes now. False when the reading no longer counts (the file was reset,
    /// forced, replaced or is being read again).
    pub fn record_outcome(&mut self, id: u64, ticket: u64, outcome: Outcome, now_ms: i64) -> bool {
        let Some(flight) = self.in_flight.get_mut(&id).filter(|f| f.ticket == ticket) else {
            return false;
        };
        flight.outcome = Some(outcome);
        self.dirty_files.insert(id);
        if flight.overdue && self.files[&id].status == Status::PROCESSING {
            let end_ms = flight.plan.map_or(now_ms, |plan| plan.end_ms.max(now_ms));
            self.finish(id, end_ms, outcome);
        }
        true
    }

    /// True while any file is still being read.
    pub fn reading_any(&self) -> bool {
        self.in_flight.values().any(|f| f.outcome.is_none())
    }

    /// True while a file due to end by `now_ms` waits for its reading.
    pub fn reading_due(&self, now_ms: i64) -> bool {
        self.in_flight.values().any(|f| f.is_due_unread(now_ms))
    }

    /// True while this reading's file is due to end by `now_ms` and its outcome has not come.
    pub fn awaits_reading(&self, id: u64, ticket: u64, now_ms: i64) -> bool {
        self.in_flight
            .get(&id)
            .is_some_and(|f| f.ticket == ticket && f.is_due_unread(now_ms))
    }

    /// The plan and outcome a file carries while in flight (empty otherwise).
    pub(super) fn flight(&self, id: u64) -> Flight {
        self.in_flight
            .get(&id)
            .map_or_else(Flight::default, |f| Flight {
                plan: f.plan,
                outcome: f.outcome,
            })
    }

    fn finish(&mut self, id: u64, end_ms: i64, outcome: Outcome) {
        self.in_flight.remove(&id);
        let status = match outcome {
            Outcome::Finished { .. } => Status::FINISHED,
            Outcome::Failed(_) => Status::FAILED,
        };
        self.set_status(id, status, end_ms);
        let file = self.file_mut(id);
        file.process_end_ms = Some(end_ms);
        match outcome {
            Outcome::Finished { successful, failed } => {
                file.successful_count = successful;
                file.failure_count = failed;
            }
            Outcome::Failed(code) => file.failure_code = Some(code),
        }
    }

    /// A record to change; shared copies already handed out keep the old state.
    fn file_mut(&mut self, id: u64) -> &mut FileRecord {
        self.dirty_files.insert(id);
        Arc::make_mut(self.files.get_mut(&id).expect("exists"))
    }

    fn set_status(&mut self, id: u64, status: Status, at_ms: i64) {
        let file = self.file_mut(id);
        file.status = status;
        file.history.push(StatusChange { status, at_ms });
        let (org, created_ms) = (file.org.clone(), file.created_ms);
        if let Some(entry) = self
            .index
            .get_mut(&org)
            .and_then(|index| index.get_mut(&(created_ms, id)))
        {
            entry.status = status;
        }
    }

    /// Puts a QUEUED or PROCESSING file from a snapshot back in flight with its plan; one whose
    /// outcome was not stored is read again, and its job returned.
    pub(super) fn resume(
        &mut self,
        id: u64,
        status: Status,
        flight: Flight,
    ) -> Option<ProcessingJob> {
        if let Some(plan) = flight.plan {
            let at = if status == Status::QUEUED {
                plan.start_ms
            } else {
                plan.end_ms
            };
            self.due.insert((at, id));
        }
        if flight.outcome.is_some() {
            self.in_flight.insert(
                id,
                InFlight {
                    plan: flight.plan,
                    outcome: flight.outcome,
                    ticket: 0,
                    overdue: false,
                },
            );
            return None;
        }
        let job = self.reader(id)?;
        self.in_flight.get_mut(&id).expect("just added").plan = flight.plan;
        Some(job)
    }

    /// A reading job for a file whose object is stored, in flight with no plan yet.
    fn reader(&mut self, id: u64) -> Option<ProcessingJob> {
        let file = &self.files[&id];
        let object = self.objects.get(&file.s3_key)?;
        let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
        let job = ProcessingJob {
            id,
            ticket,
            org: file.org.clone(),
            stream: file.stream.clone(),
            file_type: file.file_type.clone(),
            object: object.path.clone(),
        };
        self.in_flight.insert(
            id,
            InFlight {
                plan: None,
                outcome: None,
                ticket,
                overdue: false,
            },
        );
        Some(job)
    }
}
