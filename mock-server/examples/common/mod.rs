//! What the memory examples share: the release binary started as its own process (so its
//! memory is its own), its peak resident memory, and the create, form and status calls.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

/// The release `u21-mock` beside this example.
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let release = exe
        .parent()
        .and_then(|examples| examples.parent())
        .expect("target/release");
    release.join("u21-mock")
}

/// The process's peak resident memory (`VmHWM`), in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("Linux /proc");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib / 1024.0
}

/// The release binary on a free port with `instant` timing and no rate limit; its base URL.
pub fn start_server() -> (Child, String) {
    let binary = server_binary();
    assert!(
        binary.exists(),
        "build it first: cargo build --release -p u21-mock --bin u21-mock"
    );
    let mut child = Command::new(&binary)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--timing",
            "instant",
            "--rate-limit",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = u21_mock::ready::base_url_from_banner(&line)
        .expect("the banner's first line")
        .to_owned();
    (child, base)
}

/// A pre-signed form for `file_name` in the stream `bench`.
pub async fn create(http: &reqwest::Client, base: &str, file_name: &str) -> Value {
    http.post(format!("{base}/v1/imports/pre-signed-url/create"))
        .header("u21-key", "u21-mock-dev-key")
        .json(&json!({"stream_name": "bench", "file_name": file_name}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The form's fields, in order, for a multipart body; the file part goes after them.
pub fn form_fields(created: &Value) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in created["form_fields"].as_object().unwrap() {
        form = form.text(name.clone(), value.as_str().unwrap().to_owned());
    }
    form
}

/// The file's status: the first read after an upload waits for its processing.
pub async fn status(http: &reqwest::Client, base: &str, created: &Value) -> Value {
    http.get(format!(
        "{base}/v1/imports/{}",
        created["file_id"].as_str().unwrap()
    ))
    .header("u21-key", "u21-mock-dev-key")
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}
