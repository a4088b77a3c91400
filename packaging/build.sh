#!/usr/bin/env bash
# Builds the Python wheels and the npm tarballs of this checkout into DIR (default dist/):
#   bash packaging/build.sh [DIR]
# u21_mock-*.whl and u21_conformance-*.whl (maturin --zig, manylinux2014: glibc 2.17 or later),
# u21-mock-*.tgz and u21-mock-<platform>-*.tgz (the binary taken from the u21-mock wheel).
# Needs Rust, python3 and node with npm; maturin and ziglang are installed into a venv of
# their own under DIR. About 4 minutes on two cores, most of it the two release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)

tools="$out/.build-tools"
if [ ! -x "$tools/bin/maturin" ]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.5,<2" ziglang
fi
for package in u21-mock u21-conformance; do
  echo "+ maturin build ($package)"
  # maturin finds zig through the ziglang module of the python3 on PATH.
  (cd "packaging/python/$package" &&
    PATH="$tools/bin:$PATH" maturin build --quiet --profile dist --zig --compatibility manylinux2014 --out "$out")
done

echo "+ npm tarballs"
wheel=$(ls -t "$out"/u21_mock-*.whl | head -1)
binary_dir=$(mktemp -d)
trap 'rm -rf "$binary_dir"' EXIT
python3 - "$wheel" "$binary_dir" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    name = next(n for n in archive.namelist() if n.endswith(".data/scripts/u21-mock"))
    target = os.path.join(out, "u21-mock")
    with archive.open(name) as source, open(target, "wb") as sink:
        sink.write(source.read())
    os.chmod(target, 0o755)
PY
node packaging/npm/pack.mjs --binary "$binary_dir/u21-mock" --out "$out"
