//! [`MockServerBuilder`]: settings, then the start (configuration checked, data directory
//! prepared, listeners bound, accept loops spawned), and the clean-up of killed fakes' scratch
//! directories.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use super::scratch::{Abandoned, ScratchDir};
use crate::config::{Config, Fidelity, KeyConfig, StreamConfig, Timing};
use crate::engine::Engine;
use crate::error::Error;
use crate::http::Endpoint;
use crate::tls::TlsFiles;

use super::accept::{bind, serve, Accept, ConnectionLimits};
use super::MockServer;

/// Configures a [`MockServer`]; every setting has a default. Settings given one by one win over
/// a whole [`config`](Self::config), whatever the order they are given in: nothing set on the
/// builder is silently dropped.
#[must_use]
pub struct MockServerBuilder {
    /// The whole configuration given with [`config`](Self::config), if any.
    base: Option<Config>,
    /// Settings given one by one, as changes to the configuration, applied over the base in
    /// the order they were given: the builder holds no copy of `Config`'s fields.
    edits: Vec<Edit>,
    /// A timing, a stream or a whole configuration was given (see `keep_stored_settings`).
    settings_given: bool,
    clock: Option<crate::Clock>,
    listen: SocketAddr,
    s3_listen: Option<SocketAddr>,
    tls: Option<TlsFiles>,
    data_dir: Option<PathBuf>,
    keep_stored_settings: Option<bool>,
}

/// One setting given on the builder.
type Edit = Box<dyn FnOnce(&mut Config) + Send + Sync>;

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            base: None,
            edits: Vec::new(),
            settings_given: false,
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
        self.base = Some(config);
        self.settings_given = true;
        self
    }

    /// Records a setting, applied over the base configuration when the fake starts.
    fn edit(mut self, edit: impl FnOnce(&mut Config) + Send + Sync + 'static) -> Self {
        self.edits.push(Box::new(edit));
        self
    }

    /// The timing profile.
    pub fn timing(mut self, timing: Timing) -> Self {
        self.settings_given = true;
        self.edit(move |config| config.timing = timing)
    }

    /// Shares a clock (for example [`Clock::frozen`](crate::Clock::frozen)).
    pub fn clock(mut self, clock: crate::Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Adds an API key for an organisation. The first key added replaces the default key.
    pub fn key(self, key: impl Into<String>, org: impl Into<String>) -> Self {
        self.key_config(KeyConfig::new(key, org))
    }

    /// Adds a key with chosen permissions.
    pub fn key_config(self, key: KeyConfig) -> Self {
        self.edit(move |config| config.keys.push(key))
    }

    /// Configures a stream. Once any stream is configured, unconfigured streams FAIL
    /// `stream_not_configured`.
    pub fn stream(mut self, stream: StreamConfig) -> Self {
        self.settings_given = true;
        self.edit(move |config| config.streams.push(stream))
    }

    /// Calls per second per key and route; `0` turns rate limiting off.
    pub fn rate_limit(self, per_second: u32) -> Self {
        self.edit(move |config| config.rate_limit = per_second)
    }

    /// The base URL written into pre-signed forms.
    pub fn public_url(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.edit(move |config| config.public_url = Some(url))
    }

    /// The undocumented-behaviour switches.
    pub fn fidelity(self, fidelity: Fidelity) -> Self {
        self.edit(move |config| config.fidelity = fidelity)
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
        let mut config = self.base.take().unwrap_or_else(|| Config {
            timing: Timing::Instant,
            ..Config::default()
        });
        for edit in self.edits.drain(..) {
            edit(&mut config);
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
        let keep_stored_settings = self.keep_stored_settings.unwrap_or(!self.settings_given);
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
fn log_removed(reaped: &super::scratch::Reaped) {
    let message = "removed the temporary data directories of fakes that were killed";
    let (directories, bytes) = (reaped.directories, reaped.bytes);
    if directories == 0 {
        tracing::debug!(directories, bytes, "{message}");
    } else {
        tracing::info!(directories, bytes, "{message}");
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
    use super::super::scratch::Reaped;

    /// What `log` writes at the info level.
    fn logged_at_info(log: impl FnOnce()) -> String {
        crate::test_support::logged(tracing::Level::INFO, log)
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
