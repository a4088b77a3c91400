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
    // The mutants below were written from conformance/FAULTS.md's cells before the scenarios
    // that kill them existed (or were extended to): they measure the kit's reach.
    // Time: a stalled server must not hang the client.
    m(
        "has no request timeout",
        &[(
            "cls(parts.hostname, parts.port, timeout=TIMEOUT)",
            "cls(parts.hostname, parts.port)",
        )],
        "stalled-answers-time-out",
    ),
    node(
        "calls Unit21 with fetch and no timeout",
        &[("        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),\n", "")],
        "stalled-answers-time-out",
    ),
    node(
        "posts the upload with no timeout",
        &[("      timeout: REQUEST_TIMEOUT_MS,\n", "")],
        "stalled-answers-time-out",
    ),
    curl(
        "runs curl with no time limit",
        &[(
            r#"      --connect-timeout "$TIMEOUT" --speed-limit 1 --speed-time "$TIMEOUT" \"#,
            r#"      \"#,
        )],
        "stalled-answers-time-out",
    ),
    // Secrecy on every error path.
    m(
        "names the key when it is refused (401, 403)",
        &[(
            "        answer = answer if isinstance(answer, dict) else {}\n",
            "        answer = answer if isinstance(answer, dict) else {}\n        if status in (401, 403):\n            raise Failure(f\"{method} {path}: the key {KEY} was refused ({status})\", status, answer.get(\"error_code\"))\n",
        )],
        "secrecy-key-not-in-output",
    ),
    node(
        "logs the request's headers on a server error",
        &[(
            "    const status = response.status;\n",
            "    const status = response.status;\n    if (status >= 500) console.error(`${method} ${path} answered ${status}; headers ${JSON.stringify(headers)}`);\n",
        )],
        "secrecy-key-not-in-output",
    ),
    curl(
        "logs the key when it gives up on a server error",
        &[(
            "  echo \"$status $body\"\n",
            "  [ \"${status:0:1}\" = 5 ] && echo \"gave up after $status (u21-key: $U21_API_KEY)\" >&2\n  echo \"$status $body\"\n",
        )],
        "secrecy-key-not-in-output",
    ),
    m(
        "sends the key to S3 as a bearer token",
        &[(
            "            conn.putheader(\"content-length\", str(size))\n",
            "            conn.putheader(\"content-length\", str(size))\n            conn.putheader(\"authorization\", f\"Bearer {KEY}\")\n",
        )],
        "auth-key-only-in-header",
    ),
    node(
        "sends the key to S3 in an Authorization header",
        &[(
            "\"content-length\": length },",
            "\"content-length\": length, authorization: `Bearer ${KEY}` },",
        )],
        "auth-key-only-in-header",
    ),
    // What not to retry.
    m(
        "retries 4xx on reads too",
        &[(
            "retryable = status in (429, 503) or (idempotent and status >= 500)",
            "retryable = status in (429, 503) or (idempotent and status >= 400)",
        )],
        "client-errors-not-retried",
    ),
    node(
        "retries every failed read, 4xx too",
        &[(
            "const retryable = status === 429 || status === 503 || (idempotent && status >= 500);",
            "const retryable = status === 429 || status === 503 || (idempotent && status >= 400);",
        )],
        "client-errors-not-retried",
    ),
    curl(
        "retries 4xx like 5xx",
        &[(
            "      5??) [ \"$kind\" = create ] || retry=yes ;;",
            "      4?? | 5??) [ \"$kind\" = create ] || retry=yes ;;",
        )],
        "client-errors-not-retried",
    ),
    m(
        "retries 429 without a cap",
        &[(
            "        if retryable and attempt < RETRIES:",
            "        if status == 429 or (retryable and attempt < RETRIES):",
        )],
        "retry-gives-up",
    ),
    node(
        "retries 429 without a cap",
        &[(
            "    if (retryable && attempt < RETRIES) {",
            "    if (status === 429 || (retryable && attempt < RETRIES)) {",
        )],
        "retry-gives-up",
    ),
    curl(
        "retries 429 without a cap",
        &[(
            "if [ \"$retry\" = no ] || [ \"$attempt\" -ge \"$RETRIES\" ]; then break; fi",
            "if [ \"$retry\" = no ] || { [ \"$attempt\" -ge \"$RETRIES\" ] && [ \"$status\" != 429 ]; }; then break; fi",
        )],
        "retry-gives-up",
    ),
    // Errors while waiting.
    m(
        "keeps polling through errors (a 404 becomes a timeout)",
        &[(
            "        file = api(\"GET\", f\"/v1/imports/{file_id}\")\n        if file",
            "        try:\n            file = api(\"GET\", f\"/v1/imports/{file_id}\")\n        except Failure:\n            file = {\"status\": \"UNKNOWN\"}\n        if file",
        )],
        "wait-reports-errors",
    ),
    node(
        "keeps polling through errors",
        &[(
            "    const file = await api(\"GET\", `/v1/imports/${encodeURIComponent(fileId)}`);\n    if (FINAL",
            "    const file = await api(\"GET\", `/v1/imports/${encodeURIComponent(fileId)}`).catch(() => ({ status: \"UNKNOWN\" }));\n    if (FINAL",
        )],
        "wait-reports-errors",
    ),
    curl(
        "keeps polling through errors",
        &[(
            "        if ! success \"$st\"; then fail \"$id\" \"$st\" \"$body\"; break; fi\n        state=$(jq -r .status \"$body\")",
            "        state=$(jq -r '.status // \"UNKNOWN\"' \"$body\")",
        )],
        "wait-reports-errors",
    ),
    // Unit21's error code, from its field.
    m(
        "reads the error code from `code`",
        &[(
            "answered {status}\", status, answer.get(\"error_code\"))",
            "answered {status}\", status, answer.get(\"code\"))",
        )],
        "client-errors-not-retried",
    ),
    node(
        "reads the error code from `code` or `error`",
        &[(
            "errorCode: answer.error_code ?? null,",
            "errorCode: answer.code ?? answer.error ?? null,",
        )],
        "client-errors-not-retried",
    ),
    curl(
        "reads the error code from `.code`",
        &[(
            "error_code=$(jq '.error_code // null' \"$body\")",
            "error_code=$(jq '.code // null' \"$body\")",
        )],
        "client-errors-not-retried",
    ),
    // Litter: a failed upload starts over with a new file.
    m(
        "starts over with a new create when the upload fails",
        &[(
            "        form = create(request[\"stream\"], os.path.basename(request[\"path\"]))\n        upload_form(form, request[\"path\"])\n        return form\n",
            "        for again in range(3):\n            form = create(request[\"stream\"], os.path.basename(request[\"path\"]))\n            try:\n                upload_form(form, request[\"path\"])\n                return form\n            except Failure:\n                if again == 2:\n                    raise\n",
        )],
        "upload-failure-not-started-over",
    ),
    node(
        "starts over with a new create when the upload fails",
        &[(
            "      const form = await create(request.stream, basename(request.path));\n      await uploadForm(form, request.path);\n      return form;\n",
            "      for (let again = 0; ; again++) {\n        const form = await create(request.stream, basename(request.path));\n        try {\n          await uploadForm(form, request.path);\n          return form;\n        } catch (error) {\n          if (again === 2) throw error;\n        }\n      }\n",
        )],
        "upload-failure-not-started-over",
    ),
    // Form discipline: every field, verbatim, before the file.
    m(
        "sends the fields it knows first and the others after the file",
        &[
            (
                "    for name, value in form[\"form_fields\"].items():\n",
                "    known = (\"AWSAccessKeyId\", \"key\", \"policy\", \"signature\")\n    for name, value in ((k, v) for k, v in form[\"form_fields\"].items() if k in known):\n",
            ),
            (
                "    tail = f\"\\r\\n--{boundary}--\\r\\n\".encode()",
                "    tail = b\"\".join(f'\\r\\n--{boundary}\\r\\nContent-Disposition: form-data; name=\"{k}\"\\r\\n\\r\\n{v}'.encode() for k, v in form[\"form_fields\"].items() if k not in known) + f\"\\r\\n--{boundary}--\\r\\n\".encode()",
            ),
        ],
        "s3-copies-every-form-field",
    ),
    node(
        "sends only the four fields Unit21's documentation shows",
        &[(
            "for (const [name, value] of Object.entries(form.form_fields)) {",
            "for (const [name, value] of Object.entries(form.form_fields).filter(([name]) => [\"AWSAccessKeyId\", \"key\", \"policy\", \"signature\"].includes(name))) {",
        )],
        "s3-copies-every-form-field",
    ),
    curl(
        "passes the file before the fields",
        &[(
            "\"${fields[@]}\" --form \"file=@\\\"$path\\\"\"",
            "--form \"file=@\\\"$path\\\"\" \"${fields[@]}\"",
        )],
        "upload-csv-finishes",
    ),
    // Reads that are POSTs, creates refused with 429, answers cut off half-way.
    m(
        "treats the list POST as unsafe to retry",
        &[(
            "        return api(\"POST\", \"/v1/imports/list\", request[\"request\"])\n",
            "        return api(\"POST\", \"/v1/imports/list\", request[\"request\"], idempotent=False)\n",
        )],
        "retry-server-errors",
    ),
    node(
        "treats the list POST as unsafe to retry",
        &[(
            "      return api(\"POST\", \"/v1/imports/list\", request.request);",
            "      return api(\"POST\", \"/v1/imports/list\", request.request, { idempotent: false });",
        )],
        "retry-server-errors",
    ),
    m(
        "retries 429 on reads only",
        &[(
            "retryable = status in (429, 503) or (idempotent and status >= 500)",
            "retryable = idempotent and (status in (429, 503) or status >= 500)",
        )],
        "retry-posts-refused-before-work",
    ),
    curl(
        "never sends a create again, not even after a 429",
        &[("      429 | 503) retry=yes ;;", "      429 | 503) [ \"$kind\" = create ] || retry=yes ;;")],
        "retry-posts-refused-before-work",
    ),
    m(
        "retries connection errors but not an answer cut off half-way",
        &[(
            "        except (ConnectionError, http.client.HTTPException, OSError) as err:\n            if idempotent",
            "        except (ConnectionError, OSError) as err:\n            if idempotent",
        )],
        "retry-dropped-connection",
    ),
    m(
        "polls with a read it never retries",
        &[(
            "        file = api(\"GET\", f\"/v1/imports/{file_id}\")\n",
            "        file = api(\"GET\", f\"/v1/imports/{file_id}\", idempotent=False)\n",
        )],
        "wait-reports-errors",
    ),
    node(
        "retries 429 on GET only",
        &[(
            "const retryable = status === 429 || status === 503 || (idempotent && status >= 500);",
            "const retryable = (method === \"GET\" && (status === 429 || status === 503)) || (idempotent && status >= 500);",
        )],
        "retry-posts-refused-before-work",
    ),
    curl(
        "sends the list call as unsafe to repeat",
        &[(
            "  call read --request POST --url \"$BASE/v1/imports/list\"",
            "  call create --request POST --url \"$BASE/v1/imports/list\"",
        )],
        "retry-server-errors",
    ),
    m(
        "never retries a POST (urllib3's default Retry)",
        &[(
            "retryable = status in (429, 503) or (idempotent and status >= 500)",
            "retryable = method != \"POST\" and (status in (429, 503) or status >= 500)",
        )],
        "retry-posts-refused-before-work",
    ),
    // Bytes: lengths are counted in bytes.
    m(
        "counts the form's Content-Length in characters",
        &[(
            "size = len(head) + os.path.getsize(path) + len(tail)",
            "size = len(head.decode()) + os.path.getsize(path) + len(tail)",
        )],
        "s3-names-are-data",
    ),
    node(
        "counts the form's Content-Length in characters",
        &[(
            "Buffer.byteLength(head) + statSync(path).size",
            "head.length + statSync(path).size",
        )],
        "s3-names-are-data",
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

/// The kit is measured on at least 60 realistic bugs, spread over the three adapters.
#[test]
fn there_are_at_least_60_mutants_over_the_three_adapters() {
    for adapter in [Adapter::Python, Adapter::Node, Adapter::Curl] {
        let count = MUTANTS.iter().filter(|m| m.adapter == adapter).count();
        println!("{adapter:?}: {count} mutants");
        assert!(count >= 10, "{adapter:?} has only {count} mutants");
    }
    assert!(MUTANTS.len() >= 60, "only {} mutants", MUTANTS.len());
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
    for adapter in [Adapter::Python, Adapter::Node, Adapter::Curl] {
        let of_adapter: Vec<&&Mutant> = mutants.iter().filter(|m| m.adapter == adapter).collect();
        if !of_adapter.is_empty() {
            let survived = of_adapter
                .iter()
                .filter(|m| survivors.contains(&m.name))
                .count();
            println!(
                "mutation score, {adapter:?} adapter: {}/{} killed",
                of_adapter.len() - survived,
                of_adapter.len()
            );
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
