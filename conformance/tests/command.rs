//! The `u21-conformance` command as a user runs it: the README's commands against a running
//! fake, the fake left as it was found, setup errors that are not blamed on the client, and a
//! client that never answers.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::process::Command;

fn conformance(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_u21-conformance"));
    command.args(args).kill_on_drop(true);
    command
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn adapter(name: &str) -> String {
    format!("{}/adapters/{name}", env!("CARGO_MANIFEST_DIR"))
}

async fn control(
    server: &u21_mock::MockServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", server.uri()));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}

/// The README starts the fake with its defaults (forms say `127.0.0.1`) and gives the kit
/// `http://localhost:8021`: every scenario must pass that way, with the reference client and
/// with the curl adapter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_commands_pass_against_a_default_fake_and_leave_it_as_found() {
    let server = u21_mock::MockServer::builder()
        .config(u21_mock::Config::default())
        .start()
        .await;
    let url = format!("http://localhost:{}", server.address().port());

    // The user's own state: a file, a fault on a path the kit never uses, a slow timing, a
    // moved clock and a stream.
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/v1/imports/pre-signed-url/create", server.uri()))
        .header("u21-key", server.api_key())
        .json(&json!({"stream_name": "mine", "file_name": "mine.csv"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["file_id"], "1");
    control(
        &server,
        reqwest::Method::POST,
        "/_mock/faults",
        Some(json!({"path": "/nowhere", "action": {"kind": "internal_error"}, "times": 3})),
    )
    .await;
    control(
        &server,
        reqwest::Method::POST,
        "/_mock/timing",
        Some(json!({"timing": "realistic"})),
    )
    .await;
    control(
        &server,
        reqwest::Method::POST,
        "/_mock/clock/advance",
        Some(json!({"seconds": 3600})),
    )
    .await;
    control(
        &server,
        reqwest::Method::PUT,
        "/_mock/streams",
        Some(json!([{"name": "mine"}])),
    )
    .await;
    let state_before = control(&server, reqwest::Method::GET, "/_mock/state", None).await;
    let faults_before = control(&server, reqwest::Method::GET, "/_mock/faults", None).await;

    let curl = adapter("curl.sh");
    for extra in [vec![], vec!["--adapter", "bash", "--", curl.as_str()]] {
        let mut args = vec!["--target", "url", "--url", url.as_str()];
        args.extend(extra);
        let output = conformance(&args).output().await.unwrap();
        let out = text(&output);
        assert_eq!(output.status.code(), Some(0), "{out}");
        assert!(out.contains(" passed, 0 failed, 0 skipped"), "{out}");
        assert!(out.contains("s3-slow-down-retried"), "{out}");
    }

    let state_after = control(&server, reqwest::Method::GET, "/_mock/state", None).await;
    let faults_after = control(&server, reqwest::Method::GET, "/_mock/faults", None).await;
    assert_eq!(state_after["files"], state_before["files"]);
    assert_eq!(state_after["timing"], json!("realistic"));
    assert_eq!(state_after["streams"], state_before["streams"]);
    assert_eq!(state_after["clock"], state_before["clock"]);
    assert_eq!(state_after["next_id"], state_before["next_id"]);
    let strip_ids = |faults: &Value| -> Vec<Value> {
        faults
            .as_array()
            .unwrap()
            .iter()
            .map(|f| json!([f["fault"], f["remaining"]]))
            .collect()
    };
    assert_eq!(strip_ids(&faults_after), strip_ids(&faults_before));
}

#[tokio::test]
async fn an_unreachable_target_is_a_setup_error_not_a_client_failure() {
    // Nothing listens on port 1.
    let output = conformance(&["--target", "url", "--url", "http://127.0.0.1:1"])
        .output()
        .await
        .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("cannot reach http://127.0.0.1:1"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
}

#[tokio::test]
async fn a_target_that_never_answers_is_reported_within_the_deadline() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accepts connections and reads nothing: a hung server.
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let started = Instant::now();
    let output = conformance(&["--target", "url", "--url", &url, "--op-deadline", "1"])
        .output()
        .await
        .unwrap();
    held.abort();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("cannot reach"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_refused_key_is_a_setup_error() {
    let server = u21_mock::MockServer::start().await;
    let output = conformance(&[
        "--target",
        "url",
        "--url",
        &server.uri(),
        "--api-key",
        "not-a-key",
    ])
    .output()
    .await
    .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("the key is refused"), "{out}");
}

/// Against the sandbox the URL and key come from the environment: a setup error names the
/// variable to fix, not a flag the user never gave.
#[tokio::test]
async fn sandbox_setup_errors_name_the_environment_variables() {
    let server = u21_mock::MockServer::start().await;
    let output = conformance(&["--target", "sandbox"])
        .env("U21_BASE_URL", server.uri())
        .env("U21_API_KEY", "not-a-key")
        .env("U21_STREAM", "conformance")
        .output()
        .await
        .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("the key is refused"), "{out}");
    assert!(out.contains("check U21_API_KEY"), "{out}");
    assert!(!out.contains("--api-key"), "{out}");

    let output = conformance(&["--target", "sandbox"])
        .env("U21_BASE_URL", "http://127.0.0.1:1")
        .env("U21_API_KEY", "any")
        .env("U21_STREAM", "conformance")
        .output()
        .await
        .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("is U21_BASE_URL right?"), "{out}");
    assert!(!out.contains("--url"), "{out}");
}

fn account_like_fake_config() -> u21_mock::Config {
    let mut config = u21_mock::Config::default();
    config.control.enabled = false;
    config.timing = u21_mock::Timing::Instant;
    config
}

/// The names a plan says it will create, in order.
fn planned_names(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.trim_start().strip_prefix("create  "))
        .map(|l| l.rsplit_once("  (").map_or(l, |(name, _)| name).to_owned())
        .collect()
}

/// Against a real account (the sandbox, here a fake without a control API standing in for
/// it) the kit prints its plan first and sends nothing without `--yes`; with it, the run makes
/// exactly the planned files, under the planned names.
#[tokio::test]
async fn a_real_account_sees_the_plan_first_and_gets_nothing_without_yes() {
    let server = u21_mock::MockServer::builder()
        .config(account_like_fake_config())
        .start()
        .await;
    let sandbox = |yes: bool| {
        let mut command = conformance(&["--target", "sandbox", "--only", "happy-path"]);
        command
            .env("U21_BASE_URL", server.uri())
            .env("U21_API_KEY", server.api_key())
            .env("U21_STREAM", "conformance");
        if yes {
            command.env("U21_CONFORMANCE_YES", "1");
        }
        command
    };
    let output = sandbox(false).output().await.unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("3 files in stream \"conformance\""), "{out}");
    assert!(out.contains("9 records loaded"), "{out}");
    assert!(out.contains("nothing was sent"), "{out}");
    assert_eq!(server.files().count(), 0, "nothing reached the account");
    let planned = planned_names(&out);
    assert_eq!(planned.len(), 3, "{out}");

    let output = sandbox(true).output().await.unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    let planned = planned_names(&out);
    assert_eq!(server.files().count(), planned.len(), "{out}");
    for name in &planned {
        assert!(name.starts_with("u21-conformance-c"), "{name}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("  left  ") && l.ends_with(name.as_str())),
            "{name} was planned but not left: {out}"
        );
    }
}

/// A plan that passes the allowance is refused before anything is sent.
#[tokio::test]
async fn a_plan_over_the_allowance_is_refused_before_anything_is_sent() {
    let server = u21_mock::MockServer::builder()
        .config(account_like_fake_config())
        .start()
        .await;
    let output = conformance(&[
        "--target",
        "sandbox",
        "--only",
        "happy-path",
        "--max-files",
        "2",
        "--yes",
    ])
    .env("U21_BASE_URL", server.uri())
    .env("U21_API_KEY", server.api_key())
    .env("U21_STREAM", "conformance")
    .output()
    .await
    .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(
        out.contains("the plan creates 3 files, more than --max-files 2"),
        "{out}"
    );
    assert_eq!(server.files().count(), 0, "nothing reached the account");
}

/// `--dry-run --target sandbox` prints the plan without reaching anything.
#[tokio::test]
async fn a_sandbox_dry_run_prints_the_plan() {
    let output = conformance(&["--target", "sandbox", "--dry-run", "--only", "happy-path"])
        .env_remove("U21_BASE_URL")
        .output()
        .await
        .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(out.contains("plan for the sandbox"), "{out}");
    assert!(out.contains("3 files"), "{out}");
}

/// With `--target url`, the flags (or their variables) are named.
#[tokio::test]
async fn url_setup_errors_name_the_flag_and_its_variable() {
    let server = u21_mock::MockServer::start().await;
    let output = conformance(&["--target", "url", "--url", &server.uri()])
        .env("U21_CONFORMANCE_API_KEY", "not-a-key")
        .output()
        .await
        .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(
        out.contains("check --api-key or U21_CONFORMANCE_API_KEY"),
        "{out}"
    );
}

#[tokio::test]
async fn a_client_that_never_answers_fails_each_scenario_within_its_deadline() {
    let server = u21_mock::MockServer::start().await;
    let started = Instant::now();
    // `sleep` reads no request and writes no answer.
    let output = conformance(&[
        "--target",
        "url",
        "--url",
        &server.uri(),
        "--only",
        "happy-path",
        "--op-deadline",
        "0.5",
        "--adapter",
        "sleep",
        "--",
        "600",
    ])
    .output()
    .await
    .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert_eq!(
        out.matches("did not answer upload within its deadline")
            .count(),
        3,
        "{out}"
    );
    assert!(out.contains("0 passed, 3 failed"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// At the end of a run the adapter's stdin is closed and it exits by itself, as ADAPTERS.md
/// asks, so it can clean up: the curl adapter removes its temporary directory (a kill, as
/// before, left one behind on every run).
#[tokio::test]
async fn the_adapter_is_stopped_by_closing_its_stdin_and_cleans_up() {
    let server = u21_mock::MockServer::start().await;
    let temp = tempfile::tempdir().unwrap();
    let output = conformance(&[
        "--target",
        "url",
        "--url",
        &server.uri(),
        "--only",
        "happy-path",
        "--adapter",
        "bash",
        "--",
        &adapter("curl.sh"),
    ])
    .env("TMPDIR", temp.path())
    .output()
    .await
    .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    let left: Vec<_> = std::fs::read_dir(temp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}\n{out}");
}

#[tokio::test]
async fn a_report_that_cannot_be_written_stops_the_run_before_it_starts() {
    let server = u21_mock::MockServer::start().await;
    let started = Instant::now();
    let output = conformance(&[
        "--target",
        "url",
        "--url",
        &server.uri(),
        "--json",
        "/nonexistent-dir/report.json",
    ])
    .output()
    .await
    .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(
        out.contains("cannot write the report /nonexistent-dir/report.json"),
        "{out}"
    );
    assert!(!out.contains("pass "), "no scenario ran: {out}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// As PID 1 in a container nothing else stops it: SIGTERM ends the run, and the fake is put
/// back as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_run_and_puts_the_fake_back() {
    use tokio::io::AsyncBufReadExt;

    let server = u21_mock::MockServer::start().await;
    control(
        &server,
        reqwest::Method::POST,
        "/_mock/timing",
        Some(json!({"timing": "realistic"})),
    )
    .await;
    let mut child = conformance(&["--target", "url", "--url", &server.uri()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Once a few scenarios have run, the fake is the kit's.
    let mut seen = 0;
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.contains("pass ") {
            seen += 1;
            if seen == 3 {
                break;
            }
        }
    }
    assert_eq!(seen, 3);
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the kit stops on SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(143));
    let state = control(&server, reqwest::Method::GET, "/_mock/state", None).await;
    assert_eq!(state["timing"], json!("realistic"));
    assert_eq!(state["files"], json!([]));
}

/// The kit's own calls carry the key and the control token: a 307 from the target to another
/// origin is not followed, so neither reaches it, and the run stops as a setup error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kit_follows_no_redirect_to_another_origin() {
    let server = u21_mock::MockServer::builder()
        .config({
            let mut config = u21_mock::Config::default();
            config.control.token = Some("kit-token-secret".into());
            config
        })
        .start()
        .await;
    let elsewhere = u21_conformance::other_origin::OtherOrigin::start(
        server.api_key(),
        json!({"datafiles": []}),
    )
    .await
    .unwrap();
    server
        .faults()
        .add(
            u21_mock::Fault::new(
                "/v1/imports/list",
                u21_mock::FaultAction::Status {
                    status: 307,
                    body: String::new(),
                    headers: [(
                        "location".to_owned(),
                        format!("{}/v1/imports/list", elsewhere.url),
                    )]
                    .into(),
                },
            )
            .method("POST"),
        )
        .unwrap();
    let output = conformance(&[
        "--target",
        "url",
        "--url",
        &server.uri(),
        "--control-token",
        "kit-token-secret",
        "--only",
        "contract",
    ])
    .output()
    .await
    .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    let arrived = elsewhere.arrived();
    assert!(
        arrived.iter().all(|a| !a.had_key_header && !a.had_key),
        "the key reached another origin: {arrived:?}"
    );
    assert!(arrived.is_empty(), "the redirect was followed: {arrived:?}");
}

/// A stand-in fake whose `PUT /_mock/state` is refused from the `refuse_from`-th call on (1:
/// the first), and which records every call it gets. Its state is a marker the test can find.
async fn fake_that_refuses_its_state(
    refuse_from: usize,
) -> (String, std::sync::Arc<parking_lot::Mutex<Vec<String>>>) {
    use axum::routing::get;
    let calls = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let record = calls.clone();
    let app = axum::Router::new()
        .route(
            "/_mock/clock",
            get(|| async { axum::Json(json!({"now_ms": 1})) }),
        )
        .route(
            "/_mock/faults",
            get(|| async { axum::Json(json!([])) })
                .delete(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .route(
            "/v1/imports/list",
            axum::routing::post(|| async {
                axum::Json(json!({"datafiles": [], "response_count": 0, "total_count": 0}))
            }),
        )
        .route(
            "/_mock/state",
            get(|| async { axum::Json(json!({"files": [{"file_name": "the-users-own.csv"}]})) })
                .put({
                    let calls = calls.clone();
                    move || async move {
                        let puts = calls
                            .lock()
                            .iter()
                            .filter(|c| c.as_str() == "PUT /_mock/state")
                            .count();
                        if puts >= refuse_from {
                            (
                                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                                "{\"error_code\":\"payload_too_large\"}",
                            )
                        } else {
                            (axum::http::StatusCode::NO_CONTENT, "")
                        }
                    }
                }),
        )
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let record = record.clone();
                async move {
                    record
                        .lock()
                        .push(format!("{} {}", request.method(), request.uri().path()));
                    next.run(request).await
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

/// A fake whose state the kit could not put back is not touched: the run does not start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_the_fake_will_not_take_back_stops_the_run_before_it_starts() {
    let (url, calls) = fake_that_refuses_its_state(1).await;
    let output = conformance(&["--target", "url", "--url", &url])
        .output()
        .await
        .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(
        out.contains("could not be put back as it was read"),
        "{out}"
    );
    assert!(out.contains("changed nothing"), "{out}");
    let calls = calls.lock().clone();
    assert_eq!(
        calls,
        [
            "GET /_mock/clock",
            "GET /_mock/state",
            "GET /_mock/faults",
            "PUT /_mock/state"
        ],
        "nothing but the trial put-back"
    );
}

/// A restore that fails at the end fails the run, and the state the kit found is kept in a
/// file the message names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_restore_fails_the_run_and_keeps_the_state_in_a_file() {
    let (url, _) = fake_that_refuses_its_state(2).await;
    let output = conformance(&[
        "--target",
        "url",
        "--url",
        &url,
        "--only",
        "contract-errors",
    ])
    .output()
    .await
    .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("FAILED to restore the fake"), "{out}");
    let path = out
        .split("the state as the kit found it is in ")
        .nth(1)
        .and_then(|rest| rest.split(" (PUT it").next())
        .unwrap_or_else(|| panic!("no file named: {out}"));
    let kept: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(kept["files"][0]["file_name"], "the-users-own.csv");
    std::fs::remove_file(path).unwrap();
}

/// Runs `client-reports-not-found` against the fake at `url` through a Python adapter given
/// as `code` (`python3 -c`).
async fn one_scenario_through_python(url: &str, key: &str, code: &str) -> Output {
    conformance(&[
        "--target",
        "url",
        "--url",
        url,
        "--api-key",
        key,
        "--only",
        "client-reports-not-found",
        "--adapter",
        "python3",
        "--",
        "-c",
        code,
    ])
    .output()
    .await
    .unwrap()
}

/// An adapter that answers with a line of 100 MiB (or logs one) is not copied whole into the
/// kit's memory and report: the answer is refused at the bound, the report stays short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_adapter_line_is_cut_at_the_bound() {
    let server = u21_mock::MockServer::start().await;
    let code = "import sys\nfor line in sys.stdin:\n    sys.stderr.write('e' * (100 << 20) + '\\n')\n    sys.stdout.write('x' * (100 << 20) + '\\n')\n    sys.stdout.flush()\n";
    let output = one_scenario_through_python(&server.uri(), server.api_key(), code).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        stdout.contains("longer than"),
        "{}",
        &stdout[..stdout.len().min(2000)]
    );
    assert!(
        stdout.len() < 64 * 1024,
        "the report holds {} bytes",
        stdout.len()
    );
    assert!(
        output.stderr.len() < 1024 * 1024,
        "the kit echoed {} bytes of stderr",
        output.stderr.len()
    );
}

/// A line cut at its bound, or a broken answer quoted in part, never shows a piece of the key:
/// the key is masked before the cut, or the cut drops its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_line_never_shows_part_of_the_key() {
    let key = "kitsecretkey0123456789";
    let config = u21_mock::Config {
        keys: vec![u21_mock::KeyConfig::new(key, "demo")],
        ..u21_mock::Config::default()
    };
    let server = u21_mock::MockServer::builder().config(config).start().await;
    // The key straddles the stderr bound (8 KiB) and the 2 KiB quoted from a broken answer.
    let code = "import os, sys\nk = os.environ['U21_API_KEY']\nfor line in sys.stdin:\n    sys.stderr.write('e' * (8192 - 6) + k + '\\n')\n    sys.stderr.flush()\n    sys.stdout.write('x' * (2048 - 6) + k + '\\n')\n    sys.stdout.flush()\n";
    let output = one_scenario_through_python(&server.uri(), key, code).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("…(cut)"), "the log line was cut");
    assert!(out.contains("is not JSON"), "the answer was quoted");
    assert!(!out.contains(&key[..6]), "a piece of the key was shown");
}
