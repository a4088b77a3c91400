"""``python -m u21_mock ARGS``: runs the ``u21-mock`` binary with ARGS."""

import sys

from ._fake import find_bin
from ._find import run_found

if __name__ == "__main__":
    sys.exit(run_found("u21_mock", find_bin))
