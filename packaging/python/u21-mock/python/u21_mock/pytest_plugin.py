"""The pytest plugin, registered by the wheel (entry point ``pytest11``): fixtures that give
each test a fake.

- ``u21_mock``: the fake for one test. The session's fake, reset before the test (files,
  objects, journal, faults, rate windows, and the timing, streams and clock as it started), so
  no test sees another's; a test marked ``@pytest.mark.u21_mock(**options)`` gets a process of
  its own started with those options (see :meth:`u21_mock.U21Mock.start`).
- ``u21_mock_server``: one fake per session, and so one per pytest-xdist worker. Not reset.
- ``u21_mock_factory``: ``u21_mock_factory(**options)`` starts a fresh process (other keys, a
  config, a ``data_dir`` to restart on); every one is stopped after the test.

Options: ``--u21-mock-bin PATH`` (else ``U21_MOCK_BIN``, else the wheel's binary) and
``--u21-mock-url URL`` (else ``U21_MOCK_URL``): use a fake that is already running (compose,
the image) instead of starting one; ``U21_MOCK_API_KEY`` and ``U21_MOCK_CONTROL_TOKEN`` go with
it. Fakes default to ``manual`` timing, so tests drive the lifecycle and never sleep.

A failed test's report gets the log lines each of its fakes wrote during the test and the
newest journal entries.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest

from ._fake import U21Mock
from .control import U21MockError

#: Journal entries added to a failed test's report.
REPORT_JOURNAL_ENTRIES = 20

_FAKES_OF_TEST = "_u21_mock_fakes"


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("u21-mock", "Unit21 imports fake (u21-mock)")
    group.addoption(
        "--u21-mock-bin",
        default=None,
        metavar="PATH",
        help="the u21-mock binary to start (default: U21_MOCK_BIN, else the one the wheel installed)",
    )
    group.addoption(
        "--u21-mock-url",
        default=None,
        metavar="URL",
        help="use the fake already running at URL instead of starting one (default: U21_MOCK_URL)",
    )


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers",
        "u21_mock(**options): give this test's u21_mock fixture a fake process of its own, "
        "started with these options (timing=, rate_limit=, config=, config_toml=, api_keys=, extra_args=, …)",
    )


def _attach_url(config: Any) -> Optional[str]:
    return config.getoption("u21_mock_url") or os.environ.get("U21_MOCK_URL") or None


def _start(config: Any, **options: Any) -> U21Mock:
    binary = config.getoption("u21_mock_bin")
    if binary and "bin" not in options:
        options["bin"] = binary
    return U21Mock.start(**options)


def _watch(request: Any, label: str, fake: U21Mock) -> None:
    """Remembers a fake used by this test, with where its log stood, for the failure report."""
    watched: List[Tuple[str, U21Mock, int]] = request.node.__dict__.setdefault(_FAKES_OF_TEST, [])
    watched.append((label, fake, fake.log_mark()))


@pytest.fixture(scope="session")
def u21_mock_server(pytestconfig: Any) -> Iterator[U21Mock]:
    """One fake for the whole session (one per xdist worker), started with the defaults
    (``manual`` timing), or the one ``--u21-mock-url`` names. Not reset between tests: use
    ``u21_mock`` for that."""
    url = _attach_url(pytestconfig)
    fake = U21Mock.attach(url) if url else _start(pytestconfig)
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def u21_mock(request: Any, pytestconfig: Any) -> Iterator[U21Mock]:
    """The fake for this test, with nothing in it that another test left."""
    marker = request.node.get_closest_marker("u21_mock")
    if marker is not None:
        if marker.args:
            raise pytest.UsageError("@pytest.mark.u21_mock takes keyword arguments only, as U21Mock.start does")
        if _attach_url(pytestconfig):
            pytest.skip("this test's @pytest.mark.u21_mock needs a fake of its own, and --u21-mock-url/U21_MOCK_URL points at a shared one")
        fake = _start(pytestconfig, **marker.kwargs)
        _watch(request, "u21_mock", fake)
        try:
            yield fake
        finally:
            fake.stop()
        return
    fake = request.getfixturevalue("u21_mock_server")
    if not fake.running:
        raise U21MockError(f"the session's fake has exited; its log:\n{fake.log()}")
    fake.control.reset(settings=True)
    _watch(request, "u21_mock", fake)
    yield fake


@pytest.fixture
def u21_mock_factory(request: Any, pytestconfig: Any) -> Iterator[Callable[..., U21Mock]]:
    """``u21_mock_factory(**options)`` starts a fresh fake process (see ``U21Mock.start``);
    all of them are stopped after the test."""
    started: List[U21Mock] = []

    def factory(**options: Any) -> U21Mock:
        fake = _start(pytestconfig, **options)
        started.append(fake)
        _watch(request, f"u21_mock_factory #{len(started)}", fake)
        return fake

    try:
        yield factory
    finally:
        for fake in started:
            fake.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for label, fake, mark in item.__dict__.get(_FAKES_OF_TEST, []):
        # The journal first: the log's sync request would otherwise be its newest entry.
        try:
            entries = fake.control.requests()[-REPORT_JOURNAL_ENTRIES:]
        except U21MockError as err:
            entries = None
            report.sections.append((f"{label} journal", f"(not readable: {err})"))
        if entries:
            lines = "\n".join(json.dumps(entry, separators=(",", ":")) for entry in entries)
            report.sections.append((f"{label} journal (newest {len(entries)})", lines))
        fake.sync_log()
        log = fake.log(mark)
        if log:
            report.sections.append((f"{label} log ({fake.url})", log))
