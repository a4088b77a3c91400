//! S3's form POST route. Fields are read up to the `file` part (at most 20 KB of them); the
//! form is then verified in full before a byte of the file is stored; the file streams through
//! the engine's upload pipeline (`engine::objects`: a temporary file beside the object store,
//! hashed and size-checked chunk by chunk) and becomes an object only when the whole request
//! was good. A rejected or aborted upload leaves nothing.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::support::{linger_after_refusal, public_url, ApiError};
use crate::engine::{Chunks, Engine, Incoming, Refusal};
use crate::s3::error::{S3Error, MAX_PRE_DATA_BYTES};
use crate::s3::form::FormFields;
use crate::s3::framing::Framing;
use crate::s3::ResponseIds;

/// S3 encodes everything but unreserved characters, slashes included.
const KEY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// What a part costs against the 20 KiB budgets besides its name and content: its boundary
/// and headers, at the least.
const PART_OVERHEAD_BYTES: u64 = 64;
/// What may follow the file part in a request: the closing boundary, and fields that S3
/// ignores but whose content is bounded like the fields before the file, with their headers.
const MAX_TAIL_BYTES: u64 = MAX_PRE_DATA_BYTES + 64 * 1024;

/// `POST /{bucket}/{key…}`: S3 does not take form uploads at an object's URL.
pub(crate) async fn post_to_object(
    State(engine): State<Arc<Engine>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((bucket, _key))) = path else {
        return S3Error::invalid_uri().into_response();
    };
    refuse_unknown_bucket(&engine, &bucket)
        .unwrap_or_else(|| S3Error::method_not_allowed().into_response())
}

/// Any other method on a bucket or object path: the fake stores objects but does not serve
/// them, so it answers S3's 405 (or Unit21's JSON 404 under `/v1`).
pub(crate) async fn unsupported(
    State(engine): State<Arc<Engine>>,
    uri: axum::http::Uri,
) -> Response {
    let bucket = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    refuse_unknown_bucket(&engine, bucket)
        .unwrap_or_else(|| S3Error::method_not_allowed().into_response())
}

/// The answer for a path whose first segment is not the fake's bucket, if it is not.
fn refuse_unknown_bucket(engine: &Engine, bucket: &str) -> Option<Response> {
    if bucket == "v1" || bucket.starts_with('_') {
        // Unit21's namespace or the fake's own (no bucket name starts with `_`), not a
        // bucket: answer in Unit21's format.
        return Some(ApiError::not_found().into_response());
    }
    (bucket != engine.config().bucket).then(|| S3Error::no_such_bucket(bucket).into_response())
}

/// `POST /{bucket}/`: the browser-based upload.
pub(crate) async fn upload(
    State(engine): State<Arc<Engine>>,
    bucket: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(Path(bucket)) = bucket else {
        return S3Error::invalid_uri().into_response();
    };
    if let Some(refusal) = refuse_unknown_bucket(&engine, &bucket) {
        return refusal;
    }
    let mut stream = body.into_data_stream();
    match receive(&engine, &bucket, &headers, &mut stream).await {
        Ok(response) => response,
        Err(err) => {
            linger_after_refusal(stream);
            err.into_response()
        }
    }
}

async fn receive(
    engine: &Engine,
    bucket: &str,
    headers: &HeaderMap,
    body: &mut axum::body::BodyDataStream,
) -> Result<Response, S3Error> {
    // A form POST's credentials are its policy and signature; S3 does not take a second set
    // in a header (a client sending its API key or basic auth to S3 learns it here).
    let authorization = headers
        .get(header::AUTHORIZATION)
        .filter(|_| engine.config().fidelity.s3_refuse_authorization_header);
    if let Some(authorization) = authorization {
        return Err(S3Error::unsupported_authorization(
            &String::from_utf8_lossy(authorization.as_bytes()),
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if super::support::media_type(headers).as_deref() != Some("multipart/form-data") {
        return Err(S3Error::precondition_failed());
    }
    let boundary = multer::parse_boundary(content_type).map_err(|_| S3Error::malformed_post())?;
    let declared = super::support::declared_length(headers);
    // Counts the bytes taken (the file part starts no later than that), and bounds what may
    // come before and after the file.
    let framing = Framing::default();
    let mut parts = multer::Multipart::new(framing.wrap(&mut *body), boundary);
    // A read error of multer's is the budget's when the framing says so.
    let malformed = |_| {
        if framing.exceeded() && !framing.in_or_after_file() {
            S3Error::pre_data_too_large()
        } else {
            S3Error::malformed_post()
        }
    };

    let mut form = FormFields::default();
    let mut pre_data = 0u64;
    let mut stored = None;
    while let Some(mut part) = parts.next_field().await.map_err(malformed)? {
        let name = part.name().unwrap_or_default().to_owned();
        if name.eq_ignore_ascii_case("file") {
            framing.file_started();
            let file_name = part.file_name().map(str::to_owned);
            let accepted = crate::s3::verify::verify(
                &mut form,
                &engine.config().s3,
                bucket,
                file_name.as_deref(),
                engine.now_ms(),
            )?;
            // As S3 does, a request whose declared length cannot hold a file within the
            // policy's range is refused before the file is read.
            if let Some(declared) = declared {
                let at_least = declared
                    .saturating_sub(framing.pulled())
                    .saturating_sub(MAX_TAIL_BYTES);
                if at_least > accepted.size.max {
                    return Err(S3Error::entity_too_large(at_least, accepted.size.max));
                }
            }
            let incoming =
                stream_to_disk(engine, &mut part, accepted.size.min, accepted.size.max).await?;
            framing.file_ended();
            stored = Some((incoming, accepted));
            break;
        }
        let mut value = Vec::new();
        // Every part counts, empty or not, so a stream of empty parts cannot go on forever.
        pre_data += name.len() as u64 + PART_OVERHEAD_BYTES;
        if pre_data > MAX_PRE_DATA_BYTES {
            return Err(S3Error::pre_data_too_large());
        }
        while let Some(chunk) = part.chunk().await.map_err(malformed)? {
            pre_data += chunk.len() as u64;
            if pre_data > MAX_PRE_DATA_BYTES {
                return Err(S3Error::pre_data_too_large());
            }
            value.extend_from_slice(&chunk);
        }
        form.push(&name, &String::from_utf8_lossy(&value));
    }
    let Some((incoming, accepted)) = stored else {
        return Err(if form.get("key").is_none() {
            S3Error::missing_field("key")
        } else {
            S3Error::file_count(0)
        });
    };
    // Fields after the file are ignored, but a second file is refused, and the tail is
    // bounded like the fields before the file so a request cannot stream forever.
    let mut files = 1;
    let mut tail = 0u64;
    while let Some(mut part) = parts.next_field().await.map_err(malformed)? {
        if part.name().is_some_and(|n| n.eq_ignore_ascii_case("file")) {
            files += 1;
        }
        tail += part.name().map_or(0, |n| n.len() as u64) + PART_OVERHEAD_BYTES;
        if tail > MAX_PRE_DATA_BYTES {
            return Err(S3Error::malformed_post());
        }
        while let Some(chunk) = part.chunk().await.map_err(|_| S3Error::malformed_post())? {
            tail += chunk.len() as u64;
            if tail > MAX_PRE_DATA_BYTES {
                return Err(S3Error::malformed_post());
            }
        }
    }
    if files != 1 {
        return Err(S3Error::file_count(files));
    }
    let etag = incoming.etag.clone();
    engine
        .land_object(&accepted.key, incoming)
        .await
        .map_err(S3Error::internal)?;
    Ok(success(
        &public_url(&engine.settings, headers),
        bucket,
        &accepted.key,
        &etag,
        &form,
    ))
}

/// Stores the file part through the engine's upload pipeline, answering its refusals in S3's
/// words.
pub(crate) async fn stream_to_disk(
    engine: &Engine,
    part: &mut multer::Field<'_>,
    min: u64,
    max: u64,
) -> Result<Incoming, S3Error> {
    let idle = std::time::Duration::try_from_secs_f64(engine.config().limits.upload_idle_secs)
        .unwrap_or(std::time::Duration::from_secs(20));
    engine
        .objects
        .receive(&mut FilePart(part), min, max, idle)
        .await
        .map_err(|refusal| match refusal {
            Refusal::Busy => S3Error::slow_down(),
            Refusal::TooLarge { size, max } => S3Error::entity_too_large(size, max),
            Refusal::TooSmall { size, min } => S3Error::entity_too_small(size, min),
            Refusal::Idle => S3Error::request_timeout(),
            Refusal::Malformed => S3Error::malformed_post(),
            Refusal::Io(err) => S3Error::internal(err),
        })
}

/// A multipart file part as the pipeline's source of chunks.
struct FilePart<'a, 'b>(&'a mut multer::Field<'b>);

impl Chunks for FilePart<'_, '_> {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, ()> {
        self.0.chunk().await.map_err(drop)
    }
}

fn success(base_url: &str, bucket: &str, key: &str, etag: &str, form: &FormFields) -> Response {
    let encoded_key = utf8_percent_encode(key, KEY_ENCODE).to_string();
    let location = format!("{base_url}/{bucket}/{encoded_key}");
    let redirect = form
        .get("success_action_redirect")
        .or_else(|| form.get("redirect"))
        .filter(|url| url.starts_with("http://") || url.starts_with("https://"));
    let mut response = if let Some(url) = redirect {
        let separator = if url.contains('?') { '&' } else { '?' };
        let target = format!(
            "{url}{separator}bucket={}&key={encoded_key}&etag={}",
            utf8_percent_encode(bucket, KEY_ENCODE),
            utf8_percent_encode(etag, KEY_ENCODE)
        );
        let mut response = StatusCode::SEE_OTHER.into_response();
        insert(response.headers_mut(), header::LOCATION, &target);
        response
    } else {
        match form.get("success_action_status") {
            Some("200") => StatusCode::OK.into_response(),
            Some("201") => {
                let xml = crate::s3::xml::document(
                    "PostResponse",
                    [
                        ("Location", location.as_str()),
                        ("Bucket", bucket),
                        ("Key", key),
                        ("ETag", etag),
                    ],
                );
                let mut response = (StatusCode::CREATED, xml).into_response();
                insert(
                    response.headers_mut(),
                    header::CONTENT_TYPE,
                    "application/xml",
                );
                response
            }
            _ => StatusCode::NO_CONTENT.into_response(),
        }
    };
    let headers = response.headers_mut();
    insert(headers, header::ETAG, etag);
    if !headers.contains_key(header::LOCATION) {
        insert(headers, header::LOCATION, &location);
    }
    ResponseIds::new().apply(headers);
    response
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}
