"""``python -m u21_conformance ARGS``: runs the ``u21-conformance`` binary with ARGS."""

import os
import subprocess
import sys

from u21_mock._find import BinaryNotFound

from . import find_bin


def main() -> int:
    try:
        executable = find_bin()
    except BinaryNotFound as err:
        print(f"u21_conformance: {err}", file=sys.stderr)
        return 127
    argv = [executable, *sys.argv[1:]]
    if sys.platform == "win32":
        return subprocess.call(argv)
    os.execv(executable, argv)
    return 127  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main())
