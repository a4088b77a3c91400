"""The conformance kit for clients of Unit21's file imports API.

:func:`find_bin` finds the ``u21-conformance`` executable this wheel installed
(``U21_CONFORMANCE_BIN`` first, then the install's scripts directories, as
``u21_mock.find_bin`` does); :func:`run` runs it; ``python -m u21_conformance ARGS`` too.
Exit codes: 0 when nothing failed, 1 when a scenario failed, 2 on a usage or setup error.
"""

import subprocess
from typing import Optional, Sequence

from u21_mock._find import BinaryNotFound, find_executable

__all__ = ["BinaryNotFound", "find_bin", "run"]


def find_bin() -> str:
    """The ``u21-conformance`` executable; raises ``FileNotFoundError`` listing every place tried."""
    return find_executable("u21-conformance", "U21_CONFORMANCE_BIN", __file__)


def run(args: Sequence[str], *, timeout: Optional[float] = None) -> int:
    """Runs the kit with ``args`` (its output goes to this process's stdout and stderr) and
    returns its exit code."""
    return subprocess.call([find_bin(), *args], timeout=timeout)
