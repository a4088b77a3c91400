//! Listing: order, offsets, bounds, and `list_all` across pages while the data moves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use u21_mock::{FaultAction, Timing, Transition};

use super::{body, canned, fault_on, file_id, ids_of, raw_create, unique, upload};
use crate::scenario::{ensure, Check, Ctx, Rule, Stop};

/// Three files at least a second apart, in a window of seconds no earlier file shares (on a
/// target that cannot be reset, such as the sandbox, earlier files must not leak into the
/// window). Returns their ids oldest first and the second each was created in: a second
/// boundary may pass between two calls, so the seconds need not be consecutive.
async fn three_files(ctx: &Ctx<'_>, prefix: &str) -> Result<(Vec<String>, Vec<i64>), Stop> {
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
    Ok((ids, seconds))
}

/// The ids of `list` that are among `ids`, in the list's order: the decided points are read
/// from the kit's own files, whatever else a real stream holds.
fn ours(list: &Value, ids: &[String]) -> Vec<String> {
    ids_of(list)
        .into_iter()
        .filter(|id| ids.contains(id))
        .collect()
}

/// A window that holds the three files whether the bounds include their second or not (the
/// second before the first, the second after the one after the last), so one decided point is
/// read without depending on another; a page of 100, room for other clients' files in a
/// shared stream.
fn wide_window(ctx: &Ctx<'_>, first: i64, end: i64) -> Value {
    json!({"created_after": first - 1, "created_before": end + 1, "stream_names": [ctx.target.stream], "limit": 100})
}

/// The order the target lists the files in: `ids` (oldest first) or reversed.
async fn listed_order(
    ctx: &Ctx<'_>,
    ids: &[String],
    first: i64,
    end: i64,
) -> Result<Vec<String>, Stop> {
    let got = ours(&ctx.driver.list(&wide_window(ctx, first, end)).await?, ids);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    if got == ids || got == newest_first {
        Ok(got)
    } else {
        Err(Stop::Fail(format!(
            "expected the three files {ids:?} in either order, got {got:?}"
        )))
    }
}

body!(list_newest_first, |ctx| {
    let (ids, seconds) = three_files(ctx, "order").await?;
    let (first, end) = (seconds[0], seconds[2] + 1);
    let got = ours(&ctx.driver.list(&wide_window(ctx, first, end)).await?, &ids);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    if got == newest_first {
        ctx.settle(
            "list_newest_first",
            json!(true),
            "listed three files newest first",
        )
    } else if got == ids {
        ctx.settle(
            "list_newest_first",
            json!(false),
            format!("listed three files oldest first ({got:?})"),
        )
    } else {
        Err(Stop::Fail(format!(
            "expected {newest_first:?}, got {got:?}"
        )))
    }
});

body!(list_offset_pages, |ctx| {
    let (ids, seconds) = three_files(ctx, "offset").await?;
    let (first, end) = (seconds[0], seconds[2] + 1);
    let order = listed_order(ctx, &ids, first, end).await?;
    // A real stream may get another client's file in the window at any moment: the page is
    // read against the whole window as listed just before, and read again if it moved.
    for _ in 0..3 {
        let whole = ids_of(&ctx.driver.list(&wide_window(ctx, first, end)).await?);
        let mut request = wide_window(ctx, first, end);
        request["offset"] = json!(2);
        request["limit"] = json!(1);
        let got = ids_of(&ctx.driver.list(&request).await?);
        // In the order listed, page 2 of size 1 is the second file; a record offset of 2,
        // the third.
        if whole.len() >= 3 && got == [whole[1].clone()] {
            return ctx.settle(
                "list_offset",
                json!("page"),
                "answered offset 2, limit 1 with the second file of the window: offset counts pages",
            );
        }
        if whole.len() >= 3 && got == [whole[2].clone()] {
            return ctx.settle(
                "list_offset",
                json!("record"),
                "answered offset 2, limit 1 with the third file of the window: offset counts records",
            );
        }
    }
    Err(Stop::Fail(format!(
        "offset 2, limit 1 answered neither the second nor the third file of the window, three times (the kit's files in order: {order:?})"
    )))
});

body!(list_bounds, |ctx| {
    let (ids, seconds) = three_files(ctx, "bounds").await?;
    let stream = json!([ctx.target.stream]);
    // From the middle file's second: it is listed only if created_after includes its second.
    let window = json!({"created_after": seconds[1], "created_before": seconds[2] + 2, "stream_names": stream, "limit": 100});
    let after = ours(&ctx.driver.list(&window).await?, &ids);
    let after_settled = if after.len() == 2 && after.contains(&ids[1]) {
        ctx.settle(
            "created_after_inclusive",
            json!(true),
            "included a file created in the created_after second",
        )
    } else if after == [ids[2].clone()] {
        ctx.settle(
            "created_after_inclusive",
            json!(false),
            "left out a file created in the created_after second",
        )
    } else {
        Err(Stop::Fail(format!(
            "created_after = the middle file's second listed {after:?} of {ids:?}"
        )))
    };
    // Up to the middle file's second: it is listed only if created_before includes it.
    let before = ours(&ctx.driver.list(&json!({"created_after": seconds[0] - 1, "created_before": seconds[1], "stream_names": stream, "limit": 100})).await?, &ids);
    let mut both = ids[..2].to_vec();
    both.sort();
    let mut sorted = before.clone();
    sorted.sort();
    let before_settled = if before == [ids[0].clone()] {
        ctx.settle(
            "created_before_inclusive",
            json!(false),
            "left out a file created in the created_before second",
        )
    } else if sorted == both {
        ctx.settle(
            "created_before_inclusive",
            json!(true),
            "included a file created in the created_before second",
        )
    } else {
        Err(Stop::Fail(format!(
            "created_before = the middle file's second listed {before:?} of {ids:?}"
        )))
    };
    // Both points are noted before either failure is told.
    after_settled.and(before_settled)
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
    // Another client's files may share a real stream: they may come too, but each once.
    let got = distinct_ids(&all, "a careful client keeps each file once")?;
    let missing: Vec<&String> = ids.iter().filter(|id| !got.contains(id)).collect();
    ensure(missing.is_empty(), || {
        format!("with pages of 2, expected all of {ids:?}, got {got:?} (missing {missing:?})")
    })
});

/// Files for the paging scenarios: uploaded under `manual` timing, so each stays QUEUED until
/// the scenario says otherwise. Returns their ids, oldest first.
async fn queued_files(ctx: &Ctx<'_>, prefix: &str, n: usize) -> Result<Vec<String>, Stop> {
    let mut ids = Vec::new();
    for i in 0..n {
        let form = upload(ctx, &format!("{prefix}{i}.csv"), &ctx.row()).await?;
        ids.push(file_id(&form)?);
        ctx.tick().await?;
    }
    Ok(ids)
}

/// The list calls the client made after `mark`, as their JSON bodies.
async fn list_bodies(ctx: &Ctx<'_>, mark: u64) -> Result<Vec<Value>, Stop> {
    Ok(ctx
        .requests("POST", "/v1/imports/list", mark)
        .await?
        .into_iter()
        .map(|entry| entry.body.json.unwrap_or(Value::Null))
        .collect())
}

/// The ids `list_all` returned, failing on a repeated one.
fn distinct_ids(all: &Value, why: &str) -> Result<Vec<String>, Stop> {
    let ids = ids_of(all);
    let mut seen = std::collections::BTreeSet::new();
    for id in &ids {
        if !seen.insert(id) {
            return Err(Stop::Fail(format!(
                "file {id} came back twice ({ids:?}): {why}"
            )));
        }
    }
    Ok(ids)
}

body!(keeps_filters, |ctx| {
    let control = ctx.control()?;
    control.timing(Timing::Manual).await.map_err(Stop::Fail)?;
    control.freeze().await.map_err(Stop::Fail)?;
    let stream = ctx.target.stream.clone();
    let other = format!("{stream}-other");
    // One file before the window, five that match, one per filter that must not, one after.
    ctx.next_second().await?;
    queued_files(ctx, "early", 1).await?;
    ctx.next_second().await?;
    let matching = queued_files(ctx, "match", 5).await?;
    let first = ctx.driver.status(&matching[0]).await?["date_created"]
        .as_i64()
        .unwrap_or(0);
    raw_create(ctx, "pending.csv").await?;
    ctx.driver
        .upload(&other, &ctx.file("elsewhere.csv", &ctx.row()))
        .await?;
    ctx.tick().await?;
    ctx.next_second().await?;
    queued_files(ctx, "late", 1).await?;
    let request = json!({
        "statuses": ["QUEUED"],
        "stream_names": [stream],
        "created_after": first,
        "created_before": first + 1,
        "limit": 2,
    });
    let mark = ctx.mark().await?;
    let all = ctx.driver.list_all(&request).await?;
    let bodies = list_bodies(ctx, mark).await?;
    same_limit(&bodies, &request)?;
    for (page, body) in bodies.iter().enumerate() {
        for filter in [
            "statuses",
            "stream_names",
            "created_after",
            "created_before",
        ] {
            ensure(body[filter] == request[filter], || {
                format!(
                    "page {} was asked with {filter} = {} instead of {}: a careful client sends every filter on every page (sent {body})",
                    page + 1,
                    body[filter],
                    request[filter]
                )
            })?;
        }
    }
    let offsets: Vec<Value> = bodies.iter().map(|b| b["offset"].clone()).collect();
    let shown = Value::from(offsets.clone());
    let offset_rule = |message: String| Stop::Broke(Rule::Decided("list_offset"), message);
    if offsets.first() != Some(&json!(1)) {
        return Err(offset_rule(format!("the pages asked had offsets {shown}: Unit21's offset counts pages from 1, so the first page is offset 1")));
    }
    if !offsets.iter().enumerate().all(|(i, o)| *o == json!(i + 1)) {
        return Err(offset_rule(format!("the pages asked had offsets {offsets:?}: offset counts pages of `limit` files (1, 2, 3), not records")));
    }
    // Five files in pages of two: three pages, or a fourth, empty, for a client that stops only
    // on a short or empty page.
    ensure(bodies.len() <= 4, || {
        format!(
            "{} pages were asked for 5 files in pages of 2: a careful client stops once it has total_count files",
            bodies.len()
        )
    })?;
    let mut got = distinct_ids(&all, "a careful client keeps each file once")?;
    got.sort();
    let mut want = matching.clone();
    want.sort();
    ensure(got == want, || {
        format!("with statuses, stream_names, created_after and created_before, expected exactly {want:?}, got {got:?}")
    })
});

/// Fails, naming the adapter protocol, a `list_all` that paged with a limit of its own: the
/// protocol asks for the request's (Unit21 takes any limit from 1 to 1000), so the kit can
/// make a handful of files span several pages.
fn same_limit(bodies: &[Value], request: &Value) -> Check {
    match bodies.iter().position(|b| b["limit"] != request["limit"]) {
        None => Ok(()),
        Some(page) => Err(Stop::Broke(
            Rule::Protocol,
            format!(
                "page {} was asked with limit = {} instead of the request's {}: the adapter protocol's list_all pages with the request's limit, so the kit can make small pages (this is the protocol's rule, not Unit21's: Unit21 takes any limit from 1 to 1000); pass the limit through to your SDK",
                page + 1,
                bodies[page]["limit"],
                request["limit"]
            ),
        )),
    }
}

/// More list calls than this in one listing of a handful of files is a client that does not
/// stop.
const RUNAWAY_PAGES: usize = 12;

/// Runs `list_all(request)` with each list answer slowed down, and calls `between` once the
/// first page has been answered, while the client has yet to get the second. Returns what the
/// client returned and the list calls it made.
async fn list_while_changing<'a>(
    ctx: &'a Ctx<'a>,
    request: &'a Value,
    between: impl std::future::Future<Output = Check> + 'a,
) -> Result<(Value, Vec<Value>), Stop> {
    let control = ctx.control()?;
    // Page 1 is answered at once; every later page waits 400 ms before it is read, a window
    // in which the kit, seeing page 1 answered, makes its change, so the change lands between
    // the two pages every time (even on a loaded machine).
    for (ms, times) in [(0, 1), (400, 11)] {
        control
            .fault(&fault_on("POST", "/v1/imports/list", FaultAction::Latency { ms }).times(times))
            .await
            .map_err(Stop::Fail)?;
    }
    let mark = ctx.mark().await?;
    let done = AtomicBool::new(false);
    let listing = async {
        let all = ctx.driver.list_all(request).await;
        done.store(true, Ordering::SeqCst);
        all
    };
    // Waits for the first page's answer, makes the change, then watches for a client that
    // keeps paging (it is stopped with a 400 so the run goes on).
    let watcher = async {
        let mut between = Some(between);
        while !done.load(Ordering::SeqCst) {
            let calls = ctx.requests("POST", "/v1/imports/list", mark).await?;
            if let Some(change) =
                between.take_if(|_| calls.first().is_some_and(|c| c.status.is_some()))
            {
                change.await?;
            }
            if calls.len() > RUNAWAY_PAGES {
                control
                    .fault(&fault_on(
                        "POST",
                        "/v1/imports/list",
                        canned(
                            400,
                            r#"{"error_code":"bad_request","message":"stopped by the conformance kit: too many pages"}"#,
                            &[("content-type", "application/json")],
                        ),
                    ))
                    .await
                    .map_err(Stop::Fail)?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok::<(), Stop>(())
    };
    let (all, changed) = tokio::join!(listing, watcher);
    control.clear_faults().await.map_err(Stop::Fail)?;
    changed?;
    let bodies = list_bodies(ctx, mark).await?;
    same_limit(&bodies, request)?;
    ensure(bodies.len() <= RUNAWAY_PAGES, || {
        format!(
            "the client asked for {} pages and was stopped: a careful client stops on an empty or short page, or once it has total_count files",
            bodies.len()
        )
    })?;
    Ok((all?, bodies))
}

body!(empty_last_page, |ctx| {
    let control = ctx.control()?;
    control.timing(Timing::Manual).await.map_err(Stop::Fail)?;
    control.freeze().await.map_err(Stop::Fail)?;
    ctx.next_second().await?;
    let ids = queued_files(ctx, "leaving", 4).await?;
    let first = ctx.driver.status(&ids[0]).await?["date_created"]
        .as_i64()
        .unwrap_or(0);
    let request = json!({"statuses": ["QUEUED"], "stream_names": [ctx.target.stream], "created_after": first, "limit": 2});
    // Newest first, page 1 holds the two newest; then the two oldest leave the filter, so
    // page 2 comes back empty and total_count drops to 2.
    let (all, bodies) = list_while_changing(ctx, &request, async {
        for id in &ids[..2] {
            control
                .force(id, &Transition::Deleted)
                .await
                .map_err(Stop::Fail)?;
        }
        Ok(())
    })
    .await?;
    ensure(bodies.len() <= 3, || {
        format!(
            "{} pages were asked after page 2 came back empty: a careful client stops on an empty page",
            bodies.len()
        )
    })?;
    let got = distinct_ids(&all, "a careful client keeps each file once")?;
    let mut want = vec![ids[3].clone(), ids[2].clone()];
    let mut sorted = got.clone();
    sorted.sort();
    want.sort();
    ensure(sorted == want, || {
        format!("expected the two files still QUEUED, {want:?}, got {got:?}")
    })
});

body!(files_arriving, |ctx| {
    ctx.control()?.freeze().await.map_err(Stop::Fail)?;
    let mut ids = Vec::new();
    for i in 0..3 {
        let form = ctx
            .driver
            .create(&ctx.target.stream, &unique(ctx, &format!("before{i}.csv")))
            .await?;
        ids.push(file_id(&form)?);
        ctx.tick().await?;
    }
    let first = ctx.driver.status(&ids[0]).await?["date_created"]
        .as_i64()
        .unwrap_or(0);
    let request = json!({"stream_names": [ctx.target.stream], "created_after": first, "limit": 2});
    // A file created after page 1 is newest, so it pushes every file one place down: the
    // last file of page 1 is the first of page 2.
    let (all, _) = list_while_changing(ctx, &request, async {
        ctx.tick().await?;
        raw_create(ctx, "arriving.csv").await.map(drop)
    })
    .await?;
    let got = distinct_ids(
        &all,
        "a file created while paging shifts later pages; a careful client drops file_ids it has already seen (or pins created_before to when it started)",
    )?;
    let missing: Vec<&String> = ids.iter().filter(|id| !got.contains(id)).collect();
    ensure(missing.is_empty(), || {
        format!("files {missing:?} that existed before paging began are missing from {got:?}")
    })
});
