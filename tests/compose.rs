//! What docker-compose.yml and the Dockerfile run, checked against the real binaries: there is
//! no Docker engine on CI machines, so every command and flag they use is run here instead.

use std::path::Path;
use std::process::Command;

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// The JSON arrays after `key:` inside the block of `service` (the compose file writes every
/// command as a one-line flow sequence, which is JSON).
fn arrays(compose: &str, service: &str, key: &str) -> Vec<Vec<String>> {
    let mut in_service = false;
    let mut found = Vec::new();
    for line in compose.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") {
            in_service = line.trim() == format!("{service}:");
        }
        if let Some(rest) = line.trim().strip_prefix(&format!("{key}:")) {
            if in_service {
                found.push(serde_json::from_str(rest.trim()).unwrap_or_else(|e| {
                    panic!("{service}.{key} is not a flow sequence: {rest} ({e})")
                }));
            }
        }
    }
    found
}

/// The release or debug binary built beside the test binary.
fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; `cargo test --workspace` builds it",
        path.display()
    );
    path
}

/// A `u21-mock` binary a test started: killed and reaped when dropped, so a test that fails
/// half-way leaves no fake running behind it (one did, for hours, before).
pub(crate) struct RunningFake(std::process::Child);

impl Drop for RunningFake {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `u21-mock` binary on a free loopback port, with its defaults otherwise; its
/// `host:port`, read from the banner's first line.
pub(crate) fn start_fake() -> (RunningFake, String) {
    start_fake_with(&[])
}

/// [`start_fake`] with more flags.
pub(crate) fn start_fake_with(flags: &[&str]) -> (RunningFake, String) {
    let mut server = Command::new(binary("u21-mock"))
        .args(["--listen", "127.0.0.1:0"])
        .args(flags)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let address = first.trim().rsplit('/').next().unwrap().to_owned();
    (RunningFake(server), address)
}

#[test]
fn the_mock_service_command_is_accepted_by_u21_mock() {
    let compose = read("docker-compose.yml");
    let command = &arrays(&compose, "mock", "command")[0];
    let output = Command::new(binary("u21-mock"))
        .args(command)
        .arg("--check")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "u21-mock {command:?} --check: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("listen 0.0.0.0:8021, timing fast"));
}

#[test]
fn the_health_checks_run_against_a_live_fake() {
    let compose = read("docker-compose.yml");
    let dockerfile = read("Dockerfile");
    let from_dockerfile: Vec<String> = {
        let line = dockerfile
            .lines()
            .find(|l| l.starts_with("HEALTHCHECK"))
            .unwrap();
        serde_json::from_str(&line[line.find('[').unwrap()..]).unwrap()
    };
    let from_compose = arrays(&compose, "mock", "test").remove(0);
    let (server, address) = start_fake();
    let port = address.rsplit(':').next().unwrap().to_owned();
    // The checks run inside the image, with its environment (`ENV U21_MOCK_LISTEN=…`).
    let image_env: Vec<(String, String)> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    assert!(
        image_env.iter().any(|(k, _)| k == "U21_MOCK_LISTEN"),
        "{image_env:?}"
    );
    // Compose writes ["CMD", program, …]; the Dockerfile's exec form is [program, …].
    assert_eq!(from_compose[0], "CMD");
    for check in [&from_compose[1..], &from_dockerfile[..]] {
        assert_eq!(check[0], "u21-mock");
        // Same flags, pointed at this fake's port instead of the container's 8021.
        let args: Vec<String> = check[1..]
            .iter()
            .map(|a| a.replace(":8021", &format!(":{port}")))
            .collect();
        let output = Command::new(binary("u21-mock"))
            .args(&args)
            .envs(image_env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "u21-mock {args:?} with {image_env:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    drop(server);
    let refused = Command::new(binary("u21-mock"))
        .args(["--health-check", "http://127.0.0.1:1/_mock/health"])
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(1),
        "a dead server fails the check"
    );
}

#[test]
fn the_conformance_service_command_is_accepted_by_u21_conformance() {
    let compose = read("docker-compose.yml");
    let entrypoint = &arrays(&compose, "conformance", "entrypoint")[0];
    assert_eq!(entrypoint, &["u21-conformance"]);
    let command = &arrays(&compose, "conformance", "command")[0];
    let output = Command::new(binary("u21-conformance"))
        .args(command)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "u21-conformance {command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).lines().count(),
        u21_conformance::catalogue().len()
    );
}

#[test]
fn the_image_ships_what_the_compose_file_and_readme_run() {
    let dockerfile = read("Dockerfile");
    for binary in ["u21-mock", "u21-conformance", "u21"] {
        assert!(
            dockerfile.contains(&format!("--bin {binary}")),
            "the image does not build {binary}"
        );
        assert!(
            dockerfile.contains(&format!("target/release/{binary} "))
                || dockerfile.contains(&format!("target/release/{binary}\n")),
            "the image does not copy {binary}"
        );
    }
    assert!(
        dockerfile.contains("USER u21"),
        "the runtime runs as a non-root user"
    );
    assert!(
        dockerfile.contains("FROM debian:bookworm-slim"),
        "a small runtime stage"
    );
}

/// The `kit` service runs the user's own adapter, mounted at /adapter: its entrypoint and
/// default command run the kit through it; the image has what a Python client usually needs;
/// the README shows it.
#[test]
fn the_kit_service_runs_a_mounted_adapter() {
    let compose = read("docker-compose.yml");
    let entrypoint = &arrays(&compose, "kit", "entrypoint")[0];
    let command = &arrays(&compose, "kit", "command")[0];
    assert_eq!(entrypoint[0], "u21-conformance");
    assert_eq!(
        command,
        &["--adapter", "python3", "--", "/adapter/client.py"]
    );
    assert!(
        compose.contains("\"./adapter:/adapter:ro\""),
        "the adapter is mounted"
    );
    // Run for real against the binary fake, the shipped Python adapter standing in for the
    // user's and a temporary directory for /reports (the happy path only: the catalogue itself
    // is tested elsewhere, and the image check runs all of it in the image).
    let shipped =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/adapters/python_client.py");
    let reports = tempfile::tempdir().unwrap();
    let (server, address) = start_fake();
    let args: Vec<String> = entrypoint[1..]
        .iter()
        .chain(command)
        .map(|a| {
            a.replace("/adapter/client.py", shipped.to_str().unwrap())
                .replace("/reports", reports.path().to_str().unwrap())
                .replace("localhost:8021", &address)
        })
        .collect();
    // Before the adapter's `--`, where it is a flag of the kit's.
    let output = Command::new(binary("u21-conformance"))
        .args(["--only", "happy-path"])
        .args(&args)
        .output()
        .unwrap();
    drop(server);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "u21-conformance {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("3 passed, 0 failed"), "{stdout}");
    assert!(reports.path().join("report.json").exists());
    assert!(
        read("Dockerfile").contains("python3-requests"),
        "the image has requests for a Python adapter"
    );
    assert!(
        read("README.md")
            .contains("docker compose run --rm kit --adapter python3 -- /adapter/client.py"),
        "the README shows how to run it"
    );
}
