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
    let base = u21_mock::ready::base_url_from_banner(&first)
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

fn check(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_u21-mock"))
        .args(args)
        .arg("--check")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{args:?} {env:?}: {text}");
    text
}

#[rstest::rstest]
#[case::port_alone(":0", "listen 0.0.0.0:0,")]
#[case::host_name("localhost:0", "listen 127.0.0.1:0,")]
#[case::address("127.0.0.1:8032", "listen 127.0.0.1:8032,")]
#[case::ipv6("[::1]:0", "listen [::1]:0,")]
fn listen_takes_an_address_a_host_name_or_a_port_alone(
    #[case] listen: &str,
    #[case] expected: &str,
) {
    let text = check(&["--listen", listen], &[]);
    assert!(text.contains(expected), "{text}");
}

#[rstest::rstest]
#[case::one("1", "control off")]
#[case::zero("0", "control on")]
#[case::word_true("true", "control off")]
#[case::word_false("false", "control on")]
#[case::yes("yes", "control off")]
fn boolean_environment_variables_take_1_0_true_and_false(
    #[case] value: &str,
    #[case] expected: &str,
) {
    let text = check(&[], &[("U21_MOCK_NO_CONTROL", value)]);
    assert!(text.contains(expected), "{text}");
}

/// The banner, up to its last line.
fn banner(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_u21-mock"))
        .args(["--listen", "localhost:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Stopped when this returns or a read fails: no fake outlives the test.
    let _running = Running {
        child,
        base: String::new(),
    };
    let mut text = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.starts_with("Stop with Ctrl-C") {
            break;
        }
    }
    text
}

/// With S3 on its own port, the public URL is S3's: the banner's dashboard and `curl` line
/// still go to the API, which is where they work.
#[test]
fn with_s3_apart_the_banner_sends_the_user_to_the_api() {
    let text = banner(&["--s3-listen", "127.0.0.1:0"]);
    let base = text
        .lines()
        .next()
        .and_then(u21_mock::ready::base_url_from_banner)
        .unwrap();
    let s3 = text
        .lines()
        .find_map(|l| l.strip_prefix("  S3 endpoint: "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("no S3 endpoint line: {text}"));
    assert_ne!(base, s3);
    assert!(text.contains(&format!("  public URL:  {s3}\n")), "{text}");
    assert!(
        text.contains(&format!("  dashboard:   {base}/\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "curl -s -X POST {base}/v1/imports/pre-signed-url/create"
        )),
        "{text}"
    );
}

#[test]
fn the_banner_names_the_dashboard_the_timing_as_the_flag_spells_it_the_data_dir_and_control() {
    let text = banner(&[]);
    let base = text
        .lines()
        .next()
        .and_then(u21_mock::ready::base_url_from_banner)
        .unwrap();
    assert!(base.starts_with("http://127.0.0.1:"), "{text}");
    assert!(
        text.contains(&format!("  dashboard:   {base}/\n")),
        "{text}"
    );
    assert!(
        text.contains("  timing:      fast (the default)\n"),
        "{text}"
    );
    assert!(text.contains("  data dir:    none"), "{text}");
    assert!(text.contains("  control:     on, open"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    let text = banner(&[
        "--no-control",
        "--timing",
        "manual",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        !text.contains("dashboard:"),
        "no control, no dashboard: {text}"
    );
    assert!(
        text.contains("  timing:      manual (--timing)\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("  data dir:    {}\n", data.display())),
        "{text}"
    );
    assert!(text.contains("  control:     off"), "{text}");
    // Restarted on that directory without a timing flag: the timing kept there is in force,
    // and the banner says so.
    let text = banner(&["--no-control", "--data-dir", data.to_str().unwrap()]);
    assert!(
        text.contains("  timing:      manual (kept in the data dir, or the default)\n"),
        "{text}"
    );
    // With one, the flag wins.
    let text = banner(&[
        "--no-control",
        "--timing",
        "instant",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        text.contains("  timing:      instant (--timing)\n"),
        "{text}"
    );
    let text = banner(&["--control-token", "s3cret"]);
    assert!(
        text.contains("  control:     on, a token is required"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "the token is not printed: {text}");
}

#[test]
fn a_busy_port_is_reported_once_with_a_hint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_u21-mock"))
        .args(["--listen", &address])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("in use").count(), 1, "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert!(stderr.contains("hint: another program"), "{stderr}");
}

/// A user sees what their client did: one line per request on stderr, without colour codes
/// when stderr is not a terminal.
#[test]
fn each_request_is_logged_on_one_line() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_u21-mock"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = u21_mock::ready::base_url_from_banner(&first)
        .unwrap()
        .to_owned();
    let stderr = child.stderr.take().unwrap();
    // Stopped however the test ends, a failed assertion included.
    let running = Running { child, base };
    let base = &running.base;
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null", &format!("{base}/v1/imports/7")])
        .output()
        .expect("curl runs");
    assert!(output.status.success());
    let mut stderr = BufReader::new(stderr);
    let mut line = String::new();
    while !line.contains("/v1/imports/7") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no log line");
    }
    drop(running);
    assert!(line.contains(" INFO "), "{line:?}");
    assert!(line.contains("GET /v1/imports/7 401 "), "{line:?}");
    assert!(line.trim_end().ends_with(" ms"), "{line:?}");
    assert!(
        !line.contains('\u{1b}'),
        "no ANSI colours off a terminal: {line:?}"
    );
}

/// A configuration holds secrets: a TOML error names the place and the problem, once, without
/// quoting the line.
#[test]
fn a_configuration_error_is_printed_once_without_the_secret_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("u21.toml");
    std::fs::write(
        &config,
        "[s3]\naccess_key_id = \"AK\"\nsecret_access_key = \"topsecret-value\" oops\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_u21-mock"))
        .arg("--config")
        .arg(&config)
        .arg("--check")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("topsecret"), "{stderr}");
    assert!(stderr.contains("at line 3, column 39"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
