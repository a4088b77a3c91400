//! The files a run made on its target. Unit21's API has no delete, so against a real account
//! everything a run creates stays: the report names each file, so it can be found.

use std::path::Path;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::driver::{Driver, DriverResult};

/// A file the run created, by the client or by the kit itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MadeFile {
    /// Its `file_id`.
    pub file_id: String,
    /// Its S3 key, the file name last.
    pub key: String,
}

/// Every file a run made, in the order they were made.
#[derive(Default)]
pub struct Ledger(parking_lot::Mutex<Vec<MadeFile>>);

impl Ledger {
    /// Notes the file a create answer (or an `upload` result) made.
    pub(crate) fn note(&self, created: &Value) {
        if let Some(file_id) = created["file_id"].as_str() {
            let key = created["form_fields"]["key"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            self.0.lock().push(MadeFile {
                file_id: file_id.to_owned(),
                key,
            });
        }
    }

    /// What was noted so far.
    pub fn files(&self) -> Vec<MadeFile> {
        self.0.lock().clone()
    }
}

/// The client under test, with every file its creates and uploads make noted.
pub(crate) struct Noting<'a> {
    pub inner: &'a dyn Driver,
    pub ledger: &'a Ledger,
}

impl Noting<'_> {
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
        self.noted(self.inner.create(stream, file_name))
    }

    fn upload_form<'a>(&'a self, form: &'a Value, path: &'a Path) -> BoxFuture<'a, DriverResult> {
        self.inner.upload_form(form, path)
    }

    fn upload<'a>(&'a self, stream: &'a str, path: &'a Path) -> BoxFuture<'a, DriverResult> {
        self.noted(self.inner.upload(stream, path))
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
