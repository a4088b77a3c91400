//! Conformance scenarios for clients of Unit21's file imports API.
//!
//! A run takes a [`Target`] (the fake in-process, a running fake at a URL, or the real sandbox)
//! and a [`Driver`] (the reference client, or any program through the adapter protocol
//! described in [`driver`]), runs the selected scenarios of [`catalogue`], and returns a
//! [`Report`] (summary, JSON, JUnit XML). Scenarios that need the fake's control API (the
//! clock, faults, the journal) are skipped, with that reason, on a target without it.
//!
//! Nothing can hang a run: every adapter call has a deadline ([`Deadlines`]), every scenario
//! one, and the run a budget ([`RunOptions`]). A running fake is left as it was found: its state
//! is saved when the kit connects, each scenario starts from a clean copy, and the saved state
//! is put back at the end ([`Target::restore`]).
//!
//! # Layout
//! - `catalogue`: the scenarios; `scenario`: what one is and gets; `contract`: raw JSON shapes.
//! - `driver`: the client under test; `target`: the server and its control API.
//! - `report`: results and their formats; `other_origin`: a listener a scenario redirects to.

pub mod catalogue;
pub mod contract;
pub mod driver;
pub mod fidelity;
pub mod ledger;
pub mod other_origin;
pub mod plan;
pub mod report;
pub mod scenario;
pub mod target;

use std::time::{Duration, Instant};

pub use catalogue::catalogue;
pub use driver::{AdapterDriver, Deadlines, Driver, DriverError, ReferenceDriver, CLOSE_GRACE};
pub use ledger::{Allowance, MadeFile};
pub use plan::{Plan, PlannedFile};
pub use report::{Report, ScenarioResult};
pub use scenario::{Outcome, Rule, Scenario};
pub use target::{extra_authorities, Settings, SetupError, Target};

/// Which scenarios to run: by name or tag.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Run only scenarios with one of these names or tags (all when empty).
    pub only: Vec<String>,
    /// Never run scenarios with one of these names or tags.
    pub skip: Vec<String>,
}

impl Selection {
    /// Whether `scenario` is selected.
    pub fn includes(&self, scenario: &Scenario) -> bool {
        let named = |names: &[String]| {
            names
                .iter()
                .any(|n| n == scenario.name || scenario.tags.contains(&n.as_str()))
        };
        (self.only.is_empty() || named(&self.only)) && !named(&self.skip)
    }
}

/// Files a run may leave on a target it cannot clean, unless `--max-files` says otherwise (a
/// full run makes 25).
pub const DEFAULT_MAX_FILES: usize = 50;
/// Bytes a run may upload there, unless `--max-bytes` says otherwise (a full run uploads
/// under 1 KiB; `--allow-large-uploads` needs a budget of 301 MiB more).
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024;

/// Time limits of a run, so no client (stuck, or polling in a loop) can hold it up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// The whole run: scenarios that would start after it are failed, one that is running when
    /// it ends is cut.
    pub budget: Duration,
    /// One scenario.
    pub scenario_deadline: Duration,
    /// Upload a file over 300 MiB (`s3-oversized-file`) to a target without a control API,
    /// such as a real account (`--allow-large-uploads`); a fake always takes it.
    pub allow_large_uploads: bool,
    /// What the run may leave on a target it cannot clean, and how it paces its uploads there.
    pub allowance: Allowance,
    /// The run id file names and record ids carry (`u21-conformance-c<ms>-<hex>`); a fresh one
    /// when `None`. A rehearsal ([`Plan::rehearse`]) and the run it plans share one.
    pub run_id: Option<String>,
}

impl RunOptions {
    /// The defaults for `target`: tight against a fake (whose clock and faults make every
    /// scenario quick), loose against the sandbox (where processing takes its real minutes).
    pub fn for_target(target: &Target) -> Self {
        if target.control.is_some() {
            Self {
                budget: Duration::from_secs(300),
                scenario_deadline: Duration::from_secs(45),
                allow_large_uploads: false,
                allowance: Allowance::default(),
                run_id: None,
            }
        } else {
            Self {
                budget: Duration::from_secs(4 * 3600),
                scenario_deadline: Duration::from_secs(45 * 60),
                allow_large_uploads: false,
                allowance: Allowance {
                    files: Some(DEFAULT_MAX_FILES),
                    bytes: Some(DEFAULT_MAX_BYTES),
                    upload_gap: Some(Duration::from_secs(2)),
                },
                run_id: None,
            }
        }
    }
}

/// A fresh run id. Every file a run creates starts with it, so it can be found among real ones:
/// `u21-conformance-c<ms>-<4 hex digits>`. The digits are random: runs started in the same
/// millisecond (a CI matrix, several jobs sharing one sandbox) must not make the same names,
/// or each refuses the other's creates with 409.
pub fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    // A freshly keyed SipHash of nothing: random, without a dependency for it.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("u21-conformance-c{millis}-{:04x}", random & 0xffff)
}

/// Runs the selected scenarios one after another with the default [`RunOptions`]. On a fake,
/// each starts from a clean state and the fake is put back as it was found at the end.
pub async fn run(target: &Target, driver: &dyn Driver, selection: &Selection) -> Report {
    run_with(
        target,
        driver,
        selection,
        RunOptions::for_target(target),
        &mut |_| {},
    )
    .await
}

/// [`run`], with explicit limits, calling `progress` as each scenario ends.
pub async fn run_with(
    target: &Target,
    driver: &dyn Driver,
    selection: &Selection,
    options: RunOptions,
    progress: &mut (dyn FnMut(&ScenarioResult) + Send),
) -> Report {
    let run_started = Instant::now();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let run_id = options.run_id.clone().unwrap_or_else(new_run_id);
    let ledger = ledger::Ledger::new(options.allowance);
    let settlements = fidelity::Settlements::default();
    let noting = ledger::Noting {
        inner: driver,
        ledger: &ledger,
    };
    let mut results = Vec::new();
    for scenario in catalogue().into_iter().filter(|s| selection.includes(s)) {
        let started = Instant::now();
        let left = options.budget.saturating_sub(run_started.elapsed());
        let outcome = if scenario.needs_control && target.control.is_none() {
            Outcome::Skip(
                "needs the fake's control API (clock, faults, journal); this target has none"
                    .into(),
            )
        } else if left.is_zero() {
            Outcome::Fail(format!(
                "{}: not started: the run's budget of {} s was spent",
                scenario::Rule::Protocol.label(),
                options.budget.as_secs()
            ))
        } else {
            let clean = match &target.control {
                Some(control) => control.clean().await,
                None => Ok(()),
            };
            match clean {
                Err(err) => {
                    Outcome::Fail(format!("could not give the scenario a clean fake: {err}"))
                }
                Ok(()) => {
                    let ctx = scenario::Ctx {
                        target,
                        driver: &noting,
                        ledger: &ledger,
                        settlements: &settlements,
                        scenario: scenario.name,
                        allow_large_uploads: options.allow_large_uploads,
                        dir: dir.path(),
                        http: target::http_client()
                            .build()
                            .expect("a reqwest client with its defaults builds"),
                        run_id: format!("{run_id}-{}", scenario.name),
                    };
                    let limit = left.min(options.scenario_deadline);
                    let broke = |rule: scenario::Rule, why: String| {
                        Outcome::Fail(format!("{}: {why}", rule.label()))
                    };
                    match tokio::time::timeout(limit, (scenario.run)(&ctx)).await {
                        Ok(Ok(())) => Outcome::Pass,
                        Ok(Err(scenario::Stop::Fail(why))) => broke(scenario.rule, why),
                        Ok(Err(scenario::Stop::Broke(rule, why))) => broke(rule, why),
                        Ok(Err(scenario::Stop::Skip(why))) => Outcome::Skip(why),
                        Err(_) => Outcome::Fail(format!(
                            "{}: cut after {:.1} s ({}): the client did not finish; a careful client honours its own timeouts",
                            scenario::Rule::Protocol.label(),
                            limit.as_secs_f64(),
                            if limit == options.scenario_deadline {
                                "the scenario deadline"
                            } else {
                                "the run's budget"
                            }
                        )),
                    }
                }
            }
        };
        let result = ScenarioResult {
            name: scenario.name.into(),
            tags: scenario.tags.iter().map(|t| t.to_string()).collect(),
            outcome,
            duration: started.elapsed(),
        };
        progress(&result);
        results.push(result);
    }
    let restore_failure = target.restore().await.err().map(|err| {
        let message = format!("could not put the fake back as it was: {err}");
        eprintln!("u21-conformance: {message}");
        message
    });
    Report {
        target: target.name.clone(),
        client: driver.name(),
        results,
        elapsed: run_started.elapsed(),
        restore_failure,
        // A fake was put back as the kit found it; a real account keeps every file.
        left_behind: if target.control.is_some() {
            Vec::new()
        } else {
            ledger.files()
        },
        settled: settlements.all(),
    }
}

#[cfg(test)]
mod tests {
    /// Three kit runs started at once on one shared stream made the same names (the run id
    /// was the millisecond alone) and refused each other's creates with 409.
    #[test]
    fn runs_started_in_the_same_millisecond_get_different_ids() {
        let ids: std::collections::BTreeSet<String> =
            (0..64).map(|_| super::new_run_id()).collect();
        assert_eq!(ids.len(), 64, "{ids:?}");
        assert!(ids.iter().all(|id| id.starts_with("u21-conformance-c")));
    }
}
