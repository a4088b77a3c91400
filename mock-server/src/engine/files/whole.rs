//! The whole state at once: exported as one JSON document, imported from one, and loaded from
//! the data directory at start-up.

use std::path::PathBuf;
use std::sync::Arc;

use super::{remove_file_quietly, Files, Reading};
use crate::engine::persist::{Durable, Persist};
use crate::engine::snapshot;
use crate::engine::store::{Store, StoreContents};
use crate::error::Error;

/// The state as exported, taken at one instant; its objects are read as it is written.
pub(crate) struct StateDocument(snapshot::Parts);

impl StateDocument {
    /// Writes the JSON document to `out`, each object read from disk as it goes. Blocking.
    /// Fails if an object changed since the state was taken (what was written is then cut
    /// short, and no JSON parser takes it).
    pub fn write_to(self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        snapshot::write_document(self.0, out)
    }
}

/// A snapshot read and checked, its objects already in the object store.
pub(crate) struct SnapshotParts(snapshot::Parts);

impl Files {
    /// The whole state as `GET /_mock/state` returns it, taken once every file in flight is
    /// read and every due step applied, to be written with [`StateDocument::write_to`] as it
    /// goes out.
    pub async fn export_document(&self) -> StateDocument {
        // Every reading in flight is waited for, so an export carries each file's outcome and
        // two exports of an unchanged fake are the same.
        self.wait_for_every_reading().await;
        self.settle().await;
        let shelf = self.shelf.lock();
        StateDocument(snapshot::Parts {
            contents: shelf.store.export(),
            clock: self.clock.parts(),
            timing: shelf.timing,
            streams: shelf.streams.clone(),
        })
    }

    /// The whole state as one JSON value, objects inline: [`Files::export_document`] parsed
    /// (for the in-process handle; HTTP streams the document instead).
    pub async fn export(&self) -> Result<serde_json::Value, Error> {
        let document = self.export_document().await;
        tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            document.write_to(&mut bytes)?;
            serde_json::from_slice(&bytes).map_err(std::io::Error::other)
        })
        .await
        .map_err(|e| Error::io("cannot read an object back")(std::io::Error::other(e)))?
        .map_err(Error::io("cannot read an object back"))
    }

    /// Reads an exported document from `input` as it arrives, its objects written to the
    /// object store as they are decoded; [`Files::restore`] then puts it in force. Blocking:
    /// run it off the runtime's threads. A document that goes wrong is refused where it does,
    /// with the objects it brought removed.
    pub fn read_snapshot(&self, input: impl std::io::Read) -> Result<SnapshotParts, Error> {
        snapshot::read_document(input, &self.objects_dir)
            .map(SnapshotParts)
            .map_err(|refusal| match refusal {
                snapshot::Refusal::Invalid(why) => {
                    Error::Invalid(format!("Invalid snapshot: {why}"))
                }
                snapshot::Refusal::Io(err) => Error::io("cannot store a snapshot's object")(err),
            })
    }

    /// Replaces the whole state with an exported one, given as a JSON value.
    pub async fn import(self: &Arc<Self>, snapshot: serde_json::Value) -> Result<(), Error> {
        let bytes = serde_json::to_vec(&snapshot).expect("a JSON value serialises");
        let files = self.clone();
        let parts = tokio::task::spawn_blocking(move || files.read_snapshot(&bytes[..]))
            .await
            .map_err(|e| Error::Invalid(format!("Invalid snapshot: {e}")))??;
        self.restore(parts).await
    }

    /// Puts a snapshot read by [`Files::read_snapshot`] in force, replacing the whole state.
    pub async fn restore(&self, parts: SnapshotParts) -> Result<(), Error> {
        let parts = parts.0;
        let brought: Vec<PathBuf> = parts
            .contents
            .objects
            .iter()
            .map(|(_, object)| object.path.clone())
            .collect();
        let (store, jobs) = match Store::import(parts.contents) {
            Ok(imported) => imported,
            Err(why) => {
                for path in &brought {
                    remove_file_quietly(path).await;
                }
                return Err(Error::Invalid(format!("Invalid snapshot: {why}")));
            }
        };
        let new_paths = store.object_paths();
        // Two objects under one key: the first one's file is not used.
        for path in brought.iter().filter(|p| !new_paths.contains(*p)) {
            remove_file_quietly(path).await;
        }
        let (replaced, jobs, staged) = {
            let mut shelf = self.shelf.lock();
            let replaced = std::mem::replace(&mut shelf.store, store);
            let jobs: Vec<Reading> = jobs.into_iter().map(Reading::open).collect();
            self.clock.restore(parts.clock.0, parts.clock.1);
            shelf.timing = parts.timing;
            shelf.streams = parts.streams;
            let mut change = shelf.store.whole();
            change.meta.extend(self.settings_rows(&shelf));
            (replaced, jobs, self.send(change))
        };
        let old_paths = replaced.object_paths();
        if let Err(err) = self.acknowledged(staged).await {
            for path in new_paths.difference(&old_paths) {
                remove_file_quietly(path).await;
            }
            return Err(err);
        }
        for job in jobs {
            self.spawn_processing(job);
        }
        // Objects of the replaced state that the new one does not use.
        for path in old_paths.difference(&new_paths) {
            remove_file_quietly(path).await;
        }
        Ok(())
    }

    /// Takes what an opened data directory holds: its files and objects, its clock if it was
    /// written before, and with `keep_stored_settings` its timing profile and streams over the
    /// configuration's. Returns whether the directory held settings. Before [`Files::start`].
    pub(crate) fn load(
        &mut self,
        durable: Durable,
        contents: StoreContents,
        settings: crate::engine::persist::StoredSettings,
        keep_stored_settings: bool,
    ) -> Result<bool, String> {
        let (store, jobs) = Store::import(contents)?;
        // Settings are written at a directory's first start: a directory without them is new.
        let written_before = settings.timing.is_some();
        {
            let shelf = self.shelf.get_mut();
            shelf.store = store;
            if written_before {
                // A directory written before holds the clock as it was left.
                self.clock.restore(settings.clock.0, settings.clock.1);
            }
            if keep_stored_settings {
                if let Some(timing) = settings.timing {
                    shelf.timing = timing;
                }
                if let Some(streams) = settings.streams {
                    shelf.streams = streams;
                }
            }
        }
        self.persist = Some(Persist::new(durable));
        for job in jobs {
            self.spawn_processing(Reading::open(job));
        }
        Ok(written_before)
    }

    /// The paths of every object the files refer to.
    pub(crate) fn object_paths(&self) -> std::collections::HashSet<PathBuf> {
        self.shelf.lock().store.object_paths()
    }
}
