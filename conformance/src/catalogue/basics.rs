//! The happy path, the contract of every answer, auth, and every status and failure code.

use reqwest::Method;
use serde_json::{json, Value};

use u21_mock::{FailureCode, Timing, Transition};

use super::{body, file_id, raw_create, unique, upload};
use crate::contract::{self, at_least, exactly};
use crate::scenario::{ensure, Check, Ctx, Stop};

/// Uploads `content` as `name`, waits, and checks the counts.
async fn upload_and_count(ctx: &Ctx<'_>, name: &str, content: &[u8], records: u64) -> Check {
    let form = upload(ctx, name, content).await?;
    let id = file_id(&form)?;
    let file = ctx.driver.wait(&id, ctx.wait_timeout()).await?;
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
    let [a, b, c] = <[String; 3]>::try_from(ctx.record_ids(3)).expect("three ids");
    let rows = format!("id,amount\n{a},10.5\n{b},20\n{c},30\n");
    upload_and_count(ctx, "rows.csv", rows.as_bytes(), 3).await
});
body!(upload_json, |ctx| {
    let items = serde_json::json!(ctx
        .record_ids(2)
        .into_iter()
        .map(|id| serde_json::json!({ "id": id }))
        .collect::<Vec<_>>());
    upload_and_count(ctx, "items.json", items.to_string().as_bytes(), 2).await
});
body!(upload_jsonl, |ctx| {
    let lines: String = ctx
        .record_ids(4)
        .into_iter()
        .map(|id| format!("{}\n", serde_json::json!({ "id": id })))
        .collect();
    upload_and_count(ctx, "lines.jsonl", lines.as_bytes(), 4).await
});

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
        .wait(form["file_id"].as_str().unwrap_or(""), ctx.wait_timeout())
        .await?;
    ensure(
        file["status"] == "FAILED" && file["failure_code"] == "unparseable_file",
        || format!("expected FAILED unparseable_file, got {file}"),
    )
});

body!(forced_statuses, |ctx| {
    let control = ctx.control()?;
    control.timing(Timing::Manual).await.map_err(Stop::Fail)?;
    let failed = |code: FailureCode| (Transition::Failed(code), "FAILED", json!(code));
    let cases = [
        (Transition::Processing, "PROCESSING", Value::Null),
        (
            Transition::Finished {
                successful: 7,
                failed: 2,
            },
            "FINISHED",
            Value::Null,
        ),
        failed(FailureCode::UnparseableFile),
        failed(FailureCode::InvalidSchema),
        failed(FailureCode::StreamNotConfigured),
        failed(FailureCode::Unknown),
        (Transition::Deleted, "DELETED", Value::Null),
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
                &ctx.file(&format!("forced{i}.csv"), &ctx.row()),
            )
            .await?;
        let id = form["file_id"].as_str().unwrap_or("");
        let queued = ctx.driver.status(id).await?;
        ensure(queued["status"] == "QUEUED", || {
            format!("expected QUEUED under manual timing, got {queued}")
        })?;
        control.force(id, &transition).await.map_err(Stop::Fail)?;
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
