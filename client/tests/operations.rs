//! The library against the in-process fake: every operation, every error mapping, retries
//! through the fake's fault controls, and paging past 1000 files.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use rstest::rstest;
use u21_client::{Client, ListRequest, RetryPolicy, Status, WaitOptions};
use u21_mock::{
    FailureCode, Fault, FaultAction, JournalQuery, KeyConfig, MockServer, Permission, Timing,
    Transition,
};

/// Retries that do not slow the tests down (server-requested waits still apply).
fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        ..RetryPolicy::default()
    }
}

fn client(server: &MockServer) -> Client {
    Client::builder()
        .base_url(server.uri())
        .api_key(server.api_key())
        .retry(quick_retries())
        .build()
        .unwrap()
}

fn csv(dir: &tempfile::TempDir, name: &str, body: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, body).unwrap();
    path
}

fn calls(server: &MockServer, method: &str, path: &str) -> usize {
    server
        .journal()
        .requests(&JournalQuery {
            method: Some(method.into()),
            path: Some(path.into()),
            ..JournalQuery::default()
        })
        .len()
}

#[tokio::test]
async fn upload_file_then_wait_reports_the_counts() {
    let server = MockServer::start().await;
    let client = client(&server);
    let dir = tempfile::tempdir().unwrap();
    let path = csv(&dir, "txns.csv", "id,amount\n1,2\n2,3\n3\n");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let progress: u21_client::Progress =
        Arc::new(move |sent, total| record.lock().unwrap().push((sent, total)));
    let form = client
        .upload_file("txns", &path, Some(progress))
        .await
        .unwrap();
    assert!(form.key().unwrap().ends_with("_txns.csv"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.last(),
        Some(&(20, 20)),
        "progress ends at the file's size"
    );
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));

    let file = client
        .wait(&form.file_id, &WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (&file.status, file.successful_count, file.failure_count),
        (&Status::Finished, 2, 1)
    );
    assert_eq!(file.file_type.as_deref(), Some("CSV"));
    assert_eq!(client.get(&form.file_id).await.unwrap(), file);
    assert_eq!(calls(&server, "POST", "/u21-mock-uploads/"), 1);
}

#[tokio::test]
async fn create_get_and_list_map_the_wire_types() {
    let server = MockServer::start().await;
    let client = client(&server);
    let form = client
        .create_upload("s", "a.jsonl", Some("0b7c8a2e-3f4d-4a59-9d7e-1c2b3a4d5e6f"))
        .await
        .unwrap();
    let names: Vec<&str> = form.form_fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["AWSAccessKeyId", "key", "policy", "signature"]);
    assert_eq!(form.url, format!("{}/u21-mock-uploads/", server.uri()));
    let file = client.get(&form.file_id).await.unwrap();
    assert_eq!(
        (file.status, file.process_start_time, file.failure_code),
        (Status::PendingUpload, None, None)
    );
    let page = client
        .list(&ListRequest::new().status(Status::PendingUpload).stream("s"))
        .await
        .unwrap();
    assert_eq!(
        (
            page.total_count,
            page.response_count,
            page.datafiles[0].file_id.as_str()
        ),
        (1, 1, form.file_id.as_str())
    );
    let none = client
        .list(&ListRequest::new().status(Status::Finished))
        .await
        .unwrap();
    assert_eq!(none.total_count, 0);
}

#[tokio::test]
async fn a_failed_file_is_returned_by_wait_not_raised() {
    let server = MockServer::builder().timing(Timing::Manual).start().await;
    let client = client(&server);
    let dir = tempfile::tempdir().unwrap();
    let form = client
        .upload_file("s", &csv(&dir, "a.csv", "a\n1\n"), None)
        .await
        .unwrap();
    server
        .files()
        .force(
            form.file_id.parse().unwrap(),
            Transition::Failed(FailureCode::InvalidSchema),
        )
        .await
        .unwrap();
    let file = client
        .wait(&form.file_id, &WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (file.status, file.failure_code.as_deref()),
        (Status::Failed, Some("invalid_schema"))
    );
}

#[tokio::test]
async fn wait_gives_up_at_its_timeout_naming_the_last_status() {
    let server = MockServer::builder().timing(Timing::Manual).start().await;
    let client = client(&server);
    let dir = tempfile::tempdir().unwrap();
    let form = client
        .upload_file("s", &csv(&dir, "a.csv", "a\n1\n"), None)
        .await
        .unwrap();
    let options = WaitOptions {
        timeout: Duration::from_millis(200),
        interval: Duration::from_millis(20),
        max_interval: Duration::from_millis(50),
    };
    let err = client.wait(&form.file_id, &options).await.unwrap_err();
    assert!(err.is_wait_timeout() && err.is_timeout(), "{err}");
    assert!(err.to_string().contains("still QUEUED"), "{err}");
    assert!(
        calls(&server, "GET", "/v1/imports/") >= 2,
        "it polled more than once"
    );
}

enum Case {
    WrongKey,
    ReadOnlyKeyCreates,
    UnknownFile,
    BadLimit,
    NameTaken,
}

#[rstest]
#[case::unauthorized(Case::WrongKey, 401, Some("unauthorized"))]
#[case::forbidden(Case::ReadOnlyKeyCreates, 403, Some("forbidden"))]
#[case::not_found(Case::UnknownFile, 404, Some("resource_not_found"))]
#[case::bad_request(Case::BadLimit, 400, Some("bad_request"))]
#[case::conflict(Case::NameTaken, 409, Some("conflict"))]
#[tokio::test]
async fn api_errors_map_to_predicates(
    #[case] case: Case,
    #[case] status: u16,
    #[case] code: Option<&str>,
) {
    let reader = KeyConfig {
        key: "reader-key-0000".into(),
        org: "demo".into(),
        permissions: vec![Permission::ImportsRead],
    };
    let server = MockServer::builder()
        .key("writer-key-0000", "demo")
        .key_config(reader)
        .start()
        .await;
    let with_key = |key: &str| {
        Client::builder()
            .base_url(server.uri())
            .api_key(key)
            .retry(quick_retries())
            .build()
            .unwrap()
    };
    let client = with_key("writer-key-0000");
    let err = match case {
        Case::WrongKey => with_key("wrong-key-0000").get("1").await.unwrap_err(),
        Case::ReadOnlyKeyCreates => with_key("reader-key-0000")
            .create_upload("s", "a.csv", None)
            .await
            .unwrap_err(),
        Case::UnknownFile => client.get("999").await.unwrap_err(),
        Case::BadLimit => client
            .list(&ListRequest::new().limit(5000))
            .await
            .unwrap_err(),
        Case::NameTaken => {
            client.create_upload("s", "a.csv", None).await.unwrap();
            client.create_upload("s", "a.csv", None).await.unwrap_err()
        }
    };
    assert_eq!(
        (err.status(), err.error_code()),
        (Some(status), code),
        "{err}"
    );
    let predicates = [
        err.is_unauthorized(),
        err.is_forbidden(),
        err.is_not_found(),
        err.is_bad_request(),
        err.is_conflict(),
    ];
    assert_eq!(
        predicates.iter().filter(|p| **p).count(),
        1,
        "exactly one predicate holds: {err}"
    );
    assert!(!err.is_rate_limited() && !err.is_server_error() && !err.is_s3());
    if status == 400 {
        assert!(err.message().unwrap().contains("limit"), "{err}");
    }
    for text in [err.to_string(), format!("{err:?}"), format!("{client:?}")] {
        assert!(
            !text.contains("writer-key-0000")
                && !text.contains("reader-key-0000")
                && !text.contains("wrong-key-0000"),
            "the key leaked: {text}"
        );
    }
}

#[tokio::test]
async fn s3_refusals_carry_the_xml_code_and_message() {
    let server = MockServer::start().await;
    let client = client(&server);
    let dir = tempfile::tempdir().unwrap();
    let form = client.create_upload("s", "a.csv", None).await.unwrap();
    server.clock().advance(Duration::from_secs(3 * 3600)).await;
    let err = client
        .upload_to(&form, &csv(&dir, "a.csv", "a\n1\n"), None)
        .await
        .unwrap_err();
    assert!(err.is_s3() && err.is_forbidden(), "{err}");
    assert_eq!(err.s3_code(), Some("AccessDenied"));
    assert_eq!(
        err.message(),
        Some("Invalid according to Policy: Policy expired.")
    );
    assert_eq!(
        calls(&server, "POST", "/u21-mock-uploads/"),
        1,
        "a 4xx from S3 is not retried"
    );

    let mut tampered = client.create_upload("s", "b.csv", None).await.unwrap();
    tampered
        .form_fields
        .iter_mut()
        .find(|(n, _)| n == "signature")
        .unwrap()
        .1 = "AAAA".into();
    let err = client
        .upload_to(&tampered, &csv(&dir, "b.csv", "a\n"), None)
        .await
        .unwrap_err();
    assert_eq!(err.s3_code(), Some("SignatureDoesNotMatch"));
}

#[tokio::test]
async fn malformed_bodies_are_errors_not_panics() {
    let server = MockServer::start().await;
    let client = client(&server);
    let body = |text: &str| FaultAction::Status {
        status: 200,
        body: text.into(),
        headers: Default::default(),
    };
    for text in ["not json", "{}", r#"{"file_id": []}"#, ""] {
        server
            .faults()
            .add(Fault::new("/v1/imports/*", body(text)).times(1))
            .unwrap();
        let err = client.get("1").await.unwrap_err();
        assert!(err.is_decode(), "{text:?}: {err}");
    }
    server
        .faults()
        .add(
            Fault::new(
                "/u21-mock-uploads/",
                FaultAction::Status {
                    status: 400,
                    body: "<html>".into(),
                    headers: Default::default(),
                },
            )
            .times(1),
        )
        .unwrap();
    let form = client.create_upload("s", "a.csv", None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = client
        .upload_to(&form, &csv(&dir, "a.csv", "a\n"), None)
        .await
        .unwrap_err();
    assert!(err.is_decode() && err.status() == Some(400), "{err}");
}

#[tokio::test]
async fn reads_are_retried_on_429_5xx_dropped_connections_and_cut_off_answers() {
    let server = MockServer::start().await;
    let client = client(&server);
    let form = client.create_upload("s", "a.csv", None).await.unwrap();
    for action in [
        FaultAction::RateLimited {
            retry_after_secs: 0,
        },
        FaultAction::InternalError,
        FaultAction::Unavailable,
        FaultAction::DropConnection,
        FaultAction::TruncateBody,
    ] {
        server.journal().clear();
        server
            .faults()
            .add(
                Fault::new("/v1/imports/*", action.clone())
                    .method("GET")
                    .times(2),
            )
            .unwrap();
        let file = client
            .get(&form.file_id)
            .await
            .unwrap_or_else(|e| panic!("{action:?}: {e}"));
        assert_eq!(file.status, Status::PendingUpload);
        assert_eq!(
            calls(&server, "GET", "/v1/imports/"),
            3,
            "{action:?}: two refusals, then the answer"
        );
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = MockServer::start().await;
    let client = client(&server);
    server
        .faults()
        .add(
            Fault::new(
                "/v1/imports/list",
                FaultAction::RateLimited {
                    retry_after_secs: 1,
                },
            )
            .times(1),
        )
        .unwrap();
    let started = Instant::now();
    client.list(&ListRequest::new()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "retried after {:?}, before Retry-After",
        started.elapsed()
    );
}

#[tokio::test]
async fn retries_stop_at_the_policy_limit() {
    let server = MockServer::start().await;
    let client = client(&server);
    server
        .faults()
        .add(Fault::new("/v1/imports/list", FaultAction::InternalError))
        .unwrap();
    let err = client.list(&ListRequest::new()).await.unwrap_err();
    assert!(err.is_server_error(), "{err}");
    assert_eq!(
        calls(&server, "POST", "/v1/imports/list"),
        4,
        "the first try and three retries"
    );
    let none = Client::builder()
        .base_url(server.uri())
        .api_key(server.api_key())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    server.journal().clear();
    none.list(&ListRequest::new()).await.unwrap_err();
    assert_eq!(calls(&server, "POST", "/v1/imports/list"), 1);
}

#[tokio::test]
async fn create_is_retried_only_when_the_server_surely_did_nothing() {
    let server = MockServer::start().await;
    let client = client(&server);
    server
        .faults()
        .add(
            Fault::new(
                "/v1/imports/pre-signed-url/create",
                FaultAction::RateLimited {
                    retry_after_secs: 0,
                },
            )
            .times(1),
        )
        .unwrap();
    server
        .faults()
        .add(
            Fault::new(
                "/v1/imports/pre-signed-url/create",
                FaultAction::Unavailable,
            )
            .times(1),
        )
        .unwrap();
    client.create_upload("s", "a.csv", None).await.unwrap();
    assert_eq!(
        calls(&server, "POST", "/v1/imports/pre-signed-url/create"),
        3
    );

    for action in [FaultAction::InternalError, FaultAction::DropConnection] {
        server.journal().clear();
        server
            .faults()
            .add(Fault::new("/v1/imports/pre-signed-url/create", action.clone()).times(1))
            .unwrap();
        let err = client.create_upload("s", "b.csv", None).await.unwrap_err();
        assert!(
            err.is_server_error() || err.is_connection(),
            "{action:?}: {err}"
        );
        assert_eq!(
            calls(&server, "POST", "/v1/imports/pre-signed-url/create"),
            1,
            "{action:?} may have created the file: no retry"
        );
    }
}

#[tokio::test]
async fn uploads_are_retried_on_s3_5xx_but_never_after_s3_accepted() {
    let server = MockServer::start().await;
    let client = client(&server);
    let dir = tempfile::tempdir().unwrap();
    server
        .faults()
        .add(Fault::new("/u21-mock-uploads/", FaultAction::S3SlowDown).times(1))
        .unwrap();
    server
        .faults()
        .add(Fault::new("/u21-mock-uploads/", FaultAction::S3InternalError).times(1))
        .unwrap();
    let form = client
        .upload_file("s", &csv(&dir, "a.csv", "a\n1\n"), None)
        .await
        .unwrap();
    assert_eq!(calls(&server, "POST", "/u21-mock-uploads/"), 3);
    assert_eq!(server.files().object(form.key().unwrap()).unwrap().size, 4);

    // S3 accepted it, but the answer was cut short: the upload is not sent again.
    server.journal().clear();
    server
        .faults()
        .add(Fault::new("/u21-mock-uploads/", FaultAction::TruncateBody).times(1))
        .unwrap();
    client
        .upload_file("s", &csv(&dir, "b.csv", "a\n1\n"), None)
        .await
        .unwrap();
    assert_eq!(calls(&server, "POST", "/u21-mock-uploads/"), 1);
}

/// A connection that drops (or stalls) once the upload is on its way may have delivered it:
/// the upload is reported, never posted again (S3 may have stored it, and a refused one would
/// be refused again, 300 MB at a time).
#[tokio::test]
async fn an_upload_whose_connection_drops_after_sending_is_reported_not_sent_again() {
    let server = MockServer::start().await;
    let client = client(&server);
    let dir = tempfile::tempdir().unwrap();
    server
        .faults()
        .add(Fault::new("/u21-mock-uploads/", FaultAction::DropConnection).times(1))
        .unwrap();
    let form = client.create_upload("s", "a.csv", None).await.unwrap();
    server.journal().clear();
    let err = client
        .upload_to(&form, &csv(&dir, "a.csv", "a\n1\n"), None)
        .await
        .unwrap_err();
    assert!(err.is_connection(), "{err}");
    assert_eq!(calls(&server, "POST", "/u21-mock-uploads/"), 1);
}

#[tokio::test]
async fn list_all_pages_past_a_thousand_files() {
    let server = MockServer::builder().rate_limit(0).start().await;
    for i in 0..1205 {
        server
            .files()
            .add(
                if i % 5 == 0 { "fives" } else { "rest" },
                &format!("f{i}.csv"),
                "a\n1\n",
            )
            .await
            .unwrap();
    }
    let client = client(&server);
    server.journal().clear();
    let all: Vec<u21_client::Datafile> = client
        .list_all(ListRequest::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 1205);
    let ids: std::collections::HashSet<&str> = all.iter().map(|f| f.file_id.as_str()).collect();
    assert_eq!(ids.len(), 1205, "no file twice");
    assert_eq!(all[0].file_id, "1205", "newest first");
    assert_eq!(
        calls(&server, "POST", "/v1/imports/list"),
        2,
        "pages of 1000"
    );

    let fives: Vec<u21_client::Datafile> = client
        .list_all(ListRequest::new().stream("fives").limit(100))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(fives.len(), 241);
    server.journal().clear();
    let none: Vec<u21_client::Datafile> = client
        .list_all(ListRequest::new().status(Status::Failed))
        .try_collect()
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(
        calls(&server, "POST", "/v1/imports/list"),
        1,
        "an empty result ends the paging"
    );
}

/// `timeout` is the whole request's limit: a server that sends a byte now and then, never the
/// whole answer, is given up on when it passes (a read timeout alone would wait forever).
#[tokio::test]
async fn the_timeout_bounds_the_whole_request_not_each_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let trickle = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        // The request (a GET: headers only), then an answer that never ends.
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                return;
            }
            request.push(byte[0]);
        }
        let _ = socket
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            .await;
        loop {
            if socket.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let client = Client::builder()
        .base_url(format!("http://{address}"))
        .api_key("k")
        .timeout(Duration::from_millis(500))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(20), client.get("1")).await;
    trickle.abort();
    let err = outcome
        .expect("the request ends at its timeout, not never")
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn list_all_returns_each_file_once_when_files_arrive_while_it_pages() {
    let start = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let server = MockServer::builder()
        .clock(u21_mock::Clock::frozen(start))
        .start()
        .await;
    for i in 0..3 {
        server
            .files()
            .add("s", &format!("f{i}.csv"), "a\n1\n")
            .await
            .unwrap();
        server.clock().advance(Duration::from_millis(10)).await;
    }
    let client = client(&server);
    let mut files = Box::pin(client.list_all(ListRequest::new().limit(2)));
    let mut ids = Vec::new();
    // The first page (files 3 and 2) is fetched and read…
    for _ in 0..2 {
        ids.push(files.try_next().await.unwrap().unwrap().file_id);
    }
    // …then a new file pushes every file one place down: page 2 is now files 2 and 1.
    server.files().add("s", "late.csv", "a\n1\n").await.unwrap();
    while let Some(file) = files.try_next().await.unwrap() {
        ids.push(file.file_id);
    }
    assert_eq!(ids, ["3", "2", "1"]);
}

#[tokio::test]
async fn a_large_file_streams_from_disk() {
    let server = MockServer::start().await;
    let client = client(&server);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(file, "id,memo").unwrap();
        for i in 0..1_000_000 {
            writeln!(file, "{i},some memo text for row {i}").unwrap();
        }
    }
    let size = std::fs::metadata(&path).unwrap().len();
    let form = client.upload_file("big", &path, None).await.unwrap();
    assert_eq!(
        server.files().object(form.key().unwrap()).unwrap().size,
        size
    );
    let file = client
        .wait(&form.file_id, &WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(file.successful_count, 1_000_000);
}

#[test]
fn configuration_errors_are_clear() {
    let err = Client::builder()
        .api_key("k")
        .base_url("staging")
        .build()
        .unwrap_err();
    assert!(
        err.is_config() && err.to_string().contains("unknown environment 'staging'"),
        "{err}"
    );
    let err = Client::builder()
        .base_url("sandbox1")
        .api_key("")
        .build()
        .unwrap_err();
    assert!(err.is_config(), "{err}");
    let client = Client::builder()
        .base_url("sandbox-eu")
        .api_key("k")
        .build()
        .unwrap();
    assert_eq!(
        client.base_url(),
        "https://api.sandbox1.eu-central-1.unit21.com"
    );
}

/// A server whose answer never ends (chunked, forever) is read up to a bound, then refused:
/// the client's memory does not follow the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_cut_at_the_bound() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = [0u8; 4096];
        let _ = socket.read(&mut head).await;
        let _ = socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
        // Stops when the client hangs up, or at 1 GiB (the client never got that far).
        for _ in 0..16 * 1024 {
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
            counter.fetch_add(64 * 1024, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let client = Client::builder()
        .base_url(format!("http://{address}"))
        .api_key("k")
        .build()
        .unwrap();
    let err = client.get("1").await.unwrap_err();
    assert!(err.is_decode(), "{err}");
    assert!(err.to_string().contains("longer than"), "{err}");
    let read = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        read < 64 * 1024 * 1024,
        "the client read {read} bytes before giving up"
    );
}
