"""A faithful local fake of Unit21's file imports API, for Python tests.

- :class:`U21Mock` starts the ``u21-mock`` binary this wheel ships (``U21Mock.start()``) or
  attaches to one already running (``U21Mock.attach(url)``, ``U21_MOCK_URL``);
- ``fake.control`` (:class:`Control`) has one method per control route (reset, clock,
  timing, faults, files, the journal, state, streams) and ``wait_for_status``, which drives
  the fake's clock until a file gets there, never sleeping;
- the pytest plugin (``u21_mock.pytest_plugin``, registered on install) gives tests the
  fixtures ``u21_mock``, ``u21_mock_server`` and ``u21_mock_factory``;
- :func:`find_bin` finds the binary; ``python -m u21_mock ARGS`` runs it.
"""

from ._fake import DEFAULT_API_KEY, S3, Key, U21Mock, find_bin, package_version
from ._find import BinaryNotFound
from .control import FINAL_STATUSES, STATUSES, Control, U21MockError

__all__ = [
    "DEFAULT_API_KEY",
    "FINAL_STATUSES",
    "STATUSES",
    "S3",
    "BinaryNotFound",
    "Control",
    "Key",
    "U21Mock",
    "U21MockError",
    "find_bin",
    "package_version",
]


def __getattr__(name: str) -> object:
    # The version is read from the install's metadata on first use, not at import.
    if name == "__version__":
        return package_version()
    raise AttributeError(name)
