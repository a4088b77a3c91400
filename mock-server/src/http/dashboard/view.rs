//! The dashboard's HTML. maud escapes every interpolated value, so file and stream names
//! (which clients choose) can never become markup.

use std::sync::Arc;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::config::Timing;
use crate::engine::JournalEntry;
use crate::model::{FileRecord, Status};

const STYLE: &str = include_str!("assets/dashboard.css");
const SCRIPT: &str = include_str!("assets/dashboard.js");

/// A time on the fake's clock (ms since the epoch), in UTC, in `format`.
fn format_ms(ms: i64, format: &[time::format_description::FormatItem<'_>]) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// `2026-11-28 06:30:12`.
fn when(ms: i64) -> String {
    format_ms(
        ms,
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
}

/// `Nov 28 06:30:12`: the table's compact form (the full time is in its tooltip).
fn short_when(ms: i64) -> String {
    format_ms(
        ms,
        time::macros::format_description!("[month repr:short] [day] [hour]:[minute]:[second]"),
    )
}

/// `06:30:12`: the processing column's compact form (the full time is in its tooltip).
fn time_of_day(ms: i64) -> String {
    when(ms)
        .split_once(' ')
        .map_or_else(|| ms.to_string(), |(_, t)| t.to_owned())
}

fn maybe_when(ms: Option<i64>) -> String {
    ms.map_or_else(|| "–".to_owned(), when)
}

fn badge(status: Status) -> Markup {
    html! { span class={ "badge status-" (status.as_str()) } { (status.as_str()) } }
}

/// The buttons that act on a file: what Unit21's UI offers for its status.
fn actions(file: &FileRecord) -> Markup {
    let id = file.id;
    html! {
        @if file.status == Status::ADDED {
            button type="button" class="primary" data-action="process" data-id=(id)
                title="Start processing (ADDED → QUEUED)" { "Process" }
        }
        @if file.status != Status::DELETED {
            button type="button" class="danger" data-action="delete" data-id=(id)
                title="Mark the file DELETED" { "Delete" }
        }
    }
}

/// The page: layout, style and script; the data arrives as fragments.
pub(super) fn page() -> Markup {
    let timing_help = "How fast files move through QUEUED and PROCESSING";
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "u21-mock · imports dashboard" }
                // No icon: without this line every page load asks for /favicon.ico.
                link rel="icon" href="data:,";
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.topbar {
                    div.brand {
                        span.logo { "u21" }
                        div {
                            h1 { "Imports" }
                            p.subtitle { "u21-mock, a local fake of Unit21's file imports API" }
                        }
                    }
                    div.who {
                        label for="org" { "Organisation" }
                        select #org {}
                        label for="key" { "or API key" }
                        input #key type="password" placeholder="u21-key" autocomplete="off";
                    }
                    div.clockbox {
                        div #clock { "…" }
                        div.advance title=(timing_help) {
                            span.muted { "Advance the clock:" }
                            button type="button" data-advance="1" { "+1 s" }
                            button type="button" data-advance="10" { "+10 s" }
                            button type="button" data-advance="60" { "+1 min" }
                            button type="button" data-advance="900" { "+15 min" }
                            button type="button" data-advance="3600" { "+1 h" }
                        }
                    }
                }
                div #token-panel hidden {
                    p { "This fake's control API has a token. Enter it to use the dashboard." }
                    input #token type="password" placeholder="control token";
                    button type="button" #token-save class="primary" { "Use token" }
                }
                p #notice role="status" hidden {}
                main.layout {
                    section.card.wide {
                        div.cardhead {
                            h2 { "Files" }
                            div.filters {
                                label for="status-filter" { "Status" }
                                select #status-filter {
                                    option value="" { "All" }
                                    @for status in Status::ALL {
                                        option value=(status.as_str()) { (status.as_str()) }
                                    }
                                }
                                label for="stream-filter" { "Stream" }
                                select #stream-filter {
                                    option value="" { "All" }
                                }
                            }
                        }
                        div #imports { p.muted { "Loading…" } }
                    }
                    aside.side {
                        section.card #detail-card hidden {
                            div.cardhead {
                                h2 { "File" }
                                button type="button" #detail-close class="plain" title="Close" { "✕" }
                            }
                            div #detail {}
                        }
                        section.card {
                            h2 { "Upload by hand" }
                            p.muted { "As in Unit21's UI: the file is stored and waits as ADDED until you process it." }
                            form #upload-form {
                                label for="upload-stream" { "Stream" }
                                input #upload-stream name="stream" required placeholder="e.g. transactions" list="stream-names";
                                datalist #stream-names {}
                                label for="upload-file" { "File (CSV, JSON or JSONL)" }
                                input #upload-file name="file" type="file" required;
                                button #upload-submit type="submit" class="primary" { "Upload" }
                            }
                        }
                        section.card {
                            div.cardhead {
                                h2 { "Requests" }
                                span.muted { "newest first" }
                            }
                            div #journal {}
                        }
                    }
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
}

pub(super) fn problem(message: &str) -> Markup {
    html! { p.problem { (message) } }
}

pub(super) fn org_options(orgs: &[String]) -> Markup {
    html! {
        @for org in orgs {
            option value=(org) { (org) }
        }
    }
}

/// What the files fragment shows.
pub(super) struct Imports<'a> {
    pub org: &'a str,
    /// Per status, in [`Status::ALL`] order.
    pub counts: &'a [u64; 7],
    pub streams: &'a [Arc<str>],
    /// Newest first.
    pub rows: &'a [&'a FileRecord],
    /// Files matching the filters, shown or not.
    pub matching: u64,
    pub status: Option<Status>,
}

pub(super) fn imports(view: &Imports<'_>) -> Markup {
    let total: u64 = view.counts.iter().sum();
    let streams: Vec<&str> = view.streams.iter().map(|s| &**s).collect();
    let streams = serde_json::to_string(&streams).unwrap_or_default();
    html! {
        div #imports-root data-org=(view.org) data-streams=(streams) {
            div.counts {
                button type="button" class={ "chip" @if view.status.is_none() { " selected" } } data-status-filter="" {
                    "All " strong { (total) }
                }
                @for (status, count) in Status::ALL.iter().zip(view.counts) {
                    button type="button"
                        class={ "chip status-" (status.as_str()) @if *count == 0 { " zero" } @if view.status == Some(*status) { " selected" } }
                        data-status-filter=(status.as_str()) {
                        (status.as_str()) " " strong { (count) }
                    }
                }
            }
            @if view.rows.is_empty() {
                p.empty {
                    @if total == 0 {
                        "No files in " strong { (view.org) } " yet. Upload one by hand, or create one through the API."
                    } @else {
                        "No files match these filters."
                    }
                }
            } @else {
                @if view.matching > view.rows.len() as u64 {
                    p.muted { "Showing the newest " (view.rows.len()) " of " (view.matching) " matching files." }
                }
                div.tablewrap {
                    table.imports {
                        thead { tr {
                            th { "ID" } th { "File" } th { "Stream" } th { "Status" } th { "Created" }
                            th { "Processing" } th.num title="Rows processed successfully" { "OK" } th.num title="Rows that failed" { "Failed" }
                            th {}
                        } }
                        tbody {
                            @for file in view.rows {
                                tr data-file-id=(file.id) data-status=(file.status.as_str()) {
                                    td { a href={ "?file=" (file.id) } data-open=(file.id) { (file.id) } }
                                    td.name title=(file.file_name) { (file.file_name) }
                                    td { (&*file.stream) }
                                    td.status {
                                        (badge(file.status))
                                        @if let Some(code) = file.failure_code { " " code.failure { (code.as_str()) } }
                                    }
                                    td.time title=(when(file.created_ms)) { (short_when(file.created_ms)) }
                                    @match (file.process_start_ms, file.process_end_ms) {
                                        (Some(start), Some(end)) => td.time title={ (when(start)) " → " (when(end)) } {
                                            (time_of_day(start)) " → " (time_of_day(end))
                                        },
                                        (Some(start), None) => td.time title=(when(start)) { "since " (time_of_day(start)) },
                                        _ => td.time { "–" },
                                    }
                                    td.num.successful { (file.successful_count) }
                                    td.num.failed { (file.failure_count) }
                                    td.actions { (actions(file)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn file(file: &FileRecord) -> Markup {
    let start = file.history.first().map_or(file.created_ms, |c| c.at_ms);
    html! {
        div #detail-root data-file-id=(file.id) data-status=(file.status.as_str()) {
            h3 { (file.file_name) " " span.muted { "#" (file.id) } }
            p { (badge(file.status)) }
            dl {
                dt { "Organisation" } dd { (&*file.org) }
                dt { "Stream" } dd { (&*file.stream) }
                dt { "Type" } dd { (file.file_type.as_str()) }
                dt { "Created" } dd { (when(file.created_ms)) }
                dt { "Processing started" } dd { (maybe_when(file.process_start_ms)) }
                dt { "Processing ended" } dd { (maybe_when(file.process_end_ms)) }
                dt { "Rows OK / failed" } dd { (file.successful_count) " / " (file.failure_count) }
                dt { "Failure code" } dd { (file.failure_code.map_or("–", |c| c.as_str())) }
                dt { "S3 key" } dd { code { (file.s3_key) } }
                dt { "md5_hash" } dd { (file.md5_hash.as_deref().unwrap_or("–")) }
            }
            div.actions { (actions(file)) }
            h4 { "Status history" }
            ol.history {
                @for change in &file.history {
                    li data-status=(change.status.as_str()) {
                        (badge(change.status))
                        span.time { (when(change.at_ms)) }
                        span.muted { "+" (format_elapsed(change.at_ms - start)) }
                    }
                }
            }
        }
    }
}

/// `+0 s`, `+42 s`, `+15 min 3 s`, `+2 h 5 min`.
fn format_elapsed(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

pub(super) fn journal(entries: &[JournalEntry]) -> Markup {
    html! {
        @if entries.is_empty() {
            p.muted { "No requests to the Unit21 or S3 routes yet." }
        } @else {
            table.journal {
                colgroup { col.t; col.m; col; col.s; }
                tbody {
                    @for entry in entries.iter().rev() {
                        tr {
                            td.time title=(when(entry.at_ms)) { (time_of_day(entry.at_ms)) }
                            td { code { (entry.method) } }
                            td.path title=(entry.path) { (entry.path) }
                            td.num {
                                @match entry.status {
                                    Some(status) => span class={ "http http" (status / 100) } { (status) },
                                    None => span.http.http5 { "dropped" },
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn clock(now_ms: i64, frozen: bool, timing: Timing) -> Markup {
    let timing = match timing {
        Timing::Instant => "instant",
        Timing::Fast => "fast",
        Timing::Realistic => "realistic",
        Timing::Manual => "manual",
    };
    html! {
        span.now #clock-now data-ms=(now_ms) { (when(now_ms)) " UTC" }
        span.muted { @if frozen { " · frozen" } @else { " · running" } " · timing " (timing) }
    }
}
