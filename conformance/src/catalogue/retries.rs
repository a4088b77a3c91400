//! Retry discipline: when to try again, how long to wait first, when to stop, and what must
//! never be sent twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use super::{body, file_id, unique};
use crate::scenario::{ensure, Ctx, Stop};

const READS: &str = "/v1/imports/";
const CREATE: &str = "/v1/imports/pre-signed-url/create";

/// A file to read, and the journal mark after making it.
async fn file_to_read(ctx: &Ctx<'_>) -> Result<(String, u64), Stop> {
    let form = ctx
        .driver
        .create(&ctx.target.stream, &unique(ctx, "retried.csv"))
        .await?;
    Ok((file_id(&form)?, ctx.mark().await?))
}

/// Injects each of `actions` once on the reads of a file, then checks the client got through
/// with exactly one read per refusal plus the one that was answered. Returns the reads.
async fn read_through(ctx: &Ctx<'_>, actions: &[Value]) -> Result<Vec<Value>, Stop> {
    let control = ctx.control()?;
    let (id, mark) = file_to_read(ctx).await?;
    for action in actions {
        control
            .fault(json!({"method": "GET", "path": "/v1/imports/*", "action": action, "times": 1}))
            .await
            .map_err(Stop::Fail)?;
    }
    let file = ctx.driver.status(&id).await.map_err(|e| {
        Stop::Fail(format!(
            "the client gave up instead of retrying: {e}; a careful client retries reads answered {}",
            actions
                .iter()
                .map(|a| a["kind"].as_str().unwrap_or("?").replace('_', " "))
                .collect::<Vec<_>>()
                .join(", then ")
        ))
    })?;
    ensure(file["file_id"] == id.as_str(), || {
        format!("wrong file: {file}")
    })?;
    let reads = ctx.requests("GET", READS, mark).await?;
    ensure(reads.len() == actions.len() + 1, || {
        format!(
            "expected {} reads (the refused ones, then the answer), saw {}",
            actions.len() + 1,
            reads.len()
        )
    })?;
    Ok(reads)
}

/// Milliseconds between two journal entries, on the fake's clock (which follows real time
/// while a scenario does not move it).
fn gap_ms(earlier: &Value, later: &Value) -> i64 {
    later["at_ms"].as_i64().unwrap_or(0) - earlier["at_ms"].as_i64().unwrap_or(0)
}

body!(rate_limited, |ctx| {
    let reads = read_through(
        ctx,
        &[json!({"kind": "rate_limited", "retry_after_secs": 1})],
    )
    .await?;
    let gap = gap_ms(&reads[0], &reads[1]);
    ensure(gap >= 990, || {
        format!(
            "retried {:.2} s after a 429 whose Retry-After was 1 s: a careful client waits at least as long as Retry-After says",
            gap as f64 / 1000.0
        )
    })
});

body!(rate_limit_reset, |ctx| {
    let control = ctx.control()?;
    let (id, mark) = file_to_read(ctx).await?;
    // Unit21 documents only the X-RateLimit-* headers, so a 429 may come without Retry-After.
    // The reset is 0.3 to 1.3 s away: any backoff shorter than that retries too soon.
    let now_ms = control.now_ms().await.map_err(Stop::Fail)? as i64;
    let reset = (now_ms + 1300) / 1000;
    control
        .fault(json!({
            "method": "GET", "path": "/v1/imports/*", "times": 1,
            "action": {"kind": "status", "status": 429,
                "body": "{\"error_code\":\"too_many_requests\"}",
                "headers": {"content-type": "application/json", "x-ratelimit-limit": "200",
                            "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset.to_string()}}
        }))
        .await
        .map_err(Stop::Fail)?;
    ctx.driver.status(&id).await.map_err(|e| {
        Stop::Fail(format!(
            "the client gave up on a 429 instead of retrying after X-RateLimit-Reset: {e}"
        ))
    })?;
    let reads = ctx.requests("GET", READS, mark).await?;
    ensure(reads.len() == 2, || {
        format!(
            "expected the refused read and one more, saw {}",
            reads.len()
        )
    })?;
    let early = reset * 1000 - reads[1]["at_ms"].as_i64().unwrap_or(0);
    ensure(early <= 10, || {
        format!(
            "retried {:.2} s after a 429 whose X-RateLimit-Reset was {:.2} s away: without Retry-After, a careful client waits until X-RateLimit-Reset",
            gap_ms(&reads[0], &reads[1]) as f64 / 1000.0,
            (reset * 1000 - reads[0]["at_ms"].as_i64().unwrap_or(0)) as f64 / 1000.0
        )
    })
});

body!(server_errors, |ctx| {
    read_through(
        ctx,
        &[
            json!({"kind": "internal_error"}),
            json!({"kind": "unavailable"}),
        ],
    )
    .await
    .map(drop)
});

body!(dropped, |ctx| {
    read_through(ctx, &[json!({"kind": "drop_connection"})])
        .await
        .map(drop)
});

/// More reads than this against a server that keeps failing is hammering it.
const MOST_ATTEMPTS: usize = 10;

body!(gives_up, |ctx| {
    let control = ctx.control()?;
    let (id, mark) = file_to_read(ctx).await?;
    let fault = control
        .fault(json!({"method": "GET", "path": "/v1/imports/*", "action": {"kind": "unavailable"}}))
        .await
        .map_err(Stop::Fail)?;
    let done = AtomicBool::new(false);
    let read = async {
        let answer = ctx.driver.status(&id).await;
        done.store(true, Ordering::SeqCst);
        answer
    };
    // A client that never stops is let through (the fault is lifted) so the run goes on.
    let watcher = async {
        while !done.load(Ordering::SeqCst) {
            if ctx.count("GET", READS, mark).await? > MOST_ATTEMPTS {
                control.remove_fault(fault).await.map_err(Stop::Fail)?;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok::<(), Stop>(())
    };
    let (answer, watched) = tokio::join!(read, watcher);
    watched?;
    control.remove_fault(fault).await.ok();
    let attempts = ctx.count("GET", READS, mark).await?;
    ensure(attempts <= MOST_ATTEMPTS, || {
        format!(
            "sent {attempts} reads to a server that kept answering 503: a careful client gives up after a few attempts (at most {MOST_ATTEMPTS}) and reports the error"
        )
    })?;
    match answer {
        Ok(file) => Err(Stop::Fail(format!(
            "the client returned a file while every read was answered 503: {file}"
        ))),
        Err(err) => ensure(err.status == Some(503), || {
            format!("expected the client to report the 503 it got, it said: {err}")
        }),
    }
});

body!(create_not_repeated, |ctx| {
    let control = ctx.control()?;
    for (kind, what) in [
        ("internal_error", "a 500"),
        (
            "drop_connection",
            "a connection dropped after the request was sent",
        ),
    ] {
        control
            .fault(json!({"method": "POST", "path": CREATE, "action": {"kind": kind}, "times": 1}))
            .await
            .map_err(Stop::Fail)?;
        let mark = ctx.mark().await?;
        let created = ctx
            .driver
            .create(&ctx.target.stream, &unique(ctx, &format!("{kind}.csv")))
            .await;
        let creates = ctx.count("POST", CREATE, mark).await?;
        ensure(creates == 1, || {
            format!(
                "the create call arrived {creates} times after {what}: it is not idempotent (the first may have made the file), so a careful client reports the error instead of sending it again"
            )
        })?;
        ensure(created.is_err(), || {
            format!("the client reported success after {what}: {created:?}")
        })?;
    }
    Ok(())
});
