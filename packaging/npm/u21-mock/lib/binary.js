"use strict";
// Which u21-mock binary to run: U21_MOCK_BINARY, else the one in the platform package that npm
// installed beside this one as an optional dependency (@u21-mock/<platform>-<arch>), as
// esbuild and biome do: no postinstall script, nothing downloaded at install time.
const fs = require("node:fs");
const path = require("node:path");

/** The platform package's name for this machine, e.g. `@u21-mock/linux-x64`. */
function platformPackage(platform = process.platform, arch = process.arch) {
  return `@u21-mock/${platform}-${arch}`;
}

/** The path of the binary; throws an Error naming what is missing and what to do. */
function findBinary() {
  const override = process.env.U21_MOCK_BINARY;
  if (override) {
    if (!isExecutable(override)) {
      throw new Error(`U21_MOCK_BINARY=${override} is not an executable file`);
    }
    return override;
  }
  const name = platformPackage();
  let manifest;
  try {
    manifest = require.resolve(`${name}/package.json`);
  } catch {
    throw new Error(
      `no u21-mock binary for ${process.platform}-${process.arch}: the optional package ${name} is not installed. ` +
        `Reinstall u21-mock without --omit=optional (--no-optional), check that ${name} exists for this platform, ` +
        `or set U21_MOCK_BINARY to a u21-mock binary.`,
    );
  }
  const binary = path.join(path.dirname(manifest), "bin", process.platform === "win32" ? "u21-mock.exe" : "u21-mock");
  if (!isExecutable(binary)) {
    throw new Error(`${name} is installed but holds no executable ${binary}; reinstall it, or set U21_MOCK_BINARY`);
  }
  return binary;
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

module.exports = { findBinary, platformPackage };
