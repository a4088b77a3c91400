// `node --test`, in an empty project where the u21-mock tarballs were installed: only the
// published surface. Run by .ci/run from outside the repository.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { createRequire } from "node:module";

import { startU21Mock, attachU21Mock, U21MockError, version } from "u21-mock";
import { create, getFile, list, upload } from "./flow.mjs";

const require = createRequire(import.meta.url);
let fake;
before(async () => {
  fake = await startU21Mock();
});
after(async () => {
  await fake.stop();
});

test("create, upload the form with the returned fields, drive the clock, see FINISHED", async () => {
  await fake.control.reset({ settings: true });
  const created = await create(fake, "payments.csv");
  assert.equal(created.status, 200);
  assert.equal(created.body.url, fake.s3.url);
  assert.equal(await upload(created.body, "payments.csv", "id,amount\n1,10.50\n2,-3\n"), 204);
  assert.equal((await getFile(fake, created.body.file_id)).status, "QUEUED", "manual timing waits");
  await fake.control.waitForStatus(created.body.file_id, "FINISHED");
  const seen = await getFile(fake, created.body.file_id);
  assert.deepEqual([seen.status, seen.successful_count, seen.failure_count], ["FINISHED", 2, 0]);
});

test("a fault is what the client sees, once", async () => {
  await fake.control.reset({ settings: true });
  await fake.control.addFault("/v1/imports/pre-signed-url/create", { kind: "rate_limited", retry_after_secs: 2 }, { times: 1 });
  const refused = await create(fake, "a.csv");
  assert.equal(refused.status, 429);
  assert.equal(refused.body.error_code, "too_many_requests");
  assert.equal((await create(fake, "a.csv")).status, 200);
});

test("a reset isolates tests: the same name twice, no 409", async () => {
  for (let turn = 0; turn < 2; turn++) {
    await fake.control.reset({ settings: true });
    assert.equal((await list(fake)).body.total_count, 0);
    assert.equal((await create(fake, "same-name.csv")).status, 200);
  }
});

test("three fakes with their own keys do not accept each other's", async () => {
  const fakes = await Promise.all([0, 1, 2].map((n) => startU21Mock({ apiKeys: [[`key-${n}`, `org${n}`]] })));
  try {
    assert.equal(new Set(fakes.map((f) => f.url)).size, 3);
    for (const [n, one] of fakes.entries()) {
      assert.equal(one.apiKey, `key-${n}`);
      assert.equal((await create(one, "a.csv")).status, 200);
      const other = fakes[(n + 1) % 3].apiKey;
      assert.equal((await list(one, other)).status, 401);
    }
  } finally {
    await Promise.all(fakes.map((f) => f.stop()));
  }
  assert.deepEqual(fakes.map((f) => f.running), [false, false, false]);
});

test("refusals carry the fake's message; attach uses a running fake", async () => {
  const attached = await attachU21Mock({ url: fake.url });
  await assert.rejects(attached.control.transition(999, "FINISHED"), (err) => err instanceof U21MockError && err.status === 404 && /999/.test(err.message));
  assert.equal(await attached.stop(), null, "an attached fake is left running");
  assert.ok(fake.running);
});

test("a binary of another version is refused", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "u21-mock-old-"));
  const old = path.join(dir, "u21-mock");
  fs.writeFileSync(old, `#!/bin/sh\necho '{"event":"ready","version":"0.0.1","url":"http://127.0.0.1:9","api_key":"k"}'\ncat >/dev/null\n`, { mode: 0o755 });
  await assert.rejects(startU21Mock({ binary: old }), new RegExp(`is u21-mock 0\\.0\\.1, but this npm package is ${version.replaceAll(".", "\\.")}`));
});

test("a binary that cannot start is reported with its exit code and log", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "u21-mock-broken-"));
  const broken = path.join(dir, "u21-mock");
  fs.writeFileSync(broken, "#!/bin/sh\necho 'u21-mock: cannot start: no such config' >&2\nexit 1\n", { mode: 0o755 });
  await assert.rejects(startU21Mock({ binary: broken }), /exited \(1\) before it was ready; its log:\nu21-mock: cannot start: no such config/);
});

test("without the platform package, the error names it", () => {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), "u21-mock-noplatform-"));
  const main = path.dirname(require.resolve("u21-mock/package.json"));
  fs.cpSync(main, path.join(project, "node_modules", "u21-mock"), { recursive: true });
  const env = { ...process.env };
  delete env.U21_MOCK_BINARY;
  const ran = spawnSync(process.execPath, [path.join(project, "node_modules", "u21-mock", "bin", "u21-mock.js"), "--version"], { cwd: project, env, encoding: "utf8" });
  assert.equal(ran.status, 127);
  assert.match(ran.stderr, new RegExp(`the optional package @u21-mock/${process.platform}-${process.arch} is not installed`));
  const overridden = spawnSync(process.execPath, [path.join(project, "node_modules", "u21-mock", "bin", "u21-mock.js"), "--version"], { cwd: project, env: { ...env, U21_MOCK_BINARY: "/nonexistent" }, encoding: "utf8" });
  assert.match(overridden.stderr, /U21_MOCK_BINARY=\/nonexistent is not an executable file/);
});

/** True once `pid` has gone, within `seconds` (tail waits on the pid; nothing here sleeps). */
function goneWithin(pid, seconds) {
  return spawnSync("timeout", [String(seconds), "tail", `--pid=${pid}`, "-s", "0.05", "-f", "/dev/null"]).status === 0;
}

const STARTS_AND_WAITS = `
  const { startU21Mock } = require("u21-mock");
  startU21Mock().then((fake) => { console.log(fake.pid); if (process.argv[2] === "hold") setInterval(() => {}, 1 << 30); });
`;

test("a Node process that forgets stop() still exits, and its fake with it", () => {
  const ran = spawnSync(process.execPath, ["-e", STARTS_AND_WAITS], { encoding: "utf8", timeout: 20000 });
  assert.equal(ran.status, 0, `the process exited by itself (${ran.signal ?? ran.status}): ${ran.stderr}`);
  assert.ok(goneWithin(Number(ran.stdout.trim()), 2), "the fake outlived its parent");
});

test("after kill -9 of the Node process, the fake is gone within 2 s", async () => {
  const { spawn } = await import("node:child_process");
  const parent = spawn(process.execPath, ["-e", STARTS_AND_WAITS, "hold"], { stdio: ["ignore", "pipe", "inherit"] });
  const pid = await new Promise((resolve) => parent.stdout.once("data", (data) => resolve(Number(String(data).trim()))));
  assert.ok(process.kill(pid, 0), "the fake runs while its parent does");
  parent.kill("SIGKILL");
  assert.ok(goneWithin(pid, 2), "the fake outlived its killed parent");
});

test("the package carries both licences", () => {
  const root = path.dirname(require.resolve("u21-mock/package.json"));
  assert.match(fs.readFileSync(path.join(root, "LICENSE-MIT"), "utf8"), /Permission is hereby granted/);
  assert.match(fs.readFileSync(path.join(root, "LICENSE-APACHE"), "utf8"), /Apache License/);
});
