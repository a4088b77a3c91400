//! The fidelity loop: `--only decided` against a target whose every decided point goes the
//! other way from the fake's defaults fails each point naming its switch, and the `[fidelity]`
//! lines it prints, given to a fake otherwise default, make that fake answer as the target did.

use std::collections::BTreeMap;

use serde_json::Value;
use u21_conformance::{fidelity, run, ReferenceDriver, Selection, Target};
use u21_mock::{Config, Fidelity, MockServer, OffsetUnit, StreamConfig};

/// Every switch the other way from its default.
fn every_switch_flipped() -> Fidelity {
    Fidelity {
        reject_duplicate_file_names: false,
        list_newest_first: false,
        list_offset: OffsetUnit::Record,
        created_after_inclusive: false,
        created_before_inclusive: true,
        foreign_file_forbidden: true,
        malformed_id_bad_request: true,
        rate_limit_per_route: false,
        md5_hash_must_be_uuid: false,
        non_json_body_status: 415,
        wrong_method_status: 404,
        reject_unknown_fields: true,
        reject_unknown_streams_at_create: true,
        s3_refuse_authorization_header: false,
        keys_case_sensitive: false,
        empty_list_body_refused: true,
        unknown_stream_filter_refused: true,
        empty_filter_matches_nothing: true,
        unknown_file_type_null: true,
        counts_null_until_processed: true,
    }
}

/// A fake with `fidelity` and the kit's stream configured (as a sandbox has its streams).
async fn fake(fidelity: Fidelity) -> (MockServer, Target) {
    let config = Config {
        fidelity,
        streams: vec![StreamConfig::new("conformance")],
        timing: u21_mock::Timing::Instant,
        ..Config::default()
    };
    let server = MockServer::builder().config(config).start().await;
    let target = Target::at_url(&server.uri(), server.api_key(), "conformance", None)
        .await
        .unwrap();
    (server, target)
}

fn decided() -> Selection {
    Selection {
        only: vec!["decided".into()],
        skip: vec![],
    }
}

fn values(settled: &[fidelity::Settlement]) -> BTreeMap<&'static str, Value> {
    settled
        .iter()
        .map(|s| (s.switch, s.value.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_fidelity_lines_make_a_default_fake_answer_as_the_target_did() {
    let (_tuned, target) = fake(every_switch_flipped()).await;
    let client = ReferenceDriver::new(&target.base_url, &target.api_key, target.request_timeout);
    let report = run(&target, &client, &decided()).await;
    println!("{}", report.summary());
    let decided_scenarios = u21_conformance::catalogue()
        .iter()
        .filter(|s| s.tags.contains(&"decided"))
        .count();
    assert_eq!(report.results.len(), decided_scenarios);
    let (_, failed, _) = report.counts();
    assert_eq!(failed, decided_scenarios, "every point goes the other way");
    for result in &report.results {
        let u21_conformance::Outcome::Fail(why) = &result.outcome else {
            panic!("{} should fail", result.name)
        };
        assert!(
            why.contains("breaks a decided point (FIDELITY.md: "),
            "{why}"
        );
    }
    let flipped = serde_json::to_value(every_switch_flipped()).unwrap();
    let settled = values(&report.settled);
    // Every switch but two: another organisation's file needs a second organisation's key,
    // and the rate limit's buckets would spend the account's limit.
    let all = serde_json::to_value(Fidelity::default()).unwrap();
    assert_eq!(
        settled.len(),
        all.as_object().unwrap().len() - 2,
        "{settled:?}"
    );
    assert!(!settled.contains_key("foreign_file_forbidden"));
    assert!(!settled.contains_key("rate_limit_per_route"));
    for (switch, value) in &settled {
        assert_eq!(value, &flipped[switch], "{switch}");
    }

    // The printed lines, given to a fake that is otherwise default.
    let section = fidelity::fidelity_section(&target.name, &report.settled);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u21.toml");
    std::fs::write(&path, &section).unwrap();
    let tuned = Config::from_file(&path).unwrap().fidelity;
    let (_default_but_tuned, again) = fake(tuned).await;
    let client = ReferenceDriver::new(&again.base_url, &again.api_key, again.request_timeout);
    let second = run(&again, &client, &decided()).await;
    println!("{}", second.summary());
    assert_eq!(values(&second.settled), settled, "the same answers");

    // And a default fake passes them all, settling every point at its default.
    let (_default, default_target) = fake(Fidelity::default()).await;
    let client = ReferenceDriver::new(
        &default_target.base_url,
        &default_target.api_key,
        default_target.request_timeout,
    );
    let third = run(&default_target, &client, &decided()).await;
    assert!(third.passed(), "{}", third.summary());
    let defaults = serde_json::to_value(Fidelity::default()).unwrap();
    for (switch, value) in values(&third.settled) {
        assert_eq!(value, defaults[switch], "{switch}");
    }
}

#[tokio::test]
async fn the_command_prints_the_lines_and_records_what_was_answered() {
    let (server, _) = fake(Fidelity {
        list_offset: OffsetUnit::Record,
        ..Fidelity::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("fidelity.json");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_u21-conformance"))
        .args([
            "--target",
            "url",
            "--url",
            &server.uri(),
            "--only",
            "decided",
            "--record",
        ])
        .arg(&record)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("\n[fidelity]   # the decided points as "),
        "{stdout}"
    );
    assert!(
        stdout.contains("list_offset = \"record\""),
        "the line that tunes a fake: {stdout}"
    );
    assert!(stdout.contains("\nlist_newest_first = true\n"), "{stdout}");
    // The section comes before the footer: the last line is still the counts, as scripts read.
    let last = stdout.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.ends_with(" skipped") && last.contains(" passed, ") && last.contains(" failed, "),
        "{stdout}"
    );
    let written: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    let offset = written["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["switch"] == "list_offset")
        .unwrap();
    assert_eq!(offset["value"], "record");
    assert_eq!(offset["default"], "page");
    assert_eq!(offset["scenario"], "list-offset-counts-pages");
    assert!(written["fidelity"]
        .as_str()
        .unwrap()
        .contains("list_offset = \"record\""));
    assert_eq!(written["points"].as_array().unwrap().len(), 18);
}

/// On a fake that answers every point as its defaults say, and without `--record`, the section
/// would say nothing: it is not printed.
#[tokio::test]
async fn a_default_fake_gets_no_section() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_u21-conformance"))
        .args(["--target", "fake", "--only", "decided"])
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("[fidelity]"), "{stdout}");
}
