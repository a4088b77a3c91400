//! The scenarios. Each checks one documented behaviour (or settles one decided point of
//! FIDELITY.md) through the client under test, or through raw calls when it checks the server.
//! A failure names the client's fault and what a careful client does instead.
//!
//! # Layout
//! - `basics`: the happy path, the contract of every answer, auth, statuses and failure codes.
//! - `decided`: the decided points a client cannot tell by itself, settled by the kit's own
//!   calls (`--only decided --record`).
//! - `paging`: list order, offsets, bounds, and `list_all` across pages (filters kept, empty
//!   last pages, files arriving while it pages).
//! - `retries`: 429 (`Retry-After`, `X-RateLimit-Reset`), 5xx, dropped connections, bounded
//!   attempts, and the create call that must not be repeated.
//! - `s3`: the form POST: the returned url, fields verbatim, file names as data, one upload per
//!   accepted form, S3's own errors.
//! - `stalls`: a stalled answer is given up after the request timeout and retried.
//! - `waiting`: `wait` stops on every final status, honours its timeout, polls politely, and
//!   reports error answers as they come.
//! - `secrecy`: the key only in its header, never in output, never to another origin after a
//!   redirect; tolerance of new fields.

mod basics;
mod decided;
mod paging;
mod retries;
mod s3;
mod secrecy;
mod stalls;
mod waiting;

use reqwest::Method;
use serde_json::{json, Value};

use u21_mock::{Fault, FaultAction};

use crate::driver::DriverError;
use crate::scenario::{ensure, Ctx, Rule, Scenario, Stop};

macro_rules! body {
    ($name:ident, |$ctx:ident| $body:block) => {
        pub(super) fn $name<'a>(
            $ctx: &'a crate::scenario::Ctx<'a>,
        ) -> futures_util::future::BoxFuture<'a, crate::scenario::Check> {
            Box::pin(async move { $body })
        }
    };
}
pub(crate) use body;

/// Every scenario, in the order they run.
pub fn catalogue() -> Vec<Scenario> {
    let s = |name, tags, description, needs_control, rule, run| Scenario {
        name,
        tags,
        description,
        needs_control,
        rule,
        run,
    };
    vec![
        s(
            "upload-csv-finishes",
            &["happy-path", "csv"],
            "A CSV uploaded and waited for ends FINISHED with a count per row",
            false,
            Rule::Unit21,
            basics::upload_csv,
        ),
        s(
            "upload-json-finishes",
            &["happy-path", "json"],
            "A JSON array ends FINISHED with a count per item",
            false,
            Rule::Unit21,
            basics::upload_json,
        ),
        s(
            "upload-jsonl-finishes",
            &["happy-path", "jsonl"],
            "A JSONL file ends FINISHED with a count per line",
            false,
            Rule::Unit21,
            basics::upload_jsonl,
        ),
        s(
            "contract-create",
            &["contract"],
            "The create answer has exactly Unit21's fields and types",
            false,
            Rule::Unit21,
            basics::contract_create,
        ),
        s(
            "contract-status",
            &["contract"],
            "A new file's status has exactly Unit21's fields, with nulls until processing",
            false,
            Rule::Unit21,
            basics::contract_status,
        ),
        s(
            "contract-list",
            &["contract", "list"],
            "The list answer and its items have exactly Unit21's fields and types",
            false,
            Rule::Unit21,
            basics::contract_list,
        ),
        s(
            "contract-errors",
            &["contract", "errors"],
            "Errors carry error_code, and a message on 400s",
            false,
            Rule::Unit21,
            basics::contract_errors,
        ),
        s(
            "auth-missing-key",
            &["auth"],
            "No u21-key answers 401 unauthorized",
            false,
            Rule::Unit21,
            basics::auth_missing_key,
        ),
        s(
            "auth-unknown-key",
            &["auth"],
            "An unknown u21-key answers 401 unauthorized",
            false,
            Rule::Unit21,
            basics::auth_unknown_key,
        ),
        s(
            "auth-key-only-in-header",
            &["auth", "secrecy"],
            "The client sends the key in the u21-key header only: never in a URL, never to S3",
            true,
            Rule::Unit21,
            secrecy::key_only_in_header,
        ),
        s(
            "secrecy-key-not-in-output",
            &["secrecy"],
            "The key never appears in the client's error messages or logs",
            false,
            Rule::Protocol,
            secrecy::key_not_in_output,
        ),
        s(
            "redirect-keeps-key-home",
            &["secrecy", "faults"],
            "A 307 from the API to another origin does not carry the key there, and that origin's answer is not taken as the file (fake only)",
            true,
            Rule::Protocol,
            secrecy::key_stays_home_on_redirect,
        ),
        s(
            "tolerates-new-fields-and-statuses",
            &["tolerance", "faults"],
            "An answer with fields or a status the client does not know does not break it",
            true,
            Rule::Protocol,
            secrecy::tolerates_new_fields,
        ),
        s(
            "client-reports-not-found",
            &["errors"],
            "The client reports an unknown file as a 404",
            false,
            Rule::Unit21,
            basics::client_not_found,
        ),
        s(
            "failed-unparseable-file",
            &["status", "failure-codes"],
            "A .json file that is not JSON ends FAILED unparseable_file",
            false,
            Rule::Unit21,
            basics::failed_unparseable,
        ),
        s(
            "forced-statuses",
            &["status", "failure-codes", "control"],
            "The client reports every status (ADDED included) and failure code as the server sets them",
            true,
            Rule::Unit21,
            basics::forced_statuses,
        ),
        s(
            "list-newest-first",
            &["list", "decided"],
            "List orders files newest first (FIDELITY: list_newest_first)",
            false,
            Rule::Decided("list_newest_first"),
            paging::list_newest_first,
        ),
        s(
            "list-offset-counts-pages",
            &["list", "decided", "paging"],
            "offset counts 1-based pages of limit files (FIDELITY: list_offset)",
            false,
            Rule::Decided("list_offset"),
            paging::list_offset_pages,
        ),
        s(
            "list-bounds",
            &["list", "decided"],
            "created_after is inclusive, created_before exclusive (FIDELITY)",
            false,
            Rule::Decided("created_after_inclusive, created_before_inclusive"),
            paging::list_bounds,
        ),
        s(
            "decided-duplicate-file-names",
            &["decided", "create"],
            "A second create of a name already in the stream, without a new md5_hash (FIDELITY: reject_duplicate_file_names)",
            false,
            Rule::Decided("reject_duplicate_file_names"),
            decided::duplicate_file_names,
        ),
        s(
            "decided-md5-hash-not-a-uuid",
            &["decided", "create"],
            "A create whose md5_hash is an MD5 in base64, not a UUID (FIDELITY: md5_hash_must_be_uuid)",
            false,
            Rule::Decided("md5_hash_must_be_uuid"),
            decided::md5_hash_not_a_uuid,
        ),
        s(
            "decided-unknown-stream",
            &["decided", "create"],
            "A create for a stream that is not configured (FIDELITY: reject_unknown_streams_at_create)",
            false,
            Rule::Decided("reject_unknown_streams_at_create"),
            decided::unknown_stream,
        ),
        s(
            "decided-malformed-id",
            &["decided", "status"],
            "GET of a file_id that is not a number (FIDELITY: malformed_id_bad_request)",
            false,
            Rule::Decided("malformed_id_bad_request"),
            decided::malformed_id,
        ),
        s(
            "decided-non-json-body",
            &["decided", "list"],
            "A list body sent as text/plain (FIDELITY: non_json_body_status)",
            false,
            Rule::Decided("non_json_body_status"),
            decided::non_json_body,
        ),
        s(
            "decided-wrong-method",
            &["decided", "list"],
            "GET on the list route, which takes POST (FIDELITY: wrong_method_status)",
            false,
            Rule::Decided("wrong_method_status"),
            decided::wrong_method,
        ),
        s(
            "decided-unknown-fields",
            &["decided", "list"],
            "A list call with a field it does not take (FIDELITY: reject_unknown_fields)",
            false,
            Rule::Decided("reject_unknown_fields"),
            decided::unknown_fields,
        ),
        s(
            "decided-new-file-shape",
            &["decided", "status"],
            "A new .txt file's file_type and counts before processing (FIDELITY: unknown_file_type_null, counts_null_until_processed)",
            false,
            Rule::Decided("unknown_file_type_null, counts_null_until_processed"),
            decided::new_file_shape,
        ),
        s(
            "decided-key-case",
            &["decided", "auth"],
            "The key in another case (FIDELITY: keys_case_sensitive)",
            false,
            Rule::Decided("keys_case_sensitive"),
            decided::key_case,
        ),
        s(
            "decided-empty-list-body",
            &["decided", "list"],
            "A list call with no body (FIDELITY: empty_list_body_refused)",
            false,
            Rule::Decided("empty_list_body_refused"),
            decided::empty_list_body,
        ),
        s(
            "decided-unknown-stream-filter",
            &["decided", "list"],
            "A list filter naming a stream that is not configured (FIDELITY: unknown_stream_filter_refused)",
            false,
            Rule::Decided("unknown_stream_filter_refused"),
            decided::unknown_stream_filter,
        ),
        s(
            "decided-empty-filter",
            &["decided", "list"],
            "A list call with \"statuses\": [] (FIDELITY: empty_filter_matches_nothing)",
            false,
            Rule::Decided("empty_filter_matches_nothing"),
            decided::empty_filter,
        ),
        s(
            "decided-s3-authorization-header",
            &["decided", "s3"],
            "A form POST carrying an Authorization header, by the kit itself (FIDELITY: s3_refuse_authorization_header)",
            false,
            Rule::Decided("s3_refuse_authorization_header"),
            decided::s3_authorization_header,
        ),
        s(
            "list-all-pages",
            &["list", "paging"],
            "The client follows every page, not just the first",
            false,
            Rule::Unit21,
            paging::list_all_pages,
        ),
        s(
            "list-keeps-filters-on-every-page",
            &["list", "paging"],
            "Every page carries every filter, 1-based page offsets, and paging stops at total_count",
            true,
            Rule::Unit21,
            paging::keeps_filters,
        ),
        s(
            "list-empty-last-page",
            &["list", "paging", "faults"],
            "A page that comes back empty (files left the filter meanwhile) ends the listing",
            true,
            Rule::Protocol,
            paging::empty_last_page,
        ),
        s(
            "list-files-arriving",
            &["list", "paging", "faults"],
            "Files created while the client pages are not returned twice",
            true,
            Rule::Protocol,
            paging::files_arriving,
        ),
        s(
            "retry-rate-limited",
            &["retries", "rate-limit", "faults"],
            "The client retries a 429 no sooner than its Retry-After",
            true,
            Rule::Unit21,
            retries::rate_limited,
        ),
        s(
            "retry-rate-limit-reset",
            &["retries", "rate-limit", "faults"],
            "The client retries a 429 without Retry-After no sooner than X-RateLimit-Reset",
            true,
            Rule::Unit21,
            retries::rate_limit_reset,
        ),
        s(
            "retry-server-errors",
            &["retries", "faults"],
            "The client retries 500 and 503 on reads (the list POST included) and succeeds",
            true,
            Rule::Protocol,
            retries::server_errors,
        ),
        s(
            "retry-dropped-connection",
            &["retries", "faults"],
            "The client retries a read (a list call too) whose connection dropped, or whose answer was cut off half-way",
            true,
            Rule::Protocol,
            retries::dropped,
        ),
        s(
            "retry-gives-up",
            &["retries", "faults"],
            "Against a server that keeps answering 503, or 429, the client gives up after a few attempts",
            true,
            Rule::Protocol,
            retries::gives_up,
        ),
        s(
            "retry-posts-refused-before-work",
            &["retries", "rate-limit", "faults"],
            "A create and a list call answered 429 or 503 (before anything was done) are sent again",
            true,
            Rule::Protocol,
            retries::posts_refused_before_work,
        ),
        s(
            "client-errors-not-retried",
            &["retries", "errors", "faults"],
            "A 400, 401, 403, 404 or 409 is reported at once with Unit21's error_code, never retried",
            true,
            Rule::Protocol,
            retries::client_errors_not_retried,
        ),
        s(
            "stalled-answers-time-out",
            &["timeouts", "retries", "faults"],
            "A read and an upload whose answers stall are given up after the request timeout and retried",
            true,
            Rule::Protocol,
            stalls::stalled_answers,
        ),
        s(
            "create-not-repeated",
            &["retries", "faults"],
            "A create answered 500, whose connection dropped, or whose answer was cut off is not sent again",
            true,
            Rule::Protocol,
            retries::create_not_repeated,
        ),
        s(
            "s3-uses-returned-url",
            &["s3"],
            "The client posts to the url the create call returned",
            false,
            Rule::Unit21,
            s3::returned_url,
        ),
        s(
            "s3-names-are-data",
            &["s3", "names"],
            "A file named with , ; \" spaces and non-ASCII uploads byte for byte under its own key",
            false,
            Rule::S3,
            s3::names_are_data,
        ),
        s(
            "s3-bytes-unchanged",
            &["s3", "bytes"],
            "A binary file and a Latin-1 CSV with CRLF line ends are stored byte for byte",
            true,
            Rule::S3,
            s3::bytes_unchanged,
        ),
        s(
            "s3-copies-every-form-field",
            &["s3", "forms", "faults"],
            "A form with a field the client does not know (x-amz-security-token) is posted whole, every field before the file",
            true,
            Rule::S3,
            s3::copies_every_form_field,
        ),
        s(
            "upload-failure-not-started-over",
            &["s3", "retries", "faults"],
            "An upload S3 keeps answering 500 is reported, not started over with a new create (no PENDING_UPLOAD litter)",
            true,
            Rule::Protocol,
            s3::failure_not_started_over,
        ),
        s(
            "s3-accepted-upload-sent-once",
            &["s3"],
            "An upload S3 accepted is never sent again",
            true,
            Rule::Protocol,
            s3::sent_once,
        ),
        s(
            "s3-slow-down-retried",
            &["s3", "retries", "faults"],
            "The client retries S3's SlowDown and the upload lands once",
            true,
            Rule::S3,
            s3::slow_down,
        ),
        s(
            "s3-expired-form",
            &["s3", "control"],
            "An expired form is refused by S3, reported as AccessDenied, and not posted again",
            true,
            Rule::S3,
            s3::expired,
        ),
        s(
            "s3-tampered-signature",
            &["s3"],
            "A tampered signature is refused with SignatureDoesNotMatch",
            false,
            Rule::S3,
            s3::tampered,
        ),
        s(
            "s3-oversized-file",
            &["s3", "slow"],
            "A file over 300 MiB is refused with EntityTooLarge",
            false,
            Rule::S3,
            s3::oversized,
        ),
        s(
            "wait-stops-on-final-status",
            &["wait", "control"],
            "wait returns at once on FINISHED, FAILED (with its failure_code) and DELETED",
            true,
            Rule::Protocol,
            waiting::stops_on_final_status,
        ),
        s(
            "wait-honours-timeout",
            &["wait", "control"],
            "wait gives up when its own timeout passes, and says it timed out",
            true,
            Rule::Protocol,
            waiting::honours_timeout,
        ),
        s(
            "wait-polls-politely",
            &["wait", "control"],
            "While a file processes, the client polls a few times a second with growing pauses",
            true,
            Rule::Protocol,
            waiting::polls_politely,
        ),
        s(
            "wait-reports-errors",
            &["wait", "errors", "faults"],
            "wait retries a 500, a 429 or a dropped poll and goes on, and reports a 404 or a 401 as it comes, not as a timeout",
            true,
            Rule::Protocol,
            waiting::reports_errors,
        ),
    ]
}

/// Makes a file name unique for the run (the sandbox keeps everything it is sent).
/// A fault on `method` requests to `path` (`*` one segment, `/**` any rest) doing `action`.
fn fault_on(method: &str, path: impl Into<String>, action: FaultAction) -> Fault {
    Fault::new(path, action).method(method)
}

/// A canned answer: `status`, `body`, and these headers.
fn canned(status: u16, body: impl Into<String>, headers: &[(&str, &str)]) -> FaultAction {
    FaultAction::Status {
        status,
        body: body.into(),
        headers: headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
    }
}

/// Unit21's JSON refusal `{"error_code": code}` with `status`, and any further headers.
fn refusal(status: u16, code: &str, headers: &[(&str, &str)]) -> FaultAction {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    canned(status, json!({ "error_code": code }).to_string(), &all)
}

/// An action's kind as a message names it: `internal error`, `drop connection`, …
fn kind_of(action: &FaultAction) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|value| value["kind"].as_str().map(|kind| kind.replace('_', " ")))
        .unwrap_or_else(|| "?".to_owned())
}

fn unique(ctx: &Ctx<'_>, name: &str) -> String {
    format!("{}-{name}", ctx.run_id)
}

/// The `file_id` of a create answer.
fn file_id(form: &Value) -> Result<String, Stop> {
    form["file_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Stop::Fail(format!("the client returned no file_id: {form}")))
}

/// A create call made by the kit itself, not the client, held to the run's allowance; the
/// file it makes, if any, is noted. Returns the status and the answer.
async fn kit_create(ctx: &Ctx<'_>, body: Value) -> Result<(u16, Value), Stop> {
    ctx.ledger
        .admit_file()
        .map_err(|e| Stop::Fail(format!("the kit's own create was {}", e.message)))?;
    let (status, created) = ctx
        .raw(
            Method::POST,
            "/v1/imports/pre-signed-url/create",
            Some(&body),
            None,
        )
        .await?;
    if status == 200 {
        ctx.ledger.note(&created);
    }
    Ok((status, created))
}

/// A create call made by the kit itself for `name` in the target's stream, which must succeed.
async fn raw_create(ctx: &Ctx<'_>, name: &str) -> Result<Value, Stop> {
    let body = json!({"stream_name": ctx.target.stream, "file_name": unique(ctx, name)});
    let (status, created) = kit_create(ctx, body).await?;
    ensure(status == 200, || {
        format!("create answered {status}: {created}")
    })?;
    Ok(created)
}

/// Uploads through the client; a refusal is explained by what S3 said.
async fn upload(ctx: &Ctx<'_>, name: &str, content: &[u8]) -> Result<Value, Stop> {
    ctx.driver
        .upload(&ctx.target.stream, &ctx.file(name, content))
        .await
        .map_err(|e| Stop::Fail(upload_refused(&e)))
}

/// What a refused upload says about the client.
fn upload_refused(err: &DriverError) -> String {
    let hint = match (err.s3_code.as_deref(), err.status) {
        (Some("SignatureDoesNotMatch"), _) => {
            "the form was changed on the way: a careful client sends every returned field verbatim (no re-encoding, no trimming)"
        }
        (Some("InvalidArgument"), _) if err.message.contains("Authorization") => {
            "a careful client sends the form POST without an Authorization header: the form's policy and signature are its credentials, and Unit21's key never goes to S3"
        }
        (Some("InvalidArgument"), _) => {
            "a careful client sends every returned field before the file, and exactly one file part"
        }
        (Some("AccessDenied"), _) if err.message.contains("Extra input fields") => {
            "a careful client sends exactly the returned fields and adds none of its own"
        }
        (Some("AccessDenied"), _) => {
            "a careful client sends the returned fields unchanged, soon after the create call"
        }
        (Some(_), _) => "a careful client sends the returned form as it is",
        (None, None) => {
            "no answer from the upload: a careful client posts to the url the create call returned"
        }
        (None, Some(_)) => "the client failed before or after the upload",
    };
    match &err.s3_code {
        Some(code) => format!("S3 refused the upload ({code}): {err}; {hint}"),
        None => format!("the upload failed: {err}; {hint}"),
    }
}

/// The ids of a list answer, in order.
fn ids_of(list: &Value) -> Vec<String> {
    list["datafiles"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["file_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
