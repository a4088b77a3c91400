//! The objects part: where uploads stream to (`incoming/`) and where they are kept once
//! accepted (`objects/`), under generated names only, the slots that bound how many uploads
//! stream at once, and the pipeline that receives a file's bytes (`receive`).
//!
//! [`Objects`] takes no lock: its slots are a semaphore, and each upload owns its own file
//! until [`Objects::store`] moves it into the object store.

mod receive;

use std::path::{Path, PathBuf};

pub(crate) use receive::{Chunks, Refusal};

use super::persist::is_generated_name;
use super::store::StoredObject;
use crate::error::Error;

/// An upload on disk that is not yet an object; dropping it deletes the file.
pub(crate) struct Incoming {
    pub temp: tempfile::TempPath,
    pub size: u64,
    /// Quoted hex MD5.
    pub etag: String,
}

/// The object store's two directories and the upload slots.
pub(crate) struct Objects {
    /// Where finished objects live, each under a generated name.
    objects_dir: PathBuf,
    /// Where uploads stream to before they are accepted, on the same filesystem.
    incoming_dir: PathBuf,
    /// With `--data-dir`: a stored object's name reaches the disk before it is recorded.
    durable: bool,
    /// One permit per upload streaming its file (see `Limits::concurrent_uploads`).
    upload_slots: tokio::sync::Semaphore,
}

impl Objects {
    pub fn new(data_dir: &Path, durable: bool, concurrent_uploads: usize) -> Self {
        Objects {
            objects_dir: data_dir.join("objects"),
            incoming_dir: data_dir.join("incoming"),
            durable,
            upload_slots: tokio::sync::Semaphore::new(concurrent_uploads),
        }
    }

    /// True with `--data-dir`: an upload's bytes reach the disk before it is answered.
    pub fn is_durable(&self) -> bool {
        self.durable
    }

    pub fn objects_dir(&self) -> &Path {
        &self.objects_dir
    }

    /// Makes both directories, if they are not there.
    pub fn create_dirs(&self) -> Result<(), Error> {
        for dir in [&self.objects_dir, &self.incoming_dir] {
            std::fs::create_dir_all(dir)
                .map_err(Error::io(format!("cannot create {}", dir.display())))?;
        }
        Ok(())
    }

    /// A place for an upload's bytes while they stream in, beside the object store.
    pub fn incoming_file(&self) -> std::io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&self.incoming_dir)
    }

    /// One of the `limits.concurrent_uploads` slots, when one is free.
    pub async fn upload_slot_wait(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.upload_slots
            .acquire()
            .await
            .expect("the upload slots are never closed")
    }

    /// A file's bytes given whole (the dashboard's upload by hand), as an upload received.
    pub fn write(&self, content: &[u8]) -> Result<Incoming, Error> {
        use md5::Digest;
        use std::io::Write;
        let mut temp = self
            .incoming_file()
            .map_err(Error::io("cannot store the file"))?;
        temp.write_all(content)
            .and_then(|()| {
                if self.durable {
                    temp.as_file().sync_all()
                } else {
                    Ok(())
                }
            })
            .map_err(Error::io("cannot store the file"))?;
        Ok(Incoming {
            temp: temp.into_temp_path(),
            size: content.len() as u64,
            etag: format!("\"{}\"", hex::encode(md5::Md5::digest(content))),
        })
    }

    /// Moves a received upload into `objects/` under a generated name (never a client's);
    /// with a data directory, the rename reaches the disk before the object is recorded.
    pub async fn store(&self, incoming: Incoming) -> Result<StoredObject, Error> {
        let path: PathBuf = self
            .objects_dir
            .join(uuid::Uuid::new_v4().simple().to_string());
        incoming
            .temp
            .persist(&path)
            .map_err(|err| Error::io("cannot store the object")(err.error))?;
        let object = StoredObject {
            path,
            size: incoming.size,
            etag: incoming.etag,
        };
        if self.durable {
            let synced = async {
                tokio::fs::File::open(&self.objects_dir)
                    .await?
                    .sync_all()
                    .await
            };
            if let Err(err) = synced.await {
                super::files::remove_file_quietly(&object.path).await;
                return Err(Error::io("cannot store the object")(err));
            }
        }
        Ok(object)
    }

    /// Drops what a crash left behind: partial uploads in `incoming/`, and object files no
    /// object refers to (`kept` are those that do). Touches only names the fake itself makes.
    pub async fn sweep(&self, kept: &std::collections::HashSet<PathBuf>) -> std::io::Result<()> {
        remove_all_in(&self.incoming_dir, |name| name.starts_with("upload-")).await?;
        let objects_dir = &self.objects_dir;
        remove_all_in(objects_dir, |name| {
            is_generated_name(name) && !kept.contains(&objects_dir.join(name))
        })
        .await
    }
}

/// Removes the files in `dir` whose names `doomed` picks; anything else is left, with a warning.
async fn remove_all_in(dir: &Path, doomed: impl Fn(&str) -> bool) -> std::io::Result<()> {
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if doomed(&name) {
            let _ = tokio::fs::remove_file(entry.path()).await;
        } else if !name.starts_with("upload-") && !is_generated_name(&name) {
            tracing::warn!(path = %entry.path().display(), "a file the fake did not make; left as it is");
        }
    }
    Ok(())
}
