//! A bound on what a multipart reader may take outside a file's own bytes. multer buffers the
//! preamble before the first boundary and each part's header block whole, so a body that never
//! reaches its file (or never ends after it) would otherwise grow the server's memory without
//! limit. The file itself is bounded by the policy's size range, checked as it streams.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// Bytes a request may carry before its file part starts, or after it ends. Above S3's 20 KiB
/// of fields, because a reader takes whole chunks from the connection (hyper's are up to
/// 400 KiB), so the start of a file can arrive with its fields.
pub(crate) const FRAMING_BYTES: u64 = 1024 * 1024;

const NOT_YET: u64 = u64::MAX;

/// Counts a body's bytes and refuses more than [`FRAMING_BYTES`] outside the file part.
#[derive(Debug)]
pub(crate) struct Framing {
    pulled: AtomicU64,
    file_started_at: AtomicU64,
    file_ended_at: AtomicU64,
    exceeded: AtomicBool,
}

impl Default for Framing {
    fn default() -> Self {
        Self {
            pulled: AtomicU64::new(0),
            file_started_at: AtomicU64::new(NOT_YET),
            file_ended_at: AtomicU64::new(NOT_YET),
            exceeded: AtomicBool::new(false),
        }
    }
}

impl Framing {
    /// The body, counted; past the budget it ends with an error (and [`Framing::exceeded`]).
    pub(crate) fn wrap<'a, S, E>(
        &'a self,
        body: S,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'a
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'a,
        E: std::fmt::Display,
    {
        body.map(move |chunk| {
            let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()))?;
            let total =
                self.pulled.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            let started = self.file_started_at.load(Ordering::Relaxed);
            let ended = self.file_ended_at.load(Ordering::Relaxed);
            let outside = if started == NOT_YET {
                Some(total)
            } else if ended != NOT_YET {
                Some(total.saturating_sub(ended))
            } else {
                None
            };
            if outside.is_some_and(|bytes| bytes > FRAMING_BYTES) {
                self.exceeded.store(true, Ordering::Relaxed);
                return Err(std::io::Error::other(
                    "the form's framing is over its budget",
                ));
            }
            Ok(chunk)
        })
    }

    /// Bytes taken from the connection so far.
    pub(crate) fn pulled(&self) -> u64 {
        self.pulled.load(Ordering::Relaxed)
    }

    /// The file part has begun: its bytes are bounded elsewhere.
    pub(crate) fn file_started(&self) {
        self.file_started_at.store(self.pulled(), Ordering::Relaxed);
    }

    /// The file part is over: what follows counts against the budget again.
    pub(crate) fn file_ended(&self) {
        self.file_ended_at.store(self.pulled(), Ordering::Relaxed);
    }

    /// Whether the body was cut for going over the budget.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }

    /// Whether the file part had begun.
    pub(crate) fn in_or_after_file(&self) -> bool {
        self.file_started_at.load(Ordering::Relaxed) != NOT_YET
    }
}
