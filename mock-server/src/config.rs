//! What the fake is configured with: API keys and their organisations, streams and their
//! schemas, the S3 credentials, the timing profile and the rate limit.
//!
//! The same [`Config`] is built by the `u21-mock` binary (from a TOML file and flags) and by
//! [`MockServerBuilder`](crate::MockServerBuilder) in tests.

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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

/// One switch per undocumented behaviour, so a team whose sandbox run settles a point the
/// other way can make the fake agree. Defaults are the choices recorded in FIDELITY.md.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fidelity {
    /// A `file_name` reused in a stream without a new `md5_hash` answers 409 (else accepted).
    pub reject_duplicate_file_names: bool,
    /// `POST /v1/imports/list` orders newest first (else oldest first).
    pub list_newest_first: bool,
    /// What `offset` counts.
    pub list_offset: OffsetUnit,
    /// `created_after` includes files created in that very second.
    pub created_after_inclusive: bool,
    /// `created_before` includes files created in that very second.
    pub created_before_inclusive: bool,
    /// Another organisation's file answers 403 `forbidden` (else 404 `resource_not_found`).
    pub foreign_file_forbidden: bool,
    /// A `file_id` that is not a string of digits answers 400 (else 404).
    pub malformed_id_bad_request: bool,
    /// Each route has its own rate-limit bucket per key (else one bucket per key).
    pub rate_limit_per_route: bool,
    /// An `md5_hash` that is not a UUID answers 400 (else it is taken as given).
    pub md5_hash_must_be_uuid: bool,
    /// A create or list body whose `Content-Type` is not `application/json`: 400 or 415.
    pub non_json_body_status: u16,
    /// A known path asked with a method it does not take: 405 or 404.
    pub wrong_method_status: u16,
    /// A create or list body with a field the route does not know answers 400 (else ignored).
    pub reject_unknown_fields: bool,
    /// With streams configured, a create for a stream that is not answers 400 at once (else
    /// the file is accepted and FAILS `stream_not_configured` once uploaded).
    pub reject_unknown_streams_at_create: bool,
    /// A form POST carrying an `Authorization` header answers S3's 400 `InvalidArgument`
    /// "Unsupported Authorization Type" (else the header is ignored, as moto and MinIO do).
    pub s3_refuse_authorization_header: bool,
    /// Keys are compared exactly (else ignoring ASCII case).
    pub keys_case_sensitive: bool,
    /// A list call with no body answers 400 (else it lists with no filters).
    pub empty_list_body_refused: bool,
    /// With streams configured, a list filter naming a stream that is not answers 400 (else
    /// it matches nothing).
    pub unknown_stream_filter_refused: bool,
    /// An empty `statuses` or `stream_names` list matches nothing (else it is no filter).
    pub empty_filter_matches_nothing: bool,
    /// `file_type` of an extension Unit21 does not take is `null` (else upper-cased as is).
    pub unknown_file_type_null: bool,
    /// `successful_count` and `failure_count` are `null` until processing ends (else `0`).
    pub counts_null_until_processed: bool,
}

impl Default for Fidelity {
    fn default() -> Self {
        Self {
            reject_duplicate_file_names: true,
            list_newest_first: true,
            list_offset: OffsetUnit::Page,
            created_after_inclusive: true,
            created_before_inclusive: false,
            foreign_file_forbidden: false,
            malformed_id_bad_request: false,
            rate_limit_per_route: true,
            md5_hash_must_be_uuid: true,
            non_json_body_status: 400,
            wrong_method_status: 405,
            reject_unknown_fields: false,
            reject_unknown_streams_at_create: false,
            s3_refuse_authorization_header: true,
            keys_case_sensitive: true,
            empty_list_body_refused: false,
            unknown_stream_filter_refused: false,
            empty_filter_matches_nothing: false,
            unknown_file_type_null: false,
            counts_null_until_processed: false,
        }
    }
}

/// What the list call's `offset` counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetUnit {
    /// 1-based pages of `limit` records, as Unit21's other list routes.
    #[default]
    Page,
    /// 0-based records to skip.
    Record,
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

/// A named landing channel and the schema its records must follow.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// The `stream_name` clients send.
    pub name: String,
    /// Limits the stream to one organisation; `None` configures it for all.
    #[serde(default)]
    pub org: Option<String>,
    /// Columns (CSV headers, JSON keys). Empty means any columns.
    #[serde(default)]
    pub columns: Vec<ColumnConfig>,
    /// Whether columns outside `columns` are allowed.
    #[serde(default)]
    pub allow_extra_columns: bool,
}

impl StreamConfig {
    /// A stream with no schema: any columns are accepted.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            org: None,
            columns: Vec::new(),
            allow_extra_columns: true,
        }
    }

    /// Adds a column.
    pub fn column(mut self, name: impl Into<String>, kind: ColumnType, required: bool) -> Self {
        self.columns.push(ColumnConfig {
            name: name.into(),
            kind,
            required,
        });
        self.allow_extra_columns = false;
        self
    }
}

/// One column of a stream's schema.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// Header or key name, matched exactly.
    pub name: String,
    /// The type every value must have.
    #[serde(rename = "type", default)]
    pub kind: ColumnType,
    /// Whether the column must be present.
    #[serde(default)]
    pub required: bool,
}

/// The simple value types a schema can ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// Anything.
    #[default]
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
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

/// The stream configuration that applies to `stream` for `org`, if streams are configured.
///
/// `Ok(None)` means no streams are configured at all (everything is accepted);
/// `Err(())` means streams are configured but not this one.
pub(crate) fn stream_for<'a>(
    streams: &'a [StreamConfig],
    org: &str,
    stream: &str,
) -> Result<Option<&'a StreamConfig>, ()> {
    if streams.is_empty() {
        return Ok(None);
    }
    let mut general = None;
    for candidate in streams.iter().filter(|s| s.name == stream) {
        match candidate.org.as_deref() {
            Some(o) if o == org => return Ok(Some(candidate)),
            None => general = Some(candidate),
            Some(_) => {}
        }
    }
    general.map(Some).ok_or(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses() {
        let config: Config = toml::from_str(
            r#"
            environment = "sandbox"
            bucket = "uploads"
            public_url = "http://localhost:9000"
            timing = "instant"
            rate_limit = 0
            [s3]
            access_key_id = "AKID"
            secret_access_key = "secret"
            [[keys]]
            key = "k1"
            org = "acme"
            permissions = ["imports:read"]
            [[streams]]
            name = "txns"
            org = "acme"
            columns = [{ name = "id", type = "integer", required = true }]
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.timing, Timing::Instant);
        assert_eq!(config.keys[0].permissions, vec![Permission::ImportsRead]);
        assert_eq!(config.streams[0].columns[0].kind, ColumnType::Integer);
        assert!(stream_for(&config.streams, "acme", "txns")
            .unwrap()
            .is_some());
        assert!(stream_for(&config.streams, "other", "txns").is_err());
    }

    #[test]
    fn unknown_fields_and_duplicate_keys_are_rejected() {
        assert!(toml::from_str::<Config>("colour = 1").is_err());
        let config: Config =
            toml::from_str("[[keys]]\nkey='a'\norg='x'\n[[keys]]\nkey='a'\norg='y'\n").unwrap();
        assert!(matches!(config.validate(), Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn no_streams_means_every_stream_is_accepted() {
        assert_eq!(
            stream_for(&Config::default().streams, "o", "anything").map(|s| s.is_none()),
            Ok(true)
        );
    }
}
