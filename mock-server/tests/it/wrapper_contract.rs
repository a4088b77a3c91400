//! What the Python and Node wrappers need from the `u21-mock` binary, pinned on the binary
//! itself: one JSON ready line (`--ready-json`), an exit when standard input closes
//! (`--exit-with-stdin`, the one way no fake outlives a killed test runner), and
//! `--public-url auto`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// How long a stopping fake may take before the test calls it a failure (a bound, not a wait:
/// the test goes on as soon as the process exits).
const EXIT_BOUND: Duration = Duration::from_secs(10);

struct Wrapped {
    /// Taken by [`Wrapped::exit`]; killed when dropped otherwise.
    child: Option<Child>,
    pid: u32,
    stdin: Option<ChildStdin>,
    ready: Value,
    stdout_rest: mpsc::Receiver<String>,
}

impl Drop for Wrapped {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Wrapped {
    /// The exit status, once the process has exited by itself; the test fails past
    /// [`EXIT_BOUND`].
    fn exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("not yet waited for");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(child.wait());
        });
        match receiver.recv_timeout(EXIT_BOUND) {
            Ok(status) => status.unwrap(),
            Err(_) => {
                // The waiting thread owns the child: kill it by pid, so a failing test leaves
                // no fake behind.
                let _ = Command::new("kill")
                    .args(["-KILL", &self.pid.to_string()])
                    .status();
                panic!(
                    "the fake (pid {}) still runs after {EXIT_BOUND:?}",
                    self.pid
                )
            }
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }
}

/// Starts the binary as a wrapper does: stdin, stdout and stderr piped, the first stdout line
/// read as JSON. What stdout says after it is collected for the test to look at.
fn start_wrapped(args: &[&str]) -> Wrapped {
    let mut child = Command::new(env!("CARGO_BIN_EXE_u21-mock"))
        .args(["--listen", "127.0.0.1:0", "--ready-json"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the u21-mock binary runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let ready: Value = serde_json::from_str(&first)
        .unwrap_or_else(|err| panic!("the first stdout line is not JSON ({err}): {first:?}"));
    let (lines, stdout_rest) = mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        let _ = lines.send(rest);
    });
    Wrapped {
        pid: child.id(),
        stdin: child.stdin.take(),
        child: Some(child),
        ready,
        stdout_rest,
    }
}

/// `--tls-cert/--tls-key` and `--s3-listen` as a user gives them: the ready line names an
/// `https://` API and forms that point at S3's own port.
#[test]
fn the_binary_serves_https_with_s3_on_a_port_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = crate::common::certificates::make_certificates(dir.path());
    let wrapped = start_wrapped(&[
        "--s3-listen",
        "127.0.0.1:0",
        "--tls-cert",
        certificates.cert.to_str().unwrap(),
        "--tls-key",
        certificates.key.to_str().unwrap(),
    ]);
    let url = wrapped.ready["url"].as_str().unwrap();
    let s3 = wrapped.ready["s3"]["url"].as_str().unwrap();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert!(s3.starts_with("https://127.0.0.1:"), "{s3}");
    assert!(!s3.starts_with(url), "S3 on its own port: {s3} vs {url}");
}

fn get(base: &str, path: &str) -> u16 {
    let authority = base.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer[9..12].parse().unwrap()
}

#[test]
fn the_ready_line_is_one_json_line_with_what_a_wrapper_needs() {
    let mut fake = start_wrapped(&[
        "--exit-with-stdin",
        "--timing",
        "manual",
        "--api-key",
        "k1=acme",
        "--api-key",
        "k2",
    ]);
    let ready = &fake.ready;
    assert_eq!(ready["event"], "ready");
    assert_eq!(ready["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(ready["pid"], fake.pid);
    let url = ready["url"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(ready["public_url"], url);
    assert_eq!(ready["api_key"], "k1");
    assert_eq!(
        ready["keys"],
        serde_json::json!([{"key": "k1", "org": "acme"}, {"key": "k2", "org": "demo"}])
    );
    assert_eq!(ready["s3"]["bucket"], "u21-mock-uploads");
    assert_eq!(ready["s3"]["url"], format!("{url}/u21-mock-uploads/"));
    assert_eq!(ready["s3"]["access_key_id"], "AKIAU21MOCKEXAMPLE00");
    assert!(ready["s3"]["secret_access_key"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(ready["timing"], "manual");
    assert_eq!(
        ready["control"],
        serde_json::json!({"enabled": true, "token_required": false})
    );
    assert_eq!(ready["data_dir"], Value::Null);
    assert_eq!(get(url, "/_mock/health"), 200);

    // Nothing else is ever written to stdout: the human banner went to stderr.
    drop(fake.stdin.take());
    assert!(fake.exit().success());
    let rest = fake.stdout_rest.recv_timeout(EXIT_BOUND).unwrap();
    assert_eq!(rest, "", "stdout after the ready line");
}

#[test]
fn closing_stdin_stops_the_fake_cleanly() {
    let mut fake = start_wrapped(&["--exit-with-stdin"]);
    let url = fake.ready["url"].as_str().unwrap().to_owned();
    assert_eq!(get(&url, "/_mock/health"), 200);
    // What a killed parent does to the pipe: the kernel closes its end.
    drop(fake.stdin.take());
    let status = fake.exit();
    assert!(status.success(), "a clean stop exits 0: {status}");
    assert!(
        TcpStream::connect(url.strip_prefix("http://").unwrap()).is_err(),
        "the port is closed"
    );
}

#[test]
fn without_the_flag_a_closed_stdin_is_not_a_stop() {
    let mut fake = start_wrapped(&[]);
    let url = fake.ready["url"].as_str().unwrap().to_owned();
    drop(fake.stdin.take());
    // A stop would close the listener; a fresh connection and request still get their answer.
    assert_eq!(get(&url, "/_mock/health"), 200);
    assert!(fake.is_running(), "still running");
}

#[test]
fn an_auto_public_url_follows_the_host_the_client_used() {
    let fake = start_wrapped(&["--public-url", "auto"]);
    assert_eq!(fake.ready["public_url_from_host"], true);
    let url = fake.ready["url"].as_str().unwrap();
    let authority = url.strip_prefix("http://").unwrap();
    let body = r#"{"stream_name": "s", "file_name": "a.csv"}"#;
    let mut stream = TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "POST /v1/imports/pre-signed-url/create HTTP/1.1\r\nHost: localhost:40999\r\nu21-key: u21-mock-dev-key\r\ncontent-type: application/json\r\ncontent-length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let json = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let created: Value = serde_json::from_str(json).unwrap();
    assert_eq!(created["url"], "http://localhost:40999/u21-mock-uploads/");
}
