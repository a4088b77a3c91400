//! The whole catalogue against the in-process fake, with every shipped client.

use u21_conformance::{run, AdapterDriver, Driver, ReferenceDriver, Selection, Target};

async fn check(target: &Target, driver: &dyn Driver) {
    let report = run(target, driver, &Selection::default()).await;
    println!("{}", report.summary());
    let (passed, failed, skipped) = report.counts();
    assert_eq!((failed, skipped), (0, 0), "{}", report.summary());
    assert_eq!(passed, u21_conformance::catalogue().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_client_passes_every_scenario() {
    let target = Target::in_process().await;
    check(
        &target,
        &ReferenceDriver::new(&target.base_url, &target.api_key),
    )
    .await;
}

fn adapter(name: &str) -> String {
    format!("{}/adapters/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_adapter_passes_every_scenario() {
    let target = Target::in_process().await;
    let driver = AdapterDriver::spawn(
        "python3",
        &[adapter("python_client.py")],
        &target.base_url,
        &target.api_key,
    )
    .unwrap();
    check(&target, &driver).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curl_adapter_passes_every_scenario() {
    let target = Target::in_process().await;
    let driver = AdapterDriver::spawn(
        "bash",
        &[adapter("curl.sh")],
        &target.base_url,
        &target.api_key,
    )
    .unwrap();
    check(&target, &driver).await;
}
