//! The client against a fake serving HTTPS with a private authority, S3 on a host of its own:
//! it trusts the authority given as `ca_file` (or `U21_CA_FILE`), and only then.

#[path = "../../mock-server/tests/it/common/certificates.rs"]
mod certificates;

use std::net::SocketAddr;

use u21_client::{Client, Status, WaitOptions};
use u21_mock::MockServer;

async fn https_fake(certificates: &certificates::TestCertificates) -> MockServer {
    MockServer::builder()
        .tls(&certificates.cert, &certificates.key)
        .s3_listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()
        .await
}

#[tokio::test]
async fn with_the_authority_given_an_upload_over_https_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = certificates::make_certificates(dir.path());
    let server = https_fake(&certificates).await;
    let client = Client::builder()
        .base_url(format!("https://localhost:{}", server.address().port()))
        .api_key(server.api_key())
        .ca_file(&certificates.ca)
        .build()
        .unwrap();
    let path = dir.path().join("a.csv");
    std::fs::write(&path, "a\n1\n").unwrap();
    let form = client.upload_file("s", &path, None).await.unwrap();
    assert!(
        form.url.starts_with(&server.s3_uri().unwrap()),
        "{}",
        form.url
    );
    let file = client
        .wait(&form.file_id, &WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(file.status, Status::Finished);
}

#[tokio::test]
async fn without_it_the_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = certificates::make_certificates(dir.path());
    let server = https_fake(&certificates).await;
    let client = Client::builder()
        .base_url(server.uri())
        .api_key(server.api_key())
        .build()
        .unwrap();
    let err = client.get("1").await.unwrap_err();
    assert!(err.status().is_none(), "no answer: {err}");
}

#[test]
fn an_unusable_authority_file_is_a_configuration_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for path in [not_pem, dir.path().join("missing.pem")] {
        let Err(err) = Client::builder()
            .base_url("https://localhost:1")
            .api_key("k")
            .ca_file(&path)
            .build()
        else {
            panic!("{} was taken", path.display())
        };
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("U21_CA_FILE"), "{message}");
    }
}

/// The command as a user runs it: refused with the hint that names `--ca-file`, then taken
/// with it.
#[tokio::test]
async fn the_command_names_the_authority_flag_when_the_certificate_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = certificates::make_certificates(dir.path());
    let server = https_fake(&certificates).await;
    let u21 = |ca: Option<&std::path::Path>| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_u21"));
        command
            .args(["list"])
            .env(
                "U21_BASE_URL",
                format!("https://localhost:{}", server.address().port()),
            )
            .env("U21_API_KEY", server.api_key())
            .env_remove("U21_CA_FILE");
        if let Some(ca) = ca {
            command.arg("--ca-file").arg(ca);
        }
        command.output()
    };
    let refused = u21(None).await.unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("--ca-file or U21_CA_FILE"), "{stderr}");
    let taken = u21(Some(&certificates.ca)).await.unwrap();
    assert_eq!(
        taken.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
}
