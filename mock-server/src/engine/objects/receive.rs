//! The upload pipeline: a file's bytes from the request to a file beside the object store,
//! hashed and size-checked as they arrive. MD5 runs at about the speed of the upload itself,
//! so it gets a thread of its own, and so does the disk writer: the caller's task only pulls
//! and counts, and the three overlap. The channels between them are short, so memory stays
//! flat whatever the size.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use md5::{Digest, Md5};

use super::{Incoming, Objects};

/// Per upload: 200 concurrent uploads hold 200 of these, so it stays small.
const WRITE_BUFFER: usize = 256 * 1024;
/// A file that sends nothing this long gives its threads and slot back until it does.
const STALL: Duration = Duration::from_millis(100);
/// How long a new upload waits for a slot before it is refused as busy.
const SLOT_WAIT: Duration = Duration::from_secs(1);
/// Chunks in flight between the puller and one worker thread.
const PIPE_DEPTH: usize = 4;

/// Where a file's bytes come from: the HTTP layer's body part, here as plain chunks.
pub(crate) trait Chunks: Send {
    /// The next chunk; `Ok(None)` at the end; `Err` when the request's framing breaks.
    fn next_chunk(&mut self)
        -> impl std::future::Future<Output = Result<Option<Bytes>, ()>> + Send;
}

/// Why an upload's bytes were not kept; the HTTP layer answers each in S3's words.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Every slot was taken for longer than a moment (S3's SlowDown).
    Busy,
    /// More bytes than the form allows (`size` counted so far).
    TooLarge { size: u64, max: u64 },
    /// Fewer bytes than the form requires.
    TooSmall { size: u64, min: u64 },
    /// The client sent nothing for `limits.upload_idle_secs`.
    Idle,
    /// The request's framing broke mid-file.
    Malformed,
    /// The disk, a worker thread, or the file: the fake's own failure.
    Io(std::io::Error),
}

impl From<std::io::Error> for Refusal {
    fn from(err: std::io::Error) -> Self {
        Refusal::Io(err)
    }
}

impl From<tokio::task::JoinError> for Refusal {
    fn from(err: tokio::task::JoinError) -> Self {
        Refusal::Io(std::io::Error::other(err))
    }
}

impl Objects {
    /// Receives a file of `min..=max` bytes from `part` into `incoming/`. Each upload streaming
    /// its file holds two threads and a slot; a client that stops sending gives both back
    /// after a moment (its hash and its file wait in memory) and takes a slot again when it
    /// sends more, so stalled clients cannot crowd out the others. A new upload waits a moment
    /// for a slot, then is refused as busy (clients retry S3's SlowDown). A refused or broken
    /// upload leaves nothing: its file is deleted when the temporary path drops.
    pub async fn receive(
        &self,
        part: &mut impl Chunks,
        min: u64,
        max: u64,
        idle: Duration,
    ) -> Result<Incoming, Refusal> {
        let mut slot = Some(
            tokio::time::timeout(SLOT_WAIT, self.upload_slot_wait())
                .await
                .map_err(|_| Refusal::Busy)?,
        );
        let (mut file, temp) = self.incoming_file()?.into_parts();
        let mut md5 = Md5::new();
        let mut size = 0u64;
        let mut pending: Option<Bytes> = None;
        let mut ended = false;
        loop {
            // One run of data: both workers fed until the body ends or stalls.
            let (to_hasher, hashed) = pipe(move |chunks| {
                chunks.for_each(|chunk| md5.update(&chunk));
                Ok(md5)
            });
            let (to_writer, written) = pipe(move |chunks| {
                let mut writer = std::io::BufWriter::with_capacity(WRITE_BUFFER, file);
                for chunk in chunks {
                    writer.write_all(&chunk)?;
                }
                writer.into_inner().map_err(|err| err.into_error())
            });
            let mut next = pending.take();
            loop {
                let Some(chunk) = next.take() else {
                    if ended {
                        break;
                    }
                    match tokio::time::timeout(STALL, part.next_chunk()).await {
                        // Stalled: the workers go, the data so far is kept.
                        Err(_) => break,
                        Ok(Ok(Some(chunk))) => next = Some(chunk),
                        Ok(Ok(None)) => ended = true,
                        Ok(Err(())) => return Err(Refusal::Malformed),
                    }
                    continue;
                };
                size += chunk.len() as u64;
                if size > max {
                    // Stop at once: the rest is not stored. Dropping the senders ends both
                    // threads, and dropping `temp` deletes what was written.
                    return Err(Refusal::TooLarge { size, max });
                }
                let sent = to_hasher.send(chunk.clone()).await.is_ok();
                if !sent || to_writer.send(chunk).await.is_err() {
                    // A thread stopped early: only a failed write does that, and it says why
                    // below.
                    ended = true;
                    break;
                }
            }
            drop((to_hasher, to_writer));
            file = written.await??;
            md5 = hashed.await??;
            if ended {
                break;
            }
            // Stalled: nothing held but memory until the client sends again (or times out).
            drop(slot.take());
            let rest = idle.saturating_sub(STALL);
            match tokio::time::timeout(rest, part.next_chunk()).await {
                Err(_) => return Err(Refusal::Idle),
                Ok(Ok(Some(chunk))) => pending = Some(chunk),
                Ok(Ok(None)) => ended = true,
                Ok(Err(())) => return Err(Refusal::Malformed),
            }
            if !ended {
                slot = Some(self.upload_slot_wait().await);
            }
        }
        // Only a persistent store outlives the process, so only it pays for an fsync.
        if self.is_durable() {
            tokio::task::spawn_blocking(move || file.sync_all()).await??;
        }
        drop(slot);
        if size < min {
            return Err(Refusal::TooSmall { size, min });
        }
        Ok(Incoming {
            temp,
            size,
            etag: format!("\"{}\"", hex::encode(md5.finalize())),
        })
    }
}

/// A worker on the blocking pool fed chunks through a short channel; `work` sees them as an
/// iterator that ends when the sender is dropped.
fn pipe<T: Send + 'static>(
    work: impl FnOnce(&mut dyn Iterator<Item = Bytes>) -> std::io::Result<T> + Send + 'static,
) -> (
    tokio::sync::mpsc::Sender<Bytes>,
    tokio::task::JoinHandle<std::io::Result<T>>,
) {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(PIPE_DEPTH);
    let worker = tokio::task::spawn_blocking(move || {
        work(&mut std::iter::from_fn(|| receiver.blocking_recv()))
    });
    (sender, worker)
}
