//! All state of a running fake: imports, the per-organisation index that listing scans, the
//! queue of lifecycle steps that fall due, and the objects the S3 endpoint stored.
//!
//! The store is plain synchronous code behind one `parking_lot::Mutex` in `AppState`; callers
//! lock it for short sections and never across an `.await`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::{Fidelity, Timing};
use crate::lifecycle::{self, Plan};

use crate::model::{FailureCode, FileRecord, FileType, Status, StatusChange};
use crate::processing::Outcome;

/// Receives a file's processing outcome once its reader is done.
pub(crate) type OutcomeReceiver = watch::Receiver<Option<Outcome>>;

/// An object stored by the S3 endpoint.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StoredObject {
    /// Where its bytes are on disk (a generated name, never the key).
    pub path: PathBuf,
    /// Bytes.
    pub size: u64,
    /// Quoted hex MD5, as S3's `ETag`.
    pub etag: String,
}

#[derive(Clone, Copy, Debug)]
struct IndexEntry {
    status: Status,
    stream: u32,
}

/// The filters, order and page of a list call, already validated.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// Lowest `date_created` (seconds) to include, per the fidelity switch.
    pub created_after: Option<i64>,
    /// Highest `date_created` (seconds), per the fidelity switch.
    pub created_before: Option<i64>,
    /// Statuses to include; empty includes all.
    pub statuses: Vec<Status>,
    /// Streams to include; empty includes all.
    pub stream_names: Vec<String>,
    /// The first page is 1 (or, with record offsets, the first record is 0).
    pub offset: u64,
    /// Page size.
    pub limit: u64,
}

/// What a snapshot holds of the store.
pub(crate) struct StoreContents {
    /// The next file id to hand out.
    pub next_id: u64,
    /// Every file, by id, with the plan of those still in flight.
    pub files: Vec<(FileRecord, Option<Plan>)>,
    /// Every object, by key.
    pub objects: Vec<(String, StoredObject)>,
}

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

/// Why a control call on a file was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ControlError {
    /// No such file.
    NotFound,
    /// The file is not in a state that allows it.
    WrongStatus(String),
}

/// Why a create call was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateError {
    /// The file name is already used in the stream and no new `md5_hash` was given.
    Conflict,
}

/// A file whose object just landed and must now be read.
pub(crate) struct ProcessingJob {
    pub id: u64,
    pub org: Arc<str>,
    pub stream: Arc<str>,
    pub file_type: FileType,
    pub object: PathBuf,
    pub outcome: watch::Sender<Option<Outcome>>,
}

struct InFlight {
    plan: Option<Plan>,
    outcome: OutcomeReceiver,
}

/// (org, stream, file name).
type NameKey = (Arc<str>, Arc<str>, String);

#[derive(Default)]
pub(crate) struct Store {
    next_id: u64,
    files: HashMap<u64, FileRecord>,
    /// Per organisation, every file keyed by (created, id): listing is a reverse range scan.
    index: HashMap<Arc<str>, BTreeMap<(i64, u64), IndexEntry>>,
    /// Stream names interned to small numbers so index entries stay compact.
    stream_ids: HashMap<Arc<str>, u32>,
    by_s3_key: HashMap<String, u64>,
    /// (org, stream, file name) → the md5_hash values it was created with.
    names: HashMap<NameKey, HashSet<Option<String>>>,
    /// Lifecycle steps that fall due, by clock instant.
    due: BTreeSet<(i64, u64)>,
    in_flight: HashMap<u64, InFlight>,
    objects: HashMap<String, StoredObject>,
}

impl Store {
    pub fn new() -> Self {
        Self {
            next_id: 1,
            ..Self::default()
        }
    }

    /// Records a new PENDING_UPLOAD import.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &mut self,
        org: &str,
        stream: &str,
        file_name: &str,
        md5_hash: Option<String>,
        s3_key_for: impl Fn(&str, i64) -> String,
        now_ms: i64,
        fidelity: &Fidelity,
    ) -> Result<FileRecord, CreateError> {
        let name_key = (
            self.intern_org(org),
            self.intern_stream(stream),
            file_name.to_owned(),
        );
        let used = self.names.entry(name_key).or_default();
        let conflict = match &md5_hash {
            None => !used.is_empty(),
            Some(_) => used.contains(&md5_hash),
        };
        if conflict && fidelity.reject_duplicate_file_names {
            return Err(CreateError::Conflict);
        }
        used.insert(md5_hash.clone());
        Ok(self.insert(
            org,
            stream,
            file_name,
            md5_hash,
            s3_key_for,
            now_ms,
            Status::PENDING_UPLOAD,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        org: &str,
        stream: &str,
        file_name: &str,
        md5_hash: Option<String>,
        s3_key_for: impl Fn(&str, i64) -> String,
        now_ms: i64,
        status: Status,
    ) -> FileRecord {
        let org = self.intern_org(org);
        // Two files never share a key (an upload would land on the wrong one): a key already
        // taken, by a file of the same name created in the same millisecond, moves to the
        // next millisecond.
        let mut key_ms = now_ms;
        let mut s3_key = s3_key_for(&org, key_ms);
        while self.by_s3_key.contains_key(&s3_key) {
            key_ms += 1;
            s3_key = s3_key_for(&org, key_ms);
        }
        let stream = self.intern_stream(stream);
        let id = self.next_id;
        self.next_id += 1;
        let record = FileRecord {
            id,
            org: org.clone(),
            stream: stream.clone(),
            file_name: file_name.to_owned(),
            file_type: FileType::from_file_name(file_name),
            md5_hash,
            s3_key,
            created_ms: now_ms,
            status,
            process_start_ms: None,
            process_end_ms: None,
            successful_count: 0,
            failure_count: 0,
            failure_code: None,
            history: vec![StatusChange {
                status,
                at_ms: now_ms,
            }],
        };
        let stream_id = self.stream_ids[&stream];
        self.index.entry(org).or_default().insert(
            (now_ms, id),
            IndexEntry {
                status,
                stream: stream_id,
            },
        );
        self.by_s3_key.insert(record.s3_key.clone(), id);
        self.files.insert(id, record.clone());
        record
    }

    fn intern_org(&mut self, org: &str) -> Arc<str> {
        match self.index.get_key_value(org) {
            Some((k, _)) => k.clone(),
            None => {
                let org: Arc<str> = org.into();
                self.index.insert(org.clone(), BTreeMap::new());
                org
            }
        }
    }

    fn intern_stream(&mut self, stream: &str) -> Arc<str> {
        if let Some((k, _)) = self.stream_ids.get_key_value(stream) {
            return k.clone();
        }
        let stream: Arc<str> = stream.into();
        let id = self.stream_ids.len() as u32;
        self.stream_ids.insert(stream.clone(), id);
        stream
    }

    /// A file, if it exists and belongs to `org`.
    pub fn get(&self, org: &str, id: u64) -> Option<&FileRecord> {
        self.files.get(&id).filter(|f| &*f.org == org)
    }

    /// True when the file exists in another organisation.
    pub fn exists_elsewhere(&self, org: &str, id: u64) -> bool {
        self.files.get(&id).is_some_and(|f| &*f.org != org)
    }

    /// How many of `org`'s files are in each status (in [`Status::ALL`] order), and the names
    /// of the streams it has files in, sorted: the dashboard's summary.
    pub fn overview(&self, org: &str) -> ([u64; 7], Vec<Arc<str>>) {
        let mut counts = [0u64; 7];
        let mut streams = HashSet::new();
        for entry in self.index.get(org).into_iter().flat_map(|i| i.values()) {
            counts[entry.status as usize] += 1;
            streams.insert(entry.stream);
        }
        let mut names: Vec<Arc<str>> = self
            .stream_ids
            .iter()
            .filter(|(_, id)| streams.contains(*id))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        (counts, names)
    }

    /// One page of `org`'s files matching `query`, and the number of matches before paging.
    pub fn list(
        &self,
        org: &str,
        query: &ListQuery,
        fidelity: &Fidelity,
    ) -> (Vec<&FileRecord>, u64) {
        let Some(index) = self.index.get(org) else {
            return (Vec::new(), 0);
        };
        let lo = match query.created_after {
            Some(s) if fidelity.created_after_inclusive => s.saturating_mul(1000),
            Some(s) => s.saturating_add(1).saturating_mul(1000),
            None => i64::MIN,
        };
        let hi = match query.created_before {
            Some(s) if fidelity.created_before_inclusive => {
                s.saturating_add(1).saturating_mul(1000)
            }
            Some(s) => s.saturating_mul(1000),
            None => i64::MAX,
        };
        if lo >= hi {
            return (Vec::new(), 0);
        }
        let status_mask: u8 = query.statuses.iter().fold(0, |m, s| m | s.bit());
        let streams: Vec<u32> = query
            .stream_names
            .iter()
            .filter_map(|name| self.stream_ids.get(name.as_str()).copied())
            .collect();
        if !query.stream_names.is_empty() && streams.is_empty() {
            return (Vec::new(), 0);
        }
        let skip = match fidelity.list_offset {
            OffsetUnit::Page => query.offset.saturating_sub(1).saturating_mul(query.limit),
            OffsetUnit::Record => query.offset,
        };
        let matches = |e: &IndexEntry| {
            (status_mask == 0 || status_mask & e.status.bit() != 0)
                && (streams.is_empty() || streams.contains(&e.stream))
        };
        let range = index.range((lo, 0)..(hi, 0));
        let mut total = 0u64;
        let mut page = Vec::new();
        let mut visit = |(&(_, id), entry): (&(i64, u64), &IndexEntry)| {
            if matches(entry) {
                if total >= skip && (page.len() as u64) < query.limit {
                    page.push(&self.files[&id]);
                }
                total += 1;
            }
        };
        if fidelity.list_newest_first {
            range.rev().for_each(&mut visit);
        } else {
            range.for_each(&mut visit);
        }
        (page, total)
    }

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
        let replaced = self
            .objects
            .insert(key.to_owned(), object)
            .map(|old| old.path);
        let Some(&id) = self.by_s3_key.get(key) else {
            return (None, replaced);
        };
        if self.files[&id].status != Status::PENDING_UPLOAD {
            // The import already has its object; a second upload replaces the bytes only.
            return (None, replaced);
        }
        (self.queue(id, now_ms, timing), replaced)
    }

    /// Moves a file whose object is stored to QUEUED, planning its processing.
    fn queue(&mut self, id: u64, now_ms: i64, timing: Timing) -> Option<ProcessingJob> {
        let size = self.objects.get(&self.files[&id].s3_key)?.size;
        let job = self.requeue(id)?;
        let plan = lifecycle::plan(timing, now_ms, size);
        self.set_status(id, Status::QUEUED, now_ms);
        if let Some(plan) = plan {
            self.due.insert((plan.start_ms, id));
        }
        self.in_flight.get_mut(&id).expect("just queued").plan = plan;
        Some(job)
    }

    /// A file uploaded by hand in Unit21's UI: ADDED, with its object already stored, waiting
    /// for someone to start its processing. Returns the record and any object it replaced.
    pub fn add_manual(
        &mut self,
        org: &str,
        stream: &str,
        file_name: &str,
        s3_key_for: impl Fn(&str, i64) -> String,
        object: StoredObject,
        now_ms: i64,
    ) -> (FileRecord, Option<PathBuf>) {
        let record = self.insert(
            org,
            stream,
            file_name,
            None,
            s3_key_for,
            now_ms,
            Status::ADDED,
        );
        let replaced = self
            .objects
            .insert(record.s3_key.clone(), object)
            .map(|old| old.path);
        (record, replaced)
    }

    /// ADDED → QUEUED: what the UI's "process" action does.
    pub fn start_processing(
        &mut self,
        id: u64,
        now_ms: i64,
        timing: Timing,
    ) -> Result<ProcessingJob, ControlError> {
        let file = self.files.get(&id).ok_or(ControlError::NotFound)?;
        if file.status != Status::ADDED {
            return Err(ControlError::WrongStatus(format!(
                "file {id} is {}; only ADDED files can be started",
                file.status.as_str()
            )));
        }
        self.queue(id, now_ms, timing).ok_or(ControlError::NotFound)
    }

    /// Puts a file in a state by force, cancelling whatever its lifecycle had planned.
    pub fn force(
        &mut self,
        id: u64,
        transition: Transition,
        now_ms: i64,
    ) -> Result<&FileRecord, ControlError> {
        if !self.files.contains_key(&id) {
            return Err(ControlError::NotFound);
        }
        self.in_flight.remove(&id);
        let status = match transition {
            Transition::Processing => Status::PROCESSING,
            Transition::Finished { .. } => Status::FINISHED,
            Transition::Failed(_) => Status::FAILED,
            Transition::Deleted => Status::DELETED,
        };
        self.set_status(id, status, now_ms);
        let file = self.files.get_mut(&id).expect("checked above");
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
        Ok(file)
    }

    /// Forgets every file and object; returns the object files for the caller to delete.
    pub fn clear(&mut self) -> Vec<PathBuf> {
        let paths = self.objects.drain().map(|(_, o)| o.path).collect();
        *self = Store::new();
        paths
    }

    /// A file in any organisation.
    pub fn file(&self, id: u64) -> Option<&FileRecord> {
        self.files.get(&id)
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
                started += 1;
            }
        }
        started
    }

    /// Applies every lifecycle step due by `now_ms`. Returns the outcomes still being computed
    /// for files whose processing should already have ended: the caller waits for them (outside
    /// the lock) and calls again, so nobody ever sees a state the clock has not reached nor one
    /// it has left behind.
    pub fn catch_up(&mut self, now_ms: i64) -> Vec<OutcomeReceiver> {
        let mut waiting = Vec::new();
        let mut blocked = HashSet::new();
        loop {
            let step = self
                .due
                .range(..=(now_ms, u64::MAX))
                .find(|(_, id)| !blocked.contains(id))
                .copied();
            let Some((at, id)) = step else { break };
            self.due.remove(&(at, id));
            let Some(flight) = self.in_flight.get(&id) else {
                continue;
            };
            let Some(plan) = flight.plan else { continue };
            match self.files[&id].status {
                Status::QUEUED => {
                    self.set_status(id, Status::PROCESSING, plan.start_ms);
                    self.files.get_mut(&id).expect("exists").process_start_ms = Some(plan.start_ms);
                    self.due.insert((plan.end_ms, id));
                }
                Status::PROCESSING => {
                    let outcome = *flight.outcome.borrow();
                    let outcome = match outcome {
                        Some(outcome) => outcome,
                        // The reader went away without an answer.
                        None if flight.outcome.has_changed().is_err() => {
                            Outcome::Failed(FailureCode::Unknown)
                        }
                        None => {
                            waiting.push(flight.outcome.clone());
                            blocked.insert(id);
                            self.due.insert((at, id));
                            continue;
                        }
                    };
                    self.finish(id, plan.end_ms, outcome);
                }
                // Moved on by other means (deleted, say): the step no longer applies.
                _ => {
                    self.in_flight.remove(&id);
                }
            }
        }
        waiting
    }

    fn finish(&mut self, id: u64, end_ms: i64, outcome: Outcome) {
        self.in_flight.remove(&id);
        let status = match outcome {
            Outcome::Finished { .. } => Status::FINISHED,
            Outcome::Failed(_) => Status::FAILED,
        };
        self.set_status(id, status, end_ms);
        let file = self.files.get_mut(&id).expect("exists");
        file.process_end_ms = Some(end_ms);
        match outcome {
            Outcome::Finished { successful, failed } => {
                file.successful_count = successful;
                file.failure_count = failed;
            }
            Outcome::Failed(code) => file.failure_code = Some(code),
        }
    }

    fn set_status(&mut self, id: u64, status: Status, at_ms: i64) {
        let file = self.files.get_mut(&id).expect("exists");
        file.status = status;
        file.history.push(StatusChange { status, at_ms });
        if let Some(entry) = self
            .index
            .get_mut(&file.org)
            .and_then(|index| index.get_mut(&(file.created_ms, id)))
        {
            entry.status = status;
        }
    }

    /// Every file (with the plan of those still in flight) and every object, for a snapshot.
    pub fn export(&self) -> StoreContents {
        let mut files: Vec<(FileRecord, Option<Plan>)> = self
            .files
            .values()
            .map(|f| {
                (
                    f.clone(),
                    self.in_flight.get(&f.id).and_then(|flight| flight.plan),
                )
            })
            .collect();
        files.sort_by_key(|(f, _)| f.id);
        let mut objects: Vec<(String, StoredObject)> = self
            .objects
            .iter()
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect();
        objects.sort_by(|a, b| a.0.cmp(&b.0));
        StoreContents {
            next_id: self.next_id,
            files,
            objects,
        }
    }

    /// Rebuilds a store from a snapshot. Files still QUEUED or PROCESSING keep their plan and
    /// are read again: the returned jobs must be run.
    pub fn import(contents: StoreContents) -> (Store, Vec<ProcessingJob>) {
        let StoreContents {
            next_id,
            files,
            objects,
        } = contents;
        let mut store = Store::new();
        store.objects = objects.into_iter().collect();
        let mut jobs = Vec::new();
        for (file, plan) in files {
            let org = store.intern_org(&file.org);
            let stream = store.intern_stream(&file.stream);
            store
                .names
                .entry((org.clone(), stream.clone(), file.file_name.clone()))
                .or_default()
                .insert(file.md5_hash.clone());
            let entry = IndexEntry {
                status: file.status,
                stream: store.stream_ids[&stream],
            };
            store
                .index
                .entry(org.clone())
                .or_default()
                .insert((file.created_ms, file.id), entry);
            store.by_s3_key.insert(file.s3_key.clone(), file.id);
            let id = file.id;
            let status = file.status;
            store.files.insert(
                id,
                FileRecord {
                    org,
                    stream,
                    ..file
                },
            );
            if matches!(status, Status::QUEUED | Status::PROCESSING) {
                if let Some(job) = store.requeue(id) {
                    let flight = store.in_flight.get_mut(&id).expect("just queued");
                    flight.plan = plan;
                    if let Some(plan) = plan {
                        let at = if status == Status::QUEUED {
                            plan.start_ms
                        } else {
                            plan.end_ms
                        };
                        store.due.insert((at, id));
                    }
                    jobs.push(job);
                }
            }
        }
        store.next_id = next_id.max(store.files.keys().max().map_or(1, |m| m + 1));
        (store, jobs)
    }

    /// A reading job for a file already QUEUED or PROCESSING, with no plan yet.
    fn requeue(&mut self, id: u64) -> Option<ProcessingJob> {
        let file = &self.files[&id];
        let object = self.objects.get(&file.s3_key)?;
        let (tx, rx) = watch::channel(None);
        let job = ProcessingJob {
            id,
            org: file.org.clone(),
            stream: file.stream.clone(),
            file_type: file.file_type.clone(),
            object: object.path.clone(),
            outcome: tx,
        };
        self.in_flight.insert(
            id,
            InFlight {
                plan: None,
                outcome: rx,
            },
        );
        Some(job)
    }

    /// Where every object's bytes are.
    pub fn object_paths(&self) -> HashSet<PathBuf> {
        self.objects.values().map(|o| o.path.clone()).collect()
    }

    /// The stored object under `key`.
    pub fn object(&self, key: &str) -> Option<&StoredObject> {
        self.objects.get(key)
    }

    /// How many imports exist in all organisations.
    pub fn len(&self) -> usize {
        self.files.len()
    }
}

pub use crate::config::OffsetUnit;

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(n: u64) -> Store {
        let mut store = Store::new();
        for i in 0..n {
            let stream = if i % 2 == 0 { "even" } else { "odd" };
            store
                .create(
                    "org",
                    stream,
                    &format!("f{i}.csv"),
                    None,
                    |_, ms| format!("k{ms}-{i}"),
                    i as i64 * 1000,
                    &Fidelity::default(),
                )
                .unwrap();
        }
        store
    }

    /// One file created at 0 in org "o" under key "key", its object landed at `landed_ms`.
    fn landed(timing: Timing, landed_ms: i64) -> (Store, Option<ProcessingJob>) {
        let mut store = Store::new();
        let key = |_: &str, _: i64| "key".to_owned();
        store
            .create("o", "s", "a.csv", None, key, 0, &Fidelity::default())
            .unwrap();
        let object = StoredObject {
            path: "/x".into(),
            size: 1,
            etag: "\"e\"".into(),
        };
        let (job, _) = store.object_landed("key", object, landed_ms, timing);
        (store, job)
    }

    fn ids(page: &[&FileRecord]) -> Vec<u64> {
        page.iter().map(|f| f.id).collect()
    }

    #[test]
    fn listing_is_newest_first_and_pages_count_from_one() {
        let store = store_with(10);
        let query = ListQuery {
            offset: 2,
            limit: 3,
            ..ListQuery::default()
        };
        let (page, total) = store.list("org", &query, &Fidelity::default());
        assert_eq!(total, 10);
        assert_eq!(ids(&page), vec![7, 6, 5]);
    }

    #[test]
    fn record_offsets_and_oldest_first_are_one_switch_away() {
        let store = store_with(10);
        let fidelity = Fidelity {
            list_offset: OffsetUnit::Record,
            list_newest_first: false,
            ..Fidelity::default()
        };
        let query = ListQuery {
            offset: 2,
            limit: 3,
            ..ListQuery::default()
        };
        assert_eq!(ids(&store.list("org", &query, &fidelity).0), vec![3, 4, 5]);
    }

    #[test]
    fn bounds_are_after_inclusive_and_before_exclusive() {
        let store = store_with(10); // created at seconds 0..=9, ids 1..=10
        let query = ListQuery {
            created_after: Some(2),
            created_before: Some(5),
            offset: 1,
            limit: 100,
            ..ListQuery::default()
        };
        let (page, total) = store.list("org", &query, &Fidelity::default());
        assert_eq!((ids(&page), total), (vec![5, 4, 3], 3));
        let flipped = Fidelity {
            created_after_inclusive: false,
            created_before_inclusive: true,
            ..Fidelity::default()
        };
        assert_eq!(ids(&store.list("org", &query, &flipped).0), vec![6, 5, 4]);
    }

    #[test]
    fn filters_within_a_field_are_ored_and_across_fields_anded() {
        let store = store_with(6);
        let query = ListQuery {
            stream_names: vec!["odd".into(), "nope".into()],
            statuses: vec![Status::PENDING_UPLOAD, Status::FINISHED],
            offset: 1,
            limit: 100,
            ..ListQuery::default()
        };
        assert_eq!(
            ids(&store.list("org", &query, &Fidelity::default()).0),
            vec![6, 4, 2]
        );
        let finished_only = ListQuery {
            statuses: vec![Status::FINISHED],
            ..query
        };
        assert_eq!(store.list("org", &finished_only, &Fidelity::default()).1, 0);
    }

    #[test]
    fn organisations_do_not_see_each_other() {
        let store = store_with(3);
        assert!(store.get("org", 1).is_some());
        assert!(store.get("other", 1).is_none());
        assert!(store.exists_elsewhere("other", 1));
        let query = ListQuery {
            offset: 1,
            limit: 10,
            ..ListQuery::default()
        };
        assert_eq!(store.list("other", &query, &Fidelity::default()).1, 0);
    }

    #[test]
    fn duplicate_names_conflict_unless_a_new_md5_hash_is_given() {
        let mut store = Store::new();
        let fid = Fidelity::default();
        let key = |_: &str, ms: i64| format!("k{ms}");
        store.create("o", "s", "a.csv", None, key, 0, &fid).unwrap();
        assert_eq!(
            store
                .create("o", "s", "a.csv", None, key, 1, &fid)
                .unwrap_err(),
            CreateError::Conflict
        );
        store
            .create("o", "s", "a.csv", Some("u1".into()), key, 2, &fid)
            .unwrap();
        assert_eq!(
            store
                .create("o", "s", "a.csv", Some("u1".into()), key, 3, &fid)
                .unwrap_err(),
            CreateError::Conflict
        );
        store
            .create("o", "other-stream", "a.csv", None, key, 4, &fid)
            .unwrap();
        store
            .create("o2", "s", "a.csv", None, key, 5, &fid)
            .unwrap();
        let lenient = Fidelity {
            reject_duplicate_file_names: false,
            ..fid
        };
        store
            .create("o", "s", "a.csv", None, key, 6, &lenient)
            .unwrap();
    }

    #[test]
    fn steps_apply_only_when_due_and_wait_for_the_outcome() {
        let (mut store, job) = landed(Timing::Fast, 10_000);
        let job = job.expect("the import waits for this object");
        assert_eq!(store.get("o", 1).unwrap().status, Status::QUEUED);
        assert!(store.catch_up(10_999).is_empty());
        assert_eq!(store.get("o", 1).unwrap().status, Status::QUEUED);
        assert!(store.catch_up(11_000).is_empty());
        assert_eq!(store.get("o", 1).unwrap().status, Status::PROCESSING);
        // Due to end, but the reader has not answered: the caller must wait.
        assert_eq!(store.catch_up(50_000).len(), 1);
        assert_eq!(store.get("o", 1).unwrap().status, Status::PROCESSING);
        job.outcome
            .send(Some(Outcome::Finished {
                successful: 3,
                failed: 1,
            }))
            .unwrap();
        assert!(store.catch_up(50_000).is_empty());
        let file = store.get("o", 1).unwrap();
        assert_eq!(
            (file.status, file.successful_count, file.failure_count),
            (Status::FINISHED, 3, 1)
        );
        assert_eq!(
            (file.process_start_ms, file.process_end_ms),
            (Some(11_000), Some(12_000))
        );
    }

    #[test]
    fn a_reader_that_vanishes_fails_the_file_unknown() {
        let (mut store, job) = landed(Timing::Instant, 0);
        drop(job);
        assert!(store.catch_up(0).is_empty());
        assert_eq!(
            store.get("o", 1).unwrap().failure_code,
            Some(FailureCode::Unknown)
        );
    }

    #[test]
    fn manual_timing_waits_until_told() {
        let (mut store, job) = landed(Timing::Manual, 0);
        job.unwrap()
            .outcome
            .send(Some(Outcome::Failed(FailureCode::InvalidSchema)))
            .unwrap();
        store.catch_up(i64::MAX / 2);
        assert_eq!(store.get("o", 1).unwrap().status, Status::QUEUED);
        store.process_queued(7_000);
        store.catch_up(7_000);
        let file = store.get("o", 1).unwrap();
        assert_eq!(
            (file.status, file.process_end_ms),
            (Status::FAILED, Some(7_000))
        );
    }

    #[test]
    fn an_object_for_an_unknown_key_is_stored_without_an_import() {
        let mut store = Store::new();
        let object = StoredObject {
            path: "/x".into(),
            size: 1,
            etag: "\"e\"".into(),
        };
        let (job, replaced) = store.object_landed("anything", object.clone(), 0, Timing::Instant);
        assert!(job.is_none() && replaced.is_none());
        let (_, replaced) = store.object_landed("anything", object, 0, Timing::Instant);
        assert_eq!(replaced, Some(PathBuf::from("/x")));
        assert_eq!(store.len(), 0);
    }
}
