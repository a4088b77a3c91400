//! Starting and stopping a fake: [`MockServer`] and its builder, used by tests in-process and
//! by the `u21-mock` binary alike. The handle's methods are grouped by concern (the clock,
//! files, faults, the journal); each calls the same engine operation as the matching HTTP
//! route, so it settles and persists the same way.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::clock::{to_millis, LATEST_MS};
use crate::config::{Config, Fidelity, KeyConfig, StreamConfig, Timing};
use crate::engine::scratch::{Abandoned, ScratchDir};
use crate::engine::{Engine, Fault, JournalEntry, JournalQuery, Reset, StoredObject, Transition};
use crate::error::Error;
use crate::http::Endpoint;
use crate::model::FileRecord;
use crate::tls::TlsFiles;

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
        self.engine.public_url()
    }

    /// True when each request's `Host` names the base URL written into its forms
    /// (`--public-url auto`).
    pub fn public_url_is_auto(&self) -> bool {
        self.engine.public_url_is_auto()
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
        self.engine.streams()
    }

    /// Replaces every stream configuration; files landing from now on are checked against them.
    ///
    /// # Errors
    /// [`Error::Config`] when the configurations are invalid.
    pub async fn set_streams(&self, streams: Vec<StreamConfig>) -> Result<(), Error> {
        self.engine.set_streams(streams).await
    }

    /// The whole state as the JSON `GET /_mock/state` returns (objects inline).
    ///
    /// # Errors
    /// [`Error::Io`] when an object cannot be read back from the data directory.
    pub async fn export_state(&self) -> Result<serde_json::Value, Error> {
        self.engine.export().await
    }

    /// Replaces the whole state with an exported one.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying what is wrong with the snapshot.
    pub async fn import_state(&self, snapshot: serde_json::Value) -> Result<(), Error> {
        self.engine.import(snapshot).await
    }
}

/// [`MockServer::clock`]: the fake's clock and timing profile.
pub struct ClockControl<'a>(&'a Engine);

impl ClockControl<'_> {
    /// The current time on the fake's clock.
    pub fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.0.now_ms().max(0) as u64)
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> i64 {
        self.0.now_ms()
    }

    /// True when the clock only moves when told to.
    pub fn is_frozen(&self) -> bool {
        self.0.clock_reading().frozen
    }

    /// Moves the clock forward (stopping at 9999-12-01, where the HTTP route refuses) and
    /// applies every lifecycle step that falls due, waiting for the reading of files whose
    /// processing ends within that time.
    ///
    /// # Panics
    /// When the fake has a data directory and cannot write the clock to it.
    pub async fn advance(&self, by: Duration) {
        let by = by.min(self.0.clock_room());
        if let Err(err) = self.0.advance(by).await {
            panic!("the fake's clock could not be moved: {}", err.detail());
        }
    }

    /// Freezes the clock at `at` (at most 9999-12-01) and applies what falls due.
    ///
    /// # Panics
    /// When the fake has a data directory and cannot write the clock to it.
    pub async fn set(&self, at: SystemTime) {
        let ms = to_millis(at).clamp(0, LATEST_MS) as u64;
        if let Err(err) = self.0.set_time(ms).await {
            panic!("the fake's clock could not be set: {}", err.detail());
        }
    }

    /// The timing profile in force.
    pub fn timing(&self) -> Timing {
        self.0.timing()
    }

    /// Switches the timing profile for files that land from now on.
    ///
    /// # Errors
    /// [`Error::Io`] when the data directory cannot be written; the profile is unchanged.
    pub async fn set_timing(&self, timing: Timing) -> Result<(), Error> {
        self.0.set_timing(timing).await.map(drop)
    }
}

/// [`MockServer::files`]: imports, their lifecycle and their objects.
pub struct Files<'a>(&'a Engine);

impl Files<'_> {
    /// A file in any organisation, as it is now.
    pub async fn get(&self, file_id: u64) -> Option<FileRecord> {
        self.0.file(file_id).await.map(|r| FileRecord::clone(&r))
    }

    /// How many imports exist, in all organisations.
    pub fn count(&self) -> usize {
        self.0.import_count()
    }

    /// The object stored under `key` in the bucket, if any.
    pub fn object(&self, key: &str) -> Option<StoredObject> {
        self.0.object(key)
    }

    /// Applies every lifecycle step the clock has already reached.
    pub async fn settle(&self) {
        self.0.settle().await;
    }

    /// Puts a file in a state by force (PROCESSING, FINISHED with counts, FAILED with a code,
    /// DELETED), cancelling whatever its lifecycle had planned.
    ///
    /// # Errors
    /// [`Error::NoSuchFile`].
    pub async fn force(&self, file_id: u64, transition: Transition) -> Result<FileRecord, Error> {
        let record = self.0.force(file_id, transition).await?;
        Ok(FileRecord::clone(&record))
    }

    /// Adds a file as the UI's manual upload does: ADDED in the first key's organisation, its
    /// content stored, not yet processing.
    ///
    /// # Errors
    /// [`Error::Io`] when the object cannot be written to the data directory.
    pub async fn add(
        &self,
        stream: &str,
        file_name: &str,
        content: impl AsRef<[u8]>,
    ) -> Result<FileRecord, Error> {
        let org = self.0.default_org();
        self.add_for(&org, stream, file_name, content).await
    }

    /// [`add`](Self::add) for a given organisation.
    ///
    /// # Errors
    /// [`Error::Io`] when the object cannot be written to the data directory.
    pub async fn add_for(
        &self,
        org: &str,
        stream: &str,
        file_name: &str,
        content: impl AsRef<[u8]>,
    ) -> Result<FileRecord, Error> {
        self.0
            .add_file(org, stream, file_name, content.as_ref())
            .await
    }

    /// ADDED → QUEUED, as the UI's "process" action; the timing profile takes it from there.
    ///
    /// # Errors
    /// [`Error::NoSuchFile`], or [`Error::WrongStatus`] when the file is not ADDED.
    pub async fn start_processing(&self, file_id: u64) -> Result<(), Error> {
        self.0.start_processing(file_id).await
    }

    /// Under [`Timing::Manual`], processes every QUEUED file now; returns how many started.
    ///
    /// # Errors
    /// [`Error::Io`] when the data directory cannot be written; nothing starts.
    pub async fn process_queued(&self) -> Result<usize, Error> {
        self.0.process_queued().await
    }
}

/// [`MockServer::faults`]: failures injected into matching requests.
pub struct Faults<'a>(&'a Engine);

impl Faults<'_> {
    /// Adds a fault; returns its id.
    ///
    /// # Errors
    /// [`Error::Invalid`] when it is out of bounds (a probability outside 0–1, no uses, a
    /// wait over a day, a delay over ten minutes), as the HTTP route refuses it.
    pub fn add(&self, fault: Fault) -> Result<u64, Error> {
        self.0.add_fault(fault)
    }

    /// Removes one fault.
    ///
    /// # Errors
    /// [`Error::NoSuchFault`].
    pub fn remove(&self, id: u64) -> Result<(), Error> {
        self.0.remove_fault(id)
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.0.clear_faults();
    }

    /// The active faults with their ids and the uses left.
    pub fn list(&self) -> Vec<(u64, Fault, Option<u32>)> {
        self.0.faults()
    }
}

/// [`MockServer::journal`]: the requests clients sent, and what they were answered.
pub struct Journal<'a>(&'a Engine);

impl Journal<'_> {
    /// The entries matching `query`, oldest first.
    pub fn requests(&self, query: &JournalQuery) -> Vec<JournalEntry> {
        self.0.requests(query)
    }

    /// Empties the journal (sequence numbers keep counting).
    pub fn clear(&self) {
        self.0.clear_requests();
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

/// Configures a [`MockServer`]; every setting has a default. Settings given one by one win over
/// a whole [`config`](Self::config), whatever the order they are given in: nothing set on the
/// builder is silently dropped.
#[must_use]
pub struct MockServerBuilder {
    config: Option<Config>,
    timing: Option<Timing>,
    keys: Vec<KeyConfig>,
    streams: Vec<StreamConfig>,
    rate_limit: Option<u32>,
    public_url: Option<String>,
    fidelity: Option<Fidelity>,
    clock: Option<crate::Clock>,
    listen: SocketAddr,
    s3_listen: Option<SocketAddr>,
    tls: Option<TlsFiles>,
    data_dir: Option<PathBuf>,
    keep_stored_settings: Option<bool>,
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            config: None,
            timing: None,
            keys: Vec::new(),
            streams: Vec::new(),
            rate_limit: None,
            public_url: None,
            fidelity: None,
            clock: None,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            s3_listen: None,
            tls: None,
            data_dir: None,
            keep_stored_settings: None,
        }
    }
}

impl MockServerBuilder {
    /// The base configuration (default: [`Config::default`] with `instant` timing). Keys and
    /// streams added on the builder are added to its own; other settings made on the builder
    /// replace its values.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// The timing profile.
    pub fn timing(mut self, timing: Timing) -> Self {
        self.timing = Some(timing);
        self
    }

    /// Shares a clock (for example [`Clock::frozen`](crate::Clock::frozen)).
    pub fn clock(mut self, clock: crate::Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Adds an API key for an organisation. The first key added replaces the default key.
    pub fn key(mut self, key: impl Into<String>, org: impl Into<String>) -> Self {
        self.keys.push(KeyConfig::new(key, org));
        self
    }

    /// Adds a key with chosen permissions.
    pub fn key_config(mut self, key: KeyConfig) -> Self {
        self.keys.push(key);
        self
    }

    /// Configures a stream. Once any stream is configured, unconfigured streams FAIL
    /// `stream_not_configured`.
    pub fn stream(mut self, stream: StreamConfig) -> Self {
        self.streams.push(stream);
        self
    }

    /// Calls per second per key and route; `0` turns rate limiting off.
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_limit = Some(per_second);
        self
    }

    /// The base URL written into pre-signed forms.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// The undocumented-behaviour switches.
    pub fn fidelity(mut self, fidelity: Fidelity) -> Self {
        self.fidelity = Some(fidelity);
        self
    }

    /// The address to listen on (default: a random loopback port).
    pub fn listen(mut self, address: SocketAddr) -> Self {
        self.listen = address;
        self
    }

    /// Serves S3 on an address of its own, apart from the Unit21 API, as Unit21's forms point
    /// at S3's host: each endpoint then answers only its own routes (an upload sent to the API's
    /// host gets Unit21's 404, an API call sent to S3's gets S3's `NoSuchBucket`), and forms
    /// name this endpoint unless a public URL is set.
    pub fn s3_listen(mut self, address: SocketAddr) -> Self {
        self.s3_listen = Some(address);
        self
    }

    /// Serves HTTPS with this certificate chain and key (PEM files), on every endpoint.
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Where the state and uploaded objects are kept across restarts (default: a temporary
    /// directory removed on drop, and nothing persisted).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Whether the timing profile and streams stored in the data directory by an earlier run
    /// win over this builder's. By default they do only when no timing, stream or
    /// configuration was given: settings given now win.
    pub fn keep_stored_settings(mut self, keep: bool) -> Self {
        self.keep_stored_settings = Some(keep);
        self
    }

    /// The configuration the fake will run with: the base, then every builder setting.
    fn resolved_config(&mut self) -> Config {
        let mut config = self.config.take().unwrap_or_else(|| Config {
            timing: Timing::Instant,
            ..Config::default()
        });
        if let Some(timing) = self.timing {
            config.timing = timing;
        }
        config.keys.append(&mut self.keys);
        config.streams.append(&mut self.streams);
        if let Some(per_second) = self.rate_limit {
            config.rate_limit = per_second;
        }
        if let Some(url) = self.public_url.take() {
            config.public_url = Some(url);
        }
        if let Some(fidelity) = self.fidelity.take() {
            config.fidelity = fidelity;
        }
        config
    }

    /// Starts the fake.
    ///
    /// # Panics
    /// When [`try_start`](Self::try_start) fails.
    pub async fn start(self) -> MockServer {
        match self.try_start().await {
            Ok(server) => server,
            Err(err) => panic!("the Unit21 fake could not start: {}", err.detail()),
        }
    }

    /// Starts the fake.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid configuration; [`Error::Io`] for an address that
    /// cannot be bound or a data directory that cannot be prepared or loaded.
    pub async fn try_start(mut self) -> Result<MockServer, Error> {
        let keep_stored_settings = self
            .keep_stored_settings
            .unwrap_or(self.config.is_none() && self.timing.is_none() && self.streams.is_empty());
        let mut config = self.resolved_config();
        config.validate()?;
        let tls = self.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (listener, address) = bind(self.listen).await?;
        let s3 = match self.s3_listen {
            Some(at) => Some(bind(at).await?),
            None => None,
        };
        let s3_address = s3.as_ref().map(|(_, address)| *address);
        let (data_dir, temp) = match self.data_dir {
            Some(dir) => (dir, None),
            None => {
                let (scratch, abandoned) = ScratchDir::create()?;
                if !abandoned.is_empty() {
                    remove_in_background(abandoned);
                }
                (scratch.path().to_owned(), Some(scratch))
            }
        };
        let public_url = config
            .public_url
            .clone()
            .filter(|url| url != crate::config::PUBLIC_URL_AUTO)
            .unwrap_or_else(|| default_public_url(scheme, s3_address.unwrap_or(address)));
        let api_key = config.effective_keys()[0].key.clone();
        if !address.ip().is_unspecified() {
            config.control.allowed_hosts.push(address.ip().to_string());
        }
        let header_read = Duration::from_secs_f64(config.limits.header_read_secs);
        let max_connections = config.limits.max_connections;
        let body_idle = Duration::from_secs_f64(config.limits.body_idle_secs);
        let engine = Engine::new(
            config,
            self.clock.unwrap_or_default(),
            public_url,
            &data_dir,
            temp.is_none(),
        )?;
        let mut engine = engine;
        engine.load(keep_stored_settings).await?;
        engine.remember_start_settings();
        let engine = engine.share();
        let (shutdown, stopped) = watch::channel(());
        let app = crate::http::app(engine.clone());
        let limits = ConnectionLimits {
            header_read,
            body_idle,
            max_connections,
        };
        let endpoint = if s3.is_some() {
            Endpoint::Api
        } else {
            Endpoint::Both
        };
        let accept = Accept {
            app: app.clone(),
            limits,
            tls: tls.clone(),
            endpoint,
        };
        tokio::spawn(serve(listener, accept, stopped.clone()));
        if let Some((s3_listener, _)) = s3 {
            let accept = Accept {
                app,
                limits,
                tls,
                endpoint: Endpoint::S3,
            };
            tokio::spawn(serve(s3_listener, accept, stopped));
        }
        Ok(MockServer {
            engine,
            address,
            api_key,
            scheme,
            s3_address,
            shutdown: Some(shutdown),
            _data_dir: temp,
        })
    }
}

/// Removes killed fakes' temporary directories on a thread of its own: unlinking gigabytes of
/// objects can take seconds, and start-up must not wait for it.
fn remove_in_background(abandoned: Abandoned) {
    let spawned = std::thread::Builder::new()
        .name("u21-mock-cleanup".into())
        .spawn(move || log_removed(&abandoned.remove()));
    if let Err(err) = spawned {
        tracing::warn!(%err, "cannot remove the temporary data directories of killed fakes");
    }
}

/// Says what the clean-up removed: at info when it removed something, at debug otherwise
/// (every start runs it, and "directories=0" at info reads like an incident).
fn log_removed(reaped: &crate::engine::scratch::Reaped) {
    let message = "removed the temporary data directories of fakes that were killed";
    let (directories, bytes) = (reaped.directories, reaped.bytes);
    if directories == 0 {
        tracing::debug!(directories, bytes, "{message}");
    } else {
        tracing::info!(directories, bytes, "{message}");
    }
}

/// Accepts connections until `stopped` fires, each served by hyper's HTTP/1 server with a
/// header-read timeout (`limits.header_read_secs`): a connection that opens and sends half a
/// request line is closed, so idle sockets cannot use up the file descriptors. Accept errors
/// (out of file descriptors, say) are logged, not hidden, and accepting resumes after a short
/// pause rather than spinning.
///
/// At most `max_connections` are open: at the cap, the connection that has been quiet longest
/// (an idle keep-alive, a client stalled mid-request) is closed to make room, so stalled
/// clients cannot lock out the ones that talk. The registry belongs to this loop alone.
async fn serve(
    listener: tokio::net::TcpListener,
    accept: Accept,
    mut stopped: watch::Receiver<()>,
) {
    use hyper_util::service::TowerToHyperService;
    let Accept {
        app,
        limits,
        tls,
        endpoint,
    } = accept;
    let ConnectionLimits {
        header_read,
        body_idle,
        max_connections,
    } = limits;
    let started = std::time::Instant::now();
    let mut open: Vec<(tokio::task::JoinHandle<()>, Arc<AtomicU64>)> = Vec::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // The handle sends nothing: it is dropped, and that ends the loop.
            _ = stopped.changed() => return,
        };
        let socket = match accepted {
            Ok((socket, _)) => socket,
            Err(err) => {
                tracing::warn!(%err, "cannot accept a connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        open.retain(|(task, _)| !task.is_finished());
        if open.len() >= max_connections {
            let quietest = open
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, last))| last.load(Ordering::Relaxed))
                .map(|(i, _)| i);
            if let Some(i) = quietest {
                let (task, _) = open.swap_remove(i);
                task.abort();
                tracing::debug!(
                    max_connections,
                    "closed the quietest connection to make room"
                );
            }
        }
        let last = Arc::new(AtomicU64::new(ms_since(started)));
        let socket = Tracked {
            inner: socket,
            last: last.clone(),
            started,
        };
        // A request body that stops sending is cut after `limits.body_idle_secs` of silence,
        // on every route, before the journal or a handler reads it.
        let service = TowerToHyperService::new(
            tower::ServiceBuilder::new()
                .map_request(move |mut request: http::Request<_>| {
                    request.extensions_mut().insert(endpoint);
                    request
                })
                .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_idle))
                .service(app.clone()),
        );
        let tls = tls.clone();
        let stopped = stopped.clone();
        let task = tokio::spawn(async move {
            match tls {
                None => serve_connection(socket, service, header_read, stopped).await,
                // A handshake that does not finish in the header-read time is closed, as a
                // request whose headers do not come is.
                Some(tls) => match tokio::time::timeout(header_read, tls.accept(socket)).await {
                    Ok(Ok(socket)) => serve_connection(socket, service, header_read, stopped).await,
                    Ok(Err(err)) => tracing::debug!(%err, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake not finished in time"),
                },
            }
        });
        open.push((task, last));
    }
}

/// How long a stopping fake lets a request already in flight finish.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One HTTP/1 connection, over TCP or TLS, until it ends or the fake stops: then hyper's
/// graceful shutdown closes it at once if idle (a keep-alive connection a client still holds),
/// or after the request in flight is answered, within [`STOP_GRACE`].
async fn serve_connection<I, S>(
    io: I,
    service: S,
    header_read: Duration,
    mut stopped: watch::Receiver<()>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<axum::body::Body>,
        > + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        // The handle sends nothing: it is dropped, and that is the stop.
        _ = stopped.changed() => {
            connection.as_mut().graceful_shutdown();
            match tokio::time::timeout(STOP_GRACE, connection.as_mut()).await {
                Ok(ended) => ended,
                Err(_) => return tracing::debug!("a request outlived the stop's grace; closed"),
            }
        }
    };
    if let Err(err) = ended {
        tracing::debug!(%err, "connection ended");
    }
}

/// Binds `at`, returning the listener and the address it got.
async fn bind(at: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), Error> {
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .map_err(Error::io(format!("cannot listen on {at}")))?;
    let address = listener
        .local_addr()
        .map_err(Error::io("cannot read the bound address"))?;
    Ok((listener, address))
}

/// What one accept loop serves, and how.
struct Accept {
    app: crate::http::Observed,
    limits: ConnectionLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    endpoint: Endpoint,
}

/// What bounds each connection (see [`serve`]).
#[derive(Clone, Copy)]
struct ConnectionLimits {
    header_read: Duration,
    body_idle: Duration,
    max_connections: usize,
}

fn ms_since(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A socket that notes when it last moved a byte either way.
struct Tracked {
    inner: tokio::net::TcpStream,
    last: Arc<AtomicU64>,
    started: std::time::Instant,
}

impl Tracked {
    fn moved(&self, bytes: usize) {
        if bytes > 0 {
            self.last.store(ms_since(self.started), Ordering::Relaxed);
        }
    }
}

impl tokio::io::AsyncRead for Tracked {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        self.moved(buf.filled().len() - before);
        result
    }
}

impl tokio::io::AsyncWrite for Tracked {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let result = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(written)) = &result {
            self.moved(*written);
        }
        result
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A URL a client on this machine can use: wildcard addresses become `localhost`.
fn default_public_url(scheme: &str, address: SocketAddr) -> String {
    if address.ip().is_unspecified() {
        format!("{scheme}://localhost:{}", address.port())
    } else {
        format!("{scheme}://{address}")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use crate::engine::scratch::Reaped;

    /// What `log` writes at the info level (each write sent down a channel: no lock outside
    /// the engine, even in a test).
    fn logged_at_info(log: impl FnOnce()) -> String {
        let (sent, received) = mpsc::channel::<Vec<u8>>();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || Capture(sent.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes: Vec<u8> = received.try_iter().flatten().collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    struct Capture(mpsc::Sender<Vec<u8>>);

    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.send(bytes.to_vec());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_clean_up_that_removed_nothing_is_not_news() {
        let nothing = Reaped {
            directories: 0,
            bytes: 0,
        };
        assert_eq!(logged_at_info(|| super::log_removed(&nothing)), "");
        let something = Reaped {
            directories: 2,
            bytes: 4096,
        };
        let text = logged_at_info(|| super::log_removed(&something));
        assert!(text.contains("directories=2 bytes=4096"), "{text}");
    }
}
