#!/usr/bin/env node
// Builds the npm tarballs from a built u21-mock binary:
//   node packaging/npm/pack.mjs --binary target/release/u21-mock --out DIR [--platform linux-x64]
// The main package `u21-mock` (launcher, API, Vitest and Jest global setups) lists every
// platform package as an optional dependency; the platform package `@u21-mock/<platform>`
// holds the binary, with `os` and `cpu` so npm installs only the one that fits. Versions come
// from Cargo's workspace version. Prints each tarball's path and size.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
/** Every platform the release workflow builds: npm's `process.platform-process.arch`. */
const PLATFORMS = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64", "win32-x64"];

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith("--") ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
if (!args.binary || !args.out) {
  console.error("usage: pack.mjs --binary PATH --out DIR [--platform linux-x64]");
  process.exit(2);
}
const platform = args.platform || `${process.platform}-${process.arch}`;
if (!PLATFORMS.includes(platform)) {
  console.error(`pack.mjs: unknown platform ${platform}; expected one of ${PLATFORMS.join(", ")}`);
  process.exit(2);
}
const version = cargoVersion();
const out = path.resolve(args.out);
fs.mkdirSync(out, { recursive: true });
const staging = fs.mkdtempSync(path.join(os.tmpdir(), "u21-mock-npm-"));
try {
  // The main package.
  const main = path.join(staging, "u21-mock");
  fs.cpSync(path.join(here, "u21-mock"), main, { recursive: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(main, "package.json"), "utf8"));
  manifest.version = version;
  manifest.optionalDependencies = Object.fromEntries(PLATFORMS.map((p) => [`@u21-mock/${p}`, version]));
  fs.writeFileSync(path.join(main, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
  // The platform package.
  const [os_, cpu] = platform.split("-");
  const plat = path.join(staging, platform);
  fs.mkdirSync(path.join(plat, "bin"), { recursive: true });
  const template = fs.readFileSync(path.join(here, "platform", "package.json"), "utf8");
  const platManifest = JSON.parse(template.replaceAll("PLATFORM", platform).replace('"OS"', JSON.stringify(os_)).replace('"CPU"', JSON.stringify(cpu)));
  platManifest.version = version;
  fs.writeFileSync(path.join(plat, "package.json"), JSON.stringify(platManifest, null, 2) + "\n");
  const binaryName = os_ === "win32" ? "u21-mock.exe" : "u21-mock";
  fs.copyFileSync(path.resolve(args.binary), path.join(plat, "bin", binaryName));
  fs.chmodSync(path.join(plat, "bin", binaryName), 0o755);
  fs.writeFileSync(path.join(plat, "README.md"), `# @u21-mock/${platform}\n\nThe \`u21-mock\` binary for ${platform}. Install \`u21-mock\` instead: it depends on this package.\n`);
  for (const dir of [main, plat]) {
    // npm packs LICENSE files whatever "files" says.
    for (const licence of ["LICENSE-MIT", "LICENSE-APACHE"]) fs.copyFileSync(path.join(root, licence), path.join(dir, licence));
    const packed = execFileSync("npm", ["pack", "--json", "--pack-destination", out], { cwd: dir, encoding: "utf8" });
    const [{ filename }] = JSON.parse(packed);
    const file = path.join(out, filename);
    console.log(`${file} ${fs.statSync(file).size} bytes`);
  }
} finally {
  fs.rmSync(staging, { recursive: true, force: true });
}

function cargoVersion() {
  const toml = fs.readFileSync(path.join(root, "Cargo.toml"), "utf8");
  const section = toml.split(/^\[workspace\.package\]$/m)[1] || "";
  const match = section.split(/^\[/m)[0].match(/^version\s*=\s*"([^"]+)"/m);
  if (!match) throw new Error("no version in Cargo.toml's [workspace.package]");
  return match[1];
}
