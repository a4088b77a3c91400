//! The decided points of FIDELITY.md that a client cannot tell by itself, settled by the kit's
//! own calls (never the client's): each asks the target the question once, notes the switch
//! value under which the fake answers the same (`--record`), and fails, naming the switch,
//! when that is not the fake's default. Small and few: against a real account they create at
//! most two files each (one, unless the account takes a second of the same name), and one
//! upload of a one-record file in all.

use reqwest::Method;
use serde_json::{json, Value};

use super::{body, kit_create, unique};
use crate::scenario::{Check, Ctx, Stop};

/// A request with a body of any type, returning the status and the body as text (a wrong
/// method's answer need not be JSON).
async fn raw_text(
    ctx: &Ctx<'_>,
    method: Method,
    path: &str,
    body: Option<(&str, String)>,
) -> Result<(u16, String), Stop> {
    let mut request = ctx
        .http
        .request(method, format!("{}{path}", ctx.target.base_url))
        .header("u21-key", &ctx.target.api_key);
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| Stop::Fail(format!("no answer from {path}: {e}")))?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap_or_default()))
}

/// Neither answer a switch knows: the point cannot be settled.
fn unsettled(what: &str, status: u16, body: &str) -> Stop {
    Stop::Fail(format!(
        "{what} was answered {status} ({}), which neither the fake's default nor its switch gives",
        body.chars().take(200).collect::<String>()
    ))
}

/// Settles `switch` from the status `what` was answered with: `answers` gives, per status the
/// fake can answer, the switch's value that makes it answer so; any other status leaves the
/// point unsettled.
fn by_status(
    ctx: &Ctx<'_>,
    switch: &'static str,
    what: &str,
    (status, body): (u16, String),
    answers: &[(u16, Value)],
) -> Check {
    match answers.iter().find(|(known, _)| *known == status) {
        Some((_, value)) => ctx.settle(
            switch,
            value.clone(),
            format!("answered {what} with {status}"),
        ),
        None => Err(unsettled(what, status, &body)),
    }
}

/// The kit's own create call for `body`: status and answer as text.
async fn create_text(ctx: &Ctx<'_>, body: Value) -> Result<(u16, String), Stop> {
    let (status, answer) = kit_create(ctx, body).await?;
    Ok((status, answer.to_string()))
}

/// A list call with a JSON body, by the kit.
async fn list_text(ctx: &Ctx<'_>, body: &Value) -> Result<(u16, String), Stop> {
    raw_text(
        ctx,
        Method::POST,
        "/v1/imports/list",
        Some(("application/json", body.to_string())),
    )
    .await
}

/// A fake the kit cleans has no streams configured, and then every stream is one: it is
/// given the target's stream only, as a sandbox has its streams set up in its UI.
async fn only_the_targets_stream(ctx: &Ctx<'_>) -> Check {
    match &ctx.target.control {
        Some(control) => control
            .configure_streams(&[&ctx.target.stream])
            .await
            .map_err(Stop::Fail),
        None => Ok(()),
    }
}

body!(duplicate_file_names, |ctx| {
    let body = json!({"stream_name": ctx.target.stream, "file_name": unique(ctx, "twice.csv")});
    let first = create_text(ctx, body.clone()).await?;
    if first.0 != 200 {
        return Err(unsettled("the first create", first.0, &first.1));
    }
    let answer = create_text(ctx, body).await?;
    by_status(
        ctx,
        "reject_duplicate_file_names",
        "a second create of a name already in the stream",
        answer,
        &[(409, json!(true)), (200, json!(false))],
    )
});

body!(malformed_id, |ctx| {
    let answer = raw_text(ctx, Method::GET, "/v1/imports/not-an-id", None).await?;
    by_status(
        ctx,
        "malformed_id_bad_request",
        "GET of a file_id that is not a number",
        answer,
        &[(404, json!(false)), (400, json!(true))],
    )
});

body!(md5_hash_not_a_uuid, |ctx| {
    // What a client computing a real MD5 may send: in base64, as S3's Content-MD5 carries it
    // (32 hex digits would pass, being a UUID in its simple form).
    let body = json!({"stream_name": ctx.target.stream, "file_name": unique(ctx, "md5.csv"), "md5_hash": "1B2M2Y8AsgTpgAmY7PhCfg=="});
    let answer = create_text(ctx, body).await?;
    by_status(
        ctx,
        "md5_hash_must_be_uuid",
        "a create whose md5_hash is an MD5 in base64",
        answer,
        &[(400, json!(true)), (200, json!(false))],
    )
});

body!(non_json_body, |ctx| {
    let answer = raw_text(
        ctx,
        Method::POST,
        "/v1/imports/list",
        Some(("text/plain", "{}".to_owned())),
    )
    .await?;
    by_status(
        ctx,
        "non_json_body_status",
        "a list body sent as text/plain",
        answer,
        &[(400, json!(400)), (415, json!(415))],
    )
});

body!(wrong_method, |ctx| {
    let answer = raw_text(ctx, Method::GET, "/v1/imports/list", None).await?;
    by_status(
        ctx,
        "wrong_method_status",
        "GET /v1/imports/list",
        answer,
        &[(405, json!(405)), (404, json!(404))],
    )
});

body!(unknown_fields, |ctx| {
    let body = json!({"stream_names": [ctx.target.stream], "limit": 1, "u21_conformance_unknown_field": true});
    let answer = list_text(ctx, &body).await?;
    by_status(
        ctx,
        "reject_unknown_fields",
        "a list call with a field it does not take",
        answer,
        &[(200, json!(false)), (400, json!(true))],
    )
});

body!(unknown_stream, |ctx| {
    only_the_targets_stream(ctx).await?;
    let stream = format!("{}-no-such-stream", ctx.run_id);
    let answer = create_text(
        ctx,
        json!({"stream_name": stream, "file_name": unique(ctx, "nowhere.csv")}),
    )
    .await?;
    by_status(
        ctx,
        "reject_unknown_streams_at_create",
        "a create for a stream that is not configured",
        answer,
        &[(200, json!(false)), (400, json!(true))],
    )
});

body!(s3_authorization_header, |ctx| {
    let (status, created) = kit_create(
        ctx,
        json!({"stream_name": ctx.target.stream, "file_name": unique(ctx, "authorization.csv")}),
    )
    .await?;
    if status != 200 {
        return Err(unsettled("the create", status, &created.to_string()));
    }
    let row = ctx.row();
    ctx.ledger
        .before_upload(row.len() as u64)
        .await
        .map_err(|e| Stop::Fail(format!("the kit's own upload was {}", e.message)))?;
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in created["form_fields"].as_object().into_iter().flatten() {
        form = form.text(name.clone(), value.as_str().unwrap_or_default().to_owned());
    }
    let file = reqwest::multipart::Part::bytes(row).file_name(unique(ctx, "authorization.csv"));
    let url = created["url"].as_str().unwrap_or_default();
    // Not a credential: a value S3 cannot read, as a client's stray header would be.
    let response = ctx
        .http
        .post(url)
        .header("authorization", "u21-conformance-probe")
        .multipart(form.part("file", file))
        .send()
        .await;
    ctx.ledger.after_upload().await;
    let response = response.map_err(|e| Stop::Fail(format!("no answer from S3 at {url}: {e}")))?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let switch = "s3_refuse_authorization_header";
    let what = "a form POST with an Authorization header";
    match status {
        400 if text.contains("InvalidArgument") => ctx.settle(
            switch,
            json!(true),
            format!("answered {what} with 400 InvalidArgument"),
        ),
        // Stored: 204, or 200/201 when a form asks for them.
        200..=299 => ctx.settle(switch, json!(false), format!("stored {what} ({status})")),
        _ => Err(unsettled(what, status, &text)),
    }
});

body!(key_case, |ctx| {
    let key = &ctx.target.api_key;
    let upper = key.to_ascii_uppercase();
    let other = if upper != *key {
        upper
    } else {
        key.to_ascii_lowercase()
    };
    if other == *key {
        return Err(Stop::Skip(
            "the key has no letters to change the case of".into(),
        ));
    }
    let (status, body) = ctx
        .raw(
            Method::POST,
            "/v1/imports/list",
            Some(&json!({"limit": 1})),
            Some(&other),
        )
        .await?;
    by_status(
        ctx,
        "keys_case_sensitive",
        "a list call with the key in another case",
        (status, body.to_string()),
        &[(401, json!(true)), (200, json!(false))],
    )
});

body!(empty_list_body, |ctx| {
    let answer = raw_text(
        ctx,
        Method::POST,
        "/v1/imports/list",
        Some(("application/json", String::new())),
    )
    .await?;
    by_status(
        ctx,
        "empty_list_body_refused",
        "a list call with no body",
        answer,
        &[(200, json!(false)), (400, json!(true))],
    )
});

body!(unknown_stream_filter, |ctx| {
    only_the_targets_stream(ctx).await?;
    let body = json!({"stream_names": [format!("{}-no-such-stream", ctx.run_id)], "limit": 1});
    let answer = list_text(ctx, &body).await?;
    by_status(
        ctx,
        "unknown_stream_filter_refused",
        "a list filter naming a stream that is not configured",
        answer,
        &[(200, json!(false)), (400, json!(true))],
    )
});

/// The kit's own file, and its status as the target reads it.
async fn probe_file(ctx: &Ctx<'_>, name: &str) -> Result<(String, serde_json::Value), Stop> {
    let (status, created) = kit_create(
        ctx,
        json!({"stream_name": ctx.target.stream, "file_name": unique(ctx, name)}),
    )
    .await?;
    if status != 200 {
        return Err(unsettled("the create", status, &created.to_string()));
    }
    let id = created["file_id"].as_str().unwrap_or_default().to_owned();
    let (status, file) = ctx
        .raw(Method::GET, &format!("/v1/imports/{id}"), None, None)
        .await?;
    if status != 200 {
        return Err(unsettled(
            "the new file's status",
            status,
            &file.to_string(),
        ));
    }
    Ok((id, file))
}

body!(empty_filter, |ctx| {
    let (id, file) = probe_file(ctx, "empty-filter.csv").await?;
    let second = file["date_created"].as_i64().unwrap_or(0);
    let body = json!({"statuses": [], "stream_names": [ctx.target.stream], "created_after": second - 1, "created_before": second + 2, "limit": 100});
    let (status, listed) = ctx
        .raw(Method::POST, "/v1/imports/list", Some(&body), None)
        .await?;
    if status != 200 {
        return Err(unsettled(
            "a list call with \"statuses\": []",
            status,
            &listed.to_string(),
        ));
    }
    if super::ids_of(&listed).contains(&id) {
        ctx.settle(
            "empty_filter_matches_nothing",
            json!(false),
            "took \"statuses\": [] as no filter",
        )
    } else {
        ctx.settle(
            "empty_filter_matches_nothing",
            json!(true),
            "listed nothing for \"statuses\": []",
        )
    }
});

body!(new_file_shape, |ctx| {
    let (_, file) = probe_file(ctx, "shape.txt").await?;
    let file_type = match &file["file_type"] {
        serde_json::Value::Null => ctx.settle(
            "unknown_file_type_null",
            json!(true),
            "gave file_type null for a .txt file",
        ),
        serde_json::Value::String(t) if t == "TXT" => ctx.settle(
            "unknown_file_type_null",
            json!(false),
            "gave file_type \"TXT\" for a .txt file",
        ),
        other => Err(unsettled(
            "file_type of a .txt file",
            200,
            &other.to_string(),
        )),
    };
    let counts = match (&file["successful_count"], &file["failure_count"]) {
        (serde_json::Value::Null, serde_json::Value::Null) => ctx.settle(
            "counts_null_until_processed",
            json!(true),
            "gave null counts for a file not yet processed",
        ),
        (a, b) if *a == json!(0) && *b == json!(0) => ctx.settle(
            "counts_null_until_processed",
            json!(false),
            "gave counts of 0 for a file not yet processed",
        ),
        (a, b) => Err(unsettled(
            "the counts of a file not yet processed",
            200,
            &format!("{a}, {b}"),
        )),
    };
    // Both points are noted before either failure is told.
    file_type.and(counts)
});
