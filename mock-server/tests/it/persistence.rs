//! `--data-dir`: the binary keeps every acknowledged file, object and status across restarts,
//! and a process killed mid-upload leaves no partial object and no changed status.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use serde_json::{json, Value};

struct Running {
    child: Child,
    base: String,
}

impl Running {
    /// SIGKILL: no shutdown code runs, as in a crash.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &Path, timing: &str) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_u21-mock"));
    command
        .args(["--listen", "127.0.0.1:0", "--timing", timing, "--data-dir"])
        .arg(data_dir);
    running(command)
}

/// A fake without `--data-dir`, whose temporary directory goes under `temp`.
fn start_in_memory(temp: &Path) -> Running {
    running(in_memory(temp))
}

fn in_memory(temp: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_u21-mock"));
    command
        .args(["--listen", "127.0.0.1:0"])
        .env("TMPDIR", temp);
    command
}

/// Starts `command` and waits for its banner.
fn running(mut command: Command) -> Running {
    running_with(command.stderr(Stdio::null()))
}

/// Like [`running`], with the log (stderr) left to the caller to set up.
fn running_with(command: &mut Command) -> Running {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = u21_mock::ready::base_url_from_banner(&line)
        .expect("banner")
        .to_owned();
    Running { child, base }
}

async fn create(server: &Running, name: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}/v1/imports/pre-signed-url/create", server.base))
        .header("u21-key", "u21-mock-dev-key")
        .json(&json!({"stream_name": "s", "file_name": name}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn form(created: &Value) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in created["form_fields"].as_object().unwrap() {
        form = form.text(name.clone(), value.as_str().unwrap().to_owned());
    }
    form
}

async fn upload(server: &Running, created: &Value, body: &'static str) -> u16 {
    let form = form(created).part(
        "file",
        reqwest::multipart::Part::bytes(body.as_bytes()).file_name("f.csv"),
    );
    let url = format!("{}/u21-mock-uploads/", server.base);
    reqwest::Client::new()
        .post(url)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn status(server: &Running, id: &Value) -> Value {
    reqwest::Client::new()
        .get(format!(
            "{}/v1/imports/{}",
            server.base,
            id.as_str().unwrap()
        ))
        .header("u21-key", "u21-mock-dev-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_fakes_temporary_directory_is_removed_by_the_next_fake() {
    let temp = tempfile::tempdir().unwrap();
    let killed = start_in_memory(temp.path());
    let created = create(&killed, "big.csv").await;
    assert_eq!(upload(&killed, &created, "a\n1\n").await, 204);
    let left = files_in(temp.path());
    assert_eq!(left.len(), 1, "one temporary directory: {left:?}");
    killed.kill();
    assert_eq!(files_in(temp.path()), left, "SIGKILL leaves it behind");

    // The next fake removes it on a thread of its own, and logs when it is done.
    let mut running = running_with(in_memory(temp.path()).stderr(Stdio::piped()));
    let log = BufReader::new(running.child.stderr.take().unwrap());
    let done = log
        .lines()
        .map(Result::unwrap)
        .find(|line| line.contains("removed the temporary data directories"))
        .expect("the clean-up is logged");
    assert!(done.contains("directories=1"), "{done}");
    let now = files_in(temp.path());
    assert_eq!(
        now.len(),
        1,
        "only the running fake's directory is left: {now:?}"
    );
    assert_ne!(now, left, "the killed fake's directory is gone");
    // A fake that is running keeps its directory when another one starts beside it.
    let beside = start_in_memory(temp.path());
    assert_eq!(files_in(temp.path()).len(), 2);
    drop(beside);
    drop(running);
}

#[test]
fn a_fake_stopped_with_sigterm_removes_its_temporary_directory() {
    let temp = tempfile::tempdir().unwrap();
    let mut server = start_in_memory(temp.path());
    assert_eq!(files_in(temp.path()).len(), 1);
    let pid = server.child.id().to_string();
    let term = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(term.success());
    assert!(
        server.child.wait().unwrap().success(),
        "SIGTERM is a clean stop"
    );
    assert_eq!(files_in(temp.path()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_every_acknowledged_file_object_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "manual");
    let finished = create(&server, "done.csv").await;
    assert_eq!(upload(&server, &finished, "a\n1\n2\n").await, 204);
    let client = reqwest::Client::new();
    let id = finished["file_id"].as_str().unwrap();
    client
        .post(format!("{}/_mock/files/{id}/transition", server.base))
        .json(&json!({"status": "FINISHED", "successful_count": 2}))
        .send()
        .await
        .unwrap();
    let queued = create(&server, "queued.csv").await;
    assert_eq!(upload(&server, &queued, "a\n1\n").await, 204);
    let pending = create(&server, "pending.csv").await;
    let before: Vec<Value> = vec![
        status(&server, &finished["file_id"]).await,
        status(&server, &queued["file_id"]).await,
        status(&server, &pending["file_id"]).await,
    ];
    assert_eq!(before[1]["status"], "QUEUED");
    server.kill();

    let server = start(dir.path(), "manual");
    let after = vec![
        status(&server, &finished["file_id"]).await,
        status(&server, &queued["file_id"]).await,
        status(&server, &pending["file_id"]).await,
    ];
    assert_eq!(after, before);
    // The queued file carries on, its object intact, and the pending form still uploads.
    client
        .post(format!(
            "{}/_mock/files/{}/transition",
            server.base,
            queued["file_id"].as_str().unwrap()
        ))
        .json(&json!({"status": "PROCESSING"}))
        .send()
        .await
        .unwrap();
    let snapshot: Value = client
        .get(format!("{}/_mock/state", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let objects: Vec<&str> = snapshot["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["content_base64"].as_str().unwrap())
        .collect();
    assert_eq!(objects.len(), 2);
    assert!(
        objects.contains(&"YQoxCjIK") && objects.contains(&"YQoxCg=="),
        "{objects:?}"
    );
    assert_eq!(upload(&server, &pending, "a\n1\n").await, 204);
    // New ids continue after the kept ones.
    assert_eq!(create(&server, "next.csv").await["file_id"], "4");
    assert!(dir.path().join("state.sqlite").exists());
    assert!(dir.path().join("u21-mock-data-dir").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_upload_leaves_no_partial_object_and_no_status_change() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "instant");
    let created = create(&server, "big.csv").await;

    // Feed the body through a channel of one: once 32 MB have been taken, the server has
    // read most of them (socket buffers hold a few MB at most) and is writing the file.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let part = reqwest::multipart::Part::stream_with_length(body, 300_000_000).file_name("big.csv");
    let url = format!("{}/u21-mock-uploads/", server.base);
    let upload = tokio::spawn(
        reqwest::Client::new()
            .post(url)
            .multipart(form(&created).part("file", part))
            .send(),
    );
    for i in 0..32 {
        if tx
            .send(Ok(Bytes::from(vec![b'x'; 1_000_000])))
            .await
            .is_err()
        {
            let answer = upload.await.unwrap();
            panic!(
                "the upload ended after {i} MB: {:?}",
                answer.map(|r| r.status())
            );
        }
    }
    let partial: u64 = files_in(&dir.path().join("incoming"))
        .iter()
        .map(|f| {
            std::fs::metadata(dir.path().join("incoming").join(f))
                .unwrap()
                .len()
        })
        .sum();
    assert!(
        partial > 0,
        "the server is writing the upload when it is killed"
    );
    server.kill();
    drop(tx);
    assert!(
        upload.await.unwrap().is_err(),
        "the client never got an answer"
    );

    let server = start(dir.path(), "instant");
    assert_eq!(
        status(&server, &created["file_id"]).await["status"],
        "PENDING_UPLOAD"
    );
    assert!(
        files_in(&dir.path().join("incoming")).is_empty(),
        "the partial upload is gone"
    );
    assert!(
        files_in(&dir.path().join("objects")).is_empty(),
        "no object was stored"
    );
    // The form still works.
    assert_eq!(upload_small(&server, &created).await, 204);
    assert_eq!(
        status(&server, &created["file_id"]).await["status"],
        "FINISHED"
    );
}

async fn upload_small(server: &Running, created: &Value) -> u16 {
    upload(server, created, "a\n1\n").await
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Starts the binary on `data_dir`, which it must refuse (exit code 1): what it said.
fn refused_start(data_dir: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_u21-mock"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_fake_on_the_same_directory_is_refused_and_named_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path(), "instant");
    let created = create(&first, "a.csv").await;
    let stderr = refused_start(dir.path());
    assert!(
        stderr.contains("another u21-mock is using it")
            && stderr.contains(&format!("pid {}", first.child.id())),
        "{stderr}"
    );
    // The first is untouched and keeps serving.
    assert_eq!(
        status(&first, &created["file_id"]).await["status"],
        "PENDING_UPLOAD"
    );
}

#[test]
fn a_directory_that_is_not_the_fakes_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    std::fs::create_dir(dir.path().join("objects")).unwrap();
    std::fs::write(dir.path().join("objects/keep-me"), "also mine").unwrap();
    let stderr = refused_start(dir.path());
    assert!(
        stderr.contains("is not a u21-mock data directory"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(dir.path().join("objects/keep-me").exists());
    assert!(!dir.path().join("state.sqlite").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_database_is_an_error_not_an_empty_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "instant");
    create(&server, "a.csv").await;
    server.kill();
    std::fs::remove_file(dir.path().join("state.sqlite")).unwrap();
    let stderr = refused_start(dir.path());
    assert!(stderr.contains("state.sqlite is missing"), "{stderr}");
}

/// A database emptied to 0 bytes (a bad copy, a full disk at the wrong moment) is refused like
/// a missing one: starting empty on it would delete every stored object as a stray.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_database_is_an_error_and_the_objects_stay() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "instant");
    let created = create(&server, "a.csv").await;
    assert_eq!(upload(&server, &created, "a\n1\n").await, 204);
    server.kill();
    for companion in ["state.sqlite-wal", "state.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.path().join(companion));
    }
    std::fs::write(dir.path().join("state.sqlite"), b"").unwrap();
    let objects = files_in(&dir.path().join("objects"));
    assert_eq!(objects.len(), 1);
    let stderr = refused_start(dir.path());
    assert!(
        stderr.contains("state.sqlite holds none of the fake's tables"),
        "{stderr}"
    );
    assert_eq!(
        files_in(&dir.path().join("objects")),
        objects,
        "no object was removed"
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("state.sqlite"))
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_removes_only_what_the_fake_made() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "instant");
    let created = create(&server, "a.csv").await;
    assert_eq!(upload(&server, &created, "a\n1\n").await, 204);
    server.kill();
    let objects = dir.path().join("objects");
    let stray_ours = objects.join("0123456789abcdef0123456789abcdef");
    std::fs::write(&stray_ours, "left by a crash").unwrap();
    std::fs::write(objects.join("README"), "the user's").unwrap();
    std::fs::write(dir.path().join("incoming/upload-x1"), "partial").unwrap();
    std::fs::write(dir.path().join("incoming/notes"), "the user's").unwrap();
    let server = start(dir.path(), "instant");
    assert_eq!(
        status(&server, &created["file_id"]).await["status"],
        "FINISHED"
    );
    assert!(!stray_ours.exists());
    assert!(!dir.path().join("incoming/upload-x1").exists());
    assert!(objects.join("README").exists());
    assert!(dir.path().join("incoming/notes").exists());
    assert_eq!(
        files_in(&objects).len(),
        2,
        "the object and the user's file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_stored_data_is_refused_with_the_row_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "instant");
    create(&server, "a.csv").await;
    create(&server, "b.csv").await;
    server.kill();
    let db = rusqlite::Connection::open(dir.path().join("state.sqlite")).unwrap();
    db.execute("UPDATE files SET status = 'DONE' WHERE id = 2", [])
        .unwrap();
    drop(db);
    let stderr = refused_start(dir.path());
    assert!(stderr.contains("file 2: status 'DONE'"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_json_of_an_earlier_version_is_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("objects")).unwrap();
    std::fs::write(
        dir.path().join("objects/00112233445566778899aabbccddeeff"),
        "a\n1\n",
    )
    .unwrap();
    let legacy = json!({
        "version": 1,
        "clock": {"frozen_at_ms": 1_700_000_000_000i64, "offset_ms": 0},
        "timing": "manual",
        "streams": [],
        "next_id": 3,
        "files": [
            {"id": 1, "org": "demo", "stream_name": "s", "file_name": "a.csv", "md5_hash": null,
             "key": "dev/org_demo/1_a.csv", "created_ms": 1_700_000_000_000i64, "status": "FINISHED",
             "process_start_ms": 1_700_000_000_000i64, "process_end_ms": 1_700_000_000_000i64,
             "successful_count": 1, "failure_count": 0, "failure_code": null, "plan": null},
            {"id": 2, "org": "demo", "stream_name": "s", "file_name": "b.csv", "md5_hash": null,
             "key": "dev/org_demo/2_b.csv", "created_ms": 1_700_000_000_000i64, "status": "PENDING_UPLOAD",
             "process_start_ms": null, "process_end_ms": null,
             "successful_count": 0, "failure_count": 0, "failure_code": null, "plan": null}
        ],
        "objects": [{"key": "dev/org_demo/1_a.csv", "size": 4, "etag": "\"e\"", "file": "00112233445566778899aabbccddeeff"}]
    });
    std::fs::write(dir.path().join("state.json"), legacy.to_string()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_u21-mock"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    while !banner.contains("timing:") {
        lines.read_line(&mut banner).unwrap();
    }
    let base = banner
        .lines()
        .next()
        .and_then(u21_mock::ready::base_url_from_banner)
        .expect("banner")
        .to_owned();
    let server = Running { child, base };
    assert!(
        banner.contains("timing:      manual"),
        "the kept timing: {banner}"
    );
    assert_eq!(status(&server, &json!("1")).await["status"], "FINISHED");
    assert_eq!(
        status(&server, &json!("2")).await["status"],
        "PENDING_UPLOAD"
    );
    assert_eq!(create(&server, "c.csv").await["file_id"], "3");
    assert!(!dir.path().join("state.json").exists());
    assert!(dir.path().join("state.json.migrated").exists());
    assert!(dir
        .path()
        .join("objects/00112233445566778899aabbccddeeff")
        .exists());
    server.kill();
    // Once: the next start reads the database.
    let server = start(dir.path(), "instant");
    assert_eq!(create(&server, "d.csv").await["file_id"], "4");
}

/// A small tmpfs, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "cannot mount a tmpfs (this test needs root)"
        );
        SmallDisk { dir }
    }

    fn grow(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

async fn create_status(server: &Running, name: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/imports/pre-signed-url/create", server.base))
        .header("u21-key", "u21-mock-dev-key")
        .json(&json!({"stream_name": "s", "file_name": name}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn total_count(server: &Running) -> u64 {
    let list: Value = reqwest::Client::new()
        .post(format!("{}/v1/imports/list", server.base))
        .header("u21-key", "u21-mock-dev-key")
        .json(&json!({"limit": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["total_count"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "mounts a 1 MiB tmpfs, which needs root; .ci/run runs it"]
async fn a_full_disk_refuses_changes_and_loses_nothing_acknowledged() {
    let disk = SmallDisk::mount("1m");
    let data = disk.dir.path().join("data");
    let server = start(&data, "instant");
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for i in 0..50_000 {
        // Long names fill the disk sooner.
        let name = format!("{i:05}-{}.csv", "x".repeat(200));
        let (status, body) = create_status(&server, &name).await;
        match status {
            200 => acknowledged.push(body["file_id"].as_str().unwrap().to_owned()),
            _ => {
                refusal = Some((status, body));
                break;
            }
        }
    }
    let (refused, body) = refusal.expect("the disk fills before 50,000 creates");
    assert!(
        acknowledged.len() > 10,
        "{} acknowledged",
        acknowledged.len()
    );
    assert_eq!(refused, 500, "{body}");
    assert_eq!(body["error_code"], "internal_server_error");
    // Refused means not made: memory agrees with the disk.
    assert_eq!(total_count(&server).await, acknowledged.len() as u64);
    server.kill();

    disk.grow("8m");
    let server = start(&data, "instant");
    assert_eq!(total_count(&server).await, acknowledged.len() as u64);
    for id in [&acknowledged[0], acknowledged.last().unwrap()] {
        assert_eq!(
            status(&server, &json!(id)).await["status"],
            "PENDING_UPLOAD"
        );
    }
    let next = (acknowledged.len() + 1).to_string();
    let (code, body) = create_status(&server, "after.csv").await;
    assert_eq!((code, body["file_id"].as_str()), (200, Some(next.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "mounts a 1 MiB tmpfs, which needs root; .ci/run runs it"]
async fn an_upload_onto_a_full_disk_is_refused_in_s3s_format_and_the_file_stays_pending() {
    let disk = SmallDisk::mount("1m");
    let data = disk.dir.path().join("data");
    let server = start(&data, "instant");
    let created = create(&server, "big.csv").await;
    // More than the disk holds.
    let body = "a\n".to_owned() + &"1\n".repeat(1024 * 1024);
    let form = form(&created).part(
        "file",
        reqwest::multipart::Part::bytes(body.into_bytes()).file_name("big.csv"),
    );
    let response = reqwest::Client::new()
        .post(format!("{}/u21-mock-uploads/", server.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let xml = response.text().await.unwrap();
    assert!(xml.contains("<Code>InternalError</Code>"), "{xml}");
    assert_eq!(
        status(&server, &created["file_id"]).await["status"],
        "PENDING_UPLOAD"
    );
    assert!(
        files_in(&data.join("incoming")).is_empty(),
        "no partial upload is left"
    );
    // Room again: the same form uploads.
    disk.grow("8m");
    assert_eq!(upload(&server, &created, "a\n1\n").await, 204);
}
