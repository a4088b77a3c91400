//! The dashboard at `/`: what Unit21's UI shows an organisation, and the fake's own controls,
//! on one page. The page holds no data itself. It fetches server-rendered fragments from
//! `/_mock/dashboard/*`, which sit behind the control token and outside the request journal
//! (so watching the fake does not change what tests read from it), and swaps them in. All HTML
//! is built, and escaped, here by maud; the script only fetches, swaps and posts.

mod view;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::support::{linger_after_refusal, ApiError};
use super::AppState;
use crate::engine::{Access, Engine, Files, ListQuery, Settings, Traffic};
use crate::model::Status;

/// Rows shown at once; the counts above the table cover every file.
const ROWS_SHOWN: u64 = 200;
/// Journal entries shown, newest first.
const JOURNAL_SHOWN: usize = 30;
/// A file uploaded by hand may be as large as one S3 form POST.
const MANUAL_UPLOAD_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// The text fields of the upload form.
const MANUAL_FIELDS_MAX: usize = 4 * 1024;

/// The fragments and the upload, merged into the control routes (and so behind its token).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_mock/dashboard/orgs", get(orgs))
        .route("/_mock/dashboard/imports", get(imports))
        .route("/_mock/dashboard/files/{id}", get(file))
        .route("/_mock/dashboard/upload", post(upload))
        .route("/_mock/dashboard/journal", get(journal))
        .route("/_mock/dashboard/clock", get(clock))
}

/// `GET /`: the page, its style and script embedded. No other site may frame it (its buttons
/// move the clock and delete files).
pub(crate) async fn page() -> Response {
    (
        [
            (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        Html(view::page().into_string()),
    )
        .into_response()
}

fn fragment(markup: maud::Markup) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(markup.into_string()),
    )
        .into_response()
}

fn problem(status: StatusCode, message: &str) -> Response {
    let mut response = fragment(view::problem(message));
    *response.status_mut() = status;
    response
}

/// `<option>`s for every organisation with a configured key.
async fn orgs(State(settings): State<Arc<Settings>>) -> Response {
    fragment(view::org_options(&settings.orgs()))
}

#[derive(Deserialize)]
struct ImportsQuery {
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    stream: Option<String>,
}

/// The organisation asked for: by the `u21-key` header when one was entered (as the real UI
/// knows its user's organisation), else by name.
fn org_of(
    (access, settings): (&Access, &Settings),
    headers: &HeaderMap,
    named: Option<String>,
) -> Result<String, String> {
    if let Some(key) = headers.get("u21-key").and_then(|v| v.to_str().ok()) {
        return access
            .org_of_key(key)
            .map(|org| org.to_string())
            .ok_or_else(|| "No organisation has that API key.".to_owned());
    }
    named
        .filter(|org| !org.is_empty())
        .map_or_else(|| Ok(settings.default_org()), Ok)
}

/// Status counts and the newest files of one organisation, filtered.
async fn imports(
    State(access): State<Arc<Access>>,
    State(files): State<Arc<Files>>,
    State(settings): State<Arc<Settings>>,
    headers: HeaderMap,
    query: Result<Query<ImportsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(query)) => query,
        Err(err) => return problem(StatusCode::BAD_REQUEST, &err.body_text()),
    };
    let org = match org_of((&access, &settings), &headers, query.org) {
        Ok(org) => org,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &message),
    };
    let status = match query.status.filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => match Status::parse(&name) {
            Some(status) => Some(status),
            None => return problem(StatusCode::BAD_REQUEST, "Unknown status."),
        },
    };
    // Newest first whatever the fidelity switches say: this is the UI, not the API.
    let list = ListQuery {
        statuses: status.into_iter().collect(),
        stream_names: query.stream.filter(|s| !s.is_empty()).into_iter().collect(),
        limit: ROWS_SHOWN,
        ..ListQuery::default()
    };
    let crate::engine::Overview {
        counts,
        streams,
        rows,
        matching,
    } = files.overview(&org, &list);
    let rows: Vec<&crate::model::FileRecord> = rows.iter().map(|r| &**r).collect();
    let markup = view::imports(&view::Imports {
        org: &org,
        counts: &counts,
        streams: &streams,
        rows: &rows,
        matching,
        status,
    });
    fragment(markup)
}

/// One file: every field and its status history.
async fn file(State(files): State<Arc<Files>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return problem(StatusCode::NOT_FOUND, "No such file.");
    };
    let markup = files.file(id).map(|record| view::file(&record));
    match markup {
        Some(markup) => fragment(markup),
        None => problem(StatusCode::NOT_FOUND, "No such file."),
    }
}

/// The newest requests the fake answered.
async fn journal(State(traffic): State<Arc<Traffic>>) -> Response {
    let entries = traffic.requests(&crate::engine::JournalQuery {
        limit: Some(JOURNAL_SHOWN),
        ..Default::default()
    });
    fragment(view::journal(&entries))
}

/// The fake's clock and timing profile.
async fn clock(State(files): State<Arc<Files>>) -> Response {
    let reading = files.clock_reading();
    fragment(view::clock(reading.now_ms, reading.frozen, reading.timing))
}

#[derive(Deserialize)]
struct UploadQuery {
    #[serde(default)]
    org: Option<String>,
}

/// A refused upload, in the control API's error shape.
fn refused(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError::with_status(status)
        .saying(message)
        .into_response()
}

/// `POST /_mock/dashboard/upload?org=…`: a multipart form with `stream` and then `file`. The
/// file streams to disk like an S3 upload and becomes an ADDED file, as an upload in Unit21's
/// UI does. The name the browser gives is kept as the file's name, never as a path.
async fn upload(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Response {
    let mut stream = body.into_data_stream();
    let query = match query {
        Ok(Query(query)) => query,
        Err(err) => {
            linger_after_refusal(stream);
            return ApiError::bad_request(err.body_text()).into_response();
        }
    };
    match receive_upload(&engine, &headers, query.org, &mut stream).await {
        Ok(response) => response,
        Err(refusal) => {
            linger_after_refusal(stream);
            refusal
        }
    }
}

async fn receive_upload(
    engine: &Engine,
    headers: &HeaderMap,
    named_org: Option<String>,
    body: &mut axum::body::BodyDataStream,
) -> Result<Response, Response> {
    let org = org_of((&engine.access, &engine.settings), headers, named_org)
        .map_err(|message| refused(StatusCode::BAD_REQUEST, message))?;
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            refused(
                StatusCode::BAD_REQUEST,
                "Send the form as multipart/form-data.",
            )
        })?;
    // The fields and what follows the file are bounded like an S3 form's.
    let framing = crate::s3::framing::Framing::default();
    let mut parts = multer::Multipart::with_constraints(
        framing.wrap(body),
        boundary,
        multer::Constraints::new()
            .size_limit(multer::SizeLimit::new().for_field("stream", MANUAL_FIELDS_MAX as u64)),
    );
    let mut stream = String::new();
    loop {
        let mut part = match parts.next_field().await {
            Ok(Some(part)) => part,
            Ok(None) => return Err(refused(StatusCode::BAD_REQUEST, "Choose a file to upload.")),
            Err(err) => return Err(refused(StatusCode::BAD_REQUEST, format!("Bad form: {err}"))),
        };
        match part.name() {
            Some("stream") => match part.text().await {
                Ok(text) => stream = text.trim().to_owned(),
                Err(err) => {
                    return Err(refused(StatusCode::BAD_REQUEST, format!("Bad form: {err}")))
                }
            },
            Some("file") => {
                let file_name = part
                    .file_name()
                    .map(|n| n.rsplit(['/', '\\']).next().unwrap_or_default().to_owned())
                    .unwrap_or_default();
                if stream.is_empty() || file_name.is_empty() {
                    return Err(refused(
                        StatusCode::BAD_REQUEST,
                        "Give a stream name, then choose a file.",
                    ));
                }
                if let Err(message) = engine.files.check_names(&org, &stream, &file_name) {
                    return Err(refused(StatusCode::BAD_REQUEST, message));
                }
                framing.file_started();
                let incoming =
                    match super::upload::stream_to_disk(engine, &mut part, 0, MANUAL_UPLOAD_MAX)
                        .await
                    {
                        Ok(incoming) => incoming,
                        Err(err) => return Err(refused(err.status, err.message)),
                    };
                let record = match engine
                    .add_file_object(&org, &stream, &file_name, incoming)
                    .await
                {
                    Ok(record) => record,
                    Err(err) => {
                        let mut response =
                            refused(StatusCode::INTERNAL_SERVER_ERROR, "Could not store it.");
                        response
                            .extensions_mut()
                            .insert(crate::error::InternalCause::new(crate::error::While {
                                doing: "storing a dashboard upload",
                                error: err,
                            }));
                        return Err(response);
                    }
                };
                return Ok((
                    StatusCode::CREATED,
                    Json(super::control::file_json(&engine.files, &record)),
                )
                    .into_response());
            }
            _ => {
                // Unknown fields are skipped, but bounded like the known ones.
                let mut seen = 0usize;
                while let Ok(Some(chunk)) = part.chunk().await {
                    seen += chunk.len();
                    if seen > MANUAL_FIELDS_MAX {
                        return Err(refused(
                            StatusCode::BAD_REQUEST,
                            "Bad form: a field is too long.",
                        ));
                    }
                }
            }
        }
    }
}
