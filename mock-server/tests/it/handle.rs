//! The `MockServer` handle does what the HTTP routes do: it settles, persists and checks its
//! input the same way, and its builder keeps every setting it was given.

use std::time::Duration;

use crate::common::*;
use u21_mock::{Config, Error, Fault, FaultAction, MockServer, Timing};

#[tokio::test]
async fn moving_the_clock_through_the_handle_is_persisted_like_the_route() {
    let dir = tempfile::tempdir().unwrap();
    let first = MockServer::builder()
        .clock(frozen_clock())
        .data_dir(dir.path())
        .start()
        .await;
    first.clock().advance(Duration::from_secs(3600)).await;
    let moved = first.clock().now_millis();
    assert_eq!(moved, (T0_SECS as i64 + 3600) * 1000);
    drop(first);
    let second = MockServer::builder().data_dir(dir.path()).start().await;
    assert_eq!(second.clock().now_millis(), moved);
    assert!(second.clock().is_frozen());
}

#[tokio::test]
async fn the_handle_stops_the_clock_where_the_route_refuses() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    server.clock().advance(Duration::MAX).await;
    assert_eq!(server.clock().now_millis(), u21_mock::clock::LATEST_MS);
    let refused = post_control(
        &server,
        "/_mock/clock/advance",
        serde_json::json!({"ms": 1}),
    )
    .await;
    assert_eq!(refused, 400);
}

async fn post_control(server: &MockServer, path: &str, body: serde_json::Value) -> u16 {
    http()
        .post(format!("{}{path}", server.uri()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn faults_added_through_the_handle_are_bounded_like_the_route() {
    let server = MockServer::start().await;
    let too_slow = Fault::new("/v1/*", FaultAction::Latency { ms: 600_001 });
    assert!(matches!(
        server.faults().add(too_slow),
        Err(Error::Invalid(_))
    ));
    let never = Fault::new("/v1/*", FaultAction::InternalError).times(0);
    assert!(matches!(server.faults().add(never), Err(Error::Invalid(_))));
    assert!(server.faults().list().is_empty());
    let fine = Fault::new("/v1/*", FaultAction::Latency { ms: 10 });
    let id = server.faults().add(fine).unwrap();
    assert_eq!(server.faults().list()[0].0, id);
}

#[tokio::test]
async fn a_whole_config_given_last_keeps_the_settings_given_before_it() {
    let server = MockServer::builder()
        .timing(Timing::Fast)
        .key("first-key", "acme")
        .rate_limit(0)
        .config(Config::default())
        .start()
        .await;
    assert_eq!(server.clock().timing(), Timing::Fast);
    assert_eq!(server.api_key(), "first-key");
    let created = create_with_key(&server, "first-key").await;
    assert_eq!(created, 200);
    // The default key is gone once a key is configured, whatever the order.
    assert_eq!(create_with_key(&server, "u21-mock-dev-key").await, 401);
}

async fn create_with_key(server: &MockServer, key: &str) -> u16 {
    http()
        .post(format!("{}/v1/imports/pre-signed-url/create", server.uri()))
        .header("u21-key", key)
        .json(&serde_json::json!({"stream_name": "s", "file_name": "a.csv"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Dropping the handle stops the fake for good: a keep-alive connection a client still holds
/// is closed too (not only the accept loop), so nothing answers from a fake the test let go.
#[tokio::test]
async fn a_dropped_fake_closes_its_keep_alive_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = u21_mock::MockServer::start().await;
    let mut socket = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    socket
        .write_all(b"GET /_mock/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    // Read the whole answer; the connection stays open for the next request.
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !answer.ends_with(b"{\"status\":\"ok\"}") {
        let read = socket.read(&mut buffer).await.unwrap();
        assert!(read > 0, "closed before the answer");
        answer.extend_from_slice(&buffer[..read]);
    }
    drop(server);
    // Well before the header-read timeout (10 s), which would close an idle connection anyway.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(3), socket.read(&mut buffer))
        .await
        .expect("the idle connection is closed within 3 s of the drop");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
}
