"use strict";
// u21-mock for Node: start the fake as a child process (or attach to one already running) and
// drive it through its control plane. No dependencies; Node 18 or later (built-in fetch).
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");
const { findBinary, platformPackage } = require("./binary.js");
const { version: PACKAGE_VERSION } = require("../package.json");

const DEFAULT_API_KEY = "u21-mock-dev-key";
const TIMINGS = ["instant", "fast", "realistic", "manual"];
const STATUSES = ["PENDING_UPLOAD", "ADDED", "QUEUED", "PROCESSING", "FINISHED", "FAILED", "DELETED"];
const FINAL_STATUSES = ["FINISHED", "FAILED", "DELETED"];
/** Log lines a handle keeps (the newest). */
const LOG_LINES = 2000;
/** How long stop() waits for the fake to exit by itself before it is killed. */
const STOP_GRACE_MS = 5000;
/** The largest answer a control call reads. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** A refusal from the fake (with its own message), or a fake that cannot be used. */
class U21MockError extends Error {
  constructor(text, { status = null, errorCode = null, fakeMessage = null, body = "" } = {}) {
    super(text);
    this.name = "U21MockError";
    this.status = status;
    this.errorCode = errorCode;
    this.fakeMessage = fakeMessage;
    this.body = body;
  }
}

/** The control plane (`/_mock/…`) of the fake at `url`: one method per route. */
class Control {
  constructor(url, { token = null, timeoutMs = 30000 } = {}) {
    this.url = String(url).replace(/\/+$/, "");
    this.token = token;
    this.timeoutMs = timeoutMs;
  }

  /** One call; resolves to the decoded JSON answer (null when empty). Redirects are not followed. */
  async call(method, route, body, query) {
    let target = `${this.url}${route}`;
    if (query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) params.set(k, String(v));
      const text = params.toString();
      if (text) target += `?${text}`;
    }
    const headers = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.token) headers["x-u21-mock-token"] = this.token;
    let response;
    let raw;
    try {
      response = await fetch(target, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: "manual",
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      raw = await readBounded(response, MAX_ANSWER_BYTES);
    } catch (err) {
      throw new U21MockError(`${method} ${route}: no answer from the fake at ${this.url} (${err.message})`);
    }
    if (response.status < 200 || response.status >= 300) throw refusal(method, route, response.status, raw);
    if (!raw) return null;
    try {
      return JSON.parse(raw);
    } catch {
      throw new U21MockError(`${method} ${route}: the answer is not JSON`, { status: response.status, body: raw });
    }
  }

  health() { return this.call("GET", "/_mock/health"); }
  /** Forget files, objects, journal, faults, rate windows; `{settings: true}` also puts the timing, streams and clock back as the fake started. */
  async reset({ settings = false } = {}) { await this.call("POST", "/_mock/reset", settings ? { settings: true } : undefined); }
  seed(seed) { return this.call("POST", "/_mock/seed", { seed }); }
  clock() { return this.call("GET", "/_mock/clock"); }
  advance(seconds = 0, ms = 0) {
    const whole = Math.trunc(seconds);
    return this.call("POST", "/_mock/clock/advance", { seconds: whole, ms: ms + Math.round((seconds - whole) * 1000) });
  }
  setClock(epochMs) { return this.call("POST", "/_mock/clock/set", { epoch_ms: epochMs }); }
  setTiming(timing) { return this.call("POST", "/_mock/timing", { timing }); }
  addFile(streamName, fileName, content = "", { org, process = false } = {}) {
    const body = { stream_name: streamName, file_name: fileName, process };
    if (typeof content === "string") body.content = content;
    else body.content_base64 = Buffer.from(content).toString("base64");
    if (org !== undefined) body.org = org;
    return this.call("POST", "/_mock/files", body);
  }
  file(fileId) { return this.call("GET", `/_mock/files/${fileIdOf(fileId)}`); }
  transition(fileId, status, { failureCode, successfulCount = 0, failureCount = 0 } = {}) {
    const body = { status, successful_count: successfulCount, failure_count: failureCount };
    if (failureCode !== undefined) body.failure_code = failureCode;
    return this.call("POST", `/_mock/files/${fileIdOf(fileId)}/transition`, body);
  }
  process(fileId) { return this.call("POST", `/_mock/files/${fileIdOf(fileId)}/process`); }
  async processQueued() { return (await this.call("POST", "/_mock/process-queued")).processed; }
  streams() { return this.call("GET", "/_mock/streams"); }
  setStreams(streams) { return this.call("PUT", "/_mock/streams", streams); }
  faults() { return this.call("GET", "/_mock/faults"); }
  /** `action` is a kind (`"internal_error"`) or a whole action (`{kind: "rate_limited", retry_after_secs: 2}`); resolves to the fault's id. */
  async addFault(route, action, { method, times, probability, seed } = {}) {
    const fault = { path: route, action: typeof action === "string" ? { kind: action } : action };
    for (const [k, v] of Object.entries({ method, times, probability, seed })) if (v !== undefined) fault[k] = v;
    return (await this.call("POST", "/_mock/faults", fault)).id;
  }
  async removeFault(id) { await this.call("DELETE", `/_mock/faults/${Number(id)}`); }
  async clearFaults() { await this.call("DELETE", "/_mock/faults"); }
  /** The journal of Unit21 and S3 requests, oldest first. */
  async requests(query = {}) { return (await this.call("GET", "/_mock/requests", undefined, query)).requests; }
  async clearRequests() { await this.call("DELETE", "/_mock/requests"); }
  exportState() { return this.call("GET", "/_mock/state"); }
  async importState(state) { await this.call("PUT", "/_mock/state", state); }

  /**
   * Drives the fake until the file reaches `status` (one or several) and resolves to it. It
   * never sleeps: under `manual` timing it processes the QUEUED files, otherwise it moves the
   * clock (by `stepSeconds`, doubling up to 15 minutes). Rejects when the file ends in another
   * final status, is not uploaded, waits for a manual start (ADDED), or needs more than
   * `maxSeconds` of fake time.
   */
  async waitForStatus(fileId, status = "FINISHED", { stepSeconds = 1, maxSeconds = 7 * 24 * 3600 } = {}) {
    const wanted = new Set(Array.isArray(status) ? status : [status]);
    for (const s of wanted) if (!STATUSES.includes(s)) throw new TypeError(`unknown status ${s}; expected one of ${STATUSES.join(", ")}`);
    let moved = 0;
    let step = stepSeconds;
    for (;;) {
      const record = await this.file(fileId);
      const now = record.status;
      if (wanted.has(now)) return record;
      if (FINAL_STATUSES.includes(now)) {
        const code = record.failure_code ? ` (${record.failure_code})` : "";
        throw new U21MockError(`file ${fileId} is ${now}${code}; it will never be ${[...wanted].join("/")}`);
      }
      if (now === "PENDING_UPLOAD") throw new U21MockError(`file ${fileId} is PENDING_UPLOAD: it has not been uploaded, and no clock moves it on`);
      if (now === "ADDED") throw new U21MockError(`file ${fileId} is ADDED: start its processing with process(${fileId}) first`);
      if (now === "QUEUED" && (await this.clock()).timing === "manual") {
        await this.processQueued();
        continue;
      }
      if (moved >= maxSeconds) throw new U21MockError(`file ${fileId} is still ${now} after ${moved} s of fake time`);
      await this.advance(step);
      moved += step;
      step = Math.min(step * 2, 900);
    }
  }
}

function fileIdOf(fileId) {
  const text = String(fileId);
  if (!/^[0-9]+$/.test(text)) throw new TypeError(`a file id is a number, not ${JSON.stringify(fileId)}`);
  return text;
}

async function readBounded(response, limit) {
  if (!response.body) return "";
  const chunks = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.length;
    if (size > limit) throw new Error(`the answer is over ${limit} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString("utf8");
}

function refusal(method, route, status, raw) {
  let errorCode = null;
  let fakeMessage = null;
  try {
    const decoded = JSON.parse(raw);
    if (decoded && typeof decoded === "object") {
      errorCode = decoded.error_code ?? null;
      fakeMessage = decoded.message ?? null;
    }
  } catch {}
  const said = fakeMessage || errorCode || raw.slice(0, 200) || "(no body)";
  return new U21MockError(`${method} ${route}: the fake answered ${status}: ${said}`, { status, errorCode, fakeMessage, body: raw });
}

/** What `startU21Mock` and `attachU21Mock` resolve to. */
class U21Mock {
  /** `tempFiles`: directories removed by stop() (a config written from `configToml`). */
  constructor(ready, { child = null, log = null, controlToken = null, tempFiles = [] } = {}) {
    this.ready = ready;
    this.url = ready.url;
    this.publicUrl = ready.public_url || ready.url;
    this.apiKey = ready.api_key;
    this.keys = (ready.keys || [{ key: ready.api_key, org: "demo" }]).map((k) => ({ key: k.key, org: k.org }));
    this.s3 = ready.s3
      ? { bucket: ready.s3.bucket, url: ready.s3.url, accessKeyId: ready.s3.access_key_id, secretAccessKey: ready.s3.secret_access_key }
      : null;
    this.pid = ready.pid ?? null;
    this.version = ready.version ?? null;
    this.control = new Control(this.url, { token: controlToken });
    this._child = child;
    this._log = log;
    this._tempFiles = tempFiles;
    this._exited = child ? new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal))) : null;
  }

  /** The header every Unit21 call carries. */
  get headers() { return { "u21-key": this.apiKey }; }

  /** False once a fake this handle started has exited (attached fakes: always true). */
  get running() { return !this._child || (this._child.exitCode === null && this._child.signalCode === null); }

  /** The newest lines of the fake's log (empty for an attached fake). */
  log() { return this._log ? this._log.join("\n") : ""; }

  /** What a test needs in another process (Vitest's provide, Jest's environment). */
  toJSON() {
    return { url: this.url, publicUrl: this.publicUrl, apiKey: this.apiKey, keys: this.keys, s3: this.s3, pid: this.pid, version: this.version, controlToken: this.control.token };
  }

  /** Stops a fake this handle started (its stdin closes: a clean stop), killing it if it lingers; resolves to its exit code. An attached fake is left running. */
  async stop() {
    for (const dir of this._tempFiles.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
    if (!this._child) return null;
    const child = this._child;
    if (this.running) {
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      const code = await this._exited;
      clearTimeout(timer);
      return code;
    }
    return this._exited;
  }
}

/**
 * Starts a fake on a free loopback port and resolves once it answers. `timing` defaults to
 * `manual`, so tests drive the lifecycle and never sleep. The child exits when `stop()` is
 * called, and also when this process ends however it ends (its stdin is a pipe from here, and
 * the handle does not keep Node's event loop alive). `U21_MOCK_*` variables of this
 * environment other than `U21_MOCK_LOG` are not passed on.
 */
async function startU21Mock(options = {}) {
  const {
    timing = "manual",
    rateLimit,
    config,
    configToml,
    dataDir,
    apiKeys = [],
    publicUrl,
    controlToken,
    extraArgs = [],
    binary,
    startupTimeoutMs = 30000,
  } = options;
  if (!TIMINGS.includes(timing)) throw new TypeError(`timing must be one of ${TIMINGS.join(", ")}, not ${timing}`);
  if (config !== undefined && configToml !== undefined) throw new TypeError("give config or configToml, not both");
  const executable = binary || findBinary();
  const tempFiles = [];
  const args = ["--listen", "127.0.0.1:0", "--ready-json", "--exit-with-stdin", "--timing", timing];
  if (rateLimit !== undefined) args.push("--rate-limit", String(rateLimit));
  let configPath = config;
  if (configToml !== undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "u21-mock-config-"));
    configPath = path.join(dir, "config.toml");
    fs.writeFileSync(configPath, configToml);
    tempFiles.push(dir);
  }
  if (configPath !== undefined) args.push("--config", String(configPath));
  if (dataDir !== undefined) args.push("--data-dir", String(dataDir));
  for (const key of apiKeys) args.push("--api-key", Array.isArray(key) ? `${key[0]}=${key[1]}` : String(key));
  if (publicUrl !== undefined) args.push("--public-url", publicUrl);
  if (controlToken !== undefined) args.push("--control-token", controlToken);
  args.push(...extraArgs);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("U21_MOCK_") || k === "U21_MOCK_LOG"));
  const child = spawn(executable, args, {
    env,
    stdio: ["pipe", "pipe", "pipe"],
    // Its own process group: a Ctrl-C reaches the test runner, whose teardown stops the fake.
    detached: process.platform !== "win32",
    windowsHide: true,
  });
  const log = [];
  readline.createInterface({ input: child.stderr, crlfDelay: Infinity }).on("line", (line) => {
    log.push(line);
    if (log.length > LOG_LINES) log.shift();
  });
  child.stdin.on("error", () => {});
  let ready;
  try {
    ready = await firstLine(child, startupTimeoutMs);
  } catch (err) {
    child.kill("SIGKILL");
    for (const file of tempFiles) fs.rmSync(file, { recursive: true, force: true });
    await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", resolve)));
    throw new U21MockError(`u21-mock (${executable}) did not start: ${err.message}; its log:\n${log.join("\n")}`);
  }
  // From here the fake must not keep this process alive: if the caller never stops it, Node
  // exits, the pipe closes, and the fake stops with it.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) stream.unref?.();
  const fake = new U21Mock(ready, { child, log, controlToken: controlToken ?? null, tempFiles });
  if (ready.version !== PACKAGE_VERSION) {
    await fake.stop();
    throw new U21MockError(
      `${executable} is u21-mock ${ready.version}, but this npm package is ${PACKAGE_VERSION}: they must match. ` +
        `Reinstall u21-mock (and ${platformPackage()}), or point U21_MOCK_BINARY at a ${PACKAGE_VERSION} binary.`,
    );
  }
  return fake;
}

function firstLine(child, timeoutMs) {
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout, crlfDelay: Infinity });
    const timer = setTimeout(() => finish(new Error(`no ready line within ${timeoutMs} ms`)), timeoutMs);
    // "close" comes after its stdout and stderr have ended, so the log is whole by then.
    const onExit = (code, signal) => finish(new Error(`it exited (${code ?? signal}) before it was ready`));
    const onError = (err) => finish(err);
    function finish(err, ready) {
      clearTimeout(timer);
      child.off("close", onExit);
      child.off("error", onError);
      lines.removeAllListeners("line");
      // Nothing else comes on stdout; keep draining it so the pipe can never fill.
      child.stdout.resume();
      err ? reject(err) : resolve(ready);
    }
    lines.once("line", (line) => {
      let ready;
      try {
        ready = JSON.parse(line);
      } catch {
        return finish(new Error(`its first line is not the JSON ready line: ${line.slice(0, 200)}`));
      }
      if (!ready || ready.event !== "ready" || !ready.url) return finish(new Error(`unexpected ready line: ${line.slice(0, 200)}`));
      finish(null, ready);
    });
    child.once("close", onExit);
    child.once("error", onError);
  });
}

/**
 * A handle on a fake that is already running (compose, the image, or the one a Vitest or Jest
 * global setup started): `url` defaults to `U21_MOCK_URL`, `apiKey` to `U21_MOCK_API_KEY` or
 * the default key, `controlToken` to `U21_MOCK_CONTROL_TOKEN`. Rejects when nothing answers.
 */
async function attachU21Mock(options = {}) {
  const url = options.url || process.env.U21_MOCK_URL;
  if (!url) throw new U21MockError("no URL to attach to: pass {url} or set U21_MOCK_URL");
  const apiKey = options.apiKey || process.env.U21_MOCK_API_KEY || DEFAULT_API_KEY;
  const controlToken = options.controlToken || process.env.U21_MOCK_CONTROL_TOKEN || null;
  const ready = { url: url.replace(/\/+$/, ""), api_key: apiKey };
  if (options.s3) ready.s3 = { bucket: options.s3.bucket, url: options.s3.url, access_key_id: options.s3.accessKeyId, secret_access_key: options.s3.secretAccessKey };
  if (options.keys) ready.keys = options.keys;
  const fake = new U21Mock(ready, { controlToken });
  await fake.control.health();
  return fake;
}

module.exports = {
  startU21Mock,
  attachU21Mock,
  findBinary,
  Control,
  U21Mock,
  U21MockError,
  DEFAULT_API_KEY,
  STATUSES,
  FINAL_STATUSES,
  version: PACKAGE_VERSION,
};
