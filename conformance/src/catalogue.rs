//! The scenarios. Each checks one documented behaviour (or settles one decided point of
//! FIDELITY.md) through the client under test, or through raw calls when it checks the server.

use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::Method;
use serde_json::{json, Value};

use crate::contract::{self, at_least, exactly};
use crate::scenario::{ensure, Check, Ctx, Scenario, Stop};

macro_rules! body {
    ($name:ident, |$ctx:ident| $body:block) => {
        fn $name<'a>($ctx: &'a Ctx<'a>) -> BoxFuture<'a, Check> {
            Box::pin(async move { $body })
        }
    };
}

const WAIT: Duration = Duration::from_secs(120);

/// Every scenario, in the order they run.
pub fn catalogue() -> Vec<Scenario> {
    let s = |name, tags, description, needs_control, run| Scenario {
        name,
        tags,
        description,
        needs_control,
        run,
    };
    vec![
        s(
            "upload-csv-finishes",
            &["happy-path", "csv"],
            "A CSV uploaded and waited for ends FINISHED with a count per row",
            false,
            upload_csv,
        ),
        s(
            "upload-json-finishes",
            &["happy-path", "json"],
            "A JSON array ends FINISHED with a count per item",
            false,
            upload_json,
        ),
        s(
            "upload-jsonl-finishes",
            &["happy-path", "jsonl"],
            "A JSONL file ends FINISHED with a count per line",
            false,
            upload_jsonl,
        ),
        s(
            "contract-create",
            &["contract"],
            "The create answer has exactly Unit21's fields and types",
            false,
            contract_create,
        ),
        s(
            "contract-status",
            &["contract"],
            "A new file's status has exactly Unit21's fields, with nulls until processing",
            false,
            contract_status,
        ),
        s(
            "contract-list",
            &["contract", "list"],
            "The list answer and its items have exactly Unit21's fields and types",
            false,
            contract_list,
        ),
        s(
            "contract-errors",
            &["contract", "errors"],
            "Errors carry error_code, and a message on 400s",
            false,
            contract_errors,
        ),
        s(
            "auth-missing-key",
            &["auth"],
            "No u21-key answers 401 unauthorized",
            false,
            auth_missing_key,
        ),
        s(
            "auth-unknown-key",
            &["auth"],
            "An unknown u21-key answers 401 unauthorized",
            false,
            auth_unknown_key,
        ),
        s(
            "client-reports-not-found",
            &["errors"],
            "The client reports an unknown file as a 404",
            false,
            client_not_found,
        ),
        s(
            "failed-unparseable-file",
            &["status", "failure-codes"],
            "A .json file that is not JSON ends FAILED unparseable_file",
            false,
            failed_unparseable,
        ),
        s(
            "forced-statuses",
            &["status", "failure-codes", "control"],
            "The client reports every status (ADDED included) and failure code as the server sets them",
            true,
            forced_statuses,
        ),
        s(
            "list-newest-first",
            &["list", "decided"],
            "List orders files newest first (FIDELITY: list_newest_first)",
            false,
            list_newest_first,
        ),
        s(
            "list-offset-counts-pages",
            &["list", "decided", "paging"],
            "offset counts 1-based pages of limit files (FIDELITY: list_offset)",
            false,
            list_offset_pages,
        ),
        s(
            "list-bounds",
            &["list", "decided"],
            "created_after is inclusive, created_before exclusive (FIDELITY)",
            false,
            list_bounds,
        ),
        s(
            "list-all-pages",
            &["list", "paging"],
            "The client follows every page, not just the first",
            false,
            list_all_pages,
        ),
        s(
            "retry-rate-limited",
            &["retries", "rate-limit", "faults"],
            "The client retries a 429 after Retry-After and succeeds",
            true,
            retry_rate_limited,
        ),
        s(
            "retry-server-errors",
            &["retries", "faults"],
            "The client retries 500 and 503 on reads and succeeds",
            true,
            retry_server_errors,
        ),
        s(
            "retry-dropped-connection",
            &["retries", "faults"],
            "The client retries a read whose connection dropped",
            true,
            retry_dropped,
        ),
        s(
            "s3-uses-returned-url",
            &["s3"],
            "The client posts to the url the create call returned",
            false,
            s3_returned_url,
        ),
        s(
            "s3-slow-down-retried",
            &["s3", "retries", "faults"],
            "The client retries S3's SlowDown and the upload lands once",
            true,
            s3_slow_down,
        ),
        s(
            "s3-expired-form",
            &["s3", "control"],
            "An expired form is refused by S3 and the client reports AccessDenied",
            true,
            s3_expired,
        ),
        s(
            "s3-tampered-signature",
            &["s3"],
            "A tampered signature is refused with SignatureDoesNotMatch",
            false,
            s3_tampered,
        ),
        s(
            "s3-oversized-file",
            &["s3", "slow"],
            "A file over 300 MiB is refused with EntityTooLarge",
            false,
            s3_oversized,
        ),
        s(
            "wait-slow-processing",
            &["wait", "control"],
            "The client keeps polling while processing takes seconds",
            true,
            wait_slow,
        ),
    ]
}

/// Uploads `content` as `name`, waits, and checks the counts.
async fn upload_and_count(ctx: &Ctx<'_>, name: &str, content: &[u8], records: u64) -> Check {
    let form = ctx
        .driver
        .upload(&ctx.target.stream, &ctx.file(name, content))
        .await?;
    let id = form["file_id"]
        .as_str()
        .ok_or_else(|| Stop::Fail(format!("upload returned no file_id: {form}")))?;
    let file = ctx.driver.wait(id, WAIT).await?;
    at_least(&file, &contract::DATAFILE, "the file the client returned").map_err(Stop::Fail)?;
    ensure(file["status"] == "FINISHED", || {
        format!("expected FINISHED, got {file}")
    })?;
    let counted = file["successful_count"].as_u64().unwrap_or(0)
        + file["failure_count"].as_u64().unwrap_or(0);
    ensure(counted == records, || {
        format!("expected {records} records counted, got {file}")
    })
}

body!(upload_csv, |ctx| {
    upload_and_count(ctx, "rows.csv", b"id,amount\n1,10.5\n2,20\n3,30\n", 3).await
});
body!(upload_json, |ctx| {
    upload_and_count(ctx, "items.json", br#"[{"id": 1}, {"id": 2}]"#, 2).await
});
body!(upload_jsonl, |ctx| {
    upload_and_count(
        ctx,
        "lines.jsonl",
        b"{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n{\"id\": 4}\n",
        4,
    )
    .await
});

fn unique(ctx: &Ctx<'_>, name: &str) -> String {
    format!("{}-{name}", ctx.run_id)
}

async fn raw_create(ctx: &Ctx<'_>, name: &str) -> Result<Value, Stop> {
    let body = json!({"stream_name": ctx.target.stream, "file_name": unique(ctx, name)});
    let (status, created) = ctx
        .raw(
            Method::POST,
            "/v1/imports/pre-signed-url/create",
            Some(&body),
            None,
        )
        .await?;
    ensure(status == 200, || {
        format!("create answered {status}: {created}")
    })?;
    Ok(created)
}

body!(contract_create, |ctx| {
    let created = raw_create(ctx, "contract.csv").await?;
    let mut top = created.clone();
    let fields = top
        .as_object_mut()
        .and_then(|o| o.remove("form_fields"))
        .unwrap_or(Value::Null);
    exactly(&top, &contract::CREATE, "the create answer").map_err(Stop::Fail)?;
    exactly(&fields, &contract::FORM_FIELDS, "form_fields").map_err(Stop::Fail)
});

body!(contract_status, |ctx| {
    let created = raw_create(ctx, "status.csv").await?;
    let (status, file) = ctx
        .raw(
            Method::GET,
            &format!("/v1/imports/{}", created["file_id"].as_str().unwrap_or("")),
            None,
            None,
        )
        .await?;
    ensure(status == 200, || format!("GET answered {status}: {file}"))?;
    exactly(&file, &contract::DATAFILE, "the file").map_err(Stop::Fail)?;
    ensure(file["status"] == "PENDING_UPLOAD", || {
        format!("a new file should be PENDING_UPLOAD: {file}")
    })?;
    ensure(
        file["process_start_time"].is_null() && file["failure_code"].is_null(),
        || format!("no processing yet: {file}"),
    )
});

body!(contract_list, |ctx| {
    raw_create(ctx, "listed.csv").await?;
    let (status, list) = ctx
        .raw(
            Method::POST,
            "/v1/imports/list",
            Some(&json!({"limit": 5})),
            None,
        )
        .await?;
    ensure(status == 200, || format!("list answered {status}: {list}"))?;
    let mut top = list.clone();
    let items = top
        .as_object_mut()
        .and_then(|o| o.remove("datafiles"))
        .unwrap_or(Value::Null);
    exactly(&top, &contract::LIST, "the list answer").map_err(Stop::Fail)?;
    let items = items
        .as_array()
        .ok_or_else(|| Stop::Fail(format!("datafiles is not a list: {list}")))?;
    ensure(
        !items.is_empty() && items.len() as u64 == list["response_count"].as_u64().unwrap_or(0),
        || format!("response_count does not count datafiles: {list}"),
    )?;
    for item in items {
        exactly(item, &contract::DATAFILE, "a listed file").map_err(Stop::Fail)?;
    }
    Ok(())
});

body!(contract_errors, |ctx| {
    let (status, body) = ctx
        .raw(Method::GET, "/v1/imports/999999999", None, None)
        .await?;
    ensure(status == 404 && body["error_code"].is_string(), || {
        format!("an unknown file: {status} {body}")
    })?;
    let (status, body) = ctx
        .raw(
            Method::POST,
            "/v1/imports/list",
            Some(&json!({"limit": 0})),
            None,
        )
        .await?;
    ensure(
        status == 400 && body["error_code"].is_string() && body["message"].is_string(),
        || format!("limit 0: {status} {body}"),
    )
});

body!(auth_missing_key, |ctx| {
    let (status, body) = ctx
        .raw(Method::POST, "/v1/imports/list", Some(&json!({})), Some(""))
        .await?;
    ensure(
        (status, &body["error_code"]) == (401, &json!("unauthorized")),
        || format!("{status} {body}"),
    )
});

body!(auth_unknown_key, |ctx| {
    let (status, body) = ctx
        .raw(
            Method::POST,
            "/v1/imports/list",
            Some(&json!({})),
            Some("not-a-real-key-0000"),
        )
        .await?;
    ensure(
        (status, &body["error_code"]) == (401, &json!("unauthorized")),
        || format!("{status} {body}"),
    )
});

body!(client_not_found, |ctx| {
    match ctx.driver.status("999999999").await {
        Ok(file) => Err(Stop::Fail(format!(
            "the client returned a file for an unknown id: {file}"
        ))),
        Err(err) => ensure(err.status == Some(404), || {
            format!("expected the client to report 404, got: {err}")
        }),
    }
});

body!(failed_unparseable, |ctx| {
    let form = ctx
        .driver
        .upload(
            &ctx.target.stream,
            &ctx.file("broken.json", b"this is not json"),
        )
        .await?;
    let file = ctx
        .driver
        .wait(form["file_id"].as_str().unwrap_or(""), WAIT)
        .await?;
    ensure(
        file["status"] == "FAILED" && file["failure_code"] == "unparseable_file",
        || format!("expected FAILED unparseable_file, got {file}"),
    )
});

body!(forced_statuses, |ctx| {
    let control = ctx.control()?;
    control.timing("manual").await.map_err(Stop::Fail)?;
    let cases = [
        (json!({"status": "PROCESSING"}), "PROCESSING", Value::Null),
        (
            json!({"status": "FINISHED", "successful_count": 7, "failure_count": 2}),
            "FINISHED",
            Value::Null,
        ),
        (
            json!({"status": "FAILED", "failure_code": "unparseable_file"}),
            "FAILED",
            json!("unparseable_file"),
        ),
        (
            json!({"status": "FAILED", "failure_code": "invalid_schema"}),
            "FAILED",
            json!("invalid_schema"),
        ),
        (
            json!({"status": "FAILED", "failure_code": "stream_not_configured"}),
            "FAILED",
            json!("stream_not_configured"),
        ),
        (
            json!({"status": "FAILED", "failure_code": "unknown"}),
            "FAILED",
            json!("unknown"),
        ),
        (json!({"status": "DELETED"}), "DELETED", Value::Null),
    ];
    // ADDED comes from the UI's manual upload, which only the control API can stand in for.
    let added = control
        .add_file(&ctx.target.stream, &unique(ctx, "manual.csv"), "a\n1\n")
        .await
        .map_err(Stop::Fail)?;
    let file = ctx.driver.status(&added).await?;
    ensure(file["status"] == "ADDED", || {
        format!("expected ADDED, got {file}")
    })?;
    for (i, (transition, status, code)) in cases.into_iter().enumerate() {
        let form = ctx
            .driver
            .upload(
                &ctx.target.stream,
                &ctx.file(&format!("forced{i}.csv"), b"a\n1\n"),
            )
            .await?;
        let id = form["file_id"].as_str().unwrap_or("");
        let queued = ctx.driver.status(id).await?;
        ensure(queued["status"] == "QUEUED", || {
            format!("expected QUEUED under manual timing, got {queued}")
        })?;
        control.force(id, transition).await.map_err(Stop::Fail)?;
        let file = ctx.driver.status(id).await?;
        ensure(
            file["status"] == status && file["failure_code"] == code,
            || format!("expected {status} {code}, got {file}"),
        )?;
        if status == "FINISHED" {
            ensure(
                file["successful_count"] == 7 && file["failure_count"] == 2,
                || format!("counts: {file}"),
            )?;
        }
    }
    Ok(())
});

/// Three files one second apart, in a window of seconds no earlier file shares (on a target
/// that cannot be reset, such as the sandbox, earlier files must not leak into the window).
/// Returns their ids oldest first, the first second and the second after the last.
async fn three_files(ctx: &Ctx<'_>, prefix: &str) -> Result<(Vec<String>, i64, i64), Stop> {
    ctx.next_second().await?;
    let mut ids = Vec::new();
    let mut seconds = Vec::new();
    for i in 0..3 {
        if i > 0 {
            ctx.next_second().await?;
        }
        let form = ctx
            .driver
            .create(
                &ctx.target.stream,
                &unique(ctx, &format!("{prefix}{i}.csv")),
            )
            .await?;
        let id = form["file_id"].as_str().unwrap_or("").to_owned();
        seconds.push(
            ctx.driver.status(&id).await?["date_created"]
                .as_i64()
                .unwrap_or(0),
        );
        ids.push(id);
    }
    ensure(seconds[0] < seconds[1] && seconds[1] < seconds[2], || {
        format!("the three files should be a second apart: {seconds:?}")
    })?;
    Ok((ids, seconds[0], seconds[2] + 1))
}

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

body!(list_newest_first, |ctx| {
    let (ids, first, end) = three_files(ctx, "order").await?;
    let window = json!({"created_after": first, "created_before": end, "stream_names": [ctx.target.stream], "limit": 10});
    let list = ctx.driver.list(&window).await?;
    let got = ids_of(&list);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    ensure(got == newest_first, || {
        if got == ids {
            format!("the list is oldest first ({got:?}): set list_newest_first = false")
        } else {
            format!("expected {newest_first:?}, got {got:?}")
        }
    })
});

body!(list_offset_pages, |ctx| {
    let (ids, first, end) = three_files(ctx, "offset").await?;
    let list = ctx.driver.list(&json!({"created_after": first, "created_before": end, "stream_names": [ctx.target.stream], "offset": 2, "limit": 1})).await?;
    let got = ids_of(&list);
    // Newest first: page 2 of size 1 is the middle file; a record offset of 2 is the oldest.
    ensure(got == [ids[1].clone()], || {
        if got == [ids[0].clone()] {
            "offset counted records, not pages: set list_offset = \"record\"".to_owned()
        } else {
            format!("expected [{}], got {got:?}", ids[1])
        }
    })
});

body!(list_bounds, |ctx| {
    let (ids, first, end) = three_files(ctx, "bounds").await?;
    let stream = json!([ctx.target.stream]);
    let window = json!({"created_after": first + 1, "created_before": end, "stream_names": stream, "limit": 10});
    let after = ids_of(&ctx.driver.list(&window).await?);
    ensure(after.len() == 2 && after.contains(&ids[1]), || {
        format!("created_after = the middle file's second should include it: {after:?} of {ids:?}")
    })?;
    let before = ids_of(&ctx.driver.list(&json!({"created_after": first, "created_before": first + 1, "stream_names": stream, "limit": 10})).await?);
    ensure(before == [ids[0].clone()], || {
        format!(
            "created_before = the middle file's second should exclude it: {before:?} of {ids:?}"
        )
    })
});

body!(list_all_pages, |ctx| {
    ctx.next_second().await?;
    let mut ids = Vec::new();
    let start = {
        let form = ctx
            .driver
            .create(&ctx.target.stream, &unique(ctx, "page0.csv"))
            .await?;
        let id = form["file_id"].as_str().unwrap_or("").to_owned();
        let second = ctx.driver.status(&id).await?["date_created"]
            .as_i64()
            .unwrap_or(0);
        ids.push(id);
        second
    };
    for i in 1..5 {
        let form = ctx
            .driver
            .create(&ctx.target.stream, &unique(ctx, &format!("page{i}.csv")))
            .await?;
        ids.push(form["file_id"].as_str().unwrap_or("").to_owned());
    }
    let all = ctx
        .driver
        .list_all(&json!({"created_after": start, "stream_names": [ctx.target.stream], "limit": 2}))
        .await?;
    let mut got = ids_of(&all);
    got.sort();
    ids.sort();
    ensure(got == ids, || {
        format!("with pages of 2, expected all of {ids:?}, got {got:?}")
    })
});

async fn count(ctx: &Ctx<'_>, method: &str, path: &str) -> Result<usize, Stop> {
    Ok(ctx
        .control()?
        .requests(method, path)
        .await
        .map_err(Stop::Fail)?
        .len())
}

/// Injects `action` on the next `times` reads of a file, then checks the client got through.
async fn read_through(ctx: &Ctx<'_>, actions: &[Value]) -> Check {
    let control = ctx.control()?;
    let form = ctx
        .driver
        .create(&ctx.target.stream, &unique(ctx, "retried.csv"))
        .await?;
    let id = form["file_id"].as_str().unwrap_or("").to_owned();
    control.clear_requests().await.map_err(Stop::Fail)?;
    for action in actions {
        control
            .fault(json!({"method": "GET", "path": "/v1/imports/*", "action": action, "times": 1}))
            .await
            .map_err(Stop::Fail)?;
    }
    let file = ctx
        .driver
        .status(&id)
        .await
        .map_err(|e| Stop::Fail(format!("the client gave up instead of retrying: {e}")))?;
    ensure(file["file_id"] == id.as_str(), || {
        format!("wrong file: {file}")
    })?;
    let reads = count(ctx, "GET", "/v1/imports/").await?;
    ensure(reads == actions.len() + 1, || {
        format!(
            "expected {} reads (refused ones, then the answer), saw {reads}",
            actions.len() + 1
        )
    })
}

body!(retry_rate_limited, |ctx| {
    read_through(
        ctx,
        &[
            json!({"kind": "rate_limited", "retry_after_secs": 1}),
            json!({"kind": "rate_limited", "retry_after_secs": 1}),
        ],
    )
    .await
});
body!(retry_server_errors, |ctx| {
    read_through(
        ctx,
        &[
            json!({"kind": "internal_error"}),
            json!({"kind": "unavailable"}),
        ],
    )
    .await
});
body!(retry_dropped, |ctx| {
    read_through(ctx, &[json!({"kind": "drop_connection"})]).await
});

body!(s3_returned_url, |ctx| {
    let form = ctx
        .driver
        .upload(&ctx.target.stream, &ctx.file("where.csv", b"a\n1\n"))
        .await?;
    let file = ctx
        .driver
        .status(form["file_id"].as_str().unwrap_or(""))
        .await?;
    ensure(file["status"] != "PENDING_UPLOAD", || {
        format!("the object never reached the returned url: {file}")
    })?;
    if ctx.target.control.is_some() {
        let url = form["url"].as_str().unwrap_or("");
        let path = url.strip_prefix(&ctx.target.base_url).unwrap_or("/");
        let posts = count(ctx, "POST", path).await?;
        ensure(posts >= 1, || format!("no upload reached {url}"))?;
    }
    Ok(())
});

body!(s3_slow_down, |ctx| {
    let control = ctx.control()?;
    let created = ctx
        .driver
        .create(&ctx.target.stream, &unique(ctx, "slow.csv"))
        .await?;
    let url = created["url"].as_str().unwrap_or("");
    let path = url
        .strip_prefix(&ctx.target.base_url)
        .unwrap_or("/")
        .to_owned();
    control.clear_requests().await.map_err(Stop::Fail)?;
    control
        .fault(
            json!({"method": "POST", "path": path, "action": {"kind": "s3_slow_down"}, "times": 1}),
        )
        .await
        .map_err(Stop::Fail)?;
    ctx.driver
        .upload_form(&created, &ctx.file("slow.csv", b"a\n1\n"))
        .await
        .map_err(|e| Stop::Fail(format!("the client gave up on SlowDown: {e}")))?;
    let posts = count(ctx, "POST", &path).await?;
    ensure(posts == 2, || {
        format!("expected the refused post and one more, saw {posts}")
    })
});

body!(s3_expired, |ctx| {
    let control = ctx.control()?;
    let created = ctx
        .driver
        .create(&ctx.target.stream, &unique(ctx, "late.csv"))
        .await?;
    control
        .advance(Duration::from_secs(3 * 3600))
        .await
        .map_err(Stop::Fail)?;
    match ctx
        .driver
        .upload_form(&created, &ctx.file("late.csv", b"a\n1\n"))
        .await
    {
        Ok(_) => Err(Stop::Fail("an expired form was accepted".into())),
        Err(err) => ensure(
            err.s3_code.as_deref() == Some("AccessDenied") && err.status == Some(403),
            || {
                format!(
                    "expected S3's AccessDenied, the client said: {err} {:?}",
                    err.s3_code
                )
            },
        ),
    }?;
    let file = ctx
        .driver
        .status(created["file_id"].as_str().unwrap_or(""))
        .await?;
    ensure(file["status"] == "PENDING_UPLOAD", || {
        format!("a refused upload changed the status: {file}")
    })
});

body!(s3_tampered, |ctx| {
    let mut created = ctx
        .driver
        .create(&ctx.target.stream, &unique(ctx, "tampered.csv"))
        .await?;
    created["form_fields"]["signature"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    match ctx
        .driver
        .upload_form(&created, &ctx.file("tampered.csv", b"a\n1\n"))
        .await
    {
        Ok(_) => Err(Stop::Fail("a tampered signature was accepted".into())),
        Err(err) => ensure(
            err.s3_code.as_deref() == Some("SignatureDoesNotMatch"),
            || format!("expected SignatureDoesNotMatch, the client said: {err}"),
        ),
    }
});

body!(s3_oversized, |ctx| {
    let path = ctx.dir.join(format!("{}-huge.csv", ctx.run_id));
    // Sparse: one byte over the 300 MiB cap, without writing 300 MiB to disk.
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(314_572_801))
        .map_err(|e| Stop::Fail(e.to_string()))?;
    let created = ctx
        .driver
        .create(&ctx.target.stream, &unique(ctx, "huge.csv"))
        .await?;
    match ctx.driver.upload_form(&created, &path).await {
        Ok(_) => Err(Stop::Fail("a file over 300 MiB was accepted".into())),
        Err(err) => ensure(err.s3_code.as_deref() == Some("EntityTooLarge"), || {
            format!("expected EntityTooLarge, the client said: {err}")
        }),
    }
});

body!(wait_slow, |ctx| {
    let control = ctx.control()?;
    control.timing("fast").await.map_err(Stop::Fail)?;
    let form = ctx
        .driver
        .upload(&ctx.target.stream, &ctx.file("slow.csv", b"a\n1\n"))
        .await?;
    let id = form["file_id"].as_str().unwrap_or("").to_owned();
    control.clear_requests().await.map_err(Stop::Fail)?;
    let file = ctx.driver.wait(&id, WAIT).await?;
    ensure(file["status"] == "FINISHED", || {
        format!("expected FINISHED, got {file}")
    })?;
    let polls = count(ctx, "GET", &format!("/v1/imports/{id}")).await?;
    ensure(polls >= 2, || {
        format!("processing took two seconds, yet the client polled {polls} time(s)")
    })
});
