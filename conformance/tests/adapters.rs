//! What the shipped adapters show of themselves while they work: no process of theirs carries
//! the API key in its arguments, which any local user can read (`ps`, `/proc/*/cmdline`).
#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Every process's arguments, joined by spaces, with its pid.
fn command_lines() -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&raw).replace('\0', " ")))
        })
        .collect()
}

/// Starts the adapter against a listener that accepts and never answers, asks it for a file,
/// and once its request is in flight (the connection accepted) reads every process's
/// arguments. Returns the lines holding the key, and whether `running` matched a process.
fn key_in_arguments(program: &str, adapter: &str, running: &str) -> (Vec<String>, bool) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let key = format!("argv-probe-key-{}", std::process::id());
    let path = format!("{}/adapters/{adapter}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(program)
        .arg(&path)
        .env("U21_BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("U21_API_KEY", &key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"id\": 1, \"op\": \"status\", \"file_id\": \"1\"}\n")
        .unwrap();
    let (accepted, connection) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = accepted.send(listener.accept().map(|(stream, _)| stream));
    });
    // A bound, not a pause: the adapter's request arrives well within it.
    let connection = connection
        .recv_timeout(Duration::from_secs(30))
        .expect("the adapter never connected")
        .unwrap();
    let lines = command_lines();
    let running = lines.iter().any(|(_, line)| line.contains(running));
    let leaks = lines
        .into_iter()
        .filter(|(_, line)| line.contains(&key))
        .map(|(pid, line)| format!("{pid}: {}", line.replace(&key, "****")))
        .collect();
    drop(stdin);
    drop(connection);
    let _ = child.kill();
    let _ = child.wait();
    (leaks, running)
}

#[test]
fn the_curl_adapter_keeps_the_key_off_curls_command_line() {
    // While the request is in flight, curl itself runs with the API's URL in its arguments.
    let (leaks, running) = key_in_arguments("bash", "curl.sh", "/v1/imports/1");
    assert!(running, "no curl process was seen in flight");
    assert!(leaks.is_empty(), "the key is in the arguments of {leaks:?}");
}

#[test]
fn the_python_adapter_keeps_the_key_off_its_command_line() {
    let (leaks, running) = key_in_arguments("python3", "python_client.py", "python_client.py");
    assert!(running, "the adapter was not seen running");
    assert!(leaks.is_empty(), "the key is in the arguments of {leaks:?}");
}

/// Node.js 18 or later: ignored by default with the reason, run by `.ci/run`.
#[test]
#[ignore = "needs Node.js 18 or later; .ci/run installs it and runs these"]
fn the_node_adapter_keeps_the_key_off_its_command_line() {
    common::require_node();
    let (leaks, running) = key_in_arguments("node", "node_client.mjs", "node_client.mjs");
    assert!(running, "the adapter was not seen running");
    assert!(leaks.is_empty(), "the key is in the arguments of {leaks:?}");
}
