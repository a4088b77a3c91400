//! The documentation's three curl commands, pasted as a user would, against the built
//! `u21-mock` binary: create, upload, status.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// The binary, stopped when dropped.
struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_u21-mock"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the u21-mock binary runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .trim()
        .strip_prefix("u21-mock listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
        .to_owned();
    Running { child, base }
}

fn curl(args: &[&str], dir: &std::path::Path) -> Output {
    let output = Command::new("curl")
        .args(["--silent", "--show-error"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("curl is installed (.ci/run installs it)");
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn the_documented_curl_flow_ends_finished_with_the_right_counts() {
    let server = start(&[
        "--timing",
        "instant",
        "--api-key",
        "my_favorite_u21_api_key",
    ]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("file_you_want_to_upload.csv"),
        "id,amount\n1,10.5\n2,20\n3,\"thirty, or so\"\n4\n",
    )
    .unwrap();

    let created = curl(
        &[
            "--request", "POST",
            "--url", &format!("{}/v1/imports/pre-signed-url/create", server.base),
            "--header", "accept: application/json",
            "--header", "content-type: application/json",
            "--header", "u21-key: my_favorite_u21_api_key",
            "--data", "\n{\n  \"stream_name\": \"stream_name\",\n  \"file_name\": \"file_you_want_to_upload.csv\"\n}\n",
        ],
        dir.path(),
    );
    let created = json(&created);
    let field = |name: &str| created["form_fields"][name].as_str().unwrap().to_owned();

    let uploaded = curl(
        &[
            "--request",
            "POST",
            "--url",
            created["url"].as_str().unwrap(),
            "--header",
            "content-type: multipart/form-data",
            "--form",
            &format!("key={}", field("key")),
            "--form",
            &format!("AWSAccessKeyId={}", field("AWSAccessKeyId")),
            "--form",
            &format!("policy={}", field("policy")),
            "--form",
            &format!("signature={}", field("signature")),
            "--form",
            "file=@file_you_want_to_upload.csv",
            "--write-out",
            "%{http_code}",
        ],
        dir.path(),
    );
    assert_eq!(String::from_utf8_lossy(&uploaded.stdout), "204");

    let status = curl(
        &[
            "--request",
            "GET",
            "--url",
            &format!(
                "{}/v1/imports/{}",
                server.base,
                created["file_id"].as_str().unwrap()
            ),
            "--header",
            "accept: application/json",
            "--header",
            "u21-key: my_favorite_u21_api_key",
        ],
        dir.path(),
    );
    let status = json(&status);
    assert_eq!(status["status"], "FINISHED", "{status}");
    assert_eq!(status["file_name"], "file_you_want_to_upload.csv");
    assert_eq!(status["file_type"], "CSV");
    assert_eq!(
        (
            status["successful_count"].as_u64(),
            status["failure_count"].as_u64()
        ),
        (Some(3), Some(1))
    );
    assert_eq!(status["failure_code"], Value::Null);
}

#[test]
fn the_public_url_flag_goes_into_the_form_url() {
    let server = start(&["--public-url", "http://localhost:9999/"]);
    let dir = tempfile::tempdir().unwrap();
    let created = curl(
        &[
            "-X",
            "POST",
            &format!("{}/v1/imports/pre-signed-url/create", server.base),
            "-H",
            "content-type: application/json",
            "-H",
            "u21-key: u21-mock-dev-key",
            "--data",
            r#"{"stream_name": "s", "file_name": "a.csv"}"#,
        ],
        dir.path(),
    );
    assert_eq!(
        json(&created)["url"],
        "http://localhost:9999/u21-mock-uploads/"
    );
}

#[test]
fn bad_flags_and_bad_configuration_exit_non_zero_with_a_message() {
    let bin = env!("CARGO_BIN_EXE_u21-mock");
    let usage = Command::new(bin)
        .arg("--timing")
        .arg("soon")
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("unknown timing profile 'soon'"));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[[keys]]\nkey = 'a'\n").unwrap();
    let bad = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("invalid configuration"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    let help = Command::new(bin).arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--public-url",
        "--no-control",
        "--control-token",
        "--journal-capacity",
        "--data-dir",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
}

#[test]
fn a_config_file_sets_keys_and_streams() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("u21.toml");
    std::fs::write(
        &config,
        "rate_limit = 0\n[[keys]]\nkey = 'team-key'\norg = 'acme'\n[[streams]]\nname = 'txns'\ncolumns = [{ name = 'id', type = 'integer', required = true }]\n",
    )
    .unwrap();
    let server = start(&["--config", config.to_str().unwrap()]);
    let created = curl(
        &[
            "-X",
            "POST",
            &format!("{}/v1/imports/pre-signed-url/create", server.base),
            "-H",
            "content-type: application/json",
            "-H",
            "u21-key: team-key",
            "--data",
            r#"{"stream_name": "txns", "file_name": "a.csv"}"#,
        ],
        dir.path(),
    );
    assert!(json(&created)["form_fields"]["key"]
        .as_str()
        .unwrap()
        .starts_with("dev/org_acme/"));
}

#[test]
fn the_control_flags_reach_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let guarded = start(&["--control-token", "tok-123"]);
    let denied = curl(
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            &format!("{}/_mock/reset", guarded.base),
        ],
        dir.path(),
    );
    assert_eq!(String::from_utf8_lossy(&denied.stdout), "401");
    let allowed = curl(
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "-H",
            "x-u21-mock-token: tok-123",
            &format!("{}/_mock/reset", guarded.base),
        ],
        dir.path(),
    );
    assert_eq!(String::from_utf8_lossy(&allowed.stdout), "204");

    let closed = start(&["--no-control"]);
    let absent = curl(
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{}/_mock/requests", closed.base),
        ],
        dir.path(),
    );
    assert_eq!(String::from_utf8_lossy(&absent.stdout), "404");
}
