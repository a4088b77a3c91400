//! Starting and stopping a fake: [`MockServer`] and its builder, used by tests in-process and
//! by the `u21-mock` binary alike.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::oneshot;

use crate::api::{self, ApiError};
use crate::clock::Clock;
use crate::config::{Config, ConfigError, Fidelity, KeyConfig, StreamConfig, Timing};
use crate::control;
use crate::control::{Fault, JournalEntry, JournalQuery};
use crate::model::FileRecord;
use crate::s3;
use crate::state::AppState;
use crate::store::StoredObject;
use crate::store::{ControlError, Transition};

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
/// server.advance(Duration::from_secs(2)).await;
/// # }
/// ```
pub struct MockServer {
    state: AppState,
    address: SocketAddr,
    api_key: String,
    shutdown: Option<oneshot::Sender<()>>,
    _data_dir: Option<tempfile::TempDir>,
}

/// Why a fake could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is contradictory.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address could not be bound or the data directory not created.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let context = context.into();
    move |source| StartError::Io { context, source }
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

    /// Base URL, e.g. `http://127.0.0.1:41234`, without a trailing slash.
    pub fn uri(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL written into pre-signed forms.
    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// The first configured `u21-key` (the default development key unless keys were given).
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The clock every timestamp and lifecycle step reads.
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// The timing profile in force.
    pub fn timing(&self) -> Timing {
        *self.state.timing.lock()
    }

    /// The S3 bucket the fake serves.
    pub fn bucket(&self) -> &str {
        &self.state.config.bucket
    }

    /// Moves the clock forward and applies every lifecycle step that falls due, waiting for
    /// the reading of files whose processing ends within that time.
    pub async fn advance(&self, by: Duration) {
        self.state.clock.advance(by);
        self.settle().await;
    }

    /// Applies every lifecycle step the clock has already reached.
    pub async fn settle(&self) {
        self.state.settle().await;
    }

    /// Under [`Timing::Manual`], processes every QUEUED file now.
    pub async fn process_queued(&self) {
        self.state.process_queued().await;
    }

    /// The object stored under `key` in the bucket, if any.
    pub fn stored_object(&self, key: &str) -> Option<StoredObject> {
        self.state.store.lock().object(key).cloned()
    }

    /// Forgets every file, object, journal entry, fault and rate-limit window.
    pub async fn reset(&self) {
        self.state.reset().await;
    }

    /// Resets, then freezes the clock at an instant derived from `seed`, so the same calls
    /// give the same ids, keys and timestamps on every run.
    pub async fn seed(&self, seed: u64) {
        self.state.seed(seed).await;
    }

    /// Freezes the clock at `at` and applies what falls due.
    pub async fn set_time(&self, at: std::time::SystemTime) {
        self.state.clock.set(at);
        self.settle().await;
        self.state.persist().await;
    }

    /// Switches the timing profile for files that land from now on.
    pub async fn set_timing(&self, timing: Timing) {
        self.state.set_timing(timing);
        self.state.persist().await;
    }

    /// A file in any organisation, as it is now.
    pub async fn file(&self, file_id: u64) -> Option<FileRecord> {
        self.settle().await;
        self.state.store.lock().file(file_id).cloned()
    }

    /// Puts a file in a state by force (PROCESSING, FINISHED with counts, FAILED with a code,
    /// DELETED), cancelling whatever its lifecycle had planned.
    ///
    /// # Errors
    /// [`ControlError::NotFound`] when there is no such file.
    pub async fn force(
        &self,
        file_id: u64,
        transition: Transition,
    ) -> Result<FileRecord, ControlError> {
        self.state.force(file_id, transition).await
    }

    /// Adds a file as the UI's manual upload does: ADDED in the first key's organisation, its
    /// content stored, not yet processing.
    ///
    /// # Errors
    /// When the object cannot be written to the data directory.
    pub async fn add_file(
        &self,
        stream: &str,
        file_name: &str,
        content: impl AsRef<[u8]>,
    ) -> std::io::Result<FileRecord> {
        let org = self.state.default_org();
        self.add_file_for(&org, stream, file_name, content).await
    }

    /// [`add_file`](Self::add_file) for a given organisation.
    ///
    /// # Errors
    /// When the object cannot be written to the data directory.
    pub async fn add_file_for(
        &self,
        org: &str,
        stream: &str,
        file_name: &str,
        content: impl AsRef<[u8]>,
    ) -> std::io::Result<FileRecord> {
        self.state
            .add_manual(org, stream, file_name, content.as_ref())
            .await
    }

    /// ADDED → QUEUED, as the UI's "process" action; the timing profile takes it from there.
    ///
    /// # Errors
    /// [`ControlError::NotFound`], or [`ControlError::WrongStatus`] when the file is not ADDED.
    pub async fn start_processing(&self, file_id: u64) -> Result<(), ControlError> {
        self.state.start_processing(file_id).await?;
        self.settle().await;
        Ok(())
    }

    /// Replaces every stream configuration; files landing from now on are checked against them.
    pub async fn set_streams(&self, streams: Vec<StreamConfig>) {
        self.state.set_streams(streams);
        self.state.persist().await;
    }

    /// Adds a fault; returns its id.
    pub fn add_fault(&self, fault: Fault) -> u64 {
        self.state.faults.lock().add(fault)
    }

    /// Removes one fault; false when there was none with that id.
    pub fn remove_fault(&self, id: u64) -> bool {
        self.state.faults.lock().remove(id)
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.state.faults.lock().clear();
    }

    /// The journal's entries matching `query`, oldest first.
    pub fn requests(&self, query: &JournalQuery) -> Vec<JournalEntry> {
        self.state.journal.lock().query(query)
    }

    /// Empties the journal.
    pub fn clear_requests(&self) {
        self.state.journal.lock().clear();
    }

    /// The whole state as the JSON `GET /_mock/state` returns (objects inline).
    ///
    /// # Errors
    /// When an object cannot be read back from the data directory.
    pub async fn export_state(&self) -> std::io::Result<serde_json::Value> {
        self.state.export_json().await
    }

    /// Replaces the whole state with an exported one.
    ///
    /// # Errors
    /// A message saying what is wrong with the snapshot.
    pub async fn import_state(&self, snapshot: serde_json::Value) -> Result<(), String> {
        self.state.import_json(snapshot).await
    }

    /// How many imports exist, in all organisations.
    pub fn import_count(&self) -> usize {
        self.state.store.lock().len()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Configures a [`MockServer`]; every setting has a default.
#[must_use]
pub struct MockServerBuilder {
    config: Config,
    clock: Option<Clock>,
    listen: SocketAddr,
    data_dir: Option<PathBuf>,
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                timing: Timing::Instant,
                ..Config::default()
            },
            clock: None,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            data_dir: None,
        }
    }
}

impl MockServerBuilder {
    /// Replaces the whole configuration (its timing included).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The timing profile.
    pub fn timing(mut self, timing: Timing) -> Self {
        self.config.timing = timing;
        self
    }

    /// Shares a clock (for example [`Clock::frozen`]).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Adds an API key for an organisation. The first key added replaces the default key.
    pub fn key(mut self, key: impl Into<String>, org: impl Into<String>) -> Self {
        self.config.keys.push(KeyConfig::new(key, org));
        self
    }

    /// Adds a key with chosen permissions.
    pub fn key_config(mut self, key: KeyConfig) -> Self {
        self.config.keys.push(key);
        self
    }

    /// Configures a stream. Once any stream is configured, unconfigured streams FAIL
    /// `stream_not_configured`.
    pub fn stream(mut self, stream: StreamConfig) -> Self {
        self.config.streams.push(stream);
        self
    }

    /// Calls per second per key and route; `0` turns rate limiting off.
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.config.rate_limit = per_second;
        self
    }

    /// The base URL written into pre-signed forms.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.config.public_url = Some(url.into());
        self
    }

    /// The undocumented-behaviour switches.
    pub fn fidelity(mut self, fidelity: Fidelity) -> Self {
        self.config.fidelity = fidelity;
        self
    }

    /// The address to listen on (default: a random loopback port).
    pub fn listen(mut self, address: SocketAddr) -> Self {
        self.listen = address;
        self
    }

    /// Where uploaded objects are written (default: a temporary directory removed on drop).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Starts the fake.
    ///
    /// # Panics
    /// When [`try_start`](Self::try_start) fails.
    pub async fn start(self) -> MockServer {
        match self.try_start().await {
            Ok(server) => server,
            Err(err) => panic!("the Unit21 fake could not start: {err}"),
        }
    }

    /// Starts the fake.
    ///
    /// # Errors
    /// An invalid configuration, an address that cannot be bound, or a data directory that
    /// cannot be created.
    pub async fn try_start(self) -> Result<MockServer, StartError> {
        self.config.validate()?;
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(io_error(format!("cannot listen on {}", self.listen)))?;
        let address = listener
            .local_addr()
            .map_err(io_error("cannot read the bound address"))?;
        let (data_dir, temp) = match self.data_dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("u21-mock-")
                    .tempdir()
                    .map_err(io_error("cannot create a temporary data directory"))?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        let public_url = self
            .config
            .public_url
            .clone()
            .unwrap_or_else(|| default_public_url(address));
        let api_key = self.config.effective_keys()[0].key.clone();
        let persistent = temp.is_none();
        let mut config = self.config;
        if !address.ip().is_unspecified() {
            config.control.allowed_hosts.push(address.ip().to_string());
        }
        let state = AppState::new(
            config,
            self.clock.unwrap_or_default(),
            public_url,
            data_dir.clone(),
            persistent,
        )
        .map_err(io_error(format!(
            "cannot prepare data directory {}",
            data_dir.display()
        )))?;
        if persistent {
            state
                .load_persisted(&data_dir)
                .await
                .map_err(|message| StartError::Io {
                    context: format!("cannot load the state in {}", data_dir.display()),
                    source: std::io::Error::other(message),
                })?;
        }
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = router(state.clone());
        let header_read = std::time::Duration::from_secs_f64(state.config.limits.header_read_secs);
        tokio::spawn(serve(listener, app, header_read, stopped));
        Ok(MockServer {
            state,
            address,
            api_key,
            shutdown: Some(shutdown),
            _data_dir: temp,
        })
    }
}

/// Accepts connections until `stopped` fires, each served by hyper's HTTP/1 server with a
/// header-read timeout (`limits.header_read_secs`): a connection that opens and sends half a
/// request line is closed, so idle sockets cannot use up the file descriptors. Accept errors
/// (out of file descriptors, say) are logged, not hidden, and accepting resumes after a short
/// pause rather than spinning.
async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    header_read: std::time::Duration,
    mut stopped: oneshot::Receiver<()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => return,
        };
        let socket = match accepted {
            Ok((socket, _)) => socket,
            Err(err) => {
                tracing::warn!(%err, "cannot accept a connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read)
                .serve_connection(TokioIo::new(socket), service);
            if let Err(err) = connection.await {
                tracing::debug!(%err, "connection ended");
            }
        });
    }
}

/// A URL a client on this machine can use: wildcard addresses become `localhost`.
fn default_public_url(address: SocketAddr) -> String {
    if address.ip().is_unspecified() {
        format!("http://localhost:{}", address.port())
    } else {
        format!("http://{address}")
    }
}

/// Every route the fake serves. The journal-and-faults layer sees every request but the
/// control API's own.
fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .merge(api::routes())
        .merge(s3::routes())
        .route(
            "/_mock/health",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/openapi.json", get(crate::openapi::document));
    if state.config.control.enabled {
        // The dashboard's page holds no data; its fragments sit behind the control token.
        app = app.merge(control::routes(&state)).route(
            "/",
            get(crate::dashboard::page).fallback(|| async { ApiError::MethodNotAllowed }),
        );
    }
    app.fallback(|| async { ApiError::NotFound })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            control::observe,
        ))
        .with_state(state)
}
