//! The whole catalogue against the in-process fake, with every shipped client.

mod common;

use u21_conformance::{run, AdapterDriver, Deadlines, Driver, ReferenceDriver, Selection, Target};

async fn check(target: &Target, driver: &dyn Driver) {
    let report = run(target, driver, &Selection::default()).await;
    driver.close().await;
    println!("{}", report.summary());
    let (passed, failed, skipped) = report.counts();
    assert_eq!((failed, skipped), (0, 0), "{}", report.summary());
    assert_eq!(passed, u21_conformance::catalogue().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_client_passes_every_scenario() {
    let target = Target::in_process().await;
    check(
        &target,
        &ReferenceDriver::new(&target.base_url, &target.api_key, target.request_timeout),
    )
    .await;
}

fn deadlines(target: &Target) -> Deadlines {
    Deadlines {
        request: target.request_timeout,
        ..Deadlines::default()
    }
}

fn adapter(name: &str) -> String {
    format!("{}/adapters/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_adapter_passes_every_scenario() {
    let target = Target::in_process().await;
    let driver = AdapterDriver::spawn(
        "python3",
        &[adapter("python_client.py")],
        &target.base_url,
        &target.api_key,
        deadlines(&target),
    )
    .unwrap();
    check(&target, &driver).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curl_adapter_passes_every_scenario() {
    let target = Target::in_process().await;
    let driver = AdapterDriver::spawn(
        "bash",
        &[adapter("curl.sh")],
        &target.base_url,
        &target.api_key,
        deadlines(&target),
    )
    .unwrap();
    check(&target, &driver).await;
}

/// Node.js 18 or later: ignored by default with the reason, run by `.ci/run`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js 18 or later; .ci/run installs it and runs these"]
async fn the_node_adapter_passes_every_scenario() {
    common::require_node();
    let target = Target::in_process().await;
    let driver = AdapterDriver::spawn(
        "node",
        &[adapter("node_client.mjs")],
        &target.base_url,
        &target.api_key,
        deadlines(&target),
    )
    .unwrap();
    check(&target, &driver).await;
}

/// A fake standing in for a real account: no control API, files processed at once.
async fn account_like() -> (u21_mock::MockServer, Target) {
    let mut config = u21_mock::Config::default();
    config.control.enabled = false;
    config.timing = u21_mock::Timing::Instant;
    let server = u21_mock::MockServer::builder().config(config).start().await;
    let target = Target::at_url(&server.uri(), server.api_key(), "conformance", None)
        .await
        .unwrap();
    (server, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_control_api_the_scenarios_that_need_one_are_skipped_with_the_reason() {
    let (_server, target) = account_like().await;
    assert!(target.control.is_none());
    let selection = Selection {
        only: vec![],
        skip: vec!["slow".into()],
    };
    let report = run(
        &target,
        &ReferenceDriver::new(&target.base_url, &target.api_key, target.request_timeout),
        &selection,
    )
    .await;
    println!("{}", report.summary());
    let needs: Vec<&str> = u21_conformance::catalogue()
        .iter()
        .filter(|s| s.needs_control)
        .map(|s| s.name)
        .collect();
    let skipped: Vec<&str> = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, u21_conformance::Outcome::Skip(_)))
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(skipped, needs);
    for result in &report.results {
        if let u21_conformance::Outcome::Skip(why) = &result.outcome {
            assert!(why.contains("control API"), "{why}");
        }
    }
    assert!(report.passed(), "{}", report.summary());
}

/// On a target the kit cannot clean (a real account: no control API, and the API has no
/// delete), every file it makes is run-prefixed and named in the report, and the 301 MiB
/// upload waits for `--allow-large-uploads`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_target_it_cannot_clean_the_kit_names_what_it_left_and_uploads_nothing_large() {
    let (server, target) = account_like().await;
    let selection = Selection {
        only: [
            "upload-csv-finishes",
            "contract-create",
            "s3-names-are-data",
            "s3-oversized-file",
        ]
        .map(String::from)
        .to_vec(),
        skip: vec![],
    };
    let report = run(
        &target,
        &ReferenceDriver::new(&target.base_url, &target.api_key, target.request_timeout),
        &selection,
    )
    .await;
    let summary = report.summary();
    println!("{summary}");
    let oversized = report
        .results
        .iter()
        .find(|r| r.name == "s3-oversized-file")
        .unwrap();
    assert!(
        matches!(&oversized.outcome, u21_conformance::Outcome::Skip(why) if why.contains("--allow-large-uploads")),
        "{summary}"
    );
    assert_eq!(report.counts(), (3, 0, 1), "{summary}");
    // Every file the fake holds is in the report, and each can be found by its prefix.
    assert_eq!(
        report.left_behind.len(),
        server.files().count(),
        "{summary}"
    );
    assert!(report.left_behind.len() >= 3, "{summary}");
    for file in &report.left_behind {
        assert!(file.key.contains("_u21-conformance-c"), "{}", file.key);
        assert!(summary.contains(&file.key), "{summary}");
    }
    // Uploads are spaced out as Unit21 advises: two seconds apart at least.
    let uploads: Vec<i64> = server
        .journal()
        .requests(&u21_mock::JournalQuery::default())
        .iter()
        .filter(|r| r.method == "POST" && !r.path.starts_with("/v1/"))
        .map(|r| r.at_ms)
        .collect();
    assert_eq!(uploads.len(), 2, "{uploads:?}");
    assert!(uploads[1] - uploads[0] >= 2000, "{uploads:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_writes_reports_and_its_exit_code_tells_pass_from_fail() {
    let server = u21_mock::MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (json, junit) = (dir.path().join("r.json"), dir.path().join("r.xml"));
    let run = |extra: Vec<String>| {
        let mut args = vec![
            "--target".to_owned(),
            "url".into(),
            "--url".into(),
            server.uri(),
            "--only".into(),
            "contract".into(),
        ];
        args.extend(extra);
        tokio::process::Command::new(env!("CARGO_BIN_EXE_u21-conformance"))
            .args(args)
            .output()
    };
    let passed = run(vec![
        "--json".into(),
        json.display().to_string(),
        "--junit".into(),
        junit.display().to_string(),
    ])
    .await
    .unwrap();
    assert_eq!(
        passed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&passed.stdout)
    );
    assert!(String::from_utf8_lossy(&passed.stdout)
        .trim_end()
        .ends_with("4 passed, 0 failed, 0 skipped"));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        (
            report["passed"].as_u64(),
            report["results"].as_array().unwrap().len()
        ),
        (Some(4), 4)
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite name=\"u21-conformance\" tests=\"4\" failures=\"0\""),
        "{xml}"
    );

    // A client that answers nothing fails, and the exit code says so.
    let failed = run(vec![
        "--only".into(),
        "happy-path".into(),
        "--adapter".into(),
        "true".into(),
    ])
    .await
    .unwrap();
    assert_eq!(
        failed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&failed.stdout)
    );
    assert!(String::from_utf8_lossy(&failed.stdout).contains("FAIL"));
}
