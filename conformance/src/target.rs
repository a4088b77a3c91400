//! Where the API under test lives: the fake in-process, a running fake at a URL, or the real
//! sandbox. Only a fake has the control API that clock and fault scenarios need.

use std::time::Duration;

use serde_json::{json, Value};
use u21_mock::{MockServer, Timing};

/// A server to run scenarios against.
pub struct Target {
    /// What the report calls it.
    pub name: String,
    /// Unit21 base URL.
    pub base_url: String,
    /// The `u21-key`.
    pub api_key: String,
    /// The stream uploads go to.
    pub stream: String,
    /// The fake's control API, when there is one.
    pub control: Option<Control>,
    /// Keeps an in-process fake alive.
    _server: Option<MockServer>,
}

impl Target {
    /// A fresh in-process fake: `instant` timing, no rate limit worries.
    pub async fn in_process() -> Target {
        let server = MockServer::builder().timing(Timing::Instant).start().await;
        Target {
            name: "in-process fake".into(),
            base_url: server.uri(),
            api_key: server.api_key().to_owned(),
            stream: "conformance".into(),
            control: Some(Control::new(server.uri(), None)),
            _server: Some(server),
        }
    }

    /// A running fake (or anything) at `base_url`. Its control API is used when it answers.
    pub async fn at_url(
        base_url: &str,
        api_key: &str,
        stream: &str,
        control_token: Option<String>,
    ) -> Target {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let control = Control::new(base_url.clone(), control_token);
        let control = control.available().await.then_some(control);
        Target {
            name: base_url.clone(),
            base_url,
            api_key: api_key.into(),
            stream: stream.into(),
            control,
            _server: None,
        }
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
            _server: None,
        })
    }
}

/// The fake's `/_mock/` API, as the scenarios use it.
#[derive(Clone)]
pub struct Control {
    base_url: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Control {
    fn new(base_url: String, token: Option<String>) -> Self {
        Self {
            base_url,
            token,
            http: reqwest::Client::new(),
        }
    }

    async fn available(&self) -> bool {
        matches!(self.call(reqwest::Method::GET, "/_mock/clock", None).await, Ok(v) if v.get("now_ms").is_some())
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(token) = &self.token {
            request = request.header("x-u21-mock-token", token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("control call {path} answered {status}: {text}"));
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| e.to_string())?
        })
    }

    /// Forgets every file, fault and journal entry.
    pub async fn reset(&self) -> Result<(), String> {
        self.call(reqwest::Method::POST, "/_mock/reset", None)
            .await
            .map(drop)
    }

    /// Moves the clock forward.
    pub async fn advance(&self, by: Duration) -> Result<(), String> {
        let body = json!({"ms": by.as_millis() as u64});
        self.call(reqwest::Method::POST, "/_mock/clock/advance", Some(body))
            .await
            .map(drop)
    }

    /// Switches the timing profile.
    pub async fn timing(&self, timing: &str) -> Result<(), String> {
        self.call(
            reqwest::Method::POST,
            "/_mock/timing",
            Some(json!({"timing": timing})),
        )
        .await
        .map(drop)
    }

    /// Adds a fault (the JSON of `POST /_mock/faults`).
    pub async fn fault(&self, fault: Value) -> Result<(), String> {
        self.call(reqwest::Method::POST, "/_mock/faults", Some(fault))
            .await
            .map(drop)
    }

    /// Removes every fault.
    pub async fn clear_faults(&self) -> Result<(), String> {
        self.call(reqwest::Method::DELETE, "/_mock/faults", None)
            .await
            .map(drop)
    }

    /// Forces a file's status (the JSON of `POST /_mock/files/{id}/transition`).
    pub async fn force(&self, file_id: &str, body: Value) -> Result<(), String> {
        self.call(
            reqwest::Method::POST,
            &format!("/_mock/files/{file_id}/transition"),
            Some(body),
        )
        .await
        .map(drop)
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
            .call(reqwest::Method::POST, "/_mock/files", Some(body))
            .await?;
        file["file_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no file_id in {file}"))
    }

    /// Journal entries for a method and path prefix.
    pub async fn requests(&self, method: &str, path: &str) -> Result<Vec<Value>, String> {
        let journal = self
            .call(
                reqwest::Method::GET,
                &format!("/_mock/requests?method={method}&path={path}"),
                None,
            )
            .await?;
        Ok(journal["requests"].as_array().cloned().unwrap_or_default())
    }

    /// Empties the journal.
    pub async fn clear_requests(&self) -> Result<(), String> {
        self.call(reqwest::Method::DELETE, "/_mock/requests", None)
            .await
            .map(drop)
    }
}
