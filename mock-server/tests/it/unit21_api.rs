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
