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
    let mut child = Command::new(env!("CARGO_BIN_EXE_u21-mock"))
        .args(["--listen", "127.0.0.1:0", "--timing", timing, "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("u21-mock listening on ")
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
    assert!(dir.path().join("state.json").exists());
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
