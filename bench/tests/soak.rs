//! The soak, small: 20 clients, each file followed to FINISHED, every file accounted for.

use std::time::Duration;

use u21_mock::MockServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_soak_accounts_for_every_file() {
    let server = MockServer::builder().rate_limit(0).start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.csv");
    std::fs::write(&path, "id\n1\n2\n3\n").unwrap();
    let report = u21_bench::soak::soak(
        &server.uri(),
        server.api_key(),
        20,
        Duration::from_millis(1500),
        &path,
        3,
    )
    .await
    .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(
        report.uploads >= 20,
        "each client uploaded at least once: {report:?}"
    );
    assert_eq!(
        (report.finished, report.listed),
        (report.uploads, report.uploads)
    );
    assert_eq!(server.files().count(), report.uploads);
}
