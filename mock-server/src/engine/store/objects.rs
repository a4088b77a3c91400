//! The objects the S3 endpoint stored, by key. Their bytes live in files under generated names
//! (never the key), which the engine creates and deletes outside the lock.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

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

#[derive(Default)]
pub(super) struct Objects(HashMap<String, StoredObject>);

impl Objects {
    pub fn from_iter(objects: impl IntoIterator<Item = (String, StoredObject)>) -> Self {
        Self(objects.into_iter().collect())
    }

    /// Stores `object` under `key`; returns the file of the object it replaced, if any.
    pub fn insert(&mut self, key: &str, object: StoredObject) -> Option<PathBuf> {
        self.0.insert(key.to_owned(), object).map(|old| old.path)
    }

    pub fn get(&self, key: &str) -> Option<&StoredObject> {
        self.0.get(key)
    }

    pub fn keys(&self) -> std::collections::BTreeSet<String> {
        self.0.keys().cloned().collect()
    }

    pub fn paths(&self) -> HashSet<PathBuf> {
        self.0.values().map(|o| o.path.clone()).collect()
    }

    pub fn drain_paths(&mut self) -> Vec<PathBuf> {
        self.0.drain().map(|(_, o)| o.path).collect()
    }

    /// Every object, sorted by key.
    pub fn sorted(&self) -> Vec<(String, StoredObject)> {
        let mut objects: Vec<_> = self.0.iter().map(|(k, o)| (k.clone(), o.clone())).collect();
        objects.sort_by(|a, b| a.0.cmp(&b.0));
        objects
    }
}

/// A generated object name: 32 hex digits, so never a path outside `objects/`.
pub(crate) fn is_generated_name(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit())
}
