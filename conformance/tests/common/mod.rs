//! What the kit's tests share: the shipped adapters, changed a line or two (a realistic bug
//! in `mutants.rs`, a change that is not one in `equivalents.rs`), run through the kit.
#![allow(dead_code)] // each test binary uses its part

use std::time::Duration;

use u21_conformance::{
    run_with, AdapterDriver, Deadlines, Driver, Report, RunOptions, Selection, Target,
};

/// A shipped adapter a changed client is made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    Python,
    Node,
    Curl,
}

impl Adapter {
    /// The interpreter and the file, under `conformance/adapters/`.
    pub fn program_and_file(self) -> (&'static str, &'static str) {
        match self {
            Adapter::Python => ("python3", "python_client.py"),
            Adapter::Node => ("node", "node_client.mjs"),
            Adapter::Curl => ("bash", "curl.sh"),
        }
    }

    pub fn source(self) -> String {
        let (_, file) = self.program_and_file();
        std::fs::read_to_string(format!("{}/adapters/{file}", env!("CARGO_MANIFEST_DIR")))
            .expect("the shipped adapter")
    }
}

/// The adapter with `edits` made; each must match exactly once, so a change cannot silently
/// stop applying when the adapter changes.
pub fn changed(adapter: Adapter, name: &str, edits: &[(&str, &str)]) -> String {
    let mut text = adapter.source();
    for (find, replace) in edits {
        assert_eq!(
            text.matches(find).count(),
            1,
            "{name:?}: {find:?} must occur exactly once in {}",
            adapter.program_and_file().1
        );
        text = text.replacen(find, replace, 1);
    }
    text
}

/// Writes the changed adapter into `dir` and runs `selection` through it against a fresh
/// in-process fake.
pub async fn run_changed(
    adapter: Adapter,
    name: &str,
    edits: &[(&str, &str)],
    dir: &std::path::Path,
    selection: &Selection,
) -> Report {
    let (program, file) = adapter.program_and_file();
    let extension = file.rsplit('.').next().unwrap_or_default();
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let path = dir.join(format!("{adapter:?}-{slug}.{extension}"));
    std::fs::write(&path, changed(adapter, name, edits)).unwrap();
    let target = Target::in_process().await;
    let driver = AdapterDriver::spawn(
        program,
        &[path.display().to_string()],
        &target.base_url,
        &target.api_key,
        Deadlines {
            op: Duration::from_secs(8),
            request: target.request_timeout,
        },
    )
    .unwrap();
    let options = RunOptions {
        budget: Duration::from_secs(240),
        scenario_deadline: Duration::from_secs(60),
        allow_large_uploads: false,
        allowance: u21_conformance::Allowance::default(),
        run_id: None,
    };
    let report = run_with(&target, &driver, selection, options, &mut |_| {}).await;
    driver.close().await;
    report
}

/// Fails the test, saying why, where Node.js 18 or later is missing: a test that was asked to
/// run the Node adapter must not pass having checked nothing.
pub fn require_node() {
    let version = std::process::Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let major = version.as_deref().and_then(|v| {
        v.trim_start_matches('v')
            .split('.')
            .next()?
            .parse::<u32>()
            .ok()
    });
    assert!(
        major.is_some_and(|m| m >= 18),
        "needs Node.js 18 or later, found {version:?}"
    );
}
