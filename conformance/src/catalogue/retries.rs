//! Retry discipline: when to try again, how long to wait first, when to stop, and what must
//! never be sent twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use u21_mock::{FaultAction, JournalEntry};

use super::{body, fault_on, file_id, kind_of, refusal, unique};
use crate::scenario::{ensure, Check, Ctx, Stop};

const READS: &str = "/v1/imports/";
const CREATE: &str = "/v1/imports/pre-signed-url/create";
const LIST: &str = "/v1/imports/list";

/// A file to read, and the journal mark after making it.
pub(super) async fn file_to_read(ctx: &Ctx<'_>) -> Result<(String, u64), Stop> {
    let form = ctx
        .driver
        .create(&ctx.target.stream, &unique(ctx, "retried.csv"))
        .await?;
    Ok((file_id(&form)?, ctx.mark().await?))
}

/// Injects each of `actions` once on the reads of a file, then checks the client got through
/// with exactly one read per refusal plus the one that was answered. Returns the reads.
async fn read_through(ctx: &Ctx<'_>, actions: &[FaultAction]) -> Result<Vec<JournalEntry>, Stop> {
    let control = ctx.control()?;
    let (id, mark) = file_to_read(ctx).await?;
    for action in actions {
        control
            .fault(&fault_on("GET", "/v1/imports/*", action.clone()).times(1))
            .await
            .map_err(Stop::Fail)?;
    }
    let file = ctx.driver.status(&id).await.map_err(|e| {
        Stop::Fail(format!(
            "the client gave up instead of retrying: {e}; a careful client retries reads answered {}",
            actions
                .iter()
                .map(kind_of)
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
fn gap_ms(earlier: &JournalEntry, later: &JournalEntry) -> i64 {
    later.at_ms - earlier.at_ms
}

body!(rate_limited, |ctx| {
    let reads = read_through(
        ctx,
        &[FaultAction::RateLimited {
            retry_after_secs: 1,
        }],
    )
    .await?;
    let gap = gap_ms(&reads[0], &reads[1]);
    ensure(gap >= 990, || {
        format!(
            "retried {:.2} s after a 429 whose Retry-After was 1 s: a careful client waits at least as long as Retry-After says",
            gap as f64 / 1000.0
        )
    })?;
    Ok(())
});

/// What a client that never retries a POST is told: the usual cause.
const URLLIB3_DEFAULT: &str = "urllib3's default Retry (and so requests' HTTPAdapter(max_retries=…)) leaves POST out of allowed_methods: pass allowed_methods=None with status_forcelist [429, 503], or retry them yourself";

// A 429 or a 503 comes before the server does anything (the fake answers them before its
// handler runs): even a create, even a list call, is sent again.
body!(posts_refused_before_work, |ctx| {
    let control = ctx.control()?;
    for (status, code) in [(429, "too_many_requests"), (503, "service_unavailable")] {
        let refused = refusal(status, code, &[("retry-after", "0")]);
        control
            .fault(&fault_on("POST", CREATE, refused.clone()).times(1))
            .await
            .map_err(Stop::Fail)?;
        let mark = ctx.mark().await?;
        let created = ctx
            .driver
            .create(&ctx.target.stream, &unique(ctx, &format!("refused-{status}.csv")))
            .await
            .map_err(|e| {
                Stop::Fail(format!(
                    "the client gave up on a create answered {status}: {e}; a {status} means the server did nothing, so a careful client sends even a create again after Retry-After. {URLLIB3_DEFAULT}"
                ))
            })?;
        file_id(&created)?;
        let creates = ctx.count("POST", CREATE, mark).await?;
        ensure(creates == 2, || {
            format!("expected the create answered {status} and one more, saw {creates}")
        })?;
        once_more(ctx, LIST, refused, &status.to_string()).await?;
    }
    Ok(())
});

/// Refuses the next list call with `action`; checks the client sent it again and got the
/// page.
async fn once_more(ctx: &Ctx<'_>, path: &str, action: FaultAction, what: &str) -> Check {
    let control = ctx.control()?;
    control
        .fault(&fault_on("POST", path, action).times(1))
        .await
        .map_err(Stop::Fail)?;
    let mark = ctx.mark().await?;
    ctx.driver.list(&json!({"limit": 5})).await.map_err(|e| {
        Stop::Fail(format!(
            "the client gave up on a list call answered {what}: {e}; the list call is a POST but changes nothing, so a careful client retries it like any read. {URLLIB3_DEFAULT}"
        ))
    })?;
    let lists = ctx.count("POST", path, mark).await?;
    ensure(lists == 2, || {
        format!("expected the list call answered {what} and one more, saw {lists}")
    })
}

body!(rate_limit_reset, |ctx| {
    let control = ctx.control()?;
    let (id, mark) = file_to_read(ctx).await?;
    // Unit21 documents only the X-RateLimit-* headers, so a 429 may come without Retry-After.
    // The reset is 0.2 to 1.2 s away: any backoff shorter than that retries too soon (the
    // shipped adapters' own first backoffs are at most 0.1 s).
    let now_ms = control.now_ms().await.map_err(Stop::Fail)? as i64;
    let reset = (now_ms + 1200) / 1000;
    let reset_header = reset.to_string();
    let limited = refusal(
        429,
        "too_many_requests",
        &[
            ("x-ratelimit-limit", "200"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset_header),
        ],
    );
    control
        .fault(&fault_on("GET", "/v1/imports/*", limited).times(1))
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
    let early = reset * 1000 - reads[1].at_ms;
    ensure(early <= 10, || {
        format!(
            "retried {:.2} s after a 429 whose X-RateLimit-Reset was {:.2} s away: without Retry-After, a careful client waits until X-RateLimit-Reset",
            gap_ms(&reads[0], &reads[1]) as f64 / 1000.0,
            (reset * 1000 - reads[0].at_ms) as f64 / 1000.0
        )
    })
});

body!(server_errors, |ctx| {
    read_through(ctx, &[FaultAction::InternalError, FaultAction::Unavailable]).await?;
    // The list is a POST, yet a read: as safe to repeat as a GET.
    once_more(ctx, LIST, FaultAction::InternalError, "500").await
});

body!(dropped, |ctx| {
    read_through(
        ctx,
        &[FaultAction::DropConnection, FaultAction::TruncateBody],
    )
    .await?;
    once_more(
        ctx,
        LIST,
        FaultAction::DropConnection,
        "with a dropped connection",
    )
    .await
});

/// More reads than this against a server that keeps failing is hammering it.
const MOST_ATTEMPTS: usize = 10;

body!(gives_up, |ctx| {
    let (id, _) = file_to_read(ctx).await?;
    for (action, status, what) in [
        (FaultAction::Unavailable, 503, "503"),
        (
            FaultAction::RateLimited {
                retry_after_secs: 0,
            },
            429,
            "429 with Retry-After: 0",
        ),
    ] {
        keeps_refusing(ctx, &id, action, status, what).await?;
    }
    Ok(())
});

/// Answers every read of file `id` with `action`; checks the client stopped after a few
/// attempts and reported the `status` it got.
async fn keeps_refusing(
    ctx: &Ctx<'_>,
    id: &str,
    action: FaultAction,
    status: u16,
    what: &str,
) -> Check {
    let control = ctx.control()?;
    let mark = ctx.mark().await?;
    let fault = control
        .fault(&fault_on("GET", "/v1/imports/*", action))
        .await
        .map_err(Stop::Fail)?;
    let done = AtomicBool::new(false);
    let read = async {
        let answer = ctx.driver.status(id).await;
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
            "sent {attempts} reads to a server that kept answering {what}: a careful client gives up after a few attempts (at most {MOST_ATTEMPTS}), whatever the status, and reports the error"
        )
    })?;
    match answer {
        Ok(file) => Err(Stop::Fail(format!(
            "the client returned a file while every read was answered {what}: {file}"
        ))),
        Err(err) => ensure(err.status == Some(status), || {
            format!("expected the client to report the {status} it got, it said: {err}")
        }),
    }
}

// A 4xx other than 429 says the request itself is wrong: asking again changes nothing. Each
// case: the status, Unit21's `error_code`, and the fault that answers it (none where the
// fake answers it by itself).
body!(client_errors_not_retried, |ctx| {
    let control = ctx.control()?;
    let (id, _) = file_to_read(ctx).await?;
    let one_file = format!("/v1/imports/{id}");
    let refuse = |status: u16, code: &str| refusal(status, code, &[]);
    for (status, code, fault) in [
        (404, "resource_not_found", None),
        (400, "bad_request", None),
        (
            401,
            "unauthorized",
            Some(("GET", refuse(401, "unauthorized"))),
        ),
        (403, "forbidden", Some(("GET", refuse(403, "forbidden")))),
        (409, "conflict", Some(("POST", refuse(409, "conflict")))),
    ] {
        let fault = match fault {
            Some((method, action)) => {
                let path = if method == "GET" {
                    one_file.as_str()
                } else {
                    CREATE
                };
                let id = control
                    .fault(&fault_on(method, path, action))
                    .await
                    .map_err(Stop::Fail)?;
                Some(id)
            }
            None => None,
        };
        let mark = ctx.mark().await?;
        let (answer, method, path) = match status {
            404 => (
                ctx.driver.status("999999999").await,
                "GET",
                "/v1/imports/999999999",
            ),
            400 => (
                ctx.driver.list(&json!({"limit": 0})).await,
                "POST",
                "/v1/imports/list",
            ),
            409 => (
                ctx.driver
                    .create(&ctx.target.stream, &unique(ctx, "conflict.csv"))
                    .await,
                "POST",
                CREATE,
            ),
            _ => (ctx.driver.status(&id).await, "GET", one_file.as_str()),
        };
        if let Some(fault) = fault {
            control.remove_fault(fault).await.map_err(Stop::Fail)?;
        }
        let sent = ctx.count(method, path, mark).await?;
        ensure(sent == 1, || {
            format!(
                "{method} {path} answered {status} {code} was sent {sent} times: a {status} says the request itself is wrong, so asking again changes nothing; a careful client reports it at once (it retries 429, 503 and, on reads, other 5xx)"
            )
        })?;
        let err = match answer {
            Ok(value) => {
                return Err(Stop::Fail(format!(
                    "{method} {path} was answered {status} {code}, yet the client returned {value}"
                )))
            }
            Err(err) => err,
        };
        ensure(err.status == Some(status), || {
            format!(
                "{method} {path} was answered {status}; the client reported status {:?}: {err}",
                err.status
            )
        })?;
        ensure(err.error_code.as_deref() == Some(code), || {
            format!(
                "{method} {path} was answered {status} with {{\"error_code\": \"{code}\"}}; the client reported error_code {:?}: a careful client reads Unit21's code from the error_code field",
                err.error_code
            )
        })?;
    }
    Ok(())
});

body!(create_not_repeated, |ctx| {
    let control = ctx.control()?;
    for (action, what) in [
        (FaultAction::InternalError, "a 500"),
        (
            FaultAction::DropConnection,
            "a connection dropped after the request was sent",
        ),
        (
            FaultAction::TruncateBody,
            "an answer cut off half-way (the file may exist)",
        ),
    ] {
        let kind = kind_of(&action).replace(' ', "_");
        control
            .fault(&fault_on("POST", CREATE, action).times(1))
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
