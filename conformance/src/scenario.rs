//! What a scenario is, what it gets to work with, and how it ends.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::driver::{Driver, DriverError};
use crate::target::{Control, Target};

/// How long scenarios let a client `wait` on a fake, where files finish at once or when told.
const WAIT_ON_FAKE: Duration = Duration::from_secs(10);
/// … and on the sandbox, which processes in batches about every 15 minutes.
const WAIT_ON_SANDBOX: Duration = Duration::from_secs(40 * 60);

/// How a scenario ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything it checked held.
    Pass,
    /// Something did not hold; the text says what.
    Fail(String),
    /// It could not run on this target; the text says why.
    Skip(String),
}

/// The rule a failure says was broken: every failure names one, so a user can tell a breach of
/// what Unit21 or S3 document from one of the fake's decided points or of the kit's own
/// protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Unit21's documented API (docs/unit21-imports.md).
    Unit21,
    /// S3's documented browser-based form POST (docs/s3-post.md).
    S3,
    /// A decided point of FIDELITY.md, by the name of its entry or switch.
    Decided(&'static str),
    /// The adapter protocol and the careful-client duties it writes down (conformance/ADAPTERS.md).
    Protocol,
}

impl Rule {
    /// How a failure message starts.
    pub fn label(self) -> String {
        match self {
            Rule::Unit21 => "breaks Unit21's documented API (docs/unit21-imports.md)".into(),
            Rule::S3 => "breaks S3's documented form POST (docs/s3-post.md)".into(),
            Rule::Decided(entry) => format!("breaks a decided point (FIDELITY.md: {entry})"),
            Rule::Protocol => "breaks the adapter protocol (conformance/ADAPTERS.md)".into(),
        }
    }
}

/// Why a scenario stopped early.
#[derive(Debug)]
pub enum Stop {
    /// A check failed; the scenario's own rule was broken.
    Fail(String),
    /// A check failed that judges by another rule than the scenario's.
    Broke(Rule, String),
    /// The target cannot run it.
    Skip(String),
}

impl From<DriverError> for Stop {
    fn from(err: DriverError) -> Self {
        Stop::Fail(format!("the client failed: {err}"))
    }
}

/// What a scenario's body returns.
pub type Check = Result<(), Stop>;

/// Fails the scenario with `message` unless `condition` holds.
///
/// # Errors
/// [`Stop::Fail`] with the message.
pub fn ensure(condition: bool, message: impl FnOnce() -> String) -> Check {
    if condition {
        Ok(())
    } else {
        Err(Stop::Fail(message()))
    }
}

/// A named, tagged check.
pub struct Scenario {
    /// Unique, for `--only` and `--skip`.
    pub name: &'static str,
    /// Groups, for `--only` and `--skip`.
    pub tags: &'static [&'static str],
    /// What it shows, in one sentence.
    pub description: &'static str,
    /// Whether it needs the fake's control API (clock, faults, journal).
    pub needs_control: bool,
    /// What it judges by; its failures name it.
    pub rule: Rule,
    /// The body.
    pub run: for<'a> fn(&'a Ctx<'a>) -> BoxFuture<'a, Check>,
}

/// What a scenario works with.
pub struct Ctx<'a> {
    /// The server.
    pub target: &'a Target,
    /// The client under test.
    pub driver: &'a dyn Driver,
    /// A directory for the files it uploads.
    pub dir: &'a Path,
    /// Every file the run made, the kit's own creates included.
    pub ledger: &'a crate::ledger::Ledger,
    /// What the target answered on the decided points settled so far.
    pub settlements: &'a crate::fidelity::Settlements,
    /// The running scenario's name.
    pub scenario: &'static str,
    /// Whether a file over 300 MiB may be uploaded to a target without a control API.
    pub allow_large_uploads: bool,
    /// For raw calls that check the server itself, not the client.
    pub http: reqwest::Client,
    /// Makes file names and record ids unique across runs (the sandbox keeps what it is
    /// sent): `u21-conformance-c<milliseconds>-<4 random hex digits>-<scenario>`, so a run's files can be found.
    pub run_id: String,
}

impl Ctx<'_> {
    /// Writes a file to upload; its name is made unique for this run.
    pub fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.dir.join(format!("{}-{name}", self.run_id));
        std::fs::write(&path, content).expect("the scenario directory is writable");
        path
    }

    /// A one-record CSV whose id carries the run's id, so a record the kit loads into a real
    /// stream can be told from real data and never collides with it.
    pub fn row(&self) -> Vec<u8> {
        format!("id\n{}-1\n", self.run_id).into_bytes()
    }

    /// `count` records' ids for this run: `<run id>-1`, `<run id>-2`, …
    pub fn record_ids(&self, count: usize) -> Vec<String> {
        (1..=count)
            .map(|i| format!("{}-{i}", self.run_id))
            .collect()
    }

    /// Notes what the target answered on the decided point `switch`: the switch's `value`
    /// under which the fake answers the same. Fails, naming the switch to set, when that is
    /// not the fake's default; the point is noted either way (`--record`).
    ///
    /// # Errors
    /// [`Stop::Broke`] by the decided point when the target differs from the fake's default.
    pub fn settle(&self, switch: &'static str, value: Value, answered: impl Into<String>) -> Check {
        let default = crate::fidelity::default_of(switch)
            .unwrap_or_else(|| panic!("u21-mock has no fidelity switch {switch}"));
        let answered = answered.into();
        self.settlements.note(crate::fidelity::Settlement {
            switch,
            value: value.clone(),
            default: default.clone(),
            answered: answered.clone(),
            scenario: self.scenario.to_owned(),
        });
        if value == default {
            Ok(())
        } else {
            Err(Stop::Broke(
                Rule::Decided(switch),
                format!("the target {answered}: the fake answers so with {switch} = {value} (its default is {default})"),
            ))
        }
    }

    /// The control API, or a skip.
    ///
    /// # Errors
    /// [`Stop::Skip`] on a target without one.
    pub fn control(&self) -> Result<&Control, Stop> {
        self.target
            .control
            .as_ref()
            .ok_or_else(|| Stop::Skip("needs the fake's control API".into()))
    }

    /// A raw Unit21 call with the target's key (or `key`), returning status and JSON.
    ///
    /// # Errors
    /// [`Stop::Fail`] when there is no answer or it is not JSON.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Result<(u16, Value), Stop> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.target.base_url));
        if let Some(key) = key
            .or(Some(self.target.api_key.as_str()))
            .filter(|k| !k.is_empty())
        {
            request = request.header("u21-key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Stop::Fail(format!("no answer from {path}: {e}")))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| Stop::Fail(e.to_string()))?;
        let json = serde_json::from_str(&text).map_err(|_| {
            Stop::Fail(format!(
                "{path} answered {status} with a body that is not JSON: {text}"
            ))
        })?;
        Ok((status, json))
    }

    /// How long a `wait` may take on this target.
    pub fn wait_timeout(&self) -> Duration {
        if self.target.control.is_some() {
            WAIT_ON_FAKE
        } else {
            WAIT_ON_SANDBOX
        }
    }

    /// The journal's newest sequence number: what a scenario counts from.
    ///
    /// # Errors
    /// Skips without a control API; fails when the call fails.
    pub async fn mark(&self) -> Result<u64, Stop> {
        self.control()?.mark().await.map_err(Stop::Fail)
    }

    /// Journal entries after `mark` for `method` (empty: any) and a path prefix, oldest first.
    ///
    /// # Errors
    /// Skips without a control API; fails when the call fails.
    pub async fn requests(
        &self,
        method: &str,
        path: &str,
        mark: u64,
    ) -> Result<Vec<u21_mock::JournalEntry>, Stop> {
        self.control()?
            .requests(method, path, mark)
            .await
            .map_err(Stop::Fail)
    }

    /// How many requests after `mark` match `method` and the path prefix.
    ///
    /// # Errors
    /// As [`Ctx::requests`].
    pub async fn count(&self, method: &str, path: &str, mark: u64) -> Result<usize, Stop> {
        Ok(self.requests(method, path, mark).await?.len())
    }

    /// Moves a fake's clock 10 ms on, so files made one after another have distinct times
    /// and a definite order; nothing on a target without a clock the kit holds.
    ///
    /// # Errors
    /// When the control call fails.
    pub async fn tick(&self) -> Check {
        match (&self.target.control, self.target.fake()) {
            (Some(control), _) => control
                .advance(Duration::from_millis(10))
                .await
                .map_err(Stop::Fail),
            (None, Some(fake)) => {
                fake.clock().advance(Duration::from_millis(10)).await;
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }

    /// Waits until the next whole second of the server's clock: moves a fake's clock (through
    /// its control API, or its handle for a plan's rehearsal), or sleeps on a real target.
    /// List bounds are in whole seconds.
    ///
    /// # Errors
    /// When the control call fails.
    pub async fn next_second(&self) -> Check {
        match (&self.target.control, self.target.fake()) {
            (Some(control), _) => control
                .advance(Duration::from_secs(1))
                .await
                .map_err(Stop::Fail),
            // A plan's rehearsal: a private fake without a control API, whose clock the kit
            // holds all the same.
            (None, Some(fake)) => {
                fake.clock().advance(Duration::from_secs(1)).await;
                Ok(())
            }
            (None, None) => {
                tokio::time::sleep(Duration::from_millis(1100)).await;
                Ok(())
            }
        }
    }
}
