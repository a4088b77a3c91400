//! The files a run made on its target. Unit21's API has no delete, so against a real account
//! everything a run creates stays: the report names each file, so it can be found.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::driver::{Driver, DriverError, DriverResult};

/// A file the run created, by the client or by the kit itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MadeFile {
    /// Its `file_id`.
    pub file_id: String,
    /// Its S3 key, the file name last.
    pub key: String,
}

/// Every file a run made, in the order they were made, and the allowance they are held to.
#[derive(Default)]
pub struct Ledger {
    made: parking_lot::Mutex<Vec<MadeFile>>,
    uploaded: parking_lot::Mutex<u64>,
    last_upload: tokio::sync::Mutex<Option<Instant>>,
    allowance: Allowance,
}

/// What a run may leave on a target it cannot clean; `None`: no bound (a fake, put back).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allowance {
    /// Files created (`--max-files`).
    pub files: Option<usize>,
    /// Bytes uploaded (`--max-bytes`).
    pub bytes: Option<u64>,
    /// The least time between two uploads (Unit21 advises two seconds).
    pub upload_gap: Option<Duration>,
}

impl Ledger {
    /// An empty ledger holding the run to `allowance`.
    pub fn new(allowance: Allowance) -> Self {
        Self {
            allowance,
            ..Self::default()
        }
    }

    /// Whether one more file may be created.
    ///
    /// # Errors
    /// The refusal, as the client would have reported it, when the budget is spent.
    pub(crate) fn admit_file(&self) -> Result<(), DriverError> {
        match self.allowance.files {
            Some(max) if self.made.lock().len() >= max => Err(DriverError {
                message: format!(
                    "not sent: the run's budget of {max} files (--max-files) is spent"
                ),
                ..DriverError::default()
            }),
            _ => Ok(()),
        }
    }

    /// Whether `bytes` more may be uploaded; counts them if so.
    fn admit_bytes(&self, bytes: u64) -> Result<(), DriverError> {
        let mut uploaded = self.uploaded.lock();
        match self.allowance.bytes {
            Some(max) if *uploaded + bytes > max => Err(DriverError {
                message: format!(
                    "not sent: {bytes} more bytes would pass the run's budget of {max} bytes (--max-bytes)"
                ),
                ..DriverError::default()
            }),
            _ => {
                *uploaded += bytes;
                Ok(())
            }
        }
    }

    /// Holds an upload of `bytes` (the client's or the kit's own) to the budget, and until
    /// the gap since the last one ended has passed ([`Ledger::after_upload`]): counted from its
    /// end, which comes after it reached the server, the gap holds between the uploads as the
    /// server sees them, however long either took to arrive.
    ///
    /// # Errors
    /// The refusal, as the client would have reported it, when the budget is spent.
    pub(crate) async fn before_upload(&self, bytes: u64) -> Result<(), DriverError> {
        self.admit_bytes(bytes)?;
        let mut last = self.last_upload.lock().await;
        if let (Some(gap), Some(at)) = (self.allowance.upload_gap, *last) {
            // Pacing real calls to a real account: the wait is the point.
            tokio::time::sleep_until(at + gap).await;
        }
        *last = Some(Instant::now());
        Ok(())
    }

    /// Marks the end of an upload (answered, refused or failed): the next waits the gap from
    /// now.
    pub(crate) async fn after_upload(&self) {
        *self.last_upload.lock().await = Some(Instant::now());
    }

    /// Notes the file a create answer (or an `upload` result) made.
    pub(crate) fn note(&self, created: &Value) {
        if let Some(file_id) = created["file_id"].as_str() {
            let key = created["form_fields"]["key"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            self.made.lock().push(MadeFile {
                file_id: file_id.to_owned(),
                key,
            });
        }
    }

    /// What was noted so far.
    pub fn files(&self) -> Vec<MadeFile> {
        self.made.lock().clone()
    }
}

/// The client under test, with every file its creates and uploads make noted, held to the
/// run's budget, and its uploads spaced out.
pub(crate) struct Noting<'a> {
    pub inner: &'a dyn Driver,
    pub ledger: &'a Ledger,
}

impl Noting<'_> {
    /// Holds an upload of the file at `path` to the budget and the pace.
    async fn before_upload(&self, path: &Path) -> Result<(), DriverError> {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        self.ledger.before_upload(size).await
    }

    fn noted<'b>(&'b self, answer: BoxFuture<'b, DriverResult>) -> BoxFuture<'b, DriverResult> {
        Box::pin(async move {
            let answer = answer.await;
            if let Ok(created) = &answer {
                self.ledger.note(created);
            }
            answer
        })
    }
}

impl Driver for Noting<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn create<'a>(&'a self, stream: &'a str, file_name: &'a str) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            self.ledger.admit_file()?;
            self.noted(self.inner.create(stream, file_name)).await
        })
    }

    fn upload_form<'a>(&'a self, form: &'a Value, path: &'a Path) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            self.before_upload(path).await?;
            let answer = self.inner.upload_form(form, path).await;
            self.ledger.after_upload().await;
            answer
        })
    }

    fn upload<'a>(&'a self, stream: &'a str, path: &'a Path) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            self.ledger.admit_file()?;
            self.before_upload(path).await?;
            let answer = self.noted(self.inner.upload(stream, path)).await;
            self.ledger.after_upload().await;
            answer
        })
    }

    fn status<'a>(&'a self, file_id: &'a str) -> BoxFuture<'a, DriverResult> {
        self.inner.status(file_id)
    }

    fn wait<'a>(&'a self, file_id: &'a str, timeout: Duration) -> BoxFuture<'a, DriverResult> {
        self.inner.wait(file_id, timeout)
    }

    fn list<'a>(&'a self, request: &'a Value) -> BoxFuture<'a, DriverResult> {
        self.inner.list(request)
    }

    fn list_all<'a>(&'a self, request: &'a Value) -> BoxFuture<'a, DriverResult> {
        self.inner.list_all(request)
    }

    fn diagnostics(&self) -> String {
        self.inner.diagnostics()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The gap ran from the start of the last upload, so a slow upload and a quick next one
    /// reached the server less than the gap apart (1,997 ms once, in CI).
    #[tokio::test(start_paused = true)]
    async fn the_next_upload_waits_the_gap_from_the_end_of_the_last() {
        let gap = Duration::from_secs(2);
        let ledger = Ledger::new(Allowance {
            files: None,
            bytes: None,
            upload_gap: Some(gap),
        });
        ledger.before_upload(1).await.unwrap();
        // The upload takes 1.5 s to be sent and answered.
        tokio::time::advance(Duration::from_millis(1500)).await;
        ledger.after_upload().await;
        let ended = Instant::now();
        ledger.before_upload(1).await.unwrap();
        assert!(
            ended.elapsed() >= gap,
            "the next upload went {:?} after the last one ended",
            ended.elapsed()
        );
    }

    #[test]
    fn the_allowance_refuses_a_file_or_bytes_past_it() {
        let ledger = Ledger::new(Allowance {
            files: Some(1),
            bytes: Some(10),
            upload_gap: None,
        });
        assert!(ledger.admit_file().is_ok());
        ledger.note(&json!({"file_id": "7", "form_fields": {"key": "k/a.csv"}}));
        let refused = ledger.admit_file().unwrap_err();
        assert!(refused.message.contains("budget of 1 files"), "{refused}");
        assert!(ledger.admit_bytes(6).is_ok());
        let refused = ledger.admit_bytes(5).unwrap_err();
        assert!(refused.message.contains("budget of 10 bytes"), "{refused}");
        assert!(
            ledger.admit_bytes(4).is_ok(),
            "a refused upload counts nothing"
        );
        assert_eq!(
            ledger.files(),
            [MadeFile {
                file_id: "7".into(),
                key: "k/a.csv".into()
            }]
        );
    }
}
