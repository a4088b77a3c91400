//! Staging changes to the database: under the files part's lock, in the order they are made;
//! waited for after it is released; and a change the database refuses is refused to its
//! caller, with memory put back to what the database holds.

use super::{Files, Reading, Shelf};
use crate::engine::persist::{Persist, Staged};
use crate::engine::store::{Change, Store};
use crate::error::Error;

impl Files {
    /// The clock, timing and streams as `meta` rows.
    pub(super) fn settings_rows(&self, shelf: &Shelf) -> Vec<(&'static str, String)> {
        let (frozen, offset) = self.clock.parts();
        vec![
            (
                "clock_frozen_at_ms",
                frozen.map_or(String::new(), |ms| ms.to_string()),
            ),
            ("clock_offset_ms", offset.to_string()),
            ("timing", shelf.timing.as_str().to_owned()),
            (
                "streams",
                serde_json::to_string(&shelf.streams).expect("streams serialise"),
            ),
        ]
    }

    /// Under the lock: hands what changed (and the settings, with `settings`) to the database,
    /// in the order changes are made. `None` without a data directory.
    pub(super) fn stage(&self, shelf: &mut Shelf, settings: bool) -> Option<Staged> {
        let persist = self.persist.as_ref()?;
        let mut change = shelf.store.take_change();
        if settings {
            change.meta.extend(self.settings_rows(shelf));
        }
        persist.send(change)
    }

    /// Hands a whole change to the database (an import), under the lock.
    pub(super) fn send(&self, change: Change) -> Option<Staged> {
        self.persist.as_ref()?.send(change)
    }

    /// Waits until a staged change is committed. If it cannot be, the change is refused:
    /// memory is reloaded from the database (which does not have it), and the caller answers
    /// an error.
    pub(super) async fn acknowledged(&self, staged: Option<Staged>) -> Result<(), Error> {
        let Some(staged) = staged else {
            return Ok(());
        };
        let Err(refused) = Persist::committed(staged).await else {
            return Ok(());
        };
        self.reload_after_refusal();
        Err(Error::Io {
            context: "cannot write the state to the data directory; the change was not made".into(),
            source: std::io::Error::other(refused),
        })
    }

    /// Puts memory back to what the database holds, after a change it could not take.
    pub(super) fn reload_after_refusal(&self) {
        let Some(persist) = self.persist.as_ref() else {
            return;
        };
        // Read under the lock on purpose: a change made between the read and the swap would
        // be lost from memory though the database has it. This path runs only after a
        // refused write (a full disk), where a pause is the lesser harm.
        let mut shelf = self.shelf.lock();
        let reread = persist
            .reread(&self.objects_dir)
            .and_then(|(contents, settings)| Ok((Store::import(contents)?, settings)));
        match reread {
            Ok(((reloaded, jobs), settings)) => {
                shelf.store = reloaded;
                self.clock.restore(settings.clock.0, settings.clock.1);
                if let Some(timing) = settings.timing {
                    shelf.timing = timing;
                }
                if let Some(streams) = settings.streams {
                    shelf.streams = streams;
                }
                drop(shelf);
                for job in jobs {
                    self.spawn_processing(Reading::open(job));
                }
            }
            Err(err) => {
                tracing::error!(%err, "cannot read the state back after a refused write");
            }
        }
    }

    /// Releases the data directory: changes are refused from now on.
    pub fn close(&self) {
        if let Some(persist) = self.persist.as_ref() {
            persist.close();
        }
    }
}
