//! Mutation testing of the kit: clients made from the shipped adapters (Python, Node and curl)
//! by changing a line or two, each a bug real integrations have, must each fail the scenario
//! meant to catch it. The test prints the mutation score and fails if any mutant survives.
//! Its mirror, `equivalents.rs`, holds changes that are not bugs: they must pass everything.

mod common;

use futures_util::StreamExt;
use u21_conformance::{Outcome, Selection};

use common::Adapter;

/// One realistic bug: the adapter, the lines it changes there, and the scenario that must
/// fail because of it.
struct Mutant {
    adapter: Adapter,
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    killed_by: &'static str,
}

/// A mutant of the Python adapter.
const fn m(
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    killed_by: &'static str,
) -> Mutant {
    Mutant {
        adapter: Adapter::Python,
        name,
        edits,
        killed_by,
    }
}

/// A mutant of the Node adapter.
const fn node(
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    killed_by: &'static str,
) -> Mutant {
    Mutant {
        adapter: Adapter::Node,
        ..m(name, edits, killed_by)
    }
}

/// A mutant of the curl adapter.
const fn curl(
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    killed_by: &'static str,
) -> Mutant {
    Mutant {
        adapter: Adapter::Curl,
        ..m(name, edits, killed_by)
    }
}

const MUTANTS: &[Mutant] = &[
    // Retry discipline.
    m(
        "retries a 429 after a fixed 0.1 s",
        &[("def pause(attempt, headers):\n", "def pause(attempt, headers):\n    return 0.1\n")],
        "retry-rate-limited",
    ),
    m(
        "reads Retry-After as milliseconds",
        &[("return float(retry_after)", "return float(retry_after) / 1000")],
        "retry-rate-limited",
    ),
    m(
        "ignores X-RateLimit-Reset",
        &[("    if reset and reset.isdigit():", "    if False:")],
        "retry-rate-limit-reset",
    ),
    m(
        "treats 429 as final",
        &[(
            "retryable = status in (429, 503) or (idempotent and status >= 500)",
            "retryable = status == 503 or (idempotent and status >= 500)",
        )],
        "retry-rate-limited",
    ),
    m(
        "does not retry 5xx on reads",
        &[(
            "retryable = status in (429, 503) or (idempotent and status >= 500)",
            "retryable = status == 429",
        )],
        "retry-server-errors",
    ),
    m(
        "does not retry a dropped read",
        &[(
            "            if idempotent and attempt < RETRIES:\n                time.sleep(pause(attempt, None))",
            "            if False:\n                time.sleep(pause(attempt, None))",
        )],
        "retry-dropped-connection",
    ),
    m(
        "retries far too often (RETRIES = 25)",
        &[("RETRIES = 4\n", "RETRIES = 25\n")],
        "retry-gives-up",
    ),
    m(
        "repeats a create answered 500",
        &[("file_name}, idempotent=False)", "file_name}, idempotent=True)")],
        "create-not-repeated",
    ),
    m(
        "repeats a create whose connection dropped",
        &[(
            "            if idempotent and attempt < RETRIES:\n                time.sleep(pause(attempt, None))",
            "            if attempt < RETRIES:\n                time.sleep(pause(attempt, None))",
        )],
        "create-not-repeated",
    ),
    // The S3 form.
    m(
        "takes a 204 without a body for a lost answer and posts again",
        &[(
            "                pass  # S3 may answer (and close) before the body is done: read what it said.\n            response = conn.getresponse()\n            raw = response.read()\n",
            "                pass  # S3 may answer (and close) before the body is done: read what it said.\n            response = conn.getresponse()\n            raw = response.read()\n            if not raw and attempt < RETRIES:\n                raise ConnectionResetError(\"empty answer\")\n",
        )],
        "s3-accepted-upload-sent-once",
    ),
    m(
        "re-posts a refused form",
        &[(
            "if response.status >= 500 and attempt < RETRIES:",
            "if response.status >= 400 and attempt < RETRIES:",
        )],
        "s3-expired-form",
    ),
    m(
        "builds the upload URL from its base URL",
        &[(
            "conn, target = connect(form[\"url\"])",
            "conn, target = connect(BASE + \"/u21-mock-uploads/\")",
        )],
        "s3-uses-returned-url",
    ),
    m(
        "sends a hard-coded list of fields (policy forgotten)",
        &[(
            "for name, value in form[\"form_fields\"].items():",
            "for name, value in ((k, form[\"form_fields\"][k]) for k in (\"key\", \"AWSAccessKeyId\", \"signature\")):",
        )],
        "upload-csv-finishes",
    ),
    m(
        "URL-encodes the field values",
        &[("\\r\\n\\r\\n{value}\\r\\n'", "\\r\\n\\r\\n{urllib.parse.quote(value)}\\r\\n'")],
        "upload-csv-finishes",
    ),
    m(
        "sends two file parts",
        &[(
            "    tail = f\"\\r\\n--{boundary}--\\r\\n\".encode()",
            "    head = head + b\"\\r\\n\" + head[head.rindex(b\"--\" + boundary.encode()):]\n    tail = f\"\\r\\n--{boundary}--\\r\\n\".encode()",
        )],
        "upload-csv-finishes",
    ),
    m(
        "adds a Content-Type field of its own",
        &[(
            "    filename = quoted(os.path.basename(path))\n",
            "    filename = quoted(os.path.basename(path))\n    head += f'--{boundary}\\r\\nContent-Disposition: form-data; name=\"Content-Type\"\\r\\n\\r\\ntext/csv\\r\\n'.encode()\n",
        )],
        "upload-csv-finishes",
    ),
    m(
        "does not retry S3's SlowDown",
        &[(
            "if response.status >= 500 and attempt < RETRIES:",
            "if response.status >= 500 and response.status != 503 and attempt < RETRIES:",
        )],
        "s3-slow-down-retried",
    ),
    m(
        "drops S3's error code",
        &[(
            "raise Failure(message.group(1) if message else text[:200], response.status, None, code.group(1) if code else None)",
            "raise Failure(message.group(1) if message else text[:200], response.status)",
        )],
        "s3-tampered-signature",
    ),
    // Waiting.
    m(
        "takes DELETED for still running",
        &[(
            "if file[\"status\"] in (\"FINISHED\", \"FAILED\", \"DELETED\"):",
            "if file[\"status\"] in (\"FINISHED\", \"FAILED\"):",
        )],
        "wait-stops-on-final-status",
    ),
    m(
        "takes FAILED for still running",
        &[(
            "if file[\"status\"] in (\"FINISHED\", \"FAILED\", \"DELETED\"):",
            "if file[\"status\"] in (\"FINISHED\", \"DELETED\"):",
        )],
        "wait-stops-on-final-status",
    ),
    m(
        "takes the wait timeout for milliseconds",
        &[(
            "deadline, interval = time.monotonic() + timeout, 0.1",
            "deadline, interval = time.monotonic() + timeout * 1000, 0.1",
        )],
        "wait-honours-timeout",
    ),
    m(
        "returns the first answer as final",
        &[(
            "if file[\"status\"] in (\"FINISHED\", \"FAILED\", \"DELETED\"):",
            "if True:",
        )],
        "wait-honours-timeout",
    ),
    m(
        "polls in a tight loop",
        &[("        time.sleep(min(interval, left))\n", "")],
        "wait-polls-politely",
    ),
    m(
        "polls every 0.1 s without backing off",
        &[("interval = min(interval * 1.5, 2.0)", "interval = 0.1")],
        "wait-polls-politely",
    ),
    // Paging.
    m(
        "drops the filters after the first page",
        &[(
            "dict(request, offset=page, limit=limit)",
            "dict(request if page == 1 else {}, offset=page, limit=limit)",
        )],
        "list-keeps-filters-on-every-page",
    ),
    m(
        "counts pages from 0",
        &[("files, seen, page = [], set(), 1", "files, seen, page = [], set(), 0")],
        "list-keeps-filters-on-every-page",
    ),
    m(
        "counts the offset in records",
        &[("        page += 1\n", "        page += limit\n")],
        "list-keeps-filters-on-every-page",
    ),
    m(
        "stops after the first page",
        &[("        page += 1\n", "        return {\"datafiles\": files}\n")],
        "list-all-pages",
    ),
    m(
        "pages until the first page's total_count, empty pages or not",
        &[
            (
                "files, seen, page = [], set(), 1",
                "files, seen, page, total = [], set(), 1, None",
            ),
            (
                "if len(answer[\"datafiles\"]) < limit or len(files) >= answer[\"total_count\"]:",
                "if len(files) >= (total := total or answer[\"total_count\"]):",
            ),
        ],
        "list-empty-last-page",
    ),
    m(
        "keeps a file seen on two pages twice",
        &[("            if file[\"file_id\"] not in seen:", "            if True:")],
        "list-files-arriving",
    ),
    // The key.
    m(
        "also sends the key in the query string",
        &[(
            "conn, target = connect(BASE + path)",
            "conn, target = connect(BASE + path + \"?u21-key=\" + KEY)",
        )],
        "auth-key-only-in-header",
    ),
    m(
        "sends the key to S3 too",
        &[(
            "            conn.putheader(\"content-length\", str(size))\n",
            "            conn.putheader(\"content-length\", str(size))\n            conn.putheader(\"u21-key\", KEY)\n",
        )],
        "auth-key-only-in-header",
    ),
    m(
        "logs every request with its headers",
        &[(
            "            conn.request(method, target, body=data, headers=headers)\n",
            "            print(f\"> {method} {target} {headers}\", file=sys.stderr)\n            conn.request(method, target, body=data, headers=headers)\n",
        )],
        "secrecy-key-not-in-output",
    ),
    m(
        "puts the key in its error messages",
        &[(
            "raise Failure(answer.get(\"message\") or f\"{method} {path} answered {status}\", status, answer.get(\"error_code\"))",
            "raise Failure(f\"{method} {path} (key {KEY}) answered {status}\", status, answer.get(\"error_code\"))",
        )],
        "secrecy-key-not-in-output",
    ),
    // Tolerance and errors.
    m(
        "refuses a status it does not know",
        &[(
            "        return api(\"GET\", f\"/v1/imports/{request['file_id']}\")\n",
            "        file = api(\"GET\", f\"/v1/imports/{request['file_id']}\")\n        if file[\"status\"] not in (\"PENDING_UPLOAD\", \"ADDED\", \"QUEUED\", \"PROCESSING\", \"FINISHED\", \"FAILED\", \"DELETED\"):\n            raise Failure(f\"unknown status {file['status']}\")\n        return file\n",
        )],
        "tolerates-new-fields-and-statuses",
    ),
    m(
        "refuses fields it does not know",
        &[(
            "        return api(\"POST\", \"/v1/imports/list\", request[\"request\"])\n",
            "        answer = api(\"POST\", \"/v1/imports/list\", request[\"request\"])\n        if set(answer) != {\"datafiles\", \"response_count\", \"total_count\"}:\n            raise Failure(f\"unexpected fields in {sorted(answer)}\")\n        return answer\n",
        )],
        "tolerates-new-fields-and-statuses",
    ),
    m(
        "reports errors without their status",
        &[(
            "raise Failure(answer.get(\"message\") or f\"{method} {path} answered {status}\", status, answer.get(\"error_code\"))",
            "raise Failure(answer.get(\"message\") or f\"{method} {path} answered {status}\")",
        )],
        "client-reports-not-found",
    ),
    m(
        "pages with a size of its own, not the request's limit",
        &[("limit = request.get(\"limit\", 1000)", "limit = 1000")],
        "list-keeps-filters-on-every-page",
    ),
    // The Node adapter.
    node(
        "follows redirects with its key (fetch's default)",
        &[("redirect: \"manual\",", "redirect: \"follow\",")],
        "redirect-keeps-key-home",
    ),
    node(
        "treats 429 as final",
        &[(
            "const retryable = status === 429 || status === 503 || (idempotent && status >= 500);",
            "const retryable = status === 503 || (idempotent && status >= 500);",
        )],
        "retry-rate-limited",
    ),
    node(
        "repeats a create answered 500",
        &[(
            "{ stream_name: stream, file_name: fileName }, { idempotent: false })",
            "{ stream_name: stream, file_name: fileName }, { idempotent: true })",
        )],
        "create-not-repeated",
    ),
    node(
        "pages from offset 0",
        &[("for (let page = 1; ; page++)", "for (let page = 0; ; page++)")],
        "list-keeps-filters-on-every-page",
    ),
    // Bytes: written from the fault model's "send bytes unchanged" cell before its scenario.
    m(
        "reads the file as UTF-8 text (invalid bytes replaced) and re-encodes it",
        &[
            (
                "size = len(head) + os.path.getsize(path) + len(tail)",
                "with open(path, encoding=\"utf-8\", errors=\"replace\") as text:\n        data = text.read().encode()\n    size = len(head) + len(data) + len(tail)",
            ),
            (
                "                with open(path, \"rb\") as f:\n                    while chunk := f.read(256 * 1024):\n                        conn.send(chunk)",
                "                conn.send(data)",
            ),
        ],
        "s3-bytes-unchanged",
    ),
    m(
        "reads the file in text mode (Latin-1, newlines translated)",
        &[
            (
                "size = len(head) + os.path.getsize(path) + len(tail)",
                "with open(path, encoding=\"latin-1\") as text:\n        data = text.read().encode(\"latin-1\")\n    size = len(head) + len(data) + len(tail)",
            ),
            (
                "                with open(path, \"rb\") as f:\n                    while chunk := f.read(256 * 1024):\n                        conn.send(chunk)",
                "                conn.send(data)",
            ),
        ],
        "s3-bytes-unchanged",
    ),
    node(
        "reads the file as a UTF-8 string",
        &[
            (
                "const length = Buffer.byteLength(head) + statSync(path).size + Buffer.byteLength(tail);",
                "const data = readFileSync(path, \"utf8\");\n  const length = Buffer.byteLength(head) + Buffer.byteLength(data) + Buffer.byteLength(tail);",
            ),
            (
                "    const file = createReadStream(path);\n    file.on(\"error\", (error) => request.destroy(error));\n    file.on(\"end\", () => request.end(tail));\n    // S3 may answer (and stop reading) before the body is done: the answer still comes.\n    file.pipe(request, { end: false });",
                "    request.end(data + tail);",
            ),
            (
                "import { createReadStream, statSync } from \"node:fs\";",
                "import { createReadStream, readFileSync, statSync } from \"node:fs\";",
            ),
        ],
        "s3-bytes-unchanged",
    ),
    // The curl adapter.
    curl(
        "passes form fields with --form (`,` and `;` become syntax)",
        &[(
            "fields+=(--form-string \"$pair\")",
            "fields+=(--form \"$pair\")",
        )],
        "s3-names-are-data",
    ),
    curl(
        "follows redirects (--location), headers and all",
        &[(
            "--write-out '%{http_code}' \"$@\"",
            "--write-out '%{http_code}' --location \"$@\"",
        )],
        "redirect-keeps-key-home",
    ),
    curl(
        "treats 429 as final",
        &[("      429 | 503) retry=yes ;;", "      503) retry=yes ;;")],
        "retry-rate-limited",
    ),
    curl(
        "sends the file's content through a shell variable (NULs and final newlines lost)",
        &[(
            "\"${fields[@]}\" --form \"file=@\\\"$path\\\"\"",
            "\"${fields[@]}\" --form-string \"file=$(cat \"$2\")\"",
        )],
        "s3-bytes-unchanged",
    ),
];

/// Runs the mutant's scenario; returns how it ended.
async fn try_mutant(mutant: &Mutant, dir: &std::path::Path) -> Outcome {
    let selection = Selection {
        only: vec![mutant.killed_by.into()],
        skip: vec![],
    };
    let report =
        common::run_changed(mutant.adapter, mutant.name, mutant.edits, dir, &selection).await;
    assert_eq!(report.results.len(), 1, "no scenario {}", mutant.killed_by);
    report.results[0].outcome.clone()
}

/// The Python and curl adapters' mutants (Node's need Node.js: see the next test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_realistic_client_bug_is_caught_by_the_scenario_meant_for_it() {
    let mutants: Vec<&Mutant> = MUTANTS
        .iter()
        .filter(|m| m.adapter != Adapter::Node)
        .collect();
    assert!(mutants.len() >= 30, "the kit promises at least 30 mutants");
    all_killed(&mutants).await;
}

/// The Node adapter's mutants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js 18 or later; .ci/run installs it and runs these"]
async fn every_realistic_node_client_bug_is_caught_by_the_scenario_meant_for_it() {
    common::require_node();
    let mutants: Vec<&Mutant> = MUTANTS
        .iter()
        .filter(|m| m.adapter == Adapter::Node)
        .collect();
    assert!(!mutants.is_empty());
    all_killed(&mutants).await;
}

/// Runs every mutant's scenario (six at a time), prints the score, and fails if one survives.
async fn all_killed(mutants: &[&Mutant]) {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let outcomes: Vec<(usize, Outcome)> = futures_util::stream::iter(mutants.iter().enumerate())
        .map(|(i, mutant)| {
            let dir = dir.path();
            async move { (i, try_mutant(mutant, dir).await) }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    let mut outcomes = outcomes;
    outcomes.sort_by_key(|(i, _)| *i);
    let mut survivors = Vec::new();
    println!("mutants of conformance/adapters/:");
    for (i, outcome) in &outcomes {
        let mutant = mutants[*i];
        match outcome {
            Outcome::Fail(why) if !why.starts_with("breaks ") => {
                println!("  UNNAMED   {:<58} {why}", mutant.name);
                survivors.push(mutant.name);
            }
            Outcome::Fail(why) => println!(
                "  killed    {:<7} {:<58} by {:<34} {}",
                format!("{:?}", mutant.adapter),
                mutant.name,
                mutant.killed_by,
                why.lines().next().unwrap_or_default()
            ),
            other => {
                println!(
                    "  SURVIVED  {:<58} {} {other:?}",
                    mutant.name, mutant.killed_by
                );
                survivors.push(mutant.name);
            }
        }
    }
    let killed = mutants.len() - survivors.len();
    println!(
        "mutation score: {killed}/{} killed ({:.0}%) in {:.1} s",
        mutants.len(),
        100.0 * killed as f64 / mutants.len() as f64,
        started.elapsed().as_secs_f64()
    );
    assert!(survivors.is_empty(), "mutants survived: {survivors:?}");
}

/// A client whose list_all pages with a size of its own breaks the protocol, not Unit21's
/// contract, and its failure says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_all_with_its_own_page_size_is_told_it_broke_the_protocol() {
    let mutant = MUTANTS
        .iter()
        .find(|m| m.name.starts_with("pages with a size of its own"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let Outcome::Fail(why) = try_mutant(mutant, dir.path()).await else {
        panic!("the mutant passed");
    };
    assert!(
        why.starts_with("breaks the adapter protocol (conformance/ADAPTERS.md): page 1 was asked with limit = 1000 instead of the request's 2"),
        "{why}"
    );
    assert!(why.contains("not Unit21's"), "{why}");
}
