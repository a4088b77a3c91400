//! The sandbox path, end to end, against a fake dressed as the sandbox: HTTPS with a private
//! authority (`U21_CA_FILE`), S3 on another host name and port than the API, no control API,
//! streams configured, files processed on scaled real time (`fast`). The kit runs as a user
//! runs it against a real account (`--target sandbox --yes`), with the reference client and
//! each shipped adapter, and the run must do exactly what its printed plan said: the files it
//! created, the bytes it uploaded, the records they load, every name run-prefixed.

mod common;

#[path = "../../mock-server/tests/it/common/certificates.rs"]
mod certificates;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use u21_mock::{Config, MockServer, StreamConfig, Timing};

/// The fake a user's sandbox stands for, and the authority its clients must trust.
async fn dressed_sandbox(dir: &std::path::Path) -> (MockServer, certificates::TestCertificates) {
    let certificates = certificates::make_certificates(dir);
    let mut config = Config {
        streams: vec![StreamConfig::new("conformance")],
        timing: Timing::Fast,
        ..Config::default()
    };
    config.control.enabled = false;
    let server = MockServer::builder()
        .config(config)
        .tls(&certificates.cert, &certificates.key)
        .s3_listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()
        .await;
    (server, certificates)
}

/// The plan's totals line: files, bytes, records.
fn planned(stdout: &str) -> (usize, u64, u64) {
    let line = stdout
        .lines()
        .find(|l| l.contains(" files in stream "))
        .unwrap_or_else(|| panic!("no plan printed:\n{stdout}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .map(|n| n.parse().unwrap())
        .collect();
    (numbers[0] as usize, numbers[1], numbers[2])
}

/// The kit pointed at `server` as at a real sandbox (`U21_BASE_URL`, `U21_API_KEY`,
/// `U21_STREAM`), by the API's host name, trusting `authority` when given (and nothing the
/// environment named), with `args` after `--target sandbox`.
fn sandbox_kit(
    server: &MockServer,
    authority: Option<&std::path::Path>,
    args: &[&str],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_u21-conformance"));
    command
        .args(["--target", "sandbox"])
        .args(args)
        .env("U21_BASE_URL", api_by_name(server))
        .env("U21_API_KEY", server.api_key())
        .env("U21_STREAM", "conformance")
        .env_remove("U21_CA_FILE")
        .env_remove("U21_CONFORMANCE_YES")
        .kill_on_drop(true);
    if let Some(authority) = authority {
        command.env("U21_CA_FILE", authority);
    }
    command
}

/// The API's base URL by host name, as a sandbox's is (S3's is `127.0.0.1`: another host).
fn api_by_name(server: &MockServer) -> String {
    format!("https://localhost:{}", server.address().port())
}

/// Runs the kit in sandbox mode with `client` (adapter arguments, or none for the reference
/// client) and checks the run against its plan.
async fn rehearse(client: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (server, certificates) = dressed_sandbox(dir.path()).await;
    let api = api_by_name(&server);
    let report = dir.path().join("report.json");
    let output = sandbox_kit(
        &server,
        Some(&certificates.ca),
        &["--yes", "--skip", "decided", "--json"],
    )
    .arg(&report)
    .args(client)
    .output()
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("against sandbox {api}")),
        "{stdout}"
    );
    let (files, bytes, records) = planned(&stdout);
    assert!(files > 0 && bytes > 0 && records > 0, "{stdout}");

    // What the run left on the "account" is what the plan said, file by file.
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let left = report["left_behind"].as_array().unwrap();
    assert_eq!(left.len(), files, "the report names every file");
    assert_eq!(
        server.files().count(),
        files,
        "files created on the account"
    );
    server.clock().advance(Duration::from_secs(3600)).await;
    server.files().settle().await;
    let (mut stored, mut loaded) = (0, 0);
    for file in left {
        let key = file["key"].as_str().unwrap();
        // The key's last part is `<milliseconds>_<file name>`.
        let name = key.rsplit('/').next().unwrap().split_once('_').unwrap().1;
        assert!(name.starts_with("u21-conformance-c"), "{key}");
        stored += server.files().object(key).map_or(0, |o| o.size);
        let id: u64 = file["file_id"].as_str().unwrap().parse().unwrap();
        let record = server.files().get(id).await.unwrap();
        loaded += record.successful_count + record.failure_count;
    }
    assert_eq!((stored, loaded), (bytes, records), "bytes and records");
    // Nothing large: the oversized upload waits for --allow-large-uploads.
    assert!(stdout.contains("s3-oversized-file"), "{stdout}");
    assert!(stored < 64 * 1024, "{stored} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_client_on_the_sandbox_path_does_what_its_plan_says() {
    rehearse(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_adapter_on_the_sandbox_path_does_what_its_plan_says() {
    let adapter = format!("{}/adapters/python_client.py", env!("CARGO_MANIFEST_DIR"));
    rehearse(&["--adapter", "python3", "--", &adapter]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curl_adapter_on_the_sandbox_path_does_what_its_plan_says() {
    let adapter = format!("{}/adapters/curl.sh", env!("CARGO_MANIFEST_DIR"));
    rehearse(&["--adapter", "bash", "--", &adapter]).await;
}

/// Node.js 18 or later: ignored by default with the reason, run by `.ci/run`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js 18 or later; .ci/run installs it and runs these"]
async fn the_node_adapter_on_the_sandbox_path_does_what_its_plan_says() {
    common::require_node();
    let adapter = format!("{}/adapters/node_client.mjs", env!("CARGO_MANIFEST_DIR"));
    rehearse(&["--adapter", "node", "--", &adapter]).await;
}

/// Without the authority, the kit says what is wrong before anything is sent: the certificate,
/// and the variable that fixes it; an authority file that is not one is named.
#[tokio::test]
async fn an_untrusted_certificate_or_an_unusable_authority_file_is_a_setup_error() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _certificates) = dressed_sandbox(dir.path()).await;
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    for (authority, expected) in [
        (None, "its certificate is not trusted"),
        (Some(&not_pem), "not.pem"),
    ] {
        let output = sandbox_kit(&server, authority.map(|p| p.as_path()), &["--yes"])
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(stderr.contains("U21_CA_FILE"), "{stderr}");
    }
    assert_eq!(server.files().count(), 0, "nothing was sent");
}

/// A real stream is shared: a teammate's run, or the account's own traffic, adds files while
/// the list scenarios read their windows. Three runs at once on one stream all pass (before,
/// another run's files shifted the offset page, filled a window of 10, or came back from a
/// listing as unexpected extras).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_sharing_a_stream_do_not_fail_each_others_list_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let (server, certificates) = dressed_sandbox(dir.path()).await;
    let run = || {
        sandbox_kit(
            &server,
            Some(&certificates.ca),
            &["--yes", "--only", "list"],
        )
        .output()
    };
    let (a, b, c) = tokio::join!(run(), run(), run());
    for output in [a, b, c] {
        let output = output.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        assert!(stdout.contains(" 0 failed"), "{stdout}");
    }
}

/// Without `--yes`, the sandbox path prints its plan and sends nothing.
#[tokio::test]
async fn without_yes_the_plan_is_printed_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (server, certificates) = dressed_sandbox(dir.path()).await;
    let output = sandbox_kit(&server, Some(&certificates.ca), &[])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let (files, _, _) = planned(&stdout);
    assert!(files > 0, "{stdout}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert_eq!(server.files().count(), 0);
    assert!(
        server
            .journal()
            .requests(&u21_mock::JournalQuery::default())
            .len()
            <= 1,
        "at most the set-up check's one list call"
    );
}
