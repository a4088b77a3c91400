//! The `u21` command against the in-process fake: output, JSON, and exit codes.

use std::process::Output;

use serde_json::Value;
use u21_mock::{MockServer, StreamConfig, Timing};

async fn u21(server: &MockServer, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_u21"))
        .args(args)
        .env("U21_BASE_URL", server.uri())
        .env("U21_API_KEY", server.api_key())
        .output()
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn file(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_wait_status_and_list() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "txns.csv", "id\n1\n2\n");

    let upload = u21(&server, &["upload", &path, "--stream", "txns", "--wait"]).await;
    assert_eq!(
        upload.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&upload.stderr)
    );
    let table = stdout(&upload);
    assert!(table.contains("status              FINISHED"), "{table}");
    assert!(table.contains("successful_count    2"), "{table}");

    let status = u21(&server, &["--json", "status", "1"]).await;
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        (json["file_id"].as_str(), json["status"].as_str()),
        (Some("1"), Some("FINISHED"))
    );

    u21(
        &server,
        &[
            "upload",
            &file(&dir, "b.csv", "id\n1\n"),
            "--stream",
            "other",
        ],
    )
    .await;
    let list = u21(&server, &["list", "--stream", "txns"]).await;
    let text = stdout(&list);
    assert!(text.starts_with("FILE_ID  STATUS"), "{text}");
    assert!(text.contains("1 of 1 files"), "{text}");
    let all = u21(
        &server,
        &["--json", "list", "--all", "--status", "finished"],
    )
    .await;
    let files: Vec<Value> = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["file_name"], "b.csv", "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_tell_what_happened() {
    let server = MockServer::builder()
        .stream(StreamConfig::new("configured"))
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "a.csv", "a\n1\n");

    let failed = u21(
        &server,
        &["upload", &path, "--stream", "unconfigured", "--wait"],
    )
    .await;
    assert_eq!(failed.status.code(), Some(4), "a FAILED file");
    assert!(stdout(&failed).contains("stream_not_configured"));

    let not_found = u21(&server, &["status", "999"]).await;
    assert_eq!(not_found.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&not_found.stderr)
        .contains("Unit21 answered 404 resource_not_found"));

    let json_error = u21(&server, &["--json", "status", "999"]).await;
    let body: Value = serde_json::from_slice(&json_error.stdout).unwrap();
    assert_eq!(
        (body["status"].as_u64(), body["error_code"].as_str()),
        (Some(404), Some("resource_not_found"))
    );

    let bad_key = tokio::process::Command::new(env!("CARGO_BIN_EXE_u21"))
        .args(["status", "1"])
        .env("U21_BASE_URL", server.uri())
        .env("U21_API_KEY", "wrong-but-long-key")
        .output()
        .await
        .unwrap();
    assert_eq!(bad_key.status.code(), Some(3));
    assert!(
        !String::from_utf8_lossy(&bad_key.stderr).contains("wrong-but-long-key"),
        "the key is never printed"
    );

    let again = u21(&server, &["upload", &path, "--stream", "unconfigured"]).await;
    assert_eq!(again.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("Unit21 answered 409 conflict: A file named 'a.csv' already exists in stream 'unconfigured'; send a new md5_hash"),
        "{stderr}"
    );

    let usage = u21(&server, &["upload"]).await;
    assert_eq!(usage.status.code(), Some(2));

    let missing = u21(
        &server,
        &["upload", "/nonexistent/file.csv", "--stream", "s"],
    )
    .await;
    assert_eq!(missing.status.code(), Some(1));

    let no_config = tokio::process::Command::new(env!("CARGO_BIN_EXE_u21"))
        .args(["status", "1"])
        .env_remove("U21_BASE_URL")
        .env_remove("U21_API_KEY")
        .output()
        .await
        .unwrap();
    assert_eq!(no_config.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_config.stderr).contains("U21_BASE_URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_times_out_with_its_own_code() {
    let server = MockServer::builder().timing(Timing::Manual).start().await;
    let dir = tempfile::tempdir().unwrap();
    let upload = u21(
        &server,
        &["upload", &file(&dir, "a.csv", "a\n1\n"), "--stream", "s"],
    )
    .await;
    assert!(stdout(&upload).contains("QUEUED"));
    let wait = u21(&server, &["wait", "1", "--timeout", "0"]).await;
    assert_eq!(wait.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&wait.stderr).contains("still QUEUED"));
}

#[test]
fn help_has_examples_and_exit_codes() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_u21"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("u21 upload txns.csv --stream transactions --wait"),
        "{text}"
    );
    assert!(text.contains("4 the file FAILED"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_sent_is_named_and_leaves_no_import_behind() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();

    let missing = u21(&server, &["upload", "nope.csv", "--stream", "s"]).await;
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("cannot read nope.csv: "), "{stderr}");

    let directory = dir.path().to_str().unwrap();
    let not_a_file = u21(&server, &["upload", directory, "--stream", "s"]).await;
    assert_eq!(not_a_file.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&not_a_file.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot read {directory}: it is not a regular file"
        )),
        "{stderr}"
    );
    assert_eq!(
        server.files().count(),
        0,
        "no PENDING_UPLOAD import was created"
    );
}

#[tokio::test]
async fn an_unreachable_server_says_so_with_a_hint_and_its_own_exit_code() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_u21"))
        .args(["status", "1"])
        .env("U21_BASE_URL", "http://127.0.0.1:1")
        .env("U21_API_KEY", "k")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.starts_with("u21: cannot reach http://127.0.0.1:1: Connection refused"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: is the server running?"), "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
}

#[test]
fn the_version_names_the_command() {
    let version = std::process::Command::new(env!("CARGO_BIN_EXE_u21"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("u21 "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_name_is_sent_again_with_a_new_md5_hash() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "again.csv", "a\n1\n");
    let first = u21(&server, &["upload", &path, "--stream", "s"]).await;
    assert_eq!(first.status.code(), Some(0));
    let refused = u21(&server, &["upload", &path, "--stream", "s"]).await;
    assert_eq!(refused.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--md5-hash new"),
        "the 409 says how to send it again with this command: {stderr}"
    );
    let again = u21(
        &server,
        &[
            "--json",
            "upload",
            &path,
            "--stream",
            "s",
            "--md5-hash",
            "new",
        ],
    )
    .await;
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let file: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(file["file_id"], "2");
    let chosen = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let third = u21(
        &server,
        &["upload", &path, "--stream", "s", "--md5-hash", chosen],
    )
    .await;
    assert_eq!(third.status.code(), Some(0));
    let record = server.files().get(3).await.unwrap();
    assert_eq!(record.md5_hash.as_deref(), Some(chosen));
    let bad = u21(
        &server,
        &["upload", &path, "--stream", "s", "--md5-hash", "abc"],
    )
    .await;
    assert_eq!(bad.status.code(), Some(2), "not a UUID: a usage error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_list_only_what_is_missing() {
    let server = MockServer::start().await;
    // U21_BASE_URL and U21_API_KEY are set: the usage line must not ask for them.
    let usage = u21(&server, &["upload", "x.csv"]).await;
    assert_eq!(usage.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&usage.stderr);
    assert!(stderr.contains("--stream <STREAM>"), "{stderr}");
    assert!(
        !stderr.contains("--base-url") && !stderr.contains("--api-key"),
        "{stderr}"
    );
}

#[test]
fn upload_help_names_every_format_processed() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_u21"))
        .args(["upload", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("CSV, JSON, JSONL or Parquet"), "{text}");
    assert!(text.contains("--md5-hash"), "{text}");
}

/// Text from the server reaches the terminal with its control characters escaped: an escape
/// sequence, a bell or a line break in a file name or an error cannot drive the terminal or
/// forge a line of output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_text_is_printed_with_control_characters_escaped() {
    let server = MockServer::start().await;
    let hostile = "\u{1b}[2J\u{7}evil\r\nfile_id             999";
    let file = serde_json::json!({"file_id": "1", "file_name": hostile, "file_type": "CSV",
        "date_created": 1, "process_start_time": null, "process_end_time": null,
        "successful_count": 0, "failure_count": 0, "status": "QUEUED", "failure_code": null});
    let error = serde_json::json!({"error_code": "resource_not_found", "message": hostile});
    let headers: std::collections::BTreeMap<String, String> =
        [("content-type".to_owned(), "application/json".to_owned())].into();
    for (path, status, body) in [("/v1/imports/1", 200, file), ("/v1/imports/2", 404, error)] {
        server
            .faults()
            .add(u21_mock::Fault::new(
                path,
                u21_mock::FaultAction::Status {
                    status,
                    body: body.to_string(),
                    headers: headers.clone(),
                },
            ))
            .unwrap();
    }
    let shown = u21(&server, &["status", "1"]).await;
    let refused = u21(&server, &["status", "2"]).await;
    for text in [
        stdout(&shown),
        String::from_utf8_lossy(&refused.stderr).into_owned(),
    ] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "a control character reached the terminal: {text:?}"
        );
        assert!(
            text.contains("\\u{1b}[2J\\u{7}evil\\r\\nfile_id"),
            "{text:?}"
        );
    }
    assert_eq!(
        stdout(&shown)
            .lines()
            .filter(|l| l.starts_with("file_id"))
            .count(),
        1,
        "no forged line"
    );
}
