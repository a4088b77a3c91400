//! The persist part: with `--data-dir`, the database every acknowledged change is committed to
//! before it is answered (`durable`: the directory's lock and marker, opening and migrating;
//! `rows`: the writer thread and reading every row back), and the staging of changes into it.
//!
//! [`Persist`] takes no lock of its own across calls: the files part stages its changes while
//! it holds its own lock, so they reach the writer in the order they were made, and waits for
//! the answer after releasing it.

pub(crate) mod durable;
mod rows;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) use durable::{is_generated_name, Durable, StoredSettings, LOCK};

use super::store::{Change, StoreContents};

/// A change handed to the database; the answer says whether it was committed.
pub(crate) struct Staged {
    answer: tokio::sync::oneshot::Receiver<Result<(), String>>,
}

/// Why the database did not take a change: the caller answers an error, and memory is put
/// back to what the database holds.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NotCommitted(String);

/// An open data directory and the epoch changes are made in.
pub(crate) struct Persist {
    durable: Durable,
    /// Bumped when memory is reloaded from the database after a refused write: changes made
    /// before are refused too (see `durable`).
    epoch: AtomicU64,
}

impl Persist {
    pub fn new(durable: Durable) -> Self {
        Persist {
            durable,
            epoch: AtomicU64::new(0),
        }
    }

    /// Hands `change` to the writer; call it under the lock the change was made under.
    /// `None` when there is nothing to write.
    pub fn send(&self, change: Change) -> Option<Staged> {
        if change.is_empty() {
            return None;
        }
        let answer = self
            .durable
            .send(self.epoch.load(Ordering::Acquire), change);
        Some(Staged { answer })
    }

    /// Waits until a staged change is committed, or says why it was not.
    pub async fn committed(staged: Staged) -> Result<(), NotCommitted> {
        match staged.answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(NotCommitted(why)),
            Err(_) => Err(NotCommitted("the database writer has stopped".to_owned())),
        }
    }

    /// Starts a new epoch (changes staged before it are refused) and reads back everything
    /// the database holds: call it under the lock changes are staged under.
    pub fn reread(&self, objects_dir: &Path) -> Result<(StoreContents, StoredSettings), String> {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.durable.reread(objects_dir)
    }

    /// Releases the data directory (see `Durable::close`): changes are refused from now on.
    pub fn close(&self) {
        self.durable.close();
    }

    #[cfg(test)]
    pub fn durable(&self) -> &Durable {
        &self.durable
    }
}
