//! Where the API under test lives: the fake in-process, a running fake at a URL, or the real
//! sandbox. Only a fake has the control API that clock and fault scenarios need.
//!
//! A running fake belongs to its user: the kit saves its whole state (files, objects, clock,
//! timing, streams) and its faults when it connects, gives each scenario a clean copy, and puts
//! the saved state back when the run ends ([`Target::restore`]), also on Ctrl-C.

use std::time::Duration;

use serde_json::{json, Value};
use u21_mock::{Fault, JournalEntry, MockServer, StreamConfig, Timing, Transition};

/// Why a run cannot start: the target, not the client, is at fault. The command exits 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupError(pub String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

/// The names of the settings a target was made from.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where the base URL came from.
    pub url: &'static str,
    /// Where the key came from.
    pub key: &'static str,
}

/// A server to run scenarios against.
pub struct Target {
    /// What the report calls it.
    pub name: String,
    /// Unit21 base URL, as the client under test is given it.
    pub base_url: String,
    /// The `u21-key`.
    pub api_key: String,
    /// The stream uploads go to.
    pub stream: String,
    /// The fake's control API, when there is one.
    pub control: Option<Control>,
    /// The request timeout clients are asked to keep against this target
    /// ([`Deadlines::request`](crate::Deadlines::request)): 1 s for the in-process fake, 2 s
    /// for a fake at a URL, 30 s for the sandbox, whose answers cross the internet.
    pub request_timeout: Duration,
    /// Where the base URL and the key were set, as a setup error names them (`--url or
    /// U21_CONFORMANCE_URL`, `U21_API_KEY`, …).
    pub settings: Settings,
    /// Keeps an in-process fake alive.
    _server: Option<MockServer>,
}

impl Target {
    /// A fresh in-process fake: `instant` timing.
    ///
    /// Clients are given `http://localhost:PORT` while the fake's forms say
    /// `http://127.0.0.1:PORT/…`, so a client that builds the upload URL from its base URL
    /// instead of using the returned one is seen (its upload arrives with another `Host`).
    pub async fn in_process() -> Target {
        let server = MockServer::builder().timing(Timing::Instant).start().await;
        let base_url = format!("http://localhost:{}", server.address().port());
        let control = Control::connect(server.uri(), None)
            .await
            .expect("the in-process fake's control API answers");
        Target {
            name: "in-process fake".into(),
            base_url,
            api_key: server.api_key().to_owned(),
            stream: "conformance".into(),
            control,
            request_timeout: Duration::from_secs(1),
            settings: Settings {
                url: "the in-process fake",
                key: "the in-process fake",
            },
            _server: Some(server),
        }
    }

    /// A private in-process fake dressed as a real account (no control API, `instant`
    /// timing), to rehearse a run on before it touches one ([`crate::Plan`]).
    pub async fn rehearsal(stream: &str) -> Target {
        let mut config = u21_mock::Config::default();
        config.control.enabled = false;
        config.timing = Timing::Instant;
        let server = MockServer::builder().config(config).start().await;
        Target {
            name: "a private rehearsal fake".into(),
            base_url: server.uri(),
            api_key: server.api_key().to_owned(),
            stream: stream.into(),
            control: None,
            request_timeout: Duration::from_secs(1),
            settings: Settings {
                url: "the rehearsal fake",
                key: "the rehearsal fake",
            },
            _server: Some(server),
        }
    }

    /// The in-process fake behind this target, if there is one.
    pub fn fake(&self) -> Option<&MockServer> {
        self._server.as_ref()
    }

    /// A running fake (or anything) at `base_url`. Its control API is used when it answers;
    /// then its state is saved, to be put back by [`Target::restore`].
    ///
    /// # Errors
    /// When the URL is not one, or the control API refuses the token or cannot be saved.
    pub async fn at_url(
        base_url: &str,
        api_key: &str,
        stream: &str,
        control_token: Option<String>,
    ) -> Result<Target, SetupError> {
        let parsed = reqwest::Url::parse(base_url)
            .map_err(|e| SetupError(format!("--url {base_url} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SetupError(format!(
                "--url {base_url} must start with http:// or https://"
            )));
        }
        let base_url = base_url.trim_end_matches('/').to_owned();
        let control = Control::connect(base_url.clone(), control_token).await?;
        Ok(Target {
            name: base_url.clone(),
            base_url,
            api_key: api_key.into(),
            stream: stream.into(),
            control,
            request_timeout: Duration::from_secs(2),
            settings: Settings {
                url: "--url or U21_CONFORMANCE_URL",
                key: "--api-key or U21_CONFORMANCE_API_KEY",
            },
            _server: None,
        })
    }

    /// The real sandbox, from `U21_BASE_URL`, `U21_API_KEY` and `U21_STREAM`.
    ///
    /// # Errors
    /// Names the missing variable.
    pub fn sandbox_from_env() -> Result<Target, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        let base_url = u21_client::resolve_base_url(&var("U21_BASE_URL")?)?;
        Ok(Target {
            name: format!("sandbox {base_url}"),
            base_url,
            api_key: var("U21_API_KEY")?,
            stream: var("U21_STREAM")?,
            control: None,
            request_timeout: Duration::from_secs(30),
            settings: Settings {
                url: "U21_BASE_URL",
                key: "U21_API_KEY",
            },
            _server: None,
        })
    }

    /// Checks, before any scenario, that the target answers and takes the key, so a wrong URL
    /// or key is reported as what it is rather than as every scenario failing.
    ///
    /// `deadline` bounds the check, so a target that accepts connections and never answers
    /// is reported too.
    ///
    /// # Errors
    /// "cannot reach …", "the key is refused …", or an answer that is not Unit21's.
    pub async fn preflight(&self, deadline: Duration) -> Result<(), SetupError> {
        let http = http_client()
            .timeout(deadline)
            .build()
            .map_err(|e| SetupError(e.to_string()))?;
        let url = format!("{}/v1/imports/list", self.base_url);
        let response = http
            .post(&url)
            .header("u21-key", &self.api_key)
            .json(&json!({"limit": 1}))
            .send()
            .await
            .map_err(|e| {
                let chain = error_chain(&e);
                let hint = if chain.contains("certificate") {
                    "its certificate is not trusted: if it is signed by a private authority (a fake serving HTTPS), set U21_CA_FILE to that authority's PEM file".to_owned()
                } else {
                    format!("is the server running, and is {} right?", self.settings.url)
                };
                SetupError(format!("cannot reach {}: {chain} ({hint})", self.base_url))
            })?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        match status {
            200..=299 | 429 => Ok(()),
            401 | 403 => Err(SetupError(format!(
                "the key is refused: POST /v1/imports/list answered {status} {} (check {})",
                body.chars().take(200).collect::<String>(),
                self.settings.key
            ))),
            _ => Err(SetupError(format!(
                "{} does not answer like Unit21's imports API: POST /v1/imports/list answered {status} {}",
                self.base_url,
                body.chars().take(200).collect::<String>()
            ))),
        }
    }

    /// Puts a running fake back as the kit found it: state and faults. Nothing to do for other
    /// targets.
    ///
    /// # Errors
    /// When the fake refuses the saved state.
    pub async fn restore(&self) -> Result<(), String> {
        match &self.control {
            Some(control) => control.restore().await,
            None => Ok(()),
        }
    }
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// The kit's own HTTP client, which carries the key and the control token: it follows no
/// redirect (reqwest's default would send both headers to any origin a 3xx names).
pub(crate) fn http_client() -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    // Checked at start (`extra_authorities` in main): an unusable file never gets this far.
    for authority in extra_authorities().unwrap_or_default() {
        builder = builder.add_root_certificate(authority);
    }
    builder
}

/// The certificate authorities of `U21_CA_FILE` (PEM), when it is set: a server with a
/// private certificate, such as a fake serving HTTPS, is trusted through them by the kit's own
/// calls, the reference client (`u21_client` reads the same variable) and the adapters (the
/// kit sets `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS` and `CURL_CA_BUNDLE`
/// for them, to one file with these authorities, those the variables named, and the
/// system's).
///
/// # Errors
/// A setup error naming the file when it cannot be read or holds no PEM certificate.
pub fn extra_authorities() -> Result<Vec<reqwest::Certificate>, SetupError> {
    let Some(path) = std::env::var_os("U21_CA_FILE") else {
        return Ok(Vec::new());
    };
    let path = std::path::PathBuf::from(path);
    let unusable = |why: String| SetupError(format!("U21_CA_FILE {}: {why}", path.display()));
    let pem = std::fs::read(&path).map_err(|e| unusable(format!("cannot be read: {e}")))?;
    let authorities = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| unusable(format!("is not PEM: {e}")))?;
    if authorities.is_empty() {
        return Err(unusable("holds no certificate".into()));
    }
    Ok(authorities)
}

/// Where a form's upload arrives on the fake, as a journal prefix: `/{bucket}`, the bucket read
/// from the policy the create call returned (so a proxy prefix or another host changes
/// nothing), or the returned URL's own path when the policy names none. No trailing slash: S3
/// takes a path-style form POST at `/{bucket}` as at `/{bucket}/`, so a client may send either.
pub fn upload_path(form: &Value) -> String {
    use base64::Engine;
    let bucket = form["form_fields"]["policy"]
        .as_str()
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|policy| {
            policy["conditions"].as_array()?.iter().find_map(|c| {
                c.as_object()?
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("bucket"))
                    .and_then(|(_, v)| v.as_str().map(str::to_owned))
            })
        });
    match bucket {
        Some(bucket) => format!("/{bucket}"),
        None => form["url"]
            .as_str()
            .and_then(|u| reqwest::Url::parse(u).ok())
            .map_or_else(String::new, |u| u.path().trim_end_matches('/').to_owned()),
    }
}

/// A fault pattern for a form's upload, with or without the trailing slash (see
/// [`upload_path`]).
pub fn upload_fault_path(form: &Value) -> String {
    format!("{}/**", upload_path(form))
}

/// The fake's `/_mock/` API, as the scenarios use it.
#[derive(Clone)]
pub struct Control {
    base_url: String,
    token: Option<String>,
    http: reqwest::Client,
    /// The state and faults found when the kit connected.
    saved: Value,
    saved_faults: Vec<ListedFault>,
}

/// A fault as `GET /_mock/faults` lists it.
#[derive(Clone, serde::Deserialize)]
struct ListedFault {
    fault: Fault,
    /// The uses it has left; `None` for a fault that stays.
    remaining: Option<u32>,
}

impl Control {
    /// The control API at `base_url`, with its state saved; `None` when there is none.
    async fn connect(base_url: String, token: Option<String>) -> Result<Option<Self>, SetupError> {
        let mut control = Self {
            base_url,
            token,
            http: http_client()
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| SetupError(e.to_string()))?,
            saved: Value::Null,
            saved_faults: Vec::new(),
        };
        // A short look: a target that never answers is reported by the pre-flight check.
        let probe = tokio::time::timeout(
            Duration::from_secs(5),
            control.call(reqwest::Method::GET, "/_mock/clock", None),
        )
        .await
        .unwrap_or_else(|_| Err(CallError::Unreachable("no answer".into())));
        match probe {
            Ok(clock) if clock.get("now_ms").is_some() => {}
            Err(CallError::Refused(status, _)) if status == 401 || status == 403 => {
                return Err(SetupError(format!(
                    "the fake's control API refused the token ({status}): pass --control-token, or run without a control API"
                )))
            }
            // No control API (the sandbox, or a fake run with --no-control).
            _ => return Ok(None),
        }
        control.saved = control
            .call(reqwest::Method::GET, "/_mock/state", None)
            .await
            .map_err(|e| SetupError(format!("cannot save the fake's state: {e}")))?;
        let faults = control
            .call(reqwest::Method::GET, "/_mock/faults", None)
            .await
            .map_err(|e| SetupError(format!("cannot save the fake's faults: {e}")))?;
        control.saved_faults = serde_json::from_value(faults)
            .map_err(|e| SetupError(format!("cannot read the fake's faults: {e}")))?;
        // The state is put back once now, as it was read, before any scenario changes it: a
        // state the fake will not take back (over its import bound, say) would be lost at the
        // end of the run, so the run does not start.
        if let Err(err) = control.put_saved().await {
            return Err(SetupError(format!(
                "the fake's state ({} bytes) could not be put back as it was read ({err}): the kit could not restore it after the run, so it changed nothing and will not start; export it yourself (GET /_mock/state), or run against a fake of its own (--target fake)",
                control.saved.to_string().len()
            )));
        }
        Ok(Some(control))
    }

    /// Puts the state saved when the kit connected back into the fake.
    async fn put_saved(&self) -> Result<Value, CallError> {
        self.call(
            reqwest::Method::PUT,
            "/_mock/state",
            Some(self.saved.clone()),
        )
        .await
    }

    /// Writes the state saved when the kit connected to a file of its own (the system's
    /// temporary directory); returns its path.
    fn keep_saved(&self) -> std::io::Result<std::path::PathBuf> {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let path = std::env::temp_dir().join(format!(
            "u21-conformance-saved-state-{}-{millis}.json",
            std::process::id()
        ));
        std::fs::write(&path, serde_json::to_vec(&self.saved)?)?;
        Ok(path)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CallError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(token) = &self.token {
            request = request.header("x-u21-mock-token", token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        if !status.is_success() {
            return Err(CallError::Refused(
                status.as_u16(),
                format!("control call {path} answered {status}: {text}"),
            ));
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| CallError::Unreachable(e.to_string()))?
        })
    }

    async fn call_ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        self.call(method, path, body)
            .await
            .map_err(|e| e.to_string())
    }

    /// A clean slate for one scenario: no files, no faults, no streams, `instant` timing and a
    /// clock that follows real time. The journal is kept (scenarios count from a mark).
    pub async fn clean(&self) -> Result<(), String> {
        let mut clean = self.saved.clone();
        clean["clock"] = json!({"frozen_at_ms": null, "offset_ms": 0});
        clean["timing"] = json!("instant");
        clean["streams"] = json!([]);
        clean["files"] = json!([]);
        clean["objects"] = json!([]);
        self.call_ok(reqwest::Method::PUT, "/_mock/state", Some(clean))
            .await?;
        self.clear_faults().await
    }

    /// Puts back the state and faults saved when the kit connected. When the state cannot be
    /// put back, it is written to a file, which the error names.
    pub async fn restore(&self) -> Result<(), String> {
        if let Err(err) = self.put_saved().await {
            return Err(match self.keep_saved() {
                Ok(path) => format!(
                    "{err}; the state as the kit found it is in {} (PUT it to /_mock/state to put it back)",
                    path.display()
                ),
                Err(io) => format!("{err}; and the state as the kit found it could not be written to a file either: {io}"),
            });
        }
        self.clear_faults().await?;
        for saved in &self.saved_faults {
            let mut fault = saved.fault.clone();
            fault.times = saved.remaining;
            self.fault(&fault).await?;
        }
        Ok(())
    }

    /// Moves the clock forward.
    pub async fn advance(&self, by: Duration) -> Result<(), String> {
        let body = json!({"ms": by.as_millis() as u64});
        self.call_ok(reqwest::Method::POST, "/_mock/clock/advance", Some(body))
            .await
            .map(drop)
    }

    /// The fake's time, in milliseconds since the epoch.
    pub async fn now_ms(&self) -> Result<u64, String> {
        self.call_ok(reqwest::Method::GET, "/_mock/clock", None)
            .await?["now_ms"]
            .as_u64()
            .ok_or_else(|| "the fake's clock has no now_ms".to_owned())
    }

    /// Freezes the clock at the next whole second of its current time, so files made in one
    /// scenario step share a second and the list bounds are exact.
    pub async fn freeze(&self) -> Result<(), String> {
        let now = self.now_ms().await?;
        let body = json!({"epoch_ms": now.div_ceil(1000) * 1000});
        self.call_ok(reqwest::Method::POST, "/_mock/clock/set", Some(body))
            .await
            .map(drop)
    }

    /// Switches the timing profile.
    pub async fn timing(&self, timing: Timing) -> Result<(), String> {
        self.call_ok(
            reqwest::Method::POST,
            "/_mock/timing",
            Some(json!({"timing": timing})),
        )
        .await
        .map(drop)
    }

    /// Adds a fault; returns its id.
    pub async fn fault(&self, fault: &Fault) -> Result<u64, String> {
        let body = serde_json::to_value(fault).map_err(|e| e.to_string())?;
        let added = self
            .call_ok(reqwest::Method::POST, "/_mock/faults", Some(body))
            .await?;
        added["id"]
            .as_u64()
            .ok_or_else(|| format!("the fake added a fault but named no id: {added}"))
    }

    /// Removes one fault.
    pub async fn remove_fault(&self, id: u64) -> Result<(), String> {
        self.call_ok(
            reqwest::Method::DELETE,
            &format!("/_mock/faults/{id}"),
            None,
        )
        .await
        .map(drop)
    }

    /// Configures exactly `names` as the fake's streams, each taking any columns.
    pub async fn configure_streams(&self, names: &[&str]) -> Result<(), String> {
        let streams: Vec<StreamConfig> =
            names.iter().map(|name| StreamConfig::new(*name)).collect();
        let body = serde_json::to_value(streams).map_err(|e| e.to_string())?;
        self.call_ok(reqwest::Method::PUT, "/_mock/streams", Some(body))
            .await
            .map(drop)
    }

    /// Removes every fault.
    pub async fn clear_faults(&self) -> Result<(), String> {
        self.call_ok(reqwest::Method::DELETE, "/_mock/faults", None)
            .await
            .map(drop)
    }

    /// Forces a file's status, cancelling whatever its lifecycle had planned.
    pub async fn force(&self, file_id: &str, transition: &Transition) -> Result<(), String> {
        let body = match transition {
            Transition::Processing => json!({"status": "PROCESSING"}),
            Transition::Finished { successful, failed } => {
                json!({"status": "FINISHED", "successful_count": successful, "failure_count": failed})
            }
            Transition::Failed(code) => json!({"status": "FAILED", "failure_code": code}),
            Transition::Deleted => json!({"status": "DELETED"}),
        };
        self.call_ok(
            reqwest::Method::POST,
            &format!("/_mock/files/{file_id}/transition"),
            Some(body),
        )
        .await
        .map(drop)
    }

    /// A file as the fake knows it (`GET /_mock/files/{id}`): its key, history and the object
    /// stored under the key.
    pub async fn file(&self, file_id: &str) -> Result<Value, String> {
        self.call_ok(
            reqwest::Method::GET,
            &format!("/_mock/files/{file_id}"),
            None,
        )
        .await
    }

    /// Adds a file as the UI's manual upload does (ADDED); returns its id.
    pub async fn add_file(
        &self,
        stream: &str,
        file_name: &str,
        content: &str,
    ) -> Result<String, String> {
        let body = json!({"stream_name": stream, "file_name": file_name, "content": content});
        let file = self
            .call_ok(reqwest::Method::POST, "/_mock/files", Some(body))
            .await?;
        file["file_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no file_id in {file}"))
    }

    /// The newest journal entry's sequence number: later calls count from it.
    pub async fn mark(&self) -> Result<u64, String> {
        let journal = self
            .call_ok(reqwest::Method::GET, "/_mock/requests?limit=1", None)
            .await?;
        Ok(journal["requests"][0]["seq"].as_u64().unwrap_or(0))
    }

    /// Journal entries after `mark` for a method and path prefix, oldest first.
    pub async fn requests(
        &self,
        method: &str,
        path: &str,
        mark: u64,
    ) -> Result<Vec<JournalEntry>, String> {
        let mark = mark.to_string();
        let params = [("method", method), ("path", path), ("after", mark.as_str())];
        let url = reqwest::Url::parse_with_params(
            "http://journal/_mock/requests",
            params.iter().filter(|(_, v)| !v.is_empty()),
        )
        .map_err(|e| e.to_string())?;
        let query = url.query().unwrap_or_default();
        let journal = self
            .call_ok(
                reqwest::Method::GET,
                &format!("/_mock/requests?{query}"),
                None,
            )
            .await?;
        serde_json::from_value(journal["requests"].clone())
            .map_err(|e| format!("the fake's journal did not read as entries: {e}"))
    }
}

/// A control call that did not go through.
#[derive(Debug)]
enum CallError {
    Unreachable(String),
    Refused(u16, String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(why) | CallError::Refused(_, why) => f.write_str(why),
        }
    }
}
