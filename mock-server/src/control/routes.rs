//! `/_mock/…`: the control API over HTTP. Answers are JSON; errors use Unit21's shape with a
//! message. With a token configured, every call must carry it.

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::faults::Fault;
use super::journal::JournalQuery;
use crate::config::{StreamConfig, Timing};
use crate::model::{Datafile, FailureCode, FileRecord};
use crate::state::AppState;
use crate::store::{ControlError, Transition};

/// The longest `Retry-After` a `rate_limited` fault may ask for.
const MAX_RETRY_AFTER_SECS: u64 = 86_400;
/// The longest a `latency` fault may hold a request.
const MAX_LATENCY_MS: u64 = 600_000;

/// The largest snapshot `PUT /_mock/state` takes.
const SNAPSHOT_LIMIT: usize = 1024 * 1024 * 1024;

/// A refused control call: Unit21's error shape, always with a message.
pub(crate) struct Refusal(
    pub(crate) StatusCode,
    pub(crate) &'static str,
    pub(crate) String,
);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error_code": self.1, "message": self.2})),
        )
            .into_response()
    }
}

impl From<ControlError> for Refusal {
    fn from(err: ControlError) -> Self {
        match err {
            ControlError::NotFound => Refusal(
                StatusCode::NOT_FOUND,
                "resource_not_found",
                "no such file".into(),
            ),
            ControlError::WrongStatus(message) => {
                Refusal(StatusCode::CONFLICT, "conflict", message)
            }
        }
    }
}

fn bad_request(message: impl Into<String>) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, "bad_request", message.into())
}

/// A file id from the path, or a 400 in Unit21's shape saying it is not one.
struct FileId(u64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for FileId {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Path::<u64>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(FileId(id)),
            Err(_) => Err(bad_request("the path must name a file by its numeric id")),
        }
    }
}

/// A JSON body, or a 400 saying what is wrong with it.
struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = Refusal;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|err| bad_request(err.body_text()))?;
        let bytes = if bytes.is_empty() {
            axum::body::Bytes::from_static(b"{}")
        } else {
            bytes
        };
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|err| bad_request(format!("Invalid body: {err}")))
    }
}

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/_mock/reset", post(reset))
        .route("/_mock/seed", post(seed))
        .route("/_mock/clock", get(clock))
        .route("/_mock/clock/advance", post(advance))
        .route("/_mock/clock/set", post(set_clock))
        .route("/_mock/timing", post(set_timing))
        .route("/_mock/files", post(add_file))
        .route("/_mock/files/{id}", get(file))
        .route("/_mock/files/{id}/transition", post(transition))
        .route("/_mock/files/{id}/process", post(process))
        .route("/_mock/process-queued", post(process_queued))
        .route("/_mock/streams", get(streams).put(replace_streams))
        .route(
            "/_mock/faults",
            get(faults).post(add_fault).delete(clear_faults),
        )
        .route("/_mock/faults/{id}", delete(remove_fault))
        .route("/_mock/requests", get(requests).delete(clear_requests))
        .route(
            "/_mock/state",
            get(super::snapshot::export)
                .put(super::snapshot::import)
                // A snapshot carries every file and, inline, every object: far over the 2 MB
                // default, yet still bounded.
                .layer(axum::extract::DefaultBodyLimit::max(SNAPSHOT_LIMIT)),
        )
        .merge(crate::dashboard::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::guard::guard,
        ))
}

async fn reset(State(state): State<AppState>) -> StatusCode {
    state.reset().await;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedBody {
    seed: u64,
}

async fn seed(State(state): State<AppState>, Body(body): Body<SeedBody>) -> Json<Value> {
    state.seed(body.seed).await;
    clock_json(&state)
}

fn clock_json(state: &AppState) -> Json<Value> {
    let now_ms = state.clock.now_millis();
    Json(json!({
        "now_ms": now_ms,
        "now": crate::s3::presign::iso8601_millis(now_ms),
        "frozen": state.clock.is_frozen(),
        "timing": state.timing.lock().as_str(),
    }))
}

async fn clock(State(state): State<AppState>) -> Json<Value> {
    clock_json(&state)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    #[serde(default)]
    ms: u64,
    #[serde(default)]
    seconds: u64,
}

async fn advance(
    State(state): State<AppState>,
    Body(body): Body<AdvanceBody>,
) -> Result<Json<Value>, Refusal> {
    let by = body
        .seconds
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(body.ms))
        .map(Duration::from_millis)
        .filter(|by| *by <= state.clock.room())
        .ok_or_else(|| {
            bad_request(format!(
                "the clock cannot move past {} (it is {}): advance by less",
                crate::s3::presign::iso8601_millis(crate::clock::LATEST_MS),
                crate::s3::presign::iso8601_millis(state.clock.now_millis())
            ))
        })?;
    state.clock.advance(by);
    state.settle().await;
    state.persist().await;
    Ok(clock_json(&state))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetClockBody {
    epoch_ms: u64,
}

async fn set_clock(
    State(state): State<AppState>,
    Body(body): Body<SetClockBody>,
) -> Result<Json<Value>, Refusal> {
    if body.epoch_ms > crate::clock::LATEST_MS as u64 {
        return Err(bad_request(format!(
            "epoch_ms must be at most {} ({})",
            crate::clock::LATEST_MS,
            crate::s3::presign::iso8601_millis(crate::clock::LATEST_MS)
        )));
    }
    state
        .clock
        .set(UNIX_EPOCH + Duration::from_millis(body.epoch_ms));
    state.settle().await;
    state.persist().await;
    Ok(clock_json(&state))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimingBody {
    timing: Timing,
}

async fn set_timing(State(state): State<AppState>, Body(body): Body<TimingBody>) -> Json<Value> {
    state.set_timing(body.timing);
    state.persist().await;
    clock_json(&state)
}

/// A file as the control API shows it: the Unit21 shape plus what only the fake knows.
pub(crate) fn file_json(record: &FileRecord) -> Value {
    let mut value = serde_json::to_value(Datafile::from(record)).expect("serialisable");
    let extra = json!({"org": &*record.org, "stream_name": &*record.stream, "key": record.s3_key, "md5_hash": record.md5_hash, "history": record.history});
    value
        .as_object_mut()
        .expect("object")
        .extend(extra.as_object().expect("object").clone());
    value
}

async fn file(State(state): State<AppState>, FileId(id): FileId) -> Result<Json<Value>, Refusal> {
    state.settle().await;
    let store = state.store.lock();
    store
        .file(id)
        .map(|r| Json(file_json(r)))
        .ok_or(Refusal::from(ControlError::NotFound))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitionBody {
    status: String,
    #[serde(default)]
    successful_count: u64,
    #[serde(default)]
    failure_count: u64,
    #[serde(default)]
    failure_code: Option<String>,
}

async fn transition(
    State(state): State<AppState>,
    FileId(id): FileId,
    Body(body): Body<TransitionBody>,
) -> Result<Json<Value>, Refusal> {
    let transition = match body.status.as_str() {
        "PROCESSING" => Transition::Processing,
        "FINISHED" => Transition::Finished { successful: body.successful_count, failed: body.failure_count },
        "FAILED" => Transition::Failed(match body.failure_code.as_deref().unwrap_or("unknown") {
            "unparseable_file" => FailureCode::UnparseableFile,
            "invalid_schema" => FailureCode::InvalidSchema,
            "stream_not_configured" => FailureCode::StreamNotConfigured,
            "unknown" => FailureCode::Unknown,
            other => return Err(bad_request(format!("unknown failure_code '{other}'"))),
        }),
        "DELETED" => Transition::Deleted,
        other => {
            return Err(bad_request(format!(
                "status '{other}' cannot be forced; use PROCESSING, FINISHED, FAILED or DELETED (ADDED files come from POST /_mock/files)"
            )))
        }
    };
    Ok(Json(file_json(&state.force(id, transition).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddFileBody {
    #[serde(default)]
    org: Option<String>,
    stream_name: String,
    file_name: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    content_base64: Option<String>,
    /// Start processing at once (ADDED → QUEUED).
    #[serde(default)]
    process: bool,
}

async fn add_file(
    State(state): State<AppState>,
    Body(body): Body<AddFileBody>,
) -> Result<(StatusCode, Json<Value>), Refusal> {
    let content = match (body.content, body.content_base64) {
        (Some(text), None) => text.into_bytes(),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| bad_request("content_base64 is not base64"))?,
        (None, None) => Vec::new(),
        (Some(_), Some(_)) => return Err(bad_request("give content or content_base64, not both")),
    };
    if body.stream_name.is_empty() || body.file_name.is_empty() {
        return Err(bad_request("stream_name and file_name must not be empty"));
    }
    let org = body.org.unwrap_or_else(|| state.default_org());
    let record = state
        .add_manual(&org, &body.stream_name, &body.file_name, &content)
        .await
        .map_err(|err| {
            Refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_server_error",
                err.to_string(),
            )
        })?;
    if body.process {
        state.start_processing(record.id).await?;
    }
    state.settle().await;
    let record = state
        .store
        .lock()
        .file(record.id)
        .cloned()
        .expect("just added");
    Ok((StatusCode::CREATED, Json(file_json(&record))))
}

async fn process(
    State(state): State<AppState>,
    FileId(id): FileId,
) -> Result<Json<Value>, Refusal> {
    state.start_processing(id).await?;
    file(State(state), FileId(id)).await
}

async fn process_queued(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"processed": state.process_queued().await}))
}

async fn streams(State(state): State<AppState>) -> Json<Vec<StreamConfig>> {
    Json(state.streams.read().clone())
}

async fn replace_streams(
    State(state): State<AppState>,
    Body(streams): Body<Vec<StreamConfig>>,
) -> Result<Json<Vec<StreamConfig>>, Refusal> {
    let check = crate::config::Config {
        streams: streams.clone(),
        ..crate::config::Config::default()
    };
    check
        .validate()
        .map_err(|err| bad_request(err.to_string()))?;
    state.set_streams(streams.clone());
    state.persist().await;
    Ok(Json(streams))
}

fn faults_json(state: &AppState) -> Json<Value> {
    let list: Vec<Value> = state
        .faults
        .lock()
        .list()
        .into_iter()
        .map(|(id, fault, remaining)| json!({"id": id, "fault": fault, "remaining": remaining}))
        .collect();
    Json(Value::from(list))
}

async fn faults(State(state): State<AppState>) -> Json<Value> {
    faults_json(&state)
}

async fn add_fault(
    State(state): State<AppState>,
    Body(fault): Body<Fault>,
) -> Result<(StatusCode, Json<Value>), Refusal> {
    if fault.probability.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
        return Err(bad_request("probability must be between 0 and 1"));
    }
    if fault.times == Some(0) {
        return Err(bad_request("times must be at least 1"));
    }
    if let super::FaultAction::RateLimited { retry_after_secs } = &fault.action {
        if *retry_after_secs > MAX_RETRY_AFTER_SECS {
            return Err(bad_request(format!(
                "retry_after_secs must be at most {MAX_RETRY_AFTER_SECS} (a day)"
            )));
        }
    }
    if let super::FaultAction::Latency { ms } = &fault.action {
        if *ms > MAX_LATENCY_MS {
            return Err(bad_request(format!(
                "latency ms must be at most {MAX_LATENCY_MS} (ten minutes)"
            )));
        }
    }
    let id = state.faults.lock().add(fault.clone());
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "fault": fault, "remaining": fault.times})),
    ))
}

async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    state.faults.lock().clear();
    StatusCode::NO_CONTENT
}

async fn remove_fault(
    State(state): State<AppState>,
    FileId(id): FileId,
) -> Result<StatusCode, Refusal> {
    if state.faults.lock().remove(id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Refusal(
            StatusCode::NOT_FOUND,
            "resource_not_found",
            format!("no fault {id}"),
        ))
    }
}

async fn requests(
    State(state): State<AppState>,
    query: Result<Query<JournalQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    let Query(query) = query.map_err(|err| bad_request(err.body_text()))?;
    let (entries, kept) = {
        let journal = state.journal.lock();
        (journal.matching(&query), journal.len())
    };
    // One entry's body parsed at a time, written, and dropped: reading the journal costs about
    // the size of the answer, whatever its bodies parse into.
    let mut out = Vec::with_capacity(entries.len() * 256);
    out.extend_from_slice(b"{\"requests\":[");
    for (i, kept) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &kept.to_entry()).expect("serialisable");
    }
    out.extend_from_slice(format!("],\"kept\":{kept}}}").as_bytes());
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response())
}

async fn clear_requests(State(state): State<AppState>) -> StatusCode {
    state.journal.lock().clear();
    StatusCode::NO_CONTENT
}
