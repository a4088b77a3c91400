"""``python -m u21_conformance ARGS``: runs the ``u21-conformance`` binary with ARGS."""

import sys

from u21_mock._find import run_found

from . import find_bin

if __name__ == "__main__":
    sys.exit(run_found("u21_conformance", find_bin))
