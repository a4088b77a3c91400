//! The fake dressed as the real thing: HTTPS on every endpoint (`--tls-cert/--tls-key`), and
//! S3 on an address of its own (`--s3-listen`), so a client meets what it meets against
//! Unit21: a certificate to check, and the upload going to another host than the API.

use std::net::SocketAddr;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use u21_mock::MockServer;

use crate::common::certificates::{make_certificates, TestCertificates};
use crate::common::{fields_of, text_fields};

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A client that trusts the test authority, and only it.
fn trusting(certificates: &TestCertificates) -> reqwest::Client {
    let pem = std::fs::read(&certificates.ca).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

async fn dressed() -> (MockServer, TestCertificates, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let certificates = make_certificates(dir.path());
    let server = MockServer::builder()
        .tls(&certificates.cert, &certificates.key)
        .s3_listen(loopback())
        .start()
        .await;
    (server, certificates, dir)
}

/// The API's host by name (`localhost`), as a client configured with a URL reaches it.
fn api_by_name(server: &MockServer) -> String {
    format!("https://localhost:{}", server.address().port())
}

async fn create(http: &reqwest::Client, base: &str, key: &str, name: &str) -> Value {
    let response = http
        .post(format!("{base}/v1/imports/pre-signed-url/create"))
        .header("u21-key", key)
        .json(&json!({"stream_name": "s", "file_name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn over_https_a_form_points_at_s3s_own_host_and_the_upload_lands_there() {
    let (server, certificates, _dir) = dressed().await;
    assert!(server.uri().starts_with("https://127.0.0.1:"));
    let s3 = server.s3_uri().expect("S3 listens apart");
    assert_ne!(s3, server.uri());
    let http = trusting(&certificates);
    let created = create(&http, &api_by_name(&server), server.api_key(), "a.csv").await;
    assert_eq!(created["url"], format!("{s3}/{}/", server.bucket()));
    let form = text_fields(&fields_of(&created)).part(
        "file",
        reqwest::multipart::Part::bytes(b"a\n1\n".to_vec()).file_name("a.csv"),
    );
    let response = http
        .post(created["url"].as_str().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let key = created["form_fields"]["key"].as_str().unwrap();
    assert_eq!(server.files().object(key).expect("stored").size, 4);
}

#[tokio::test]
async fn each_endpoint_answers_only_its_own_routes() {
    let (server, certificates, _dir) = dressed().await;
    let http = trusting(&certificates);
    let created = create(&http, &server.uri(), server.api_key(), "a.csv").await;
    // The upload sent to the API's host, as a client that ignores the form's url sends it.
    let form = text_fields(&fields_of(&created)).part(
        "file",
        reqwest::multipart::Part::bytes(b"a\n1\n".to_vec()).file_name("a.csv"),
    );
    let misdirected = http
        .post(format!("{}/{}/", server.uri(), server.bucket()))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(misdirected.status(), 404);
    assert_eq!(
        misdirected.json::<Value>().await.unwrap(),
        json!({"error_code": "resource_not_found"})
    );
    let key = created["form_fields"]["key"].as_str().unwrap();
    assert!(server.files().object(key).is_none(), "nothing stored");
    // An API call sent to S3's host.
    let lost = http
        .post(format!("{}/v1/imports/list", server.s3_uri().unwrap()))
        .header("u21-key", server.api_key())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(lost.status(), 404);
    let xml = lost.text().await.unwrap();
    assert!(xml.contains("<Code>NoSuchBucket</Code>"), "{xml}");
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_is_refused_and_plain_http_gets_nothing() {
    let (server, _certificates, _dir) = dressed().await;
    let untrusting = reqwest::Client::new();
    let err = untrusting
        .post(format!("{}/v1/imports/list", server.uri()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let plain = reqwest::Client::new()
        .post(format!("http://{}/v1/imports/list", server.address()))
        .header("u21-key", server.api_key())
        .json(&json!({}))
        .send()
        .await;
    assert!(
        plain.is_err(),
        "an HTTP request to the HTTPS port gets no HTTP answer"
    );
}

/// A connection that opens and never says hello is closed after the header-read time, as one
/// that never sends its headers is: silent sockets cannot pile up.
#[tokio::test]
async fn a_handshake_that_never_starts_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = make_certificates(dir.path());
    let mut config = u21_mock::Config::default();
    config.limits.header_read_secs = 0.2;
    let server = MockServer::builder()
        .config(config)
        .tls(&certificates.cert, &certificates.key)
        .start()
        .await;
    let mut socket = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), socket.read(&mut buffer))
        .await
        .expect("closed well before 10 s");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let _ = socket.shutdown().await;
}

#[tokio::test]
async fn unusable_certificate_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = make_certificates(dir.path());
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let err = MockServer::builder()
        .tls(&not_pem, &certificates.key)
        .try_start()
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("not.pem"), "{err}");
    // A key that is not the certificate's.
    let other = make_certificates(&{
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        other
    });
    let err = MockServer::builder()
        .tls(&certificates.cert, &other.key)
        .try_start()
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[tokio::test]
async fn a_dropped_fake_stops_both_endpoints() {
    let (server, _certificates, _dir) = dressed().await;
    let (api, s3) = (server.address(), server.s3_uri().unwrap());
    let s3: SocketAddr = s3.trim_start_matches("https://").parse().unwrap();
    drop(server);
    // The accept loops end as the handle goes; a new connection finds no listener. The loops
    // see the drop on their next turn, so the check gives them that turn.
    for address in [api, s3] {
        let mut refused = false;
        for _ in 0..100 {
            tokio::task::yield_now().await;
            if tokio::net::TcpStream::connect(address).await.is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "{address} still accepts");
    }
}
