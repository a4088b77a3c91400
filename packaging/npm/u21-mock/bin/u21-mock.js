#!/usr/bin/env node
// `npx u21-mock ARGS`: runs the platform's u21-mock binary with ARGS and exits as it does.
"use strict";
const { spawnSync } = require("node:child_process");
const { findBinary } = require("../lib/binary.js");

let binary;
try {
  binary = findBinary();
} catch (err) {
  console.error(`u21-mock: ${err.message}`);
  process.exit(127);
}
const ran = spawnSync(binary, process.argv.slice(2), { stdio: "inherit" });
if (ran.error) {
  console.error(`u21-mock: cannot run ${binary}: ${ran.error.message}`);
  process.exit(127);
}
if (ran.signal) {
  process.kill(process.pid, ran.signal);
}
process.exit(ran.status ?? 1);
