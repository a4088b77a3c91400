#!/usr/bin/env node
// A Unit21 imports client in Node.js (18 or later) with no packages: the built-in fetch for
// Unit21's API, node:http(s) to stream uploads from disk. It speaks the conformance adapter protocol
// (conformance/ADAPTERS.md): one JSON request per line on stdin, one JSON answer per line on
// stdout. U21_BASE_URL and U21_API_KEY say where and who.
//
// Like the Python adapter it is a careful client: it retries 429 and 503 after Retry-After
// (else X-RateLimit-Reset, else a short growing backoff), other 5xx and dropped connections
// only where repeating is safe (reads, and uploads, which S3 stores once per key), never
// repeats a create that may have made a file, streams uploads from disk, and never re-sends an
// upload S3 accepted.
import { randomUUID } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { basename } from "node:path";
import { createInterface } from "node:readline";

const BASE = process.env.U21_BASE_URL.replace(/\/+$/, "");
const KEY = process.env.U21_API_KEY;
const RETRIES = 4;
// How long a request may take before it is given up (and retried where safe).
const REQUEST_TIMEOUT_MS = Number(process.env.U21_REQUEST_TIMEOUT_SECS ?? 60) * 1000;

class Failure extends Error {
  constructor(message, { status = null, errorCode = null, s3Code = null, timedOut = false } = {}) {
    super(message);
    Object.assign(this, { status, errorCode, s3Code, timedOut });
  }
}

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

// How long to wait before retry number `attempt`, given the refusal's headers.
function pause(attempt, headers) {
  const retryAfter = headers?.get("retry-after");
  if (retryAfter && /^\d+$/.test(retryAfter)) return Number(retryAfter);
  const reset = headers?.get("x-ratelimit-reset");
  if (reset && /^\d+$/.test(reset)) return Math.max(0, Number(reset) - Date.now() / 1000);
  return Math.random() * Math.min(5, 0.05 * 2 ** attempt);
}

// True when the request surely never reached the server (nothing to repeat by retrying).
function neverSent(error) {
  const code = error?.cause?.code;
  return code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN";
}

async function api(method, path, body, { idempotent = true } = {}) {
  const headers = { "u21-key": KEY, accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  for (let attempt = 0; ; attempt++) {
    let response, raw;
    try {
      response = await fetch(BASE + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        // fetch's default ("follow") sends every custom header, u21-key included, to wherever
        // a redirect points (it strips only Authorization and cookies): the key stays home.
        redirect: "manual",
      });
      raw = await response.text();
    } catch (error) {
      if ((idempotent || neverSent(error)) && attempt < RETRIES) {
        await sleep(pause(attempt, null));
        continue;
      }
      throw new Failure(`${method} ${path}: ${error.cause?.message ?? error.message}`);
    }
    const status = response.status;
    if (status >= 300 && status < 400) {
      const location = response.headers.get("location") ?? "nowhere";
      throw new Failure(`${method} ${path} answered ${status}, a redirect to ${location}: not followed (the key goes to Unit21's API only)`, { status });
    }
    const retryable = status === 429 || status === 503 || (idempotent && status >= 500);
    if (retryable && attempt < RETRIES) {
      await sleep(pause(attempt, response.headers));
      continue;
    }
    let answer = null;
    try {
      answer = raw ? JSON.parse(raw) : null;
    } catch {
      throw new Failure(`${method} ${path} answered ${status} with a body that is not JSON`, { status });
    }
    if (status >= 200 && status < 300) return answer;
    answer = answer && typeof answer === "object" ? answer : {};
    throw new Failure(answer.message ?? `${method} ${path} answered ${status}`, {
      status,
      errorCode: answer.error_code ?? null,
    });
  }
}

function xmlField(text, name) {
  const match = text.match(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`));
  return match ? match[1] : null;
}

// A file name inside a quoted header parameter, escaped as browsers and curl do (the HTML
// standard's multipart/form-data encoding): the name is data, never syntax.
const quoted = (name) => name.replaceAll('"', "%22").replaceAll("\r", "%0D").replaceAll("\n", "%0A");

// One form POST: every returned field, as returned and in order, then the one file, streamed
// from disk with its length declared. Resolves with the status, headers and body text.
function postForm(form, path) {
  const boundary = randomUUID().replaceAll("-", "");
  let head = "";
  for (const [name, value] of Object.entries(form.form_fields)) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(name)}"\r\n\r\n${value}\r\n`;
  }
  head += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${quoted(basename(path))}"\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  const length = Buffer.byteLength(head) + statSync(path).size + Buffer.byteLength(tail);
  const url = new URL(form.url);
  return new Promise((resolve, reject) => {
    const request = (url.protocol === "https:" ? https : http).request(url, {
      method: "POST",
      headers: { "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": length },
      timeout: REQUEST_TIMEOUT_MS,
    });
    request.on("timeout", () => request.destroy(new Error("no answer in time")));
    request.on("error", reject);
    request.on("response", (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (text += chunk));
      response.on("end", () => resolve({ status: response.statusCode, headers: response.headers, text }));
      response.on("error", reject);
    });
    request.write(head);
    const file = createReadStream(path);
    file.on("error", (error) => request.destroy(error));
    file.on("end", () => request.end(tail));
    // S3 may answer (and stop reading) before the body is done: the answer still comes.
    file.pipe(request, { end: false });
  });
}

async function uploadForm(form, path) {
  for (let attempt = 0; ; attempt++) {
    let answer;
    try {
      answer = await postForm(form, path);
    } catch (error) {
      if (attempt < RETRIES) {
        await sleep(pause(attempt, null));
        continue;
      }
      throw new Failure(`upload: ${error.message}`);
    }
    const { status, headers, text } = answer;
    if (status >= 200 && status < 300) return {}; // accepted: never sent again
    if (status >= 500 && attempt < RETRIES) {
      await sleep(pause(attempt, new Headers(Object.entries(headers).map(([k, v]) => [k, String(v)]))));
      continue;
    }
    throw new Failure(xmlField(text, "Message") ?? text.slice(0, 200), { status, s3Code: xmlField(text, "Code") });
  }
}

const create = (stream, fileName) =>
  api("POST", "/v1/imports/pre-signed-url/create", { stream_name: stream, file_name: fileName }, { idempotent: false });

const FINAL = new Set(["FINISHED", "FAILED", "DELETED"]);

async function wait(fileId, timeoutSecs) {
  const deadline = Date.now() + timeoutSecs * 1000;
  let interval = 0.1;
  for (;;) {
    const file = await api("GET", `/v1/imports/${encodeURIComponent(fileId)}`);
    if (FINAL.has(file.status)) return file;
    const left = (deadline - Date.now()) / 1000;
    if (left <= 0) {
      throw new Failure(`file ${fileId} was still ${file.status} when the wait timed out`, { timedOut: true });
    }
    await sleep(Math.min(interval, left));
    interval = Math.min(interval * 1.5, 2);
  }
}

async function listAll(request) {
  const limit = request.limit ?? 1000;
  const files = [];
  const seen = new Set();
  for (let page = 1; ; page++) {
    const answer = await api("POST", "/v1/imports/list", { ...request, offset: page, limit });
    // A file created while paging pushes the others down a place: keep each file once.
    for (const file of answer.datafiles) {
      if (!seen.has(file.file_id)) {
        seen.add(file.file_id);
        files.push(file);
      }
    }
    if (answer.datafiles.length < limit || files.length >= answer.total_count) return { datafiles: files };
  }
}

async function handle(request) {
  switch (request.op) {
    case "create":
      return create(request.stream, request.file_name);
    case "upload_form":
      return uploadForm(request.form, request.path);
    case "upload": {
      const form = await create(request.stream, basename(request.path));
      await uploadForm(form, request.path);
      return form;
    }
    case "status":
      return api("GET", `/v1/imports/${encodeURIComponent(request.file_id)}`);
    case "wait":
      return wait(request.file_id, Number(request.timeout_secs));
    case "list":
      return api("POST", "/v1/imports/list", request.request);
    case "list_all":
      return listAll(request.request);
    default:
      throw new Failure(`unknown op ${request.op}`);
  }
}

// One request at a time, answered in order.
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  const request = JSON.parse(line);
  let answer;
  try {
    answer = { id: request.id, ok: true, result: await handle(request) };
  } catch (error) {
    const failure = error instanceof Failure ? error : new Failure(String(error?.message ?? error));
    answer = {
      id: request.id,
      ok: false,
      error: {
        status: failure.status,
        error_code: failure.errorCode,
        s3_code: failure.s3Code,
        message: failure.message,
        timed_out: failure.timedOut,
      },
    };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
