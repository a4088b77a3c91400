//! The state every handler shares: configuration, the clock, the store and the object files.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::api::access::RateLimiter;
use crate::clock::Clock;
use crate::config::{stream_for, Config, Permission, StreamConfig, Timing};
use crate::control::{Faults, Journal};
use crate::model::FailureCode;
use crate::processing::{self, Outcome, StreamCheck};
use crate::store::{ProcessingJob, Store};

/// Cheap to clone: everything lives behind one `Arc`.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    pub config: Config,
    pub keys: HashMap<String, KeyEntry>,
    pub clock: Clock,
    pub store: Mutex<Store>,
    pub rate_limiter: Mutex<RateLimiter>,
    pub timing: Mutex<Timing>,
    /// Streams and schemas; the control plane can replace them at run time.
    pub streams: RwLock<Vec<StreamConfig>>,
    /// What the control plane recorded and injects.
    pub journal: Mutex<Journal>,
    pub faults: Mutex<Faults>,
    /// Base URL clients reach the fake at, without a trailing slash.
    pub public_url: String,
    /// Where finished objects live, each under a generated name.
    pub objects_dir: PathBuf,
    /// Where uploads stream to before they are accepted, on the same filesystem.
    pub incoming_dir: PathBuf,
    /// With `--data-dir`: where the state is written after every acknowledged change.
    pub persist_dir: Option<PathBuf>,
    /// Serialises those writes.
    pub persist_turn: tokio::sync::Mutex<()>,
    /// Host names (lower case, no port) the control plane answers without its token.
    pub control_hosts: Vec<String>,
    /// One permit per upload streaming its file (see `Limits::concurrent_uploads`).
    pub upload_slots: tokio::sync::Semaphore,
}

pub(crate) struct KeyEntry {
    pub org: Arc<str>,
    pub permissions: Vec<Permission>,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(
        config: Config,
        clock: Clock,
        public_url: String,
        data_dir: PathBuf,
        persistent: bool,
    ) -> std::io::Result<Self> {
        let objects_dir = data_dir.join("objects");
        let incoming_dir = data_dir.join("incoming");
        std::fs::create_dir_all(&objects_dir)?;
        std::fs::create_dir_all(&incoming_dir)?;
        let keys = config
            .effective_keys()
            .into_iter()
            .map(|k| {
                (
                    k.key,
                    KeyEntry {
                        org: k.org.into(),
                        permissions: k.permissions,
                    },
                )
            })
            .collect();
        let mut control_hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(str::to_owned)
            .chain(
                config
                    .control
                    .allowed_hosts
                    .iter()
                    .map(|h| h.to_ascii_lowercase()),
            )
            .collect();
        if let Some(host) = public_url
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or_default())
            .map(crate::control::host_without_port)
        {
            control_hosts.push(host.to_ascii_lowercase());
        }
        Ok(AppState(Arc::new(Shared {
            upload_slots: tokio::sync::Semaphore::new(config.limits.concurrent_uploads),
            control_hosts,
            keys,
            store: Mutex::new(Store::new()),
            rate_limiter: Mutex::new(RateLimiter::new(config.rate_limit)),
            timing: Mutex::new(config.timing),
            streams: RwLock::new(config.streams.clone()),
            journal: Mutex::new(Journal::new(config.control.journal_capacity)),
            faults: Mutex::new(Faults::default()),
            clock,
            public_url: public_url.trim_end_matches('/').to_owned(),
            objects_dir,
            incoming_dir,
            persist_dir: persistent.then_some(data_dir),
            persist_turn: tokio::sync::Mutex::new(()),
            config,
        })))
    }

    /// Applies every lifecycle step the clock has reached, waiting (lock released) for readers
    /// whose files are due to finish.
    pub async fn settle(&self) {
        loop {
            let waiting = self.store.lock().catch_up(self.clock.now_millis());
            if waiting.is_empty() {
                return;
            }
            for mut outcome in waiting {
                // An error means the reader is gone; catch_up then fails the file `unknown`.
                let _ = outcome.wait_for(Option::is_some).await;
            }
        }
    }

    /// Reads a landed object on the blocking pool. The outcome is delivered even if the reader
    /// panics, so nobody waits for it forever.
    pub fn spawn_processing(&self, job: ProcessingJob) {
        let check =
            StreamCheck::from_config(stream_for(&self.streams.read(), &job.org, &job.stream));
        tokio::spawn(async move {
            let ProcessingJob {
                id,
                file_type,
                object,
                outcome,
                ..
            } = job;
            let result = tokio::task::spawn_blocking(move || {
                processing::process(&object, &file_type, &check)
            })
            .await
            .unwrap_or_else(|err| {
                tracing::error!(%err, file_id = id, "processing panicked");
                Outcome::Failed(FailureCode::Unknown)
            });
            tracing::debug!(file_id = id, ?result, "processed");
            let _ = outcome.send(Some(result));
        });
    }
}
