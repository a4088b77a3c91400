//! What the fake is configured with: API keys and their organisations, streams and their
//! schemas, the S3 credentials, the timing profile and the rate limit.
//!
//! The same [`Config`] is built by the `u21-mock` binary (from a TOML file and flags) and by
//! [`MockServerBuilder`](crate::MockServerBuilder) in tests.

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod fidelity;
mod streams;

pub use fidelity::{Fidelity, OffsetUnit};
pub(crate) use streams::stream_for;
pub use streams::{ColumnConfig, ColumnType, StreamConfig};

/// The key every fresh fake accepts unless told otherwise; printed at start-up.
pub const DEFAULT_API_KEY: &str = "u21-mock-dev-key";
/// The organisation the default key belongs to.
pub const DEFAULT_ORG: &str = "demo";
/// `public_url = "auto"` (`--public-url auto`): each request's `Host` names the base URL
/// written into its forms, for a fake behind a port mapping whose outside address it cannot know.
pub const PUBLIC_URL_AUTO: &str = "auto";
/// Unit21's documented limit on imports routes, in calls per second per key and route.
pub const DEFAULT_RATE_LIMIT: u32 = 200;

/// Everything the fake needs to know before it starts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// First segment of every object key, as Unit21's `dev/org_…/` keys show.
    pub environment: String,
    /// The one bucket the fake's S3 endpoint serves.
    pub bucket: String,
    /// Base URL that clients reach the fake at, used to build the pre-signed `url`. `None`
    /// means the address the server listens on; [`PUBLIC_URL_AUTO`] means each request's
    /// `Host`.
    pub public_url: Option<String>,
    /// How fast files move through the lifecycle.
    pub timing: Timing,
    /// Calls per second per key and route; `0` turns rate limiting off.
    pub rate_limit: u32,
    /// The credentials the S3 endpoint verifies signatures with.
    pub s3: S3Credentials,
    /// API keys. With none configured, [`DEFAULT_API_KEY`] in [`DEFAULT_ORG`] is used.
    pub keys: Vec<KeyConfig>,
    /// Streams and schemas. With none configured, every stream is accepted and every
    /// well-formed record succeeds.
    pub streams: Vec<StreamConfig>,
    /// Switches for the behaviours Unit21 does not document (see FIDELITY.md).
    pub fidelity: Fidelity,
    /// The `/_mock/` control API.
    pub control: ControlConfig,
    /// Bounds on what clients may hold.
    pub limits: Limits,
}

/// Bounds on what clients may hold, so a slow or stalled client cannot starve the others.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Uploads streaming at once (each holds two threads while its file's bytes flow; one that
    /// stalls gives them back); a new upload waits up to a second for one, then gets S3's 503
    /// `SlowDown`.
    pub concurrent_uploads: usize,
    /// Files read at once (each on a thread of its own, with up to 64 MiB of decoding
    /// budget); the others wait their turn in PROCESSING.
    pub concurrent_processing: usize,
    /// Seconds an upload's file may go without a byte before it is cut with S3's
    /// `RequestTimeout`.
    pub upload_idle_secs: f64,
    /// Seconds a connection may take to send a request's headers before it is closed.
    pub header_read_secs: f64,
    /// Seconds a request body (on any route) may go without a byte before the request is cut.
    pub body_idle_secs: f64,
    /// Connections open at once. At the cap, a new connection closes the one that has been
    /// quiet longest (idle keep-alive, or stalled mid-request), so stalled clients cannot lock
    /// everyone else out.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            concurrent_uploads: 128,
            concurrent_processing: 4,
            upload_idle_secs: 20.0,
            header_read_secs: 10.0,
            body_idle_secs: 20.0,
            max_connections: 512,
        }
    }
}

/// The control API under `/_mock/`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Serve the control API at all (`--no-control` turns it off).
    pub enabled: bool,
    /// When set, control calls must send it as `x-u21-mock-token` or `Authorization: Bearer`.
    pub token: Option<String>,
    /// How many requests the journal keeps; older ones are dropped first.
    pub journal_capacity: usize,
    /// Host names (besides loopback, the listen address and the public URL's host) that may
    /// reach the control API and dashboard without the token, e.g. a compose service name.
    pub allowed_hosts: Vec<String>,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            token: None,
            journal_capacity: 1000,
            allowed_hosts: Vec::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            environment: "dev".into(),
            bucket: "u21-mock-uploads".into(),
            public_url: None,
            timing: Timing::Fast,
            rate_limit: DEFAULT_RATE_LIMIT,
            s3: S3Credentials::default(),
            keys: Vec::new(),
            streams: Vec::new(),
            fidelity: Fidelity::default(),
            control: ControlConfig::default(),
            limits: Limits::default(),
        }
    }
}

/// The access key pair the fake's S3 endpoint signs and verifies forms with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Credentials {
    /// Sent to clients as `AWSAccessKeyId`.
    pub access_key_id: String,
    /// Never leaves the fake.
    pub secret_access_key: String,
}

impl Default for S3Credentials {
    fn default() -> Self {
        Self {
            access_key_id: "AKIAU21MOCKEXAMPLE00".into(),
            secret_access_key: "u21-mock-secret-access-key-do-not-use-in-production".into(),
        }
    }
}

/// One `u21-key` value.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The header value.
    pub key: String,
    /// The organisation whose files this key sees.
    pub org: String,
    /// What the key may do; a route it lacks the permission for answers 403.
    #[serde(default = "Permission::all")]
    pub permissions: Vec<Permission>,
}

impl KeyConfig {
    /// A key with every permission.
    pub fn new(key: impl Into<String>, org: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            org: org.into(),
            permissions: Permission::all(),
        }
    }
}

/// A permission a key carries, fixed when it is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum Permission {
    /// `GET /v1/imports/{id}` and `POST /v1/imports/list`.
    #[serde(rename = "imports:read")]
    ImportsRead,
    /// `POST /v1/imports/pre-signed-url/create`.
    #[serde(rename = "imports:write")]
    ImportsWrite,
}

impl Permission {
    /// Both permissions.
    pub fn all() -> Vec<Permission> {
        vec![Permission::ImportsRead, Permission::ImportsWrite]
    }
}

/// How quickly files move through QUEUED and PROCESSING.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Timing {
    /// Every step happens the moment the object lands.
    Instant,
    /// About a second per step: the binary's default.
    #[default]
    Fast,
    /// Batches on Unit21's documented ~15-minute cadence.
    Realistic,
    /// Files wait in QUEUED until the handle says to process them.
    Manual,
}

impl Timing {
    /// The name the flag and the configuration file take (`fast`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Timing::Instant => "instant",
            Timing::Fast => "fast",
            Timing::Realistic => "realistic",
            Timing::Manual => "manual",
        }
    }
}

impl FromStr for Timing {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "instant" => Ok(Timing::Instant),
            "fast" => Ok(Timing::Fast),
            "realistic" => Ok(Timing::Realistic),
            "manual" => Ok(Timing::Manual),
            other => Err(format!(
                "unknown timing profile '{other}' (expected instant, fast, realistic or manual)"
            )),
        }
    }
}

/// A configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (the cause is the error's source).
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a [`Config`]. The message names the place, never quotes
    /// the line: a configuration holds secrets (keys, the S3 secret, the control token).
    #[error("invalid configuration in {path} at line {line}, column {column}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// Where, from 1.
        line: usize,
        /// Where in the line, from 1.
        column: usize,
        /// What is wrong, without the line's text.
        message: String,
    },
    /// The configuration contradicts itself.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML configuration file.
    ///
    /// # Errors
    /// When the file cannot be read, is not valid TOML, or fails [`Config::validate`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let config: Config = toml::from_str(&text).map_err(|err| {
            let at = err.span().map_or(0, |span| span.start.min(text.len()));
            let before = &text[..at];
            ConfigError::Parse {
                path: path.display().to_string(),
                line: before.matches('\n').count() + 1,
                column: before
                    .rsplit('\n')
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .count()
                    + 1,
                message: err.message().to_owned(),
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The configured keys, or the default development key when none are.
    pub fn effective_keys(&self) -> Vec<KeyConfig> {
        if self.keys.is_empty() {
            vec![KeyConfig::new(DEFAULT_API_KEY, DEFAULT_ORG)]
        } else {
            self.keys.clone()
        }
    }

    /// Checks what serde cannot: uniqueness and non-empty names.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        if !(1..=4096).contains(&self.limits.concurrent_uploads) {
            return invalid("limits.concurrent_uploads must be from 1 to 4096".into());
        }
        if !(1..=64).contains(&self.limits.concurrent_processing) {
            return invalid("limits.concurrent_processing must be from 1 to 64".into());
        }
        if !(4..=65_536).contains(&self.limits.max_connections) {
            return invalid("limits.max_connections must be from 4 to 65536".into());
        }
        for (name, secs) in [
            ("upload_idle_secs", self.limits.upload_idle_secs),
            ("header_read_secs", self.limits.header_read_secs),
            ("body_idle_secs", self.limits.body_idle_secs),
        ] {
            if !(secs > 0.0 && secs <= 3600.0) {
                return invalid(format!(
                    "limits.{name} must be more than 0 and at most 3600"
                ));
            }
        }
        for (name, status, allowed) in [
            (
                "non_json_body_status",
                self.fidelity.non_json_body_status,
                [400, 415],
            ),
            (
                "wrong_method_status",
                self.fidelity.wrong_method_status,
                [405, 404],
            ),
        ] {
            if !allowed.contains(&status) {
                return invalid(format!(
                    "fidelity.{name} must be {} or {}, not {status}",
                    allowed[0], allowed[1]
                ));
            }
        }
        let mut keys = HashSet::new();
        for key in &self.keys {
            if key.key.trim().is_empty() || key.org.trim().is_empty() {
                return invalid("every key needs a non-empty `key` and `org`".into());
            }
            let normal = if self.fidelity.keys_case_sensitive {
                key.key.clone()
            } else {
                key.key.to_ascii_lowercase()
            };
            if !keys.insert(normal) {
                return invalid(format!("key listed twice (value hidden, org {})", key.org));
            }
        }
        let mut streams = HashSet::new();
        for stream in &self.streams {
            if stream.name.is_empty() {
                return invalid("every stream needs a non-empty `name`".into());
            }
            if !streams.insert((stream.name.as_str(), stream.org.as_deref())) {
                return invalid(format!("stream '{}' configured twice", stream.name));
            }
            let mut columns = HashSet::new();
            for column in &stream.columns {
                if !columns.insert(column.name.as_str()) {
                    return invalid(format!(
                        "column '{}' listed twice in stream '{}'",
                        column.name, stream.name
                    ));
                }
            }
        }
        if self.bucket.is_empty() || self.bucket.contains('/') || self.bucket.starts_with('_') {
            return invalid(format!("bucket name '{}' is not usable", self.bucket));
        }
        if self.bucket == "v1" {
            return invalid("bucket 'v1' would shadow the Unit21 routes".into());
        }
        if let Some(url) = &self.public_url {
            let usable =
                url.starts_with("http://") || url.starts_with("https://") || url == PUBLIC_URL_AUTO;
            if !usable {
                return invalid(format!(
                    "public_url '{url}' must start with http:// or https://, or be '{PUBLIC_URL_AUTO}'"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
