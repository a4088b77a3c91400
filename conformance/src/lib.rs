//! Conformance scenarios for clients of Unit21's file imports API.
//!
//! A run takes a [`Target`] (the fake in-process, a running fake at a URL, or the real sandbox)
//! and a [`Driver`] (the reference client, or any program through the adapter protocol
//! described in [`driver`]), runs the selected scenarios of [`catalogue`], and returns a
//! [`Report`] (summary, JSON, JUnit XML). Scenarios that need the fake's control API (the
//! clock, faults, the journal) are skipped, with that reason, on a target without it.
//!
//! # Layout
//! - `catalogue`: the scenarios; `scenario`: what one is and gets; `contract`: raw JSON shapes.
//! - `driver`: the client under test; `target`: the server and its control API.
//! - `report`: results and their formats.

pub mod catalogue;
pub mod contract;
pub mod driver;
pub mod report;
pub mod scenario;
pub mod target;

use std::time::Instant;

pub use catalogue::catalogue;
pub use driver::{AdapterDriver, Driver, DriverError, ReferenceDriver};
pub use report::{Report, ScenarioResult};
pub use scenario::{Outcome, Scenario};
pub use target::Target;

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

/// Runs the selected scenarios one after another. On a fake, the state is reset before each.
pub async fn run(target: &Target, driver: &dyn Driver, selection: &Selection) -> Report {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let run_id = format!(
        "c{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let mut results = Vec::new();
    for scenario in catalogue().into_iter().filter(|s| selection.includes(s)) {
        let started = Instant::now();
        let outcome = if scenario.needs_control && target.control.is_none() {
            Outcome::Skip(
                "needs the fake's control API (clock, faults, journal); this target has none"
                    .into(),
            )
        } else {
            let reset = match &target.control {
                Some(control) => control.reset().await,
                None => Ok(()),
            };
            match reset {
                Err(err) => Outcome::Fail(format!("could not reset the fake: {err}")),
                Ok(()) => {
                    let ctx = scenario::Ctx {
                        target,
                        driver,
                        dir: dir.path(),
                        http: reqwest::Client::new(),
                        run_id: format!("{run_id}-{}", scenario.name),
                    };
                    match (scenario.run)(&ctx).await {
                        Ok(()) => Outcome::Pass,
                        Err(scenario::Stop::Fail(why)) => Outcome::Fail(why),
                        Err(scenario::Stop::Skip(why)) => Outcome::Skip(why),
                    }
                }
            }
        };
        results.push(ScenarioResult {
            name: scenario.name.into(),
            tags: scenario.tags.iter().map(|t| t.to_string()).collect(),
            outcome,
            duration: started.elapsed(),
        });
    }
    Report {
        target: target.name.clone(),
        client: driver.name(),
        results,
    }
}
