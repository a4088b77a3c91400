//! Time: a server that stalls (accepts the request, then sends nothing) must not hang the
//! client. The kit asks for a request timeout in the client's environment
//! (`U21_REQUEST_TIMEOUT_SECS`, ADAPTERS.md); a careful client gives a stalled request up
//! after about that long and, where repeating is safe, tries again.

use std::time::{Duration, Instant};

use u21_mock::FaultAction;

use super::{body, fault_on, file_id, retries::file_to_read, unique};
use crate::scenario::{ensure, Ctx, Stop};
use crate::target::{upload_fault_path, upload_path};

/// How long a stalled answer is held: longer than any careful client waits.
fn stall(ctx: &Ctx<'_>) -> Duration {
    ctx.target.request_timeout * 4 + Duration::from_secs(1)
}

/// The longest an operation may take across one stall: the timeout, a retry, and slack.
fn allowed(ctx: &Ctx<'_>) -> Duration {
    ctx.target.request_timeout * 3 + Duration::from_secs(1)
}

fn too_long(ctx: &Ctx<'_>, what: &str, took: Duration) -> String {
    format!(
        "{what} took {:.1} s across an answer that stalled for {:.0} s: the client waited for the stalled request instead of giving it up; a careful client keeps a request timeout (the kit asks for {} s in U21_REQUEST_TIMEOUT_SECS) and then retries, or reports the timeout",
        took.as_secs_f64(),
        stall(ctx).as_secs_f64(),
        ctx.target.request_timeout.as_secs()
    )
}

body!(stalled_answers, |ctx| {
    let control = ctx.control()?;
    let stall_ms = stall(ctx).as_millis() as u64;
    let stalled_once = |path: String| {
        fault_on(
            if path.starts_with("/v1/") {
                "GET"
            } else {
                "POST"
            },
            path,
            FaultAction::Stall { ms: stall_ms },
        )
        .times(1)
    };

    // A read: safe to repeat, so a careful client gets the file in the end.
    let (id, _) = file_to_read(ctx).await?;
    control
        .fault(&stalled_once("/v1/imports/*".to_owned()))
        .await
        .map_err(Stop::Fail)?;
    // An upload: S3 stores once per key, so a careful client may post the form again, or
    // report the timeout (no status: S3 never answered).
    let form = ctx
        .driver
        .create(&ctx.target.stream, &unique(ctx, "stalled.csv"))
        .await?;
    let uploaded_id = file_id(&form)?;
    control
        .fault(&stalled_once(upload_fault_path(&form)))
        .await
        .map_err(Stop::Fail)?;
    let mark = ctx.mark().await?;
    let file = ctx.file("stalled.csv", &ctx.row());

    // Both at once, each timed from its own start: the catalogue pays one request timeout,
    // not two. (A client that takes one request at a time finishes the second later, still
    // well within what is allowed.)
    let timed = |operation| async {
        let started = Instant::now();
        let ended = operation.await;
        (ended, started.elapsed())
    };
    let ((read, read_took), (upload, upload_took)) = tokio::join!(
        timed(ctx.driver.status(&id)),
        timed(ctx.driver.upload_form(&form, &file))
    );
    ensure(read_took <= allowed(ctx), || {
        too_long(ctx, "a read", read_took)
    })?;
    let read = read.map_err(|e| {
        Stop::Fail(format!(
            "a read whose first answer stalled failed: {e}; a read is safe to repeat, so a careful client gives the stalled request up and asks again"
        ))
    })?;
    ensure(read["file_id"] == id.as_str(), || {
        format!("wrong file: {read}")
    })?;
    ensure(upload_took <= allowed(ctx), || {
        too_long(ctx, "an upload", upload_took)
    })?;
    match upload {
        Err(e) if e.status.is_none() => {
            // Reported, as a timeout should be: provided the post reached S3 and stalled.
            let posts = ctx.count("POST", &upload_path(&form), mark).await?;
            return ensure(posts >= 1, || {
                format!("the upload never reached the form's url ({e}): a careful client posts to the url the create call returned")
            });
        }
        Err(e) => {
            return Err(Stop::Fail(format!(
                "an upload whose first answer stalled failed with status {:?}, though S3 never answered: {e}; a careful client gives the stalled post up and posts again (S3 stores a form's upload once per key), or reports the timeout",
                e.status
            )))
        }
        Ok(_) => {}
    }
    let stored = control.file(&uploaded_id).await.map_err(Stop::Fail)?;
    ensure(!stored["object"].is_null(), || {
        format!("the client reported the upload done, yet the fake holds no object for file {uploaded_id}")
    })
});
