//! The mirror of `mutants.rs`: changes to the shipped adapters that a careful engineer could
//! make and that break nothing Unit21 or S3 document (nor the adapter protocol). Each changed
//! client must pass the whole catalogue: a kit that fails a correct client is worse than one
//! that misses a bug. The test prints the count and names every scenario that judged wrongly.

mod common;

use common::Adapter;
use futures_util::StreamExt;
use u21_conformance::{Outcome, Selection};

/// A change that is not a bug, and why.
struct Equivalent {
    adapter: Adapter,
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    why: &'static str,
}

const fn py(
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    why: &'static str,
) -> Equivalent {
    Equivalent {
        adapter: Adapter::Python,
        name,
        edits,
        why,
    }
}

const fn node(
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    why: &'static str,
) -> Equivalent {
    Equivalent {
        adapter: Adapter::Node,
        ..py(name, edits, why)
    }
}

const fn curl(
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    why: &'static str,
) -> Equivalent {
    Equivalent {
        adapter: Adapter::Curl,
        ..py(name, edits, why)
    }
}

const EQUIVALENTS: &[Equivalent] = &[
    // Python.
    py(
        "pauses grow by 2 instead of 1.5",
        &[("interval = min(interval * 1.5, 2.0)", "interval = min(interval * 2, 2.0)")],
        "a steeper backoff is politer still",
    ),
    py(
        "retries 3 times instead of 4",
        &[("RETRIES = 4\n", "RETRIES = 3\n")],
        "any small bound on attempts is careful",
    ),
    py(
        "backs off without jitter",
        &[(
            "return random.uniform(0, min(5.0, 0.05 * 2 ** attempt))",
            "return min(5.0, 0.05 * 2 ** attempt)",
        )],
        "jitter spreads many clients out; one client is as careful without it",
    ),
    py(
        "posts the form to the url without its trailing slash",
        &[("conn, target = connect(form[\"url\"])", "conn, target = connect(form[\"url\"].rstrip(\"/\"))")],
        "S3 takes a path-style form POST at /bucket as at /bucket/",
    ),
    py(
        "gives the file part a Content-Type",
        &[(
            "filename=\"{filename}\"\\r\\n\\r\\n'.encode()",
            "filename=\"{filename}\"\\r\\nContent-Type: text/csv\\r\\n\\r\\n'.encode()",
        )],
        "S3 ignores the file part's own Content-Type unless the policy names one",
    ),
    py(
        "capitalises its header names",
        &[(
            "headers = {\"u21-key\": KEY, \"accept\": \"application/json\"}",
            "headers = {\"U21-Key\": KEY, \"Accept\": \"application/json\"}",
        )],
        "HTTP header names are case-insensitive",
    ),
    py(
        "lists 500 a page when the request has no limit",
        &[("limit = request.get(\"limit\", 1000)", "limit = request.get(\"limit\", 500)")],
        "any page size Unit21 allows (1 to 1000) is correct when the caller gives none",
    ),
    py(
        "polls first after 0.2 s",
        &[(
            "deadline, interval = time.monotonic() + timeout, 0.1",
            "deadline, interval = time.monotonic() + timeout, 0.2",
        )],
        "a longer first pause is politer; wait still returns soon after the file is final",
    ),
    py(
        "times requests out at 1.5 times the asked timeout",
        &[(
            "cls(parts.hostname, parts.port, timeout=TIMEOUT)",
            "cls(parts.hostname, parts.port, timeout=TIMEOUT * 1.5)",
        )],
        "the request timeout is the client's; about the one asked for is careful",
    ),
    py(
        "reports a stalled upload instead of posting the form again",
        &[(
            "            if attempt < RETRIES:\n                time.sleep(pause(attempt, None))\n                continue\n            raise Failure(f\"upload: {err}\")",
            "            if attempt < RETRIES and not isinstance(err, TimeoutError):\n                time.sleep(pause(attempt, None))\n                continue\n            raise Failure(f\"upload: {err}\")",
        )],
        "S3 never answered: reporting the timeout is as careful as posting again",
    ),
    py(
        "sends the file in 64 KiB chunks",
        &[("while chunk := f.read(256 * 1024):", "while chunk := f.read(64 * 1024):")],
        "the bytes on the wire are the same",
    ),
    py(
        "uses another multipart boundary",
        &[("boundary = uuid.uuid4().hex", "boundary = \"----u21-\" + uuid.uuid4().hex")],
        "any boundary absent from the body is valid",
    ),
    // Node.
    node(
        "pauses grow by 2 instead of 1.5",
        &[("interval = Math.min(interval * 1.5, 2);", "interval = Math.min(interval * 2, 2);")],
        "a steeper backoff is politer still",
    ),
    node(
        "retries 3 times instead of 4",
        &[("const RETRIES = 4;", "const RETRIES = 3;")],
        "any small bound on attempts is careful",
    ),
    node(
        "posts the form to the url without its trailing slash",
        &[("const url = new URL(form.url);", "const url = new URL(form.url.replace(/\\/$/, \"\"));")],
        "S3 takes a path-style form POST at /bucket as at /bucket/",
    ),
    node(
        "resolves the url with the URL library",
        &[("const url = new URL(form.url);", "const url = new URL(\".\", form.url);")],
        "the same URL, built from the returned one",
    ),
    node(
        "gives the file part a Content-Type",
        &[(
            "filename=\"${quoted(basename(path))}\"\\r\\n\\r\\n`;",
            "filename=\"${quoted(basename(path))}\"\\r\\nContent-Type: application/octet-stream\\r\\n\\r\\n`;",
        )],
        "S3 ignores the file part's own Content-Type unless the policy names one",
    ),
    node(
        "streams the upload chunked, with no Content-Length",
        &[("\"content-length\": length },", "},")],
        "S3 requires Content-Length on PUTs only; a chunked form POST is stored (FIDELITY.md, DOC)",
    ),
    node(
        "sends no Accept header",
        &[(
            "const headers = { \"u21-key\": KEY, accept: \"application/json\" };",
            "const headers = { \"u21-key\": KEY };",
        )],
        "Unit21 answers JSON whatever the Accept header says",
    ),
    node(
        "times requests out at 1.5 times the asked timeout",
        &[(
            "Number(process.env.U21_REQUEST_TIMEOUT_SECS ?? 60) * 1000",
            "Number(process.env.U21_REQUEST_TIMEOUT_SECS ?? 60) * 1500",
        )],
        "the request timeout is the client's; about the one asked for is careful",
    ),
    // curl.
    curl(
        "retries 3 times instead of 4",
        &[("RETRIES=4\n", "RETRIES=3\n")],
        "any small bound on attempts is careful",
    ),
    curl(
        "posts the form to the url without its trailing slash",
        &[(
            "--url \"$(jq -r .url \"$1\")\"",
            "--url \"$(jq -r '.url | rtrimstr(\"/\")' \"$1\")\"",
        )],
        "S3 takes a path-style form POST at /bucket as at /bucket/",
    ),
    curl(
        "polls first after 0.2 s",
        &[("      pause=0.1\n", "      pause=0.2\n")],
        "a longer first pause is politer; wait still returns soon after the file is final",
    ),
    curl(
        "capitalises the upload's Content-Type header",
        &[(
            "--header 'content-type: multipart/form-data'",
            "--header 'Content-Type: multipart/form-data'",
        )],
        "HTTP header names are case-insensitive",
    ),
];

/// Runs the whole catalogue through each change (four at a time); prints each verdict and
/// fails naming every scenario that failed a correct client.
async fn all_pass(equivalents: &[&Equivalent]) {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let mut reports: Vec<(usize, u21_conformance::Report)> =
        futures_util::stream::iter(equivalents.iter().enumerate())
            .map(|(i, change)| {
                let dir = dir.path();
                async move {
                    let report = common::run_changed(
                        change.adapter,
                        change.name,
                        change.edits,
                        dir,
                        &Selection::default(),
                    )
                    .await;
                    (i, report)
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;
    reports.sort_by_key(|(i, _)| *i);
    let mut wrong = Vec::new();
    for (i, report) in &reports {
        let change = equivalents[*i];
        let (passed, failed, skipped) = report.counts();
        println!(
            "  {:<7} {:<55} {passed} passed, {failed} failed, {skipped} skipped ({})",
            format!("{:?}", change.adapter),
            change.name,
            change.why
        );
        for result in &report.results {
            if let Outcome::Fail(why) = &result.outcome {
                println!("      judged wrongly by {}: {why}", result.name);
                wrong.push(format!(
                    "{:?} {:?}: {}",
                    change.adapter, change.name, result.name
                ));
            }
        }
        assert_eq!(
            skipped, 0,
            "{}: nothing may be skipped in-process",
            change.name
        );
    }
    println!(
        "equivalents: {}/{} pass the whole catalogue in {:.1} s",
        equivalents.len()
            - wrong
                .iter()
                .map(|w| w.split(':').next().unwrap())
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
        equivalents.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(wrong.is_empty(), "correct clients failed: {wrong:#?}");
}

/// The Python and curl adapters' changes (Node's need Node.js: see the next test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_that_are_not_bugs_pass_the_whole_catalogue() {
    let changes: Vec<&Equivalent> = EQUIVALENTS
        .iter()
        .filter(|e| e.adapter != Adapter::Node)
        .collect();
    assert!(
        EQUIVALENTS.len() >= 20,
        "the kit promises at least 20 equivalents"
    );
    all_pass(&changes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js 18 or later; .ci/run installs it and runs these"]
async fn node_changes_that_are_not_bugs_pass_the_whole_catalogue() {
    common::require_node();
    let changes: Vec<&Equivalent> = EQUIVALENTS
        .iter()
        .filter(|e| e.adapter == Adapter::Node)
        .collect();
    all_pass(&changes).await;
}
