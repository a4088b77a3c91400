//! The Unit21 routes over real sockets: the success shapes as a client sees them, and the
//! server's life. The error tables run on the router itself (`src/http/tests.rs`).

use crate::common::*;
use base64::Engine;
use serde_json::{json, Value};
use u21_mock::MockServer;

#[tokio::test]
async fn create_returns_unit21s_shape_with_a_verifiable_policy() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let created = create(&server, "txns", "UAT2 entities.csv").await;

    let file_id = created["file_id"].as_str().expect("file_id is a string");
    assert!(file_id.chars().all(|c| c.is_ascii_digit()), "{file_id}");
    assert_eq!(
        created["url"],
        format!("{}/u21-mock-uploads/", server.uri())
    );
    let fields = created["form_fields"].as_object().unwrap();
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(names, ["AWSAccessKeyId", "key", "policy", "signature"]);
    let key = fields["key"].as_str().unwrap();
    assert_eq!(
        key,
        format!("dev/org_demo/{}000_UAT2 entities.csv", T0_SECS)
    );
    assert_eq!(fields["signature"].as_str().unwrap().len(), 28);

    let policy = base64::engine::general_purpose::STANDARD
        .decode(fields["policy"].as_str().unwrap())
        .unwrap();
    let policy: Value = serde_json::from_slice(&policy).unwrap();
    assert_eq!(
        policy,
        json!({
            "expiration": "2023-11-15T00:13:20.000Z",
            "conditions": [["content-length-range", 0, 314572800], {"bucket": "u21-mock-uploads"}, {"key": key}],
        })
    );
    let status = get_import(&server, file_id).await;
    assert_eq!(status["status"], "PENDING_UPLOAD");
}

#[tokio::test]
async fn get_returns_every_documented_field_with_nulls_until_processing() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let created = create(&server, "txns", "a.jsonl").await;
    let file = get_import(&server, created["file_id"].as_str().unwrap()).await;
    assert_eq!(
        file,
        json!({
            "file_id": created["file_id"], "file_name": "a.jsonl", "file_type": "JSONL",
            "date_created": T0_SECS, "process_start_time": null, "process_end_time": null,
            "successful_count": 0, "failure_count": 0, "status": "PENDING_UPLOAD", "failure_code": null,
        })
    );
    let names: Vec<&String> = file.as_object().unwrap().keys().collect();
    assert_eq!(names[0], "file_id", "fields keep Unit21's order");
}

#[tokio::test]
async fn the_server_stops_when_its_handle_is_dropped() {
    let server = MockServer::start().await;
    let address = server.address();
    assert!(tokio::net::TcpStream::connect(address).await.is_ok());
    drop(server);
    // The listener closes once the server task sees the shutdown; yield until it has.
    let mut refused = false;
    for _ in 0..1000 {
        if tokio::net::TcpStream::connect(address).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "the port still accepts connections after drop");
}

/// What a raw HTTP/1.x request (`head` ends with the blank line) is answered: status line and
/// body.
async fn raw_answer(server: &MockServer, head: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

/// HTTP/1.1 requires exactly one `Host` (RFC 9112 §3.2): none or two is a 400 in the route's
/// own format; HTTP/1.0 may omit it.
#[rstest::rstest]
#[case::none_on_unit21(
    "GET /v1/imports/1 HTTP/1.1\r\nu21-key: KEY\r\nConnection: close\r\n\r\n",
    "400",
    "\"error_code\":\"bad_request\""
)]
#[case::two_on_unit21(
    "GET /v1/imports/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\nu21-key: KEY\r\nConnection: close\r\n\r\n",
    "400",
    "exactly one Host"
)]
#[case::none_on_s3(
    "POST /u21-mock-uploads/ HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "400",
    "<Code>InvalidRequest</Code>"
)]
#[case::two_on_the_control_plane(
    "GET /_mock/clock HTTP/1.1\r\nHost: localhost\r\nHost: evil.test\r\nConnection: close\r\n\r\n",
    "400",
    "exactly one Host"
)]
#[case::none_on_http_1_0("GET /_mock/health HTTP/1.0\r\n\r\n", "200", "\"ok\"")]
#[case::one_on_http_1_1(
    "GET /_mock/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "200",
    "\"ok\""
)]
#[tokio::test]
async fn http_1_1_needs_exactly_one_host(
    #[case] head: &str,
    #[case] status: &str,
    #[case] says: &str,
) {
    let server = MockServer::start().await;
    let head = head.replace("KEY", server.api_key());
    let (line, body) = raw_answer(&server, &head).await;
    assert!(line.contains(&format!(" {status} ")), "{line}\n{body}");
    assert!(body.contains(says), "{line}\n{body}");
}

/// Whether the server closes `stream` within a generous bound (it is closed by the server's own
/// timer; the bound only stops a broken server from hanging the test).
async fn closed_by_the_server(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut rest = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut rest),
    )
    .await
    .is_ok()
}

/// A request body that stops sending is cut after `limits.body_idle_secs`, on every route:
/// a Unit21 call (with or without a key), an S3 form's fields, a control call.
#[rstest::rstest]
#[case::unit21_with_a_key("POST /v1/imports/list HTTP/1.1\r\nHost: x\r\nu21-key: KEY\r\ncontent-type: application/json\r\nContent-Length: 100\r\n\r\n{\"lim")]
#[case::unit21_without_a_key("POST /v1/imports/pre-signed-url/create HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\nContent-Length: 100\r\n\r\n{\"str")]
#[case::s3_form_fields("POST /u21-mock-uploads/ HTTP/1.1\r\nHost: x\r\ncontent-type: multipart/form-data; boundary=XB\r\nContent-Length: 1000\r\n\r\n--XB\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nab")]
#[case::control_state("PUT /_mock/state HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\nContent-Length: 1000\r\n\r\n{\"fi")]
#[tokio::test]
async fn a_stalled_body_is_cut_on_every_route(#[case] head: &str) {
    use tokio::io::AsyncWriteExt;
    let mut config = u21_mock::Config::default();
    config.limits.body_idle_secs = 0.3;
    let server = MockServer::builder().config(config).start().await;
    let mut stalled = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    stalled
        .write_all(head.replace("KEY", server.api_key()).as_bytes())
        .await
        .unwrap();
    assert!(
        closed_by_the_server(&mut stalled).await,
        "the stalled request was left open"
    );
    assert_eq!(create(&server, "s", "after.csv").await["file_id"], "1");
}

/// At the connection cap, the quietest connection is closed to make room: clients stalled in
/// their headers cannot lock out one that talks.
#[tokio::test]
async fn at_the_connection_cap_the_quietest_connection_makes_room() {
    use tokio::io::AsyncWriteExt;
    let mut config = u21_mock::Config::default();
    config.limits.max_connections = 4;
    config.limits.header_read_secs = 600.0;
    let server = MockServer::builder().config(config).start().await;
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut stream = tokio::net::TcpStream::connect(server.address())
            .await
            .unwrap();
        stream.write_all(b"GET /v1/imp").await.unwrap();
        stalled.push(stream);
    }
    // The client that talks is served, although four stalled ones hold every place.
    assert_eq!(create(&server, "s", "a.csv").await["file_id"], "1");
    assert!(
        closed_by_the_server(&mut stalled[0]).await,
        "the quietest stalled connection was not closed"
    );
}
