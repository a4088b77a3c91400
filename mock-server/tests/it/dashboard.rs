//! The dashboard, driven in a real headless Chromium through chromedriver: upload by hand,
//! process, watch the file reach FINISHED as the clock moves, read its history, delete it,
//! filter, switch organisation by key. The fake's store is checked beside what the page shows.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Where they are
//! missing the test says so and stops, except under CI, where that is a failure.
//! `UPDATE_SCREENSHOT=1` writes the README's screenshot, `docs/dashboard.png`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::frozen_clock;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use u21_mock::model::Status;
use u21_mock::{MockServer, Timing, Transition};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the page may take to show what the fake already holds (it refreshes each second).
const PATIENCE: Duration = Duration::from_secs(15);

/// A chromedriver process on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts chromedriver; fails the test, saying what is missing, where the browser is not
    /// installed (the test is ignored by default for that reason, and asked for, it must not
    /// pass having checked nothing).
    fn start() -> Driver {
        let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect();
        assert!(
            missing.is_empty(),
            "{} not installed (apt-get install chromium chromium-driver)",
            missing.join(" and ")
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        Driver { child, port }
    }

    /// Connects once chromedriver listens (it takes a few milliseconds to start).
    async fn browser(&self, profile: &Path) -> Client {
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1440,1000",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("json! of an object")
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{}", self.port))
                .await
            {
                Ok(client) => return client,
                // Not listening yet: chromedriver is still starting.
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("cannot start Chromium through chromedriver: {err}"),
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_for(browser: &Client, css: &str) -> Element {
    browser
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("the page never showed {css}: {err}"))
}

async fn click(browser: &Client, css: &str) {
    wait_for(browser, css)
        .await
        .click()
        .await
        .unwrap_or_else(|err| panic!("cannot click {css}: {err}"));
}

/// Waits until the files table shows exactly these rows, top to bottom (the page refreshes
/// on its own each second, and at once after each action). One CSS selector says it, so the
/// browser's own wait does the polling.
async fn wait_for_rows(browser: &Client, expected: &[&str]) {
    let mut selector = String::from("#imports tbody");
    for (i, status) in expected.iter().enumerate() {
        selector.push_str(&format!(
            ":has(> tr:nth-child({})[data-status={status}])",
            i + 1
        ));
    }
    selector.push_str(&format!(
        ":not(:has(> tr:nth-child({})))",
        expected.len() + 1
    ));
    if browser
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(&selector))
        .await
        .is_err()
    {
        let mut shown = Vec::new();
        for row in browser
            .find_all(Locator::Css("#imports tr[data-file-id]"))
            .await
            .unwrap()
        {
            shown.push(row.attr("data-status").await.unwrap().unwrap_or_default());
        }
        panic!("rows show {shown:?}, expected {expected:?}");
    }
}

async fn status_of(server: &MockServer, id: u64) -> Status {
    server
        .files()
        .get(id)
        .await
        .expect("the file exists")
        .status
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver (apt-get install chromium chromium-driver); .ci/run installs them and runs it"]
async fn a_person_uploads_processes_watches_deletes_and_filters_in_chromium() {
    let driver = Driver::start();
    // Frozen clock, fast timing: files move only when the page's clock buttons say so.
    let server = MockServer::builder()
        .clock(frozen_clock())
        .timing(Timing::Fast)
        .key("u21-mock-dev-key", "demo")
        .key("other-key", "other")
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("transactions-2023-11.csv");
    std::fs::write(&csv, "id,amount\n1,10.50\n2,-3\n3,7\n").unwrap();
    // Files from other routes, so the filters have something to tell apart.
    let pending = crate::common::create(&server, "alerts", "alerts.jsonl").await;
    let pending_id: u64 = pending["file_id"].as_str().unwrap().parse().unwrap();
    server
        .files()
        .add("entities", "entities-2023-11.json", "{not json")
        .await
        .unwrap();
    server
        .files()
        .add_for("other", "cases", "other-org.csv", "a\n1\n")
        .await
        .unwrap();

    let browser = driver.browser(&dir.path().join("profile")).await;
    browser.goto(&format!("{}/", server.uri())).await.unwrap();
    wait_for(&browser, "body[data-ready=true]").await;
    assert_eq!(
        browser.title().await.unwrap(),
        "u21-mock · imports dashboard"
    );
    wait_for_rows(&browser, &["ADDED", "PENDING_UPLOAD"]).await;
    // The page asks for nothing the journal would show (a browser's /favicon.ico, say).
    let journalled: Vec<String> = server
        .journal()
        .requests(&Default::default())
        .into_iter()
        .map(|entry| format!("{} {}", entry.method, entry.path))
        .collect();
    assert!(
        journalled.iter().all(|r| !r.contains("favicon")),
        "{journalled:?}"
    );

    // Upload by hand: the file lands as ADDED, in the store and on the page.
    wait_for(&browser, "#upload-stream")
        .await
        .send_keys("transactions")
        .await
        .unwrap();
    wait_for(&browser, "#upload-file")
        .await
        .send_keys(csv.to_str().unwrap())
        .await
        .unwrap();
    click(&browser, "#upload-submit").await;
    let uploaded = wait_for(&browser, "#detail-root[data-status=ADDED]").await;
    let id: u64 = uploaded
        .attr("data-file-id")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    let record = server.files().get(id).await.unwrap();
    assert_eq!(
        (record.status, record.file_name.as_str(), &*record.stream),
        (Status::ADDED, "transactions-2023-11.csv", "transactions")
    );
    wait_for_rows(&browser, &["ADDED", "ADDED", "PENDING_UPLOAD"]).await;

    // Process: ADDED → QUEUED; then the clock buttons move it to FINISHED.
    click(
        &browser,
        &format!("button[data-action=process][data-id='{id}']"),
    )
    .await;
    wait_for(
        &browser,
        &format!("tr[data-file-id='{id}'][data-status=QUEUED]"),
    )
    .await;
    assert_eq!(status_of(&server, id).await, Status::QUEUED);
    click(&browser, "button[data-advance='10']").await;
    let finished = wait_for(
        &browser,
        &format!("tr[data-file-id='{id}'][data-status=FINISHED]"),
    )
    .await;
    assert_eq!(
        finished
            .find(Locator::Css("td.successful"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "3"
    );
    assert_eq!(server.files().get(id).await.unwrap().successful_count, 3);

    // The detail shows the whole history, in order.
    click(&browser, &format!("a[data-open='{id}']")).await;
    wait_for(
        &browser,
        &format!("#detail-root[data-file-id='{id}'][data-status=FINISHED]"),
    )
    .await;
    let mut history = Vec::new();
    for step in browser
        .find_all(Locator::Css("#detail-root .history li"))
        .await
        .unwrap()
    {
        history.push(step.attr("data-status").await.unwrap().unwrap_or_default());
    }
    assert_eq!(history, ["ADDED", "QUEUED", "PROCESSING", "FINISHED"]);
    let journal = wait_for(&browser, "#journal").await.text().await.unwrap();
    assert!(
        journal.contains("/v1/imports/pre-signed-url/create"),
        "the journal shows the API call: {journal}"
    );
    screenshot(&browser, dir.path()).await;

    // A client's file name is shown as text, never run as markup (after the screenshot, which
    // shows what a user sees).
    let hostile = server
        .files()
        .add("entities", "<img src=x onerror=alert(1)>.json", "{not json")
        .await
        .unwrap();
    let name = wait_for(
        &browser,
        &format!("tr[data-file-id='{}'] td.name", hostile.id),
    )
    .await;
    assert_eq!(
        name.text().await.unwrap(),
        "<img src=x onerror=alert(1)>.json"
    );

    // Delete.
    click(
        &browser,
        &format!("#detail-root button[data-action=delete][data-id='{id}']"),
    )
    .await;
    wait_for(
        &browser,
        &format!("tr[data-file-id='{id}'][data-status=DELETED]"),
    )
    .await;
    assert_eq!(status_of(&server, id).await, Status::DELETED);
    assert_eq!(status_of(&server, pending_id).await, Status::PENDING_UPLOAD);

    // Filters: by status (the select and the count chips), then by stream.
    wait_for(&browser, "#status-filter")
        .await
        .select_by_value("DELETED")
        .await
        .unwrap();
    wait_for_rows(&browser, &["DELETED"]).await;
    click(&browser, "button.chip[data-status-filter='']").await;
    wait_for_rows(&browser, &["ADDED", "DELETED", "ADDED", "PENDING_UPLOAD"]).await;
    wait_for(&browser, "#stream-filter option[value=alerts]").await;
    wait_for(&browser, "#stream-filter")
        .await
        .select_by_value("alerts")
        .await
        .unwrap();
    wait_for_rows(&browser, &["PENDING_UPLOAD"]).await;
    let url = browser.current_url().await.unwrap();
    assert!(
        url.query_pairs()
            .any(|(k, v)| k == "stream" && v == "alerts"),
        "the filter is in the address, to share or reload: {url}"
    );
    wait_for(&browser, "#stream-filter")
        .await
        .select_by_value("")
        .await
        .unwrap();

    // A forced change shows up live, without any click.
    server
        .files()
        .force(
            pending_id,
            Transition::Failed(u21_mock::FailureCode::Unknown),
        )
        .await
        .unwrap();
    let failed = wait_for(
        &browser,
        &format!("tr[data-file-id='{pending_id}'][data-status=FAILED]"),
    )
    .await;
    assert_eq!(
        failed
            .find(Locator::Css("td.status code.failure"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "unknown"
    );

    // Another organisation, by entering its key: only its file shows.
    wait_for(&browser, "#key")
        .await
        .send_keys("other-key\n")
        .await
        .unwrap();
    wait_for(&browser, "#imports-root[data-org=other]").await;
    wait_for_rows(&browser, &["ADDED"]).await;
    assert_eq!(
        wait_for(&browser, "#imports td.name")
            .await
            .text()
            .await
            .unwrap(),
        "other-org.csv"
    );
    browser.close().await.unwrap();
}

/// The README's picture: written to `docs/dashboard.png` with `UPDATE_SCREENSHOT=1`, else
/// beside the test's files, and checked to be a PNG either way.
async fn screenshot(browser: &Client, scratch: &Path) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(png.len() > 10_000, "a real picture, {} bytes", png.len());
    let path = if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/dashboard.png")
    } else {
        scratch.join("dashboard.png")
    };
    std::fs::write(path, png).unwrap();
}

// Below, the dashboard's routes over plain HTTP: no browser needed.

async fn get_text(server: &MockServer, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = crate::common::http().get(format!("{}{path}", server.uri()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn upload_by_hand(
    server: &MockServer,
    query: &str,
    stream: Option<&str>,
    file_name: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut form = reqwest::multipart::Form::new();
    if let Some(stream) = stream {
        form = form.text("stream", stream.to_owned());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::text(body.to_owned()).file_name(file_name.to_owned()),
    );
    let response = crate::common::http()
        .post(format!("{}/_mock/dashboard/upload{query}", server.uri()))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn the_page_and_its_fragments_stay_out_of_the_journal() {
    let server = MockServer::builder().clock(frozen_clock()).start().await;
    let (status, page) = get_text(&server, "/", &[]).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<title>u21-mock · imports dashboard</title>"),
        "{page}"
    );
    assert!(
        page.contains("id=\"upload-form\""),
        "the page embeds its own markup"
    );
    for path in [
        "/_mock/dashboard/imports",
        "/_mock/dashboard/journal",
        "/_mock/dashboard/clock",
        "/_mock/dashboard/orgs",
    ] {
        assert_eq!(get_text(&server, path, &[]).await.0, 200, "{path}");
    }
    assert!(server
        .journal()
        .requests(&u21_mock::JournalQuery::default())
        .is_empty());
    // Unit21 calls are journalled, and the journal fragment shows them.
    crate::common::create(&server, "s", "a.csv").await;
    let (_, journal) = get_text(&server, "/_mock/dashboard/journal", &[]).await;
    assert!(
        journal.contains("/v1/imports/pre-signed-url/create"),
        "{journal}"
    );
}

#[tokio::test]
async fn names_are_escaped_and_keys_choose_the_organisation() {
    let server = MockServer::builder()
        .clock(frozen_clock())
        .key("k-demo", "demo")
        .key("k-other", "other")
        .start()
        .await;
    server
        .files()
        .add_for(
            "other",
            "s\"><script>",
            "<script>alert(1)</script>.csv",
            "a\n1\n",
        )
        .await
        .unwrap();
    let (status, fragment) = get_text(
        &server,
        "/_mock/dashboard/imports",
        &[("u21-key", "k-other")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(fragment.contains("data-org=\"other\""), "{fragment}");
    assert!(
        fragment.contains("&lt;script&gt;alert(1)&lt;/script&gt;.csv"),
        "{fragment}"
    );
    assert!(
        !fragment.contains("<script"),
        "no client text becomes markup: {fragment}"
    );
    let (status, fragment) = get_text(&server, "/_mock/dashboard/imports?org=demo", &[]).await;
    assert_eq!(status, 200);
    assert!(
        fragment.contains("No files in <strong>demo</strong> yet"),
        "{fragment}"
    );
    let (status, fragment) =
        get_text(&server, "/_mock/dashboard/imports", &[("u21-key", "nope")]).await;
    assert_eq!(
        (
            status,
            fragment.contains("No organisation has that API key")
        ),
        (400, true)
    );
    let (status, _) = get_text(&server, "/_mock/dashboard/imports?status=DONE", &[]).await;
    assert_eq!(status, 400);
    let (status, _) = get_text(&server, "/_mock/dashboard/files/99", &[]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_upload_by_hand_is_an_added_file_whose_name_is_never_a_path() {
    let server = MockServer::builder()
        .clock(frozen_clock())
        .timing(Timing::Instant)
        .start()
        .await;
    let (status, file) = upload_by_hand(
        &server,
        "?org=demo",
        Some("txns"),
        "../../etc/passwd.csv",
        "a,b\n1,2\n",
    )
    .await;
    assert_eq!(status, 201, "{file}");
    assert_eq!(
        (
            file["status"].as_str(),
            file["file_name"].as_str(),
            file["stream_name"].as_str()
        ),
        (Some("ADDED"), Some("passwd.csv"), Some("txns"))
    );
    let id: u64 = file["file_id"].as_str().unwrap().parse().unwrap();
    let key = server.files().get(id).await.unwrap().s3_key;
    let object = server.files().object(&key).expect("the object is stored");
    assert_eq!(object.size, 8);
    assert!(
        object
            .path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_hexdigit()),
        "stored under a generated name: {}",
        object.path.display()
    );
    server.files().start_processing(id).await.unwrap();
    assert_eq!(server.files().get(id).await.unwrap().successful_count, 1);

    // Refusals say what is wrong, and store nothing.
    let (status, refusal) = upload_by_hand(&server, "", None, "a.csv", "x").await;
    assert_eq!(
        (status, refusal["error_code"].as_str()),
        (400, Some("bad_request"))
    );
    let (status, _) = upload_by_hand(&server, "", Some("txns"), "", "x").await;
    assert_eq!(status, 400);
    let not_a_form = crate::common::http()
        .post(format!("{}/_mock/dashboard/upload", server.uri()))
        .body("hello")
        .send()
        .await
        .unwrap();
    // A body that is neither JSON nor a form is refused before it reaches the route.
    assert_eq!(not_a_form.status(), 415);
    assert_eq!(server.files().count(), 1);
}

#[tokio::test]
async fn the_fragments_need_the_control_token_but_the_page_does_not() {
    let mut config = u21_mock::Config::default();
    config.control.token = Some("t0ken".into());
    let server = MockServer::builder().config(config).start().await;
    assert_eq!(get_text(&server, "/", &[]).await.0, 200);
    assert_eq!(
        get_text(&server, "/_mock/dashboard/imports", &[]).await.0,
        401
    );
    assert_eq!(
        get_text(
            &server,
            "/_mock/dashboard/imports",
            &[("x-u21-mock-token", "t0ken")]
        )
        .await
        .0,
        200
    );
    let (status, _) = upload_by_hand(&server, "", Some("s"), "a.csv", "a\n").await;
    assert_eq!(status, 401);

    let mut config = u21_mock::Config::default();
    config.control.enabled = false;
    let server = MockServer::builder().config(config).start().await;
    let (status, body) = get_text(&server, "/", &[]).await;
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"error_code":"resource_not_found"}"#)
    );
}

/// The dashboard's upload follows the create call's name rules: a name that create refuses is
/// refused here too, and nothing is stored.
#[rstest::rstest]
#[case::stream_over_256_bytes(&"s".repeat(257), "a.csv", "at most 256 bytes")]
#[case::file_name_making_a_key_over_1024_bytes("s", &format!("{}.csv", "f".repeat(1100)), "too long")]
#[tokio::test]
async fn the_dashboard_upload_follows_the_create_calls_name_rules(
    #[case] stream: &str,
    #[case] file_name: &str,
    #[case] says: &str,
) {
    let server = MockServer::start().await;
    let (status, answer) = upload_by_hand(&server, "", Some(stream), file_name, "a\n1\n").await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains(says),
        "{answer}"
    );
    assert!(server.files().get(1).await.is_none(), "nothing is stored");
}
