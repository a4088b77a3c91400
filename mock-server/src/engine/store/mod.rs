//! What the fake holds, as plain synchronous data: imports and the per-organisation index that
//! listing scans (here), list queries (`query`), lifecycle steps that fall due (`progress`) and
//! the objects the S3 endpoint stored (`objects`).
//!
//! The store knows nothing of HTTP or of the API's fidelity switches: it takes plain queries
//! and new-import records, and the engine, which holds it behind its one lock, turns requests
//! into them. Records are shared (`Arc`), so a caller can take a page of them out of the lock
//! and serialise it after the lock is released.

mod objects;
mod progress;
mod query;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

pub(crate) use objects::is_generated_name;
pub use objects::StoredObject;
pub use progress::Transition;
pub(crate) use progress::{Flight, ProcessingJob};
pub(crate) use query::ListQuery;

use crate::model::{FileRecord, FileType, Status, StatusChange};

/// A new import, as the engine asks for it.
pub(crate) struct NewImport<'a> {
    pub org: &'a str,
    pub stream: &'a str,
    pub file_name: &'a str,
    pub md5_hash: Option<String>,
    /// Its S3 key: never one another file has (see [`Store::key_taken`]).
    pub s3_key: String,
    pub created_ms: i64,
    pub status: Status,
}

/// Why a new import was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The file name is already used in the stream and no new `md5_hash` was given.
    DuplicateName,
}

#[derive(Clone, Copy, Debug)]
struct IndexEntry {
    status: Status,
    stream: u32,
}

/// (org, stream, file name).
type NameKey = (Arc<str>, Arc<str>, String);

/// What one acknowledged change writes.
#[derive(Default)]
pub(crate) struct Change {
    /// Empty every table first (reset, seed, import).
    pub reset: bool,
    pub files: Vec<(FileRecord, Flight)>,
    /// Objects stored (`Some`) or forgotten (`None`), by key.
    pub objects: Vec<(String, Option<StoredObject>)>,
    pub meta: Vec<(&'static str, String)>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        !self.reset && self.files.is_empty() && self.objects.is_empty() && self.meta.is_empty()
    }
}

/// What a snapshot holds of the store.
pub(crate) struct StoreContents {
    /// The next file id to hand out.
    pub next_id: u64,
    /// Every file, by id, with the plan and outcome of those still in flight.
    pub files: Vec<(FileRecord, Flight)>,
    /// Every object, by key.
    pub objects: Vec<(String, StoredObject)>,
}

#[derive(Default)]
pub(crate) struct Store {
    next_id: u64,
    files: HashMap<u64, Arc<FileRecord>>,
    /// Per organisation, every file keyed by (created, id): listing is a reverse range scan.
    index: HashMap<Arc<str>, BTreeMap<(i64, u64), IndexEntry>>,
    /// Stream names interned to small numbers so index entries stay compact.
    stream_ids: HashMap<Arc<str>, u32>,
    by_s3_key: HashMap<String, u64>,
    /// (org, stream, file name) → the md5_hash values it was created with.
    names: HashMap<NameKey, HashSet<Option<String>>>,
    /// Lifecycle steps that fall due, by clock instant.
    due: BTreeSet<(i64, u64)>,
    in_flight: HashMap<u64, progress::InFlight>,
    objects: objects::Objects,
    /// What changed since the last [`Store::take_change`]: files and objects to write.
    dirty_files: BTreeSet<u64>,
    dirty_objects: BTreeSet<String>,
    /// Everything was forgotten since the last change was taken.
    cleared: bool,
}

impl Store {
    pub fn new() -> Self {
        Self {
            next_id: 1,
            ..Self::default()
        }
    }

    /// True when a file already has this S3 key.
    pub fn key_taken(&self, s3_key: &str) -> bool {
        self.by_s3_key.contains_key(s3_key)
    }

    /// Records a new import. With `unique_name`, a name already used in the stream is refused
    /// unless the import brings an `md5_hash` not used with it before.
    pub fn insert(&mut self, new: NewImport, unique_name: bool) -> Result<FileRecord, Refused> {
        let org = self.intern_org(new.org);
        let stream = self.intern_stream(new.stream);
        let used = self
            .names
            .entry((org.clone(), stream.clone(), new.file_name.to_owned()))
            .or_default();
        let duplicate = match &new.md5_hash {
            None => !used.is_empty(),
            Some(_) => used.contains(&new.md5_hash),
        };
        if duplicate && unique_name {
            return Err(Refused::DuplicateName);
        }
        used.insert(new.md5_hash.clone());
        debug_assert!(!self.key_taken(&new.s3_key), "the engine picks a free key");
        let id = self.next_id;
        self.next_id += 1;
        let record = FileRecord {
            id,
            org: org.clone(),
            stream: stream.clone(),
            file_name: new.file_name.to_owned(),
            file_type: FileType::from_file_name(new.file_name),
            md5_hash: new.md5_hash,
            s3_key: new.s3_key,
            created_ms: new.created_ms,
            status: new.status,
            process_start_ms: None,
            process_end_ms: None,
            successful_count: 0,
            failure_count: 0,
            failure_code: None,
            history: vec![StatusChange {
                status: new.status,
                at_ms: new.created_ms,
            }],
        };
        self.index_file(&record);
        self.files.insert(id, Arc::new(record.clone()));
        self.dirty_files.insert(id);
        Ok(record)
    }

    fn index_file(&mut self, record: &FileRecord) {
        let entry = IndexEntry {
            status: record.status,
            stream: self.stream_ids[&record.stream],
        };
        self.index
            .entry(record.org.clone())
            .or_default()
            .insert((record.created_ms, record.id), entry);
        self.by_s3_key.insert(record.s3_key.clone(), record.id);
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

    /// A file in any organisation.
    pub fn file(&self, id: u64) -> Option<&Arc<FileRecord>> {
        self.files.get(&id)
    }

    /// A file, if it exists and belongs to `org`.
    pub fn get(&self, org: &str, id: u64) -> Option<&Arc<FileRecord>> {
        self.files.get(&id).filter(|f| &*f.org == org)
    }

    /// True when the file exists in another organisation.
    pub fn exists_elsewhere(&self, org: &str, id: u64) -> bool {
        self.files.get(&id).is_some_and(|f| &*f.org != org)
    }

    /// How many imports exist in all organisations.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// The stored object under `key`.
    pub fn object(&self, key: &str) -> Option<&StoredObject> {
        self.objects.get(key)
    }

    /// Where every object's bytes are.
    pub fn object_paths(&self) -> HashSet<std::path::PathBuf> {
        self.objects.paths()
    }

    /// Forgets every file and object; returns the object files for the caller to delete.
    pub fn clear(&mut self) -> Vec<std::path::PathBuf> {
        let paths = self.objects.drain_paths();
        *self = Store::new();
        self.cleared = true;
        paths
    }

    /// What changed since the last call, as rows to write: the files and objects touched
    /// (lifecycle steps included), and whether everything was forgotten first.
    pub fn take_change(&mut self) -> Change {
        let files = std::mem::take(&mut self.dirty_files)
            .into_iter()
            .filter_map(|id| {
                let record = self.files.get(&id)?;
                Some((FileRecord::clone(record), self.flight(id)))
            })
            .collect();
        let objects = std::mem::take(&mut self.dirty_objects)
            .into_iter()
            .map(|key| {
                let object = self.objects.get(&key).cloned();
                (key, object)
            })
            .collect();
        Change {
            reset: std::mem::take(&mut self.cleared),
            files,
            objects,
            meta: vec![("next_id", self.next_id.to_string())],
        }
    }

    /// Every file and object as rows, replacing what is stored (an import).
    pub fn whole(&mut self) -> Change {
        self.dirty_files = self.files.keys().copied().collect();
        self.dirty_objects = self.objects.keys();
        self.cleared = true;
        self.take_change()
    }

    /// Every file (with the plan and outcome of those still in flight) and every object, for
    /// a snapshot.
    pub fn export(&self) -> StoreContents {
        let mut files: Vec<(FileRecord, Flight)> = self
            .files
            .values()
            .map(|f| (FileRecord::clone(f), self.flight(f.id)))
            .collect();
        files.sort_by_key(|(f, _)| f.id);
        StoreContents {
            next_id: self.next_id,
            files,
            objects: self.objects.sorted(),
        }
    }

    /// Rebuilds a store from a snapshot. Files still QUEUED or PROCESSING keep their plan and
    /// stored outcome; those not yet read are read again: the returned jobs must be run. Two files with one id or one S3 key are
    /// refused, naming the second.
    pub fn import(contents: StoreContents) -> Result<(Store, Vec<ProcessingJob>), String> {
        let StoreContents {
            next_id,
            files,
            objects,
        } = contents;
        let mut store = Store::new();
        store.objects = objects::Objects::from_iter(objects);
        let mut jobs = Vec::new();
        for (file, flight) in files {
            if store.files.contains_key(&file.id) {
                return Err(format!("file {} appears twice", file.id));
            }
            if store.key_taken(&file.s3_key) {
                return Err(format!(
                    "file {} has the key '{}' of another file",
                    file.id, file.s3_key
                ));
            }
            let org = store.intern_org(&file.org);
            let stream = store.intern_stream(&file.stream);
            store
                .names
                .entry((org.clone(), stream.clone(), file.file_name.clone()))
                .or_default()
                .insert(file.md5_hash.clone());
            let record = FileRecord {
                org,
                stream,
                ..file
            };
            store.index_file(&record);
            let (id, status) = (record.id, record.status);
            store.files.insert(id, Arc::new(record));
            if matches!(status, Status::QUEUED | Status::PROCESSING) {
                if let Some(job) = store.resume(id, status, flight) {
                    jobs.push(job);
                }
            }
        }
        store.next_id = next_id.max(store.files.keys().max().map_or(1, |m| m + 1));
        Ok((store, jobs))
    }
}

#[cfg(test)]
mod tests;
