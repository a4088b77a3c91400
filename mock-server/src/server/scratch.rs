//! The data directory of a fake started without `--data-dir`: a new `u21-mock-XXXXXX` under the
//! system's temporary directory, removed when the fake stops.
//!
//! A fake that is killed (`kill -9`, a test harness ending its child, a crash, a CI job cut off)
//! cannot remove its own, and the objects in it add up: 300 MB uploads left behind by killed
//! fakes once filled a CI machine's disk. So each scratch directory holds `u21-mock.lock`, locked
//! for the fake's life and naming its pid, and every fake that starts without `--data-dir`
//! removes the scratch directories whose lock nobody holds any more (on a thread of its own, so
//! start-up does not wait for gigabytes to be unlinked).
//!
//! Only what is certainly an abandoned scratch directory is removed: a directory (not a link)
//! named `u21-mock-` and six characters, owned by this user, holding its lock file with a pid in
//! it and nothing besides `objects/` and `incoming/` with plain files in them, and whose lock
//! this process can take. A running fake holds its lock, so its directory is kept; a fake that
//! is still creating its directory has not written its pid yet, so its directory is kept too.
//! Directories of versions before the lock file are never touched.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

// The same lock file name as a `--data-dir`'s.
use crate::engine::DATA_DIR_LOCK as LOCK;
use crate::error::Error;

const PREFIX: &str = "u21-mock-";
/// `tempfile`'s default number of random characters after the prefix.
const RANDOM_CHARS: usize = 6;

/// A fake's scratch data directory, locked for as long as this value lives and removed with it.
pub struct ScratchDir {
    // Fields drop in order: the directory is removed, then the lock released.
    dir: tempfile::TempDir,
    _lock: File,
}

/// What [`Abandoned::remove`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    pub directories: usize,
    pub bytes: u64,
}

impl ScratchDir {
    /// Creates a scratch directory under the system's temporary directory, and finds (and
    /// locks) the ones killed fakes left there, for [`Abandoned::remove`].
    pub fn create() -> Result<(ScratchDir, Abandoned), Error> {
        Self::create_in(&std::env::temp_dir())
    }

    /// Creates a scratch directory under `parent`, and finds (and locks) the ones killed fakes
    /// left there.
    pub fn create_in(parent: &Path) -> Result<(ScratchDir, Abandoned), Error> {
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .rand_bytes(RANDOM_CHARS)
            .tempdir_in(parent)
            .map_err(Error::io(format!(
                "cannot create a temporary data directory in {}",
                parent.display()
            )))?;
        let path = dir.path().join(LOCK);
        let mut lock = File::create_new(&path)
            .map_err(Error::io(format!("cannot create {}", path.display())))?;
        // Blocking: a fake looking for abandoned directories at this moment may hold the new,
        // still empty lock for an instant (and leaves the directory alone: no pid yet).
        // An advisory lock on the file (flock), not a lock on state.
        File::lock(&lock)
            .and_then(|()| writeln!(lock, "{}", std::process::id()))
            .map_err(Error::io(format!("cannot lock {}", path.display())))?;
        let owner = std::fs::metadata(dir.path())
            .map(|meta| owner_of(&meta))
            .map_err(Error::io(format!("cannot read {}", dir.path().display())))?;
        let abandoned = find_abandoned(parent, dir.path(), owner);
        Ok((ScratchDir { dir, _lock: lock }, abandoned))
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Killed fakes' scratch directories, each with its lock held, so no other fake removes or
/// reports them meanwhile. Found at start-up in a few milliseconds; removing them can take
/// much longer (unlinking gigabytes), so the server does it on a thread of its own.
#[derive(Default)]
pub struct Abandoned(Vec<(PathBuf, File, u64)>);

impl Abandoned {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes them: the objects and uploads first, then the rest, so a fake killed meanwhile
    /// leaves a directory the next one still recognises. Errors only leave a directory where
    /// it is.
    pub fn remove(self) -> Reaped {
        let mut reaped = Reaped::default();
        for (dir, _lock, bytes) in self.0 {
            let removed = ["objects", "incoming"]
                .iter()
                .all(|inner| empty_dir(&dir.join(inner)).is_ok())
                && std::fs::remove_dir_all(&dir).is_ok();
            if removed {
                reaped.directories += 1;
                reaped.bytes += bytes;
            }
        }
        reaped
    }
}

fn empty_dir(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        std::fs::remove_file(entry?.path())?;
    }
    Ok(())
}

/// Every abandoned scratch directory in `parent` owned by `owner`, other than `own`, locked.
fn find_abandoned(parent: &Path, own: &Path, owner: u32) -> Abandoned {
    let mut found = Abandoned::default();
    let Ok(entries) = std::fs::read_dir(parent) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == own || !is_scratch_name(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let Some(bytes) = abandoned_scratch_bytes(&path, owner) else {
            continue;
        };
        if let Some(lock) = take_abandoned_lock(&path) {
            found.0.push((path, lock, bytes));
        }
    }
    found
}

/// The user owning a file (on systems without users, everything is one user's).
fn owner_of(meta: &std::fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        std::os::unix::fs::MetadataExt::uid(meta)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}

fn is_scratch_name(name: &str) -> bool {
    name.strip_prefix(PREFIX).is_some_and(|random| {
        random.len() == RANDOM_CHARS && random.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// The bytes in `dir` when it has exactly a scratch directory's shape and owner; `None` for
/// anything else.
fn abandoned_scratch_bytes(dir: &Path, owner: u32) -> Option<u64> {
    let meta = std::fs::symlink_metadata(dir).ok()?;
    if !meta.is_dir() || owner_of(&meta) != owner {
        return None;
    }
    let mut bytes = 0;
    let mut has_lock = false;
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        let meta = entry.metadata().ok()?; // DirEntry::metadata does not follow links
        match entry.file_name().to_str()? {
            LOCK if meta.is_file() => has_lock = true,
            "objects" | "incoming" if meta.is_dir() => {
                for inner in std::fs::read_dir(entry.path()).ok()? {
                    let inner = inner.ok()?.metadata().ok()?;
                    if !inner.is_file() {
                        return None;
                    }
                    bytes += inner.len();
                }
            }
            _ => return None,
        }
    }
    has_lock.then_some(bytes)
}

/// The lock of a scratch directory whose fake is gone: free, and naming a pid (a lock without
/// one is a fake still creating its directory).
fn take_abandoned_lock(dir: &Path) -> Option<File> {
    let path: PathBuf = dir.join(LOCK);
    let mut file = std::fs::OpenOptions::new().read(true).open(path).ok()?;
    file.try_lock().ok()?;
    let mut pid = String::new();
    file.read_to_string(&mut pid).ok()?;
    (!pid.trim().is_empty()).then_some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A killed fake's directory: the lock file with a pid nobody holds, an object.
    fn abandoned(parent: &Path, name: &str, object_bytes: usize) -> PathBuf {
        let dir = parent.join(name);
        std::fs::create_dir_all(dir.join("objects")).unwrap();
        std::fs::create_dir_all(dir.join("incoming")).unwrap();
        std::fs::write(dir.join(LOCK), "4242\n").unwrap();
        std::fs::write(
            dir.join("objects/0123456789abcdef0123456789abcdef"),
            vec![b'x'; object_bytes],
        )
        .unwrap();
        dir
    }

    #[test]
    fn a_killed_fakes_directory_is_removed_and_counted() {
        let parent = tempfile::tempdir().unwrap();
        let old = abandoned(parent.path(), "u21-mock-Ab12Cd", 1000);
        let (scratch, abandoned) = ScratchDir::create_in(parent.path()).unwrap();
        assert!(old.exists(), "found, not yet removed");
        let (_beside, found_beside) = ScratchDir::create_in(parent.path()).unwrap();
        assert!(
            found_beside.is_empty(),
            "a fake starting meanwhile leaves it alone"
        );
        let reaped = abandoned.remove();
        assert!(!old.exists(), "the killed fake's directory is removed");
        assert_eq!(
            reaped,
            Reaped {
                directories: 1,
                bytes: 1000
            }
        );
        assert!(scratch.path().join(LOCK).exists());
    }

    #[test]
    fn a_running_fakes_directory_is_kept() {
        let parent = tempfile::tempdir().unwrap();
        let (running, _) = ScratchDir::create_in(parent.path()).unwrap();
        std::fs::create_dir(running.path().join("objects")).unwrap();
        std::fs::write(
            running
                .path()
                .join("objects/feedfeedfeedfeedfeedfeedfeedfeed"),
            "x",
        )
        .unwrap();
        let (second, abandoned) = ScratchDir::create_in(parent.path()).unwrap();
        assert_eq!(abandoned.remove(), Reaped::default());
        assert!(running.path().join("objects").exists());
        let second_path = second.path().to_owned();
        drop(second);
        assert!(!second_path.exists(), "a fake that stops removes its own");
    }

    #[test]
    fn a_lock_without_a_pid_is_a_fake_still_starting_and_is_kept() {
        let parent = tempfile::tempdir().unwrap();
        let starting = abandoned(parent.path(), "u21-mock-Zz99Yy", 10);
        std::fs::write(starting.join(LOCK), "").unwrap();
        let (_scratch, abandoned) = ScratchDir::create_in(parent.path()).unwrap();
        assert_eq!(abandoned.remove(), Reaped::default());
        assert!(starting.exists());
    }

    #[cfg(unix)]
    #[test]
    fn anything_not_shaped_like_a_scratch_directory_is_kept() {
        let parent = tempfile::tempdir().unwrap();
        let p = parent.path();
        // Each differs from an abandoned scratch directory in one way.
        let other_file = abandoned(p, "u21-mock-aaaaa1", 1);
        std::fs::write(other_file.join("notes.txt"), "mine").unwrap();
        let nested = abandoned(p, "u21-mock-aaaaa2", 1);
        std::fs::create_dir(nested.join("objects/sub")).unwrap();
        let no_lock = abandoned(p, "u21-mock-aaaaa3", 1);
        std::fs::remove_file(no_lock.join(LOCK)).unwrap();
        let long_name = abandoned(p, "u21-mock-data-dir", 1);
        let other_prefix = abandoned(p, "u21-other-aaaaa4", 1);
        let linked_target = abandoned(p, "target-aaaaa5", 1);
        std::os::unix::fs::symlink(&linked_target, p.join("u21-mock-aaaaa5")).unwrap();
        let linked_objects = abandoned(p, "u21-mock-aaaaa6", 1);
        std::fs::remove_dir_all(linked_objects.join("objects")).unwrap();
        std::os::unix::fs::symlink(&linked_target, linked_objects.join("objects")).unwrap();

        let (_scratch, abandoned) = ScratchDir::create_in(p).unwrap();
        assert_eq!(abandoned.remove(), Reaped::default());
        for kept in [
            &other_file,
            &nested,
            &no_lock,
            &long_name,
            &other_prefix,
            &linked_objects,
        ] {
            assert!(kept.exists(), "{} is kept", kept.display());
        }
        assert!(linked_target.join("objects").exists());
    }
}
