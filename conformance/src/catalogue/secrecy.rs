//! The key stays secret (its header only, never a URL, never S3, never output), and answers
//! with more than the client knows do not break it; a redirect does not carry it to another origin.

use serde_json::{json, Value};

use u21_mock::FaultAction;

use super::{body, canned, fault_on, file_id, refusal, upload};
use crate::other_origin::OtherOrigin;
use crate::scenario::{ensure, Stop};
use crate::target::upload_path;

body!(key_only_in_header, |ctx| {
    let key = ctx.target.api_key.clone();
    let mark = ctx.mark().await?;
    let form = upload(ctx, "secret.csv", &ctx.row()).await?;
    let id = file_id(&form)?;
    ctx.driver.status(&id).await?;
    ctx.driver.list(&json!({"limit": 5})).await?;
    let s3 = upload_path(&form);
    let sent = ctx.requests("", "/", mark).await?;
    ensure(!sent.is_empty(), || {
        "the journal saw none of the client's requests".to_owned()
    })?;
    for request in &sent {
        let (path, method) = (request.path.as_str(), request.method.as_str());
        let shown = path.replace(&key, "****");
        ensure(!path.contains(&key), || {
            format!("the key was sent in the URL of {method} {shown}: a careful client sends it only in the u21-key header (URLs end up in logs and proxies)")
        })?;
        let has_key = request.headers.contains_key("u21-key");
        if path.starts_with("/v1/") {
            ensure(has_key, || {
                format!("{method} {shown} was sent without the u21-key header")
            })?;
        } else if path.starts_with(&s3) {
            ensure(!has_key, || {
                format!("the upload to S3 ({method} {shown}) carried the u21-key header: the key goes to Unit21's API only, never to the storage host")
            })?;
            ensure(!request.headers.contains_key("authorization"), || {
                format!("the upload to S3 ({method} {shown}) carried an Authorization header: a form POST's credentials are its policy and signature, and Unit21's key never goes to the storage host")
            })?;
        }
    }
    Ok(())
});

body!(key_not_in_output, |ctx| {
    let key = ctx.target.api_key.clone();
    let mut errors = Vec::new();
    if let Err(err) = ctx.driver.status("999999999").await {
        errors.push(("a 404", err));
    }
    if let Err(err) = ctx.driver.list(&json!({"limit": 0})).await {
        errors.push(("a 400", err));
    }
    let mut form = ctx
        .driver
        .create(&ctx.target.stream, &super::unique(ctx, "leak.csv"))
        .await?;
    form["form_fields"]["signature"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    if let Err(err) = ctx
        .driver
        .upload_form(&form, &ctx.file("leak.csv", &ctx.row()))
        .await
    {
        errors.push(("an S3 refusal", err));
    }
    // The answers that tempt a client to log what it sent: refusals of the key, and server
    // errors it retries and then gives up on. Each fault answers every attempt.
    if let Some(control) = &ctx.target.control {
        let id = file_id(&super::raw_create(ctx, "refused.csv").await?)?;
        let refuse = |status: u16, code: &str| refusal(status, code, &[]);
        for (what, method, action) in [
            ("a 401", "GET", refuse(401, "unauthorized")),
            ("a 403", "GET", refuse(403, "forbidden")),
            ("a 500 on every attempt", "GET", FaultAction::InternalError),
            ("a create answered 500", "POST", FaultAction::InternalError),
        ] {
            let path = if method == "GET" {
                format!("/v1/imports/{id}")
            } else {
                "/v1/imports/pre-signed-url/create".to_owned()
            };
            let fault = control
                .fault(&fault_on(method, path, action))
                .await
                .map_err(Stop::Fail)?;
            let answer = if method == "GET" {
                ctx.driver.status(&id).await
            } else {
                ctx.driver
                    .create(
                        &ctx.target.stream,
                        &super::unique(ctx, "refused-create.csv"),
                    )
                    .await
            };
            control.remove_fault(fault).await.map_err(Stop::Fail)?;
            if let Err(err) = answer {
                errors.push((what, err));
            }
        }
    }
    let expected = if ctx.target.control.is_some() { 7 } else { 3 };
    ensure(errors.len() == expected, || {
        format!(
            "expected {expected} errors (a 404, a 400, an S3 refusal{}), the client reported {}",
            if expected == 7 {
                ", a 401, a 403, a read and a create answered 500"
            } else {
                ""
            },
            errors.len()
        )
    })?;
    for (what, err) in &errors {
        let text = format!("{err} {:?} {:?}", err.error_code, err.s3_code);
        ensure(!text.contains(&key), || {
            format!(
                "the key appeared in the client's error for {what}: {}; a careful client never repeats its key in errors",
                text.replace(&key, "****")
            )
        })?;
    }
    let logs = ctx.driver.diagnostics();
    ensure(!logs.contains(&key), || {
        let line = logs
            .lines()
            .find(|l| l.contains(&key))
            .unwrap_or_default()
            .replace(&key, "****");
        format!("the key appeared in the client's log (stderr): {line}; a careful client masks it")
    })
});

/// A copy of `file` with a field and a status no client knows today.
fn from_the_future(file: &Value) -> Value {
    let mut file = file.clone();
    file["status"] = json!("ARCHIVED");
    file["retention_days"] = json!(30);
    file["source"] = json!({"kind": "api", "labels": ["x"]});
    file
}

body!(tolerates_new_fields, |ctx| {
    let control = ctx.control()?;
    let form = upload(ctx, "future.csv", &ctx.row()).await?;
    let id = file_id(&form)?;
    let (_, file) = ctx
        .raw(
            reqwest::Method::GET,
            &format!("/v1/imports/{id}"),
            None,
            None,
        )
        .await?;
    let json_headers = [("content-type", "application/json")];
    let future = from_the_future(&file);
    let answer = canned(200, future.to_string(), &json_headers);
    control
        .fault(&fault_on("GET", format!("/v1/imports/{id}"), answer).times(1))
        .await
        .map_err(Stop::Fail)?;
    let seen = ctx.driver.status(&id).await.map_err(|e| {
        Stop::Fail(format!(
            "the client broke on a file with fields it does not know (retention_days, source) and the status ARCHIVED: {e}; a careful client ignores unknown fields and keeps an unknown status as it is"
        ))
    })?;
    ensure(seen["file_id"] == id.as_str(), || {
        format!("wrong file: {seen}")
    })?;
    ensure(seen["status"] == "ARCHIVED", || {
        format!("the client turned the unknown status ARCHIVED into {}: a careful client keeps the server's word", seen["status"])
    })?;
    let list =
        json!({"datafiles": [future], "response_count": 1, "total_count": 1, "next_cursor": null});
    let answer = canned(200, list.to_string(), &json_headers);
    control
        .fault(&fault_on("POST", "/v1/imports/list", answer).times(1))
        .await
        .map_err(Stop::Fail)?;
    let listed = ctx.driver.list(&json!({"limit": 5})).await.map_err(|e| {
        Stop::Fail(format!(
            "the client broke on a list answer with a field it does not know (next_cursor) and an unknown status: {e}"
        ))
    })?;
    ensure(super::ids_of(&listed) == [id.clone()], || {
        format!("expected the one listed file {id}, got {listed}")
    })
});

/// The file name the other origin's decoy answer carries.
const DECOY_NAME: &str = "answered-by-another-origin.csv";

body!(key_stays_home_on_redirect, |ctx| {
    let control = ctx.control()?;
    let created = super::raw_create(ctx, "redirected.csv").await?;
    let id = file_id(&created)?;
    let decoy = json!({
        "file_id": id, "file_name": DECOY_NAME, "file_type": "csv", "date_created": "2024-01-01T00:00:00Z",
        "process_start_time": null, "process_end_time": null, "successful_count": 0, "failure_count": 0,
        "status": "FINISHED", "failure_code": null,
    });
    let elsewhere = OtherOrigin::start(&ctx.target.api_key, decoy)
        .await
        .map_err(|e| Stop::Fail(format!("the kit cannot listen for the redirect: {e}")))?;
    let location = format!("{}/v1/imports/{id}", elsewhere.url);
    let redirect = canned(307, "", &[("location", &location)]);
    control
        .fault(&fault_on("GET", format!("/v1/imports/{id}"), redirect).times(1))
        .await
        .map_err(Stop::Fail)?;
    let answer = ctx.driver.status(&id).await;
    let arrived = elsewhere.arrived();
    if let Some(leak) = arrived.iter().find(|a| a.had_key || a.had_key_header) {
        return Err(Stop::Fail(format!(
            "the client followed a 307 from Unit21's API to another origin ({}) and sent its key there ({} {}): a careful client refuses a redirect from the API, or follows it to another origin without the u21-key header (fetch and most HTTP libraries strip only Authorization and cookies, never a custom header)",
            elsewhere.url, leak.method, leak.path
        )));
    }
    if let Ok(file) = &answer {
        ensure(file["file_name"] != DECOY_NAME, || {
            format!(
                "the client took the answer of another origin ({}), reached by a 307 from Unit21's API, as the file: {file}; a careful client never takes another origin's answer as Unit21's",
                elsewhere.url
            )
        })?;
    }
    Ok(())
});
