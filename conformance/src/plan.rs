//! What a run will do to a target the kit cannot clean (a real account: no control API, and
//! the API has no delete), learnt by rehearsing the same run first, with the same client,
//! against a private fake without a control API: the files it will create (their names are
//! the real run's, which shares the rehearsal's run id), the bytes it will upload, the
//! records it will load and the calls it will make. Nothing reaches the target until the user
//! has seen it and said `--yes`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::driver::Driver;
use crate::target::Target;
use crate::{run_with, RunOptions, Selection};

/// A file the run will leave behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFile {
    /// Its S3 key on the rehearsal fake; the file name (its last part) is the real run's.
    pub key: String,
    /// The bytes uploaded to it (0: created, never uploaded).
    pub bytes: u64,
    /// The records it loads once processed.
    pub records: u64,
}

/// What the run will do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The stream every file goes to.
    pub stream: String,
    /// Every file it will create, in order.
    pub files: Vec<PlannedFile>,
    /// Calls by route, e.g. `POST /v1/imports/pre-signed-url/create`.
    pub calls: BTreeMap<String, usize>,
    /// Scenarios skipped on such a target, and why.
    pub skipped: Vec<(String, String)>,
}

impl Plan {
    /// Rehearses `selection` with the client `driver` (pointed at `rehearsal`, a fake made by
    /// [`Target::rehearsal`]) under `options`, whose `run_id` the real run must share.
    pub async fn rehearse(
        rehearsal: &Target,
        driver: &dyn Driver,
        selection: &Selection,
        mut options: RunOptions,
    ) -> Plan {
        // The rehearsal learns what the run would do: no allowance, no pacing.
        options.allowance = crate::Allowance::default();
        let report = run_with(rehearsal, driver, selection, options, &mut |_| {}).await;
        let fake = rehearsal
            .fake()
            .expect("a rehearsal runs against its own fake");
        let mut files = Vec::new();
        for made in &report.left_behind {
            let bytes = fake.files().object(&made.key).map_or(0, |o| o.size);
            let records = match made.file_id.parse::<u64>() {
                Ok(id) => fake
                    .files()
                    .get(id)
                    .await
                    .map_or(0, |f| f.successful_count + f.failure_count),
                Err(_) => 0,
            };
            files.push(PlannedFile {
                key: made.key.clone(),
                bytes,
                records,
            });
        }
        let mut calls = BTreeMap::new();
        for request in fake.journal().requests(&u21_mock::JournalQuery::default()) {
            *calls
                .entry(route(&request.method, &request.path))
                .or_insert(0) += 1;
        }
        let skipped = report
            .results
            .iter()
            .filter_map(|r| match &r.outcome {
                crate::Outcome::Skip(why) => Some((r.name.clone(), why.clone())),
                _ => None,
            })
            .collect();
        Plan {
            stream: rehearsal.stream.clone(),
            files,
            calls,
            skipped,
        }
    }

    /// Files, bytes, records.
    pub fn totals(&self) -> (usize, u64, u64) {
        (
            self.files.len(),
            self.files.iter().map(|f| f.bytes).sum(),
            self.files.iter().map(|f| f.records).sum(),
        )
    }

    /// The plan as the command prints it.
    pub fn text(&self, target: &str) -> String {
        let (files, bytes, records) = self.totals();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "plan for {target} (rehearsed with the same client against a private fake; the API has no delete, so all of it stays):"
        );
        let _ = writeln!(
            out,
            "  {files} files in stream {:?}, {bytes} bytes uploaded, {records} records loaded",
            self.stream
        );
        for file in &self.files {
            let name = file.key.rsplit('/').next().unwrap_or(&file.key);
            let name = name.split_once('_').map_or(name, |(_, rest)| rest);
            let _ = writeln!(
                out,
                "  create  {name}  ({} bytes, {} records)",
                file.bytes, file.records
            );
        }
        let total: usize = self.calls.values().sum();
        let _ = writeln!(out, "  {total} calls:");
        for (route, count) in &self.calls {
            let _ = writeln!(out, "    {count:>4}  {route}");
        }
        for (name, why) in &self.skipped {
            let _ = writeln!(out, "  skip    {name} ({why})");
        }
        out
    }
}

/// A request's route, ids folded: `GET /v1/imports/{file_id}`; S3's form POST by its name.
fn route(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    if !path.starts_with("/v1/") {
        return format!("{method} S3 form upload");
    }
    let folded: Vec<&str> = path
        .split('/')
        .map(|segment| {
            if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
                "{file_id}"
            } else {
                segment
            }
        })
        .collect();
    format!("{method} {}", folded.join("/"))
}
