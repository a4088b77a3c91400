//! `/_mock/…`: the control API over HTTP, each route one engine operation. Answers are JSON;
//! refusals use Unit21's shape with a message. The guard in front of these routes (and the
//! dashboard's) decides who may call them.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::support::{
    body_written_by, declared_length, linger_after_refusal, ApiError, Id, JsonBody,
};
use super::AppState;
use crate::config::{StreamConfig, Timing};
use crate::engine::{ClockReading, Engine, Fault, Files, JournalQuery, Reset, Traffic, Transition};
use crate::model::{Datafile, FailureCode, FileRecord};

/// The largest snapshot `PUT /_mock/state` takes.
const SNAPSHOT_LIMIT: usize = 1024 * 1024 * 1024;

pub(crate) fn routes() -> Router<AppState> {
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
            // A snapshot carries every file and, inline, every object: far over axum's 2 MB
            // default, yet still bounded (by `import_state`).
            get(export_state)
                .put(import_state)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    /// Also put the timing, streams and clock back as the fake started.
    #[serde(default)]
    settings: bool,
}

async fn reset(
    State(engine): State<Arc<Engine>>,
    JsonBody(body): JsonBody<ResetBody>,
) -> Result<StatusCode, ApiError> {
    let what = if body.settings {
        Reset::StateAndSettings
    } else {
        Reset::State
    };
    engine.reset(what).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedBody {
    seed: u64,
}

async fn seed(
    State(engine): State<Arc<Engine>>,
    JsonBody(body): JsonBody<SeedBody>,
) -> Result<Json<Value>, ApiError> {
    Ok(clock_json(engine.seed(body.seed).await?))
}

fn clock_json(reading: ClockReading) -> Json<Value> {
    Json(json!({
        "now_ms": reading.now_ms,
        "now": crate::clock::iso8601_millis(reading.now_ms),
        "frozen": reading.frozen,
        "timing": reading.timing.as_str(),
    }))
}

async fn clock(State(files): State<Arc<Files>>) -> Json<Value> {
    clock_json(files.clock_reading())
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
    State(files): State<Arc<Files>>,
    JsonBody(body): JsonBody<AdvanceBody>,
) -> Result<Json<Value>, ApiError> {
    let by = body
        .seconds
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(body.ms))
        .map_or(Duration::MAX, Duration::from_millis);
    Ok(clock_json(files.advance(by).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetClockBody {
    epoch_ms: u64,
}

async fn set_clock(
    State(files): State<Arc<Files>>,
    JsonBody(body): JsonBody<SetClockBody>,
) -> Result<Json<Value>, ApiError> {
    Ok(clock_json(files.set_time(body.epoch_ms).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimingBody {
    timing: Timing,
}

async fn set_timing(
    State(files): State<Arc<Files>>,
    JsonBody(body): JsonBody<TimingBody>,
) -> Result<Json<Value>, ApiError> {
    Ok(clock_json(files.set_timing(body.timing).await?))
}

/// A file as the control API shows it: the Unit21 shape plus what only the fake knows,
/// among it the object stored under its key (size and S3's `ETag`), so a test can compare
/// what arrived with what it sent.
pub(crate) fn file_json(files: &Files, record: &FileRecord) -> Value {
    let mut value = serde_json::to_value(Datafile::from(record)).expect("serialisable");
    let object = files
        .object(&record.s3_key)
        .map(|o| json!({"size": o.size, "etag": o.etag}));
    let extra = json!({"org": &*record.org, "stream_name": &*record.stream, "key": record.s3_key, "md5_hash": record.md5_hash, "history": record.history, "object": object});
    value
        .as_object_mut()
        .expect("object")
        .extend(extra.as_object().expect("object").clone());
    value
}

async fn file(State(files): State<Arc<Files>>, Id(id): Id) -> Result<Json<Value>, ApiError> {
    let record = files.file(id).ok_or(crate::Error::NoSuchFile(id))?;
    Ok(Json(file_json(&files, &record)))
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
    State(files): State<Arc<Files>>,
    Id(id): Id,
    JsonBody(body): JsonBody<TransitionBody>,
) -> Result<Json<Value>, ApiError> {
    let transition = match body.status.as_str() {
        "PROCESSING" => Transition::Processing,
        "FINISHED" => Transition::Finished { successful: body.successful_count, failed: body.failure_count },
        "FAILED" => Transition::Failed(match body.failure_code.as_deref().unwrap_or("unknown") {
            "unparseable_file" => FailureCode::UnparseableFile,
            "invalid_schema" => FailureCode::InvalidSchema,
            "stream_not_configured" => FailureCode::StreamNotConfigured,
            "unknown" => FailureCode::Unknown,
            other => return Err(ApiError::bad_request(format!("unknown failure_code '{other}'"))),
        }),
        "DELETED" => Transition::Deleted,
        other => {
            return Err(ApiError::bad_request(format!(
                "status '{other}' cannot be forced; use PROCESSING, FINISHED, FAILED or DELETED (ADDED files come from POST /_mock/files)"
            )))
        }
    };
    let record = files.force(id, transition).await?;
    Ok(Json(file_json(&files, &record)))
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
    State(engine): State<Arc<Engine>>,
    JsonBody(body): JsonBody<AddFileBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let content = match (body.content, body.content_base64) {
        (Some(text), None) => text.into_bytes(),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| ApiError::bad_request("content_base64 is not base64"))?,
        (None, None) => Vec::new(),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give content or content_base64, not both",
            ))
        }
    };
    let org = body.org.unwrap_or_else(|| engine.settings.default_org());
    let record = engine
        .file_by_control(
            &org,
            &body.stream_name,
            &body.file_name,
            &content,
            body.process,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(file_json(&engine.files, &record))))
}

async fn process(State(files): State<Arc<Files>>, Id(id): Id) -> Result<Json<Value>, ApiError> {
    files.start_processing(id).await?;
    file(State(files), Id(id)).await
}

async fn process_queued(State(files): State<Arc<Files>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"processed": files.process_queued().await?})))
}

async fn streams(State(files): State<Arc<Files>>) -> Json<Vec<StreamConfig>> {
    Json(files.streams())
}

async fn replace_streams(
    State(files): State<Arc<Files>>,
    JsonBody(streams): JsonBody<Vec<StreamConfig>>,
) -> Result<Json<Vec<StreamConfig>>, ApiError> {
    files.set_streams(streams.clone()).await?;
    Ok(Json(streams))
}

async fn faults(State(traffic): State<Arc<Traffic>>) -> Json<Value> {
    let list: Vec<Value> = traffic
        .faults()
        .into_iter()
        .map(|(id, fault, remaining)| json!({"id": id, "fault": fault, "remaining": remaining}))
        .collect();
    Json(Value::from(list))
}

async fn add_fault(
    State(traffic): State<Arc<Traffic>>,
    JsonBody(fault): JsonBody<Fault>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = traffic.add_fault(fault.clone())?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "fault": fault, "remaining": fault.times})),
    ))
}

async fn clear_faults(State(traffic): State<Arc<Traffic>>) -> StatusCode {
    traffic.clear_faults();
    StatusCode::NO_CONTENT
}

async fn remove_fault(
    State(traffic): State<Arc<Traffic>>,
    Id(id): Id,
) -> Result<StatusCode, ApiError> {
    traffic.remove_fault(id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn requests(
    State(traffic): State<Arc<Traffic>>,
    query: Result<Query<JournalQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let (entries, kept) = traffic.journal_entries(&query);
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

async fn clear_requests(State(traffic): State<Arc<Traffic>>) -> StatusCode {
    traffic.clear_requests();
    StatusCode::NO_CONTENT
}

/// `GET /_mock/state`: the whole state, objects inline, streamed as it is written (each object
/// read from disk on the way).
async fn export_state(State(files): State<Arc<Files>>) -> Response {
    let document = files.export_document().await;
    let body = body_written_by("the state export", move |mut out| {
        document.write_to(&mut out)
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `PUT /_mock/state`: replace the whole state with an exported one, parsed as it arrives (a
/// document that goes wrong is refused at once, whatever is still to come).
async fn import_state(
    State(files): State<Arc<Files>>,
    request: axum::extract::Request,
) -> Result<StatusCode, ApiError> {
    use futures_util::StreamExt;
    use std::sync::atomic::{AtomicU8, Ordering};
    const READING: u8 = 0;
    const TOO_LARGE: u8 = 1;
    const BROKE: u8 = 2;
    let too_large = || {
        ApiError::payload_too_large()
            .saying(format!("a snapshot is at most {SNAPSHOT_LIMIT} bytes"))
    };
    let (parts, body) = request.into_parts();
    if declared_length(&parts.headers).is_some_and(|n| n > SNAPSHOT_LIMIT as u64) {
        return Err(too_large());
    }
    let body_state = Arc::new(AtomicU8::new(READING));
    let seen_state = body_state.clone();
    let mut seen = 0;
    let chunks = body.into_data_stream().map(move |chunk| match chunk {
        Ok(bytes) => {
            seen += bytes.len();
            if seen > SNAPSHOT_LIMIT {
                seen_state.store(TOO_LARGE, Ordering::Release);
                return Err(std::io::Error::other("a snapshot over the bound"));
            }
            Ok(bytes)
        }
        Err(err) => {
            seen_state.store(BROKE, Ordering::Release);
            Err(std::io::Error::other(err))
        }
    });
    let mut input = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(chunks));
    let reader = files.clone();
    let (read, input) = tokio::task::spawn_blocking(move || {
        let read = reader.read_snapshot(&mut input);
        (read, input)
    })
    .await
    .map_err(|err| {
        ApiError::from(crate::Error::io("cannot read the snapshot")(
            std::io::Error::other(err),
        ))
    })?;
    let parts = match read {
        Ok(parts) => parts,
        Err(err) => {
            match body_state.load(Ordering::Acquire) {
                TOO_LARGE => return Err(too_large()),
                BROKE => return Err(ApiError::bad_request("the snapshot could not be read")),
                _ => {}
            }
            // The client may still be sending: it reads the refusal rather than a reset.
            linger_after_refusal(input.into_inner().into_inner());
            return Err(err.into());
        }
    };
    files.restore(parts).await?;
    Ok(StatusCode::NO_CONTENT)
}
