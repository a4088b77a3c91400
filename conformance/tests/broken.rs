//! Deliberately broken clients fail exactly the scenarios that should catch them, and no
//! others: the catalogue tells faults apart.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use u21_conformance::driver::DriverResult;
use u21_conformance::{run, Driver, DriverError, ReferenceDriver, Selection, Target};

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    /// Treats a 429 as final.
    IgnoresRateLimit,
    /// Posts uploads to a fixed host instead of the returned `url` (a closed loopback port
    /// stands in for `file-uploads.s3.amazonaws.com`, so nothing leaves the machine).
    HardcodesS3Host,
    /// Returns the first page of a listing only.
    StopsAtFirstPage,
}

struct Broken {
    inner: ReferenceDriver,
    fault: Fault,
    base_url: String,
    api_key: String,
    request_timeout: Duration,
}

impl Broken {
    fn new(target: &Target, fault: Fault) -> Self {
        Self {
            inner: ReferenceDriver::new(&target.base_url, &target.api_key, target.request_timeout),
            fault,
            base_url: target.base_url.clone(),
            api_key: target.api_key.clone(),
            request_timeout: target.request_timeout,
        }
    }

    fn hardcoded(&self, form: &Value) -> Value {
        let mut form = form.clone();
        form["url"] = json!("http://127.0.0.1:1/file-uploads/");
        form
    }

    /// A read that retries 5xx, dropped connections and timeouts, but not 429.
    async fn status_without_429_retries(&self, file_id: &str) -> DriverResult {
        // reqwest's default follows redirects with every header, u21-key included, and waits
        // for an answer for ever: two more faults (redirect-keeps-key-home and
        // stalled-answers-time-out catch them), which this client is not about.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.request_timeout)
            .build()
            .unwrap();
        let mut attempt = 0;
        loop {
            let sent = http
                .get(format!("{}/v1/imports/{file_id}", self.base_url))
                .header("u21-key", &self.api_key)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_server_error() && attempt < 4 => {}
                Err(_) if attempt < 4 => {}
                Ok(response) => {
                    let status = response.status().as_u16();
                    // An answer cut off half-way is retried like a dropped connection.
                    let body = match response.bytes().await {
                        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                        Err(_) if attempt < 4 => {
                            attempt += 1;
                            continue;
                        }
                        Err(err) => {
                            return Err(DriverError {
                                message: err.to_string(),
                                ..Default::default()
                            })
                        }
                    };
                    if status == 200 {
                        return Ok(body);
                    }
                    return Err(DriverError {
                        status: Some(status),
                        error_code: body["error_code"].as_str().map(str::to_owned),
                        message: format!("answered {status}"),
                        ..Default::default()
                    });
                }
                Err(err) => {
                    return Err(DriverError {
                        message: err.to_string(),
                        ..Default::default()
                    })
                }
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Driver for Broken {
    fn name(&self) -> String {
        "a broken client".into()
    }

    fn create<'a>(&'a self, stream: &'a str, file_name: &'a str) -> BoxFuture<'a, DriverResult> {
        self.inner.create(stream, file_name)
    }

    fn upload_form<'a>(&'a self, form: &'a Value, path: &'a Path) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            if self.fault == Fault::HardcodesS3Host {
                return self.inner.upload_form(&self.hardcoded(form), path).await;
            }
            self.inner.upload_form(form, path).await
        })
    }

    fn upload<'a>(&'a self, stream: &'a str, path: &'a Path) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let form = self.inner.create(stream, &name).await?;
            self.upload_form(&form, path).await?;
            Ok(form)
        })
    }

    fn status<'a>(&'a self, file_id: &'a str) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            if self.fault == Fault::IgnoresRateLimit {
                return self.status_without_429_retries(file_id).await;
            }
            self.inner.status(file_id).await
        })
    }

    fn wait<'a>(&'a self, file_id: &'a str, timeout: Duration) -> BoxFuture<'a, DriverResult> {
        self.inner.wait(file_id, timeout)
    }

    fn list<'a>(&'a self, request: &'a Value) -> BoxFuture<'a, DriverResult> {
        self.inner.list(request)
    }

    fn list_all<'a>(&'a self, request: &'a Value) -> BoxFuture<'a, DriverResult> {
        Box::pin(async move {
            if self.fault == Fault::StopsAtFirstPage {
                let first = self.inner.list(request).await?;
                return Ok(json!({"datafiles": first["datafiles"]}));
            }
            self.inner.list_all(request).await
        })
    }
}

async fn failures(fault: Fault) -> BTreeSet<String> {
    let target = Target::in_process().await;
    // The oversized upload takes seconds and proves nothing more here than the small ones.
    let selection = Selection {
        only: vec![],
        skip: vec!["slow".into()],
    };
    let report = run(&target, &Broken::new(&target, fault), &selection).await;
    println!("{}", report.summary());
    report.failed().into_iter().map(str::to_owned).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_ignores_429_fails_only_the_rate_limit_scenarios() {
    assert_eq!(
        failures(Fault::IgnoresRateLimit).await,
        set(&["retry-rate-limited", "retry-rate-limit-reset"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_at_the_first_page_fails_only_the_paging_scenarios() {
    assert_eq!(
        failures(Fault::StopsAtFirstPage).await,
        set(&[
            "list-all-pages",
            "list-files-arriving",
            "list-keeps-filters-on-every-page"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hardcodes_the_s3_host_fails_every_upload_scenario_and_nothing_else() {
    assert_eq!(
        failures(Fault::HardcodesS3Host).await,
        set(&[
            "upload-csv-finishes",
            "upload-json-finishes",
            "upload-jsonl-finishes",
            "auth-key-only-in-header",
            "tolerates-new-fields-and-statuses",
            "failed-unparseable-file",
            "forced-statuses",
            "list-keeps-filters-on-every-page",
            "list-empty-last-page",
            "s3-uses-returned-url",
            "s3-names-are-data",
            "s3-bytes-unchanged",
            "s3-copies-every-form-field",
            "s3-accepted-upload-sent-once",
            "s3-slow-down-retried",
            "s3-expired-form",
            "s3-tampered-signature",
            "stalled-answers-time-out",
            "upload-failure-not-started-over",
            "wait-stops-on-final-status",
            "wait-honours-timeout",
            "wait-polls-politely",
            "wait-reports-errors",
        ])
    );
}
