//! The settings part: what the fake was started with and never changes while it runs (the
//! configuration, the public URL), and the timing, streams and clock a full reset returns to.
//! It takes no lock: it is read-only once the engine is shared.

use super::files::StartSettings;
use crate::config::{Config, PUBLIC_URL_AUTO};

/// The configuration and what is derived from it.
pub(crate) struct Settings {
    config: Config,
    /// Base URL clients reach the fake at, without a trailing slash (under `--public-url
    /// auto`, the fallback for a request without a usable `Host`).
    public_url: String,
    /// `--public-url auto`: each request's `Host` names the base URL (see `http::support`).
    public_url_auto: bool,
    /// The timing, streams and clock in force once started: what a reset that puts the
    /// settings back returns to (a test fixture's isolation between tests).
    pub(super) start: StartSettings,
}

impl Settings {
    pub fn new(config: Config, public_url: String, start: StartSettings) -> Self {
        Settings {
            public_url_auto: config.public_url.as_deref() == Some(PUBLIC_URL_AUTO),
            public_url: public_url.trim_end_matches('/').to_owned(),
            config,
            start,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The base URL written into pre-signed forms, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// True under `--public-url auto`: the URL each request names is written into its forms.
    pub fn public_url_is_auto(&self) -> bool {
        self.public_url_auto
    }

    /// The organisation of the first configured key: where control calls put files by default.
    pub fn default_org(&self) -> String {
        self.config.effective_keys()[0].org.clone()
    }

    /// Every organisation that has a key, sorted.
    pub fn orgs(&self) -> Vec<String> {
        let mut orgs: Vec<String> = self
            .config
            .effective_keys()
            .into_iter()
            .map(|k| k.org)
            .collect();
        orgs.sort();
        orgs.dedup();
        orgs
    }
}
