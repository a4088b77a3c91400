//! `wait`: it stops on every final status, gives up at its own timeout, and polls politely.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use u21_mock::{FailureCode, FaultAction, Timing, Transition};

use super::{body, fault_on, file_id, refusal, upload};

/// FINISHED with one record read.
const FINISHED_ONE: Transition = Transition::Finished {
    successful: 1,
    failed: 0,
};
use crate::scenario::{ensure, Ctx, Stop};

/// A file that stays QUEUED until the scenario moves it (timing is `manual`).
async fn queued_file(ctx: &Ctx<'_>, name: &str) -> Result<String, Stop> {
    ctx.control()?
        .timing(Timing::Manual)
        .await
        .map_err(Stop::Fail)?;
    let form = upload(ctx, name, &ctx.row()).await?;
    file_id(&form)
}

body!(stops_on_final_status, |ctx| {
    let control = ctx.control()?;
    let limit = Duration::from_secs(3);
    let cases = [
        (FINISHED_ONE, "FINISHED", Value::Null),
        (
            Transition::Failed(FailureCode::InvalidSchema),
            "FAILED",
            json!("invalid_schema"),
        ),
        (Transition::Deleted, "DELETED", Value::Null),
    ];
    for (i, (transition, status, code)) in cases.into_iter().enumerate() {
        let id = queued_file(ctx, &format!("final{i}.csv")).await?;
        control.force(&id, &transition).await.map_err(Stop::Fail)?;
        let started = Instant::now();
        let file = ctx.driver.wait(&id, limit).await.map_err(|e| {
            Stop::Fail(format!(
                "wait on a file already {status} failed after {:.1} s: {e}; {status} is final, so a careful client returns the file at once",
                started.elapsed().as_secs_f64()
            ))
        })?;
        ensure(
            file["status"] == status && file["failure_code"] == code,
            || format!("wait returned {file}, expected {status} with failure_code {code}"),
        )?;
        ensure(started.elapsed() < Duration::from_secs(2), || {
            format!(
                "wait took {:.1} s to return a file that was already {status}: a careful client stops polling on the first final status",
                started.elapsed().as_secs_f64()
            )
        })?;
    }
    Ok(())
});

body!(honours_timeout, |ctx| {
    let control = ctx.control()?;
    let id = queued_file(ctx, "forever.csv").await?;
    let timeout = Duration::from_millis(300);
    let grace = Duration::from_secs(3);
    let started = Instant::now();
    let waited = tokio::time::timeout(timeout + grace, ctx.driver.wait(&id, timeout)).await;
    let took = started.elapsed();
    match waited {
        Err(_) => {
            // Let the client's wait end, so the next scenario gets its attention.
            control
                .force(&id, &Transition::Deleted)
                .await
                .map_err(Stop::Fail)?;
            Err(Stop::Fail(format!(
                "wait with a timeout of {:.1} s was still waiting after {:.1} s on a file that stays QUEUED: a careful client gives up when its own timeout passes",
                timeout.as_secs_f64(),
                took.as_secs_f64()
            )))
        }
        Ok(Ok(file)) => Err(Stop::Fail(format!(
            "wait returned a file that is not final as if it were: {file}; a careful client reports a timeout"
        ))),
        Ok(Err(err)) => {
            ensure(err.timed_out, || {
                format!("wait failed without saying it timed out (\"timed_out\": true): {err}")
            })?;
            ensure(took >= timeout.mul_f64(0.9), || {
                format!(
                    "wait gave up after {:.2} s, before its timeout of {:.1} s",
                    took.as_secs_f64(),
                    timeout.as_secs_f64()
                )
            })
        }
    }
});

/// How long the file stays PROCESSING while the client waits.
const PROCESSING: Duration = Duration::from_millis(750);
/// Polls a polite client makes per second of processing (plus two).
const POLLS_PER_SECOND: f64 = 6.0;

body!(polls_politely, |ctx| {
    let control = ctx.control()?;
    let id = queued_file(ctx, "polled.csv").await?;
    control
        .force(&id, &Transition::Processing)
        .await
        .map_err(Stop::Fail)?;
    let path = format!("/v1/imports/{id}");
    let most = 2 + (POLLS_PER_SECOND * PROCESSING.as_secs_f64()) as usize;
    let mark = ctx.mark().await?;
    let done = AtomicBool::new(false);
    let waiting = async {
        let file = ctx.driver.wait(&id, ctx.wait_timeout()).await;
        done.store(true, Ordering::SeqCst);
        file
    };
    // Keep the file PROCESSING for a while (real time: politeness is about real time), then
    // finish it; a client that hammers is let go at once.
    let stepper = async {
        let started = Instant::now();
        while started.elapsed() < PROCESSING && !done.load(Ordering::SeqCst) {
            if ctx.count("GET", &path, mark).await? > most {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let polls = ctx.requests("GET", &path, mark).await?;
        control
            .force(&id, &FINISHED_ONE)
            .await
            .map_err(Stop::Fail)?;
        Ok::<_, Stop>((polls, started.elapsed()))
    };
    let (file, stepped) = tokio::join!(waiting, stepper);
    let (polls, window) = stepped?;
    let file = file?;
    ensure(file["status"] == "FINISHED", || {
        format!("expected FINISHED, got {file}")
    })?;
    let gaps: Vec<i64> = polls.windows(2).map(|w| w[1].at_ms - w[0].at_ms).collect();
    let gaps_text = || {
        let shown: Vec<String> = gaps
            .iter()
            .take(8)
            .map(|g| format!("{:.2}", *g as f64 / 1000.0))
            .collect();
        let more = if gaps.len() > shown.len() {
            ", …"
        } else {
            ""
        };
        format!("{}{more}", shown.join(", "))
    };
    ensure(polls.len() <= most, || {
        format!(
            "polled {} times in {:.1} s of processing (pauses of {} s): a careful client polls at most about {POLLS_PER_SECOND} times a second, with growing pauses",
            polls.len(),
            window.as_secs_f64(),
            gaps_text()
        )
    })?;
    // A loaded machine only lengthens pauses, so the shortest pause is the client's own.
    if gaps.len() >= 3 {
        let (shortest, longest) = (
            gaps.iter().copied().min().unwrap_or(0),
            gaps.iter().copied().max().unwrap_or(0),
        );
        ensure(longest as f64 >= shortest as f64 * 1.5, || {
            format!(
                "the pauses between polls did not grow ({} s): a careful client backs off while a file processes",
                gaps_text()
            )
        })?;
    }
    Ok(())
});

/// How long the kit lets `wait` run where an error should end it at once.
const ERROR_WAIT: Duration = Duration::from_secs(2);

body!(reports_errors, |ctx| {
    let control = ctx.control()?;
    // A 500, a 429 and a dropped connection while polling pass: a poll is a read, retried;
    // the wait goes on to the end.
    let id = queued_file(ctx, "unavailable-while-waiting.csv").await?;
    control
        .force(&id, &FINISHED_ONE)
        .await
        .map_err(Stop::Fail)?;
    for action in [
        FaultAction::InternalError,
        FaultAction::RateLimited {
            retry_after_secs: 0,
        },
        FaultAction::DropConnection,
    ] {
        control
            .fault(&fault_on("GET", format!("/v1/imports/{id}"), action).times(1))
            .await
            .map_err(Stop::Fail)?;
    }
    let file = ctx.driver.wait(&id, ERROR_WAIT).await.map_err(|e| {
        Stop::Fail(format!(
            "wait ended on a 500, a 429 or a dropped connection answered to a poll: {e}; a poll is a read, so a careful client retries it and goes on waiting"
        ))
    })?;
    ensure(file["status"] == "FINISHED", || {
        format!("expected FINISHED, got {file}")
    })?;
    // A file that does not exist: 404 on the first poll.
    let started = Instant::now();
    let missing = ctx.driver.wait("999999999", ERROR_WAIT).await;
    check_reported(missing, started, 404, "a file that does not exist (404)")?;
    // A file that exists, read with a key that stops working (401 on every poll).
    let created = super::raw_create(ctx, "refused-while-waiting.csv").await?;
    let id = file_id(&created)?;
    let fault = control
        .fault(&fault_on(
            "GET",
            format!("/v1/imports/{id}"),
            refusal(401, "unauthorized", &[]),
        ))
        .await
        .map_err(Stop::Fail)?;
    let started = Instant::now();
    let refused = ctx.driver.wait(&id, ERROR_WAIT).await;
    control.remove_fault(fault).await.map_err(Stop::Fail)?;
    check_reported(refused, started, 401, "a key refused while waiting (401)")
});

/// `wait` must have ended with the error `status`, not a timeout, well before its timeout.
fn check_reported(
    answer: Result<Value, crate::driver::DriverError>,
    started: Instant,
    status: u16,
    what: &str,
) -> crate::scenario::Check {
    let took = started.elapsed();
    let err = match answer {
        Ok(file) => {
            return Err(Stop::Fail(format!(
                "wait on {what} returned {file} instead of the error"
            )))
        }
        Err(err) => err,
    };
    ensure(!err.timed_out && err.status == Some(status), || {
        format!(
            "wait on {what} ended after {:.1} s with {}: a careful client's wait reports an error answer as it comes (status {status}), it does not keep polling and call it a timeout",
            took.as_secs_f64(),
            if err.timed_out { "a timeout".to_owned() } else { format!("status {:?}: {err}", err.status) }
        )
    })?;
    ensure(took < ERROR_WAIT, || {
        format!(
            "wait on {what} took {:.1} s to report it: a careful client stops at the first error answer",
            took.as_secs_f64()
        )
    })
}
