//! Starting and stopping a fake: [`MockServer`] (this module), its builder (`builder`), the
//! handle's views grouped by concern (`views`: the clock, files, faults, the journal; each
//! calls the same engine operation as the matching HTTP route, so it settles and persists the
//! same way), the accept loops (`accept`), and the scratch data directory of a fake started
//! without one, with the reaping of killed fakes' (`scratch`), used by tests in-process and by the `u21-mock`
//! binary alike.

mod accept;
mod builder;
mod scratch;
mod views;

pub use builder::MockServerBuilder;
pub use views::{ClockControl, Faults, Files, Journal};

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

use self::scratch::ScratchDir;
use crate::config::StreamConfig;
use crate::engine::{Engine, Reset};
use crate::error::Error;

/// A running fake. It listens until dropped.
///
/// ```no_run
/// # async fn demo() {
/// use std::time::Duration;
/// use u21_mock::{MockServer, Timing};
///
/// let server = MockServer::builder().timing(Timing::Fast).start().await;
/// let create = format!("{}/v1/imports/pre-signed-url/create", server.uri());
/// // … create, upload, then move the clock instead of sleeping:
/// server.clock().advance(Duration::from_secs(2)).await;
/// # }
/// ```
pub struct MockServer {
    engine: Arc<Engine>,
    address: SocketAddr,
    api_key: String,
    /// `http`, or `https` with TLS.
    scheme: &'static str,
    /// The S3 endpoint's own address, when it has one.
    s3_address: Option<SocketAddr>,
    /// Dropped to stop every accept loop.
    shutdown: Option<watch::Sender<()>>,
    _data_dir: Option<ScratchDir>,
}

impl MockServer {
    /// Starts a fake on a random loopback port with the in-process defaults: the default key,
    /// any stream accepted, `instant` timing, the real clock.
    ///
    /// # Panics
    /// When it cannot start (no free port, no temporary directory); use
    /// [`MockServerBuilder::try_start`] to handle that.
    pub async fn start() -> MockServer {
        Self::builder().start().await
    }

    /// A builder for a configured fake.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// Base URL, e.g. `http://127.0.0.1:41234` (`https://…` with TLS), without a trailing
    /// slash.
    pub fn uri(&self) -> String {
        format!("{}://{}", self.scheme, self.address)
    }

    /// The S3 endpoint's own base URL, when it listens apart from the API
    /// ([`MockServerBuilder::s3_listen`]).
    pub fn s3_uri(&self) -> Option<String> {
        self.s3_address
            .map(|address| format!("{}://{address}", self.scheme))
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL written into pre-signed forms (under `public_url = "auto"`, the one used
    /// when a request's `Host` is missing or unusable; see [`MockServer::public_url_is_auto`]).
    pub fn public_url(&self) -> &str {
        self.engine.settings.public_url()
    }

    /// True when each request's `Host` names the base URL written into its forms
    /// (`--public-url auto`).
    pub fn public_url_is_auto(&self) -> bool {
        self.engine.settings.public_url_is_auto()
    }

    /// The S3 access key id forms are signed with (sent to clients as `AWSAccessKeyId`).
    pub fn s3_access_key_id(&self) -> &str {
        &self.engine.config().s3.access_key_id
    }

    /// The S3 secret access key forms are signed with: an S3 SDK pointed at the fake needs it
    /// to sign its own forms. A fake's secret, never a real one.
    pub fn s3_secret_access_key(&self) -> &str {
        &self.engine.config().s3.secret_access_key
    }

    /// The first configured `u21-key` (the default development key unless keys were given).
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The S3 bucket the fake serves.
    pub fn bucket(&self) -> &str {
        &self.engine.config().bucket
    }

    /// The clock every timestamp and lifecycle step reads, and the timing profile.
    pub fn clock(&self) -> ClockControl<'_> {
        ClockControl(&self.engine)
    }

    /// The imports and their objects.
    pub fn files(&self) -> Files<'_> {
        Files(&self.engine)
    }

    /// Injected failures.
    pub fn faults(&self) -> Faults<'_> {
        Faults(&self.engine)
    }

    /// What clients sent.
    pub fn journal(&self) -> Journal<'_> {
        Journal(&self.engine)
    }

    /// Forgets every file, object, journal entry, fault and rate-limit window.
    ///
    /// # Errors
    /// [`Error::Io`] when the data directory cannot be written; nothing is forgotten.
    pub async fn reset(&self) -> Result<(), Error> {
        self.engine.reset(Reset::State).await
    }

    /// Resets, and puts the timing profile, the streams and the clock back as they were when
    /// the fake started: what a test fixture calls between tests, so that no test sees what
    /// another left, settings included.
    ///
    /// # Errors
    /// [`Error::Io`] when the data directory cannot be written; nothing is changed.
    pub async fn reset_all(&self) -> Result<(), Error> {
        self.engine.reset(Reset::StateAndSettings).await
    }

    /// Resets, then freezes the clock at an instant derived from `seed`, so the same calls
    /// give the same ids, keys and timestamps on every run.
    ///
    /// # Errors
    /// [`Error::Io`] when the data directory cannot be written; nothing is changed.
    pub async fn seed(&self, seed: u64) -> Result<(), Error> {
        self.engine.seed(seed).await.map(drop)
    }

    /// The stream configurations in force.
    pub fn streams(&self) -> Vec<StreamConfig> {
        self.engine.files.streams()
    }

    /// Replaces every stream configuration; files landing from now on are checked against them.
    ///
    /// # Errors
    /// [`Error::Config`] when the configurations are invalid.
    pub async fn set_streams(&self, streams: Vec<StreamConfig>) -> Result<(), Error> {
        self.engine.files.set_streams(streams).await
    }

    /// The whole state as the JSON `GET /_mock/state` returns (objects inline).
    ///
    /// # Errors
    /// [`Error::Io`] when an object cannot be read back from the data directory.
    pub async fn export_state(&self) -> Result<serde_json::Value, Error> {
        self.engine.files.export().await
    }

    /// Replaces the whole state with an exported one.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying what is wrong with the snapshot.
    pub async fn import_state(&self, snapshot: serde_json::Value) -> Result<(), Error> {
        self.engine.files.import(snapshot).await
    }
}

impl Drop for MockServer {
    /// Stops listening, and releases the data directory (after committing what was
    /// acknowledged), so another fake can open it at once.
    fn drop(&mut self) {
        // Every accept loop watches the sender: dropping it stops them all.
        drop(self.shutdown.take());
        self.engine.close();
    }
}
