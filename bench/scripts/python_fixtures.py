"""The pytest fixtures' budgets, measured on a generated test file of N tests:

- u21_mock_factory: a fresh fake process per test (setup + teardown median, and the whole run);
- u21_mock: the session's fake, reset before each test;
- moto's ThreadedMotoServer on the same file, per test and reset (moto's /moto-api/reset),
  when moto[server] is installed;
- how long a fake outlives its pytest process after kill -9 and after Ctrl-C (SIGINT).

Each test makes one real call (a Unit21 create; for moto, an S3 CreateBucket). Run it with the
Python of a venv that has the u21-mock wheel, pytest and (optionally) moto[server]:

    python bench/scripts/python_fixtures.py [--tests 200]

Prints one row per case: per test, setup + call + teardown (the budget counts setup and
teardown; the call, one request, is included on top). Budgets (issue 20): factory median
<= 25 ms and 200 tests <= 10 s; reset <= 3 ms per test; the fake gone within 2 s of its
parent's death.
"""

import argparse
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

TEST_FILE = '''
import json, os, urllib.request
import pytest

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
SERVER = os.environ["BENCH_SERVER"]

def create(url, key):
    body = json.dumps({{"stream_name": "s", "file_name": "a.csv"}}).encode()
    request = urllib.request.Request(url + "/v1/imports/pre-signed-url/create", data=body, method="POST", headers={{"u21-key": key, "content-type": "application/json"}})
    with NO_PROXY.open(request) as answer:
        assert answer.status == 200

def create_bucket(url):
    with NO_PROXY.open(urllib.request.Request(url + "/bench-bucket", method="PUT")) as answer:
        assert answer.status == 200

if SERVER == "moto":
    from moto.server import ThreadedMotoServer

    def moto_server():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        yield f"http://{{host}}:{{port}}"
        server.stop()

    moto_session = pytest.fixture(scope="session", name="moto_session")(moto_server)
    moto_fresh = pytest.fixture(name="moto_fresh")(moto_server)

    @pytest.fixture
    def moto_reset(moto_session):
        NO_PROXY.open(urllib.request.Request(moto_session + "/moto-api/reset", method="POST")).read()
        yield moto_session

@pytest.mark.parametrize("n", range({tests}))
def test_one_call(request, n):
    mode = os.environ["BENCH_MODE"]
    if SERVER == "u21":
        fake = request.getfixturevalue("u21_mock") if mode == "reset" else request.getfixturevalue("u21_mock_factory")()
        create(fake.url, fake.api_key)
    else:
        create_bucket(request.getfixturevalue("moto_reset" if mode == "reset" else "moto_fresh"))
'''

TIMING_PLUGIN = '''
import json, os
DURATIONS = {}

def pytest_runtest_logreport(report):
    # The whole test: the fixtures are asked for in the test body (one file serves every
    # case), so their setup falls in the call phase; the call itself is one request.
    DURATIONS[report.nodeid] = DURATIONS.get(report.nodeid, 0.0) + report.duration

def pytest_sessionfinish(session):
    with open(os.environ["BENCH_OUT"], "w") as out:
        json.dump(list(DURATIONS.values()), out)
'''


def run_case(workdir: Path, server: str, mode: str) -> str:
    out = workdir / f"{server}-{mode}.json"
    env = {**os.environ, "BENCH_SERVER": server, "BENCH_MODE": mode, "BENCH_OUT": str(out), "PYTHONPATH": str(workdir)}
    started = time.perf_counter()
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "bench_timing", "-p", "no:cacheprovider", "test_bench.py"], cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if ran.returncode != 0:
        return f"failed: {ran.stdout[-500:]}{ran.stderr[-500:]}"
    import json

    durations = json.loads(out.read_text())
    # The first test's setup also pays for a session fixture's start: report it apart.
    first, rest = durations[0], durations[1:]
    return (
        f"per test (setup+call+teardown) median {statistics.median(rest) * 1000:7.2f} ms, p90 {statistics.quantiles(rest, n=10)[-1] * 1000:7.2f} ms, "
        f"first {first * 1000:7.1f} ms; {len(durations)} tests in {wall:5.2f} s (pytest's wall time, start-up included)"
    )


def exits_within(pid: int, seconds: float) -> float:
    """Seconds until `pid` exited (waits on a pidfd), or infinity past `seconds`."""
    started = time.perf_counter()
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return 0.0
    try:
        readable, _, _ = select.select([fd], [], [], seconds)
    finally:
        os.close(fd)
    return time.perf_counter() - started if readable else float("inf")


BLOCKING_TEST = '''
import os, threading
def test_blocks(u21_mock, u21_mock_factory):
    extra = u21_mock_factory()
    with open(os.environ["PIDS_FIFO"], "w") as out:
        out.write(f"{u21_mock.pid} {extra.pid}\\n")
    threading.Event().wait()
'''


def orphan_case(workdir: Path, how: signal.Signals) -> str:
    case = workdir / f"orphan-{how.name}"
    case.mkdir()
    (case / "test_inner.py").write_text(BLOCKING_TEST)
    fifo = case / "pids"
    os.mkfifo(fifo)
    runner = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"], cwd=case, env={**os.environ, "PIDS_FIFO": str(fifo)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(fifo) as pids:
        fake_pids = [int(pid) for pid in pids.readline().split()]
    runner.send_signal(how)
    gone = [exits_within(pid, 10.0) for pid in fake_pids]
    runner.wait(30)
    return f"{len(fake_pids)} fakes gone in " + ", ".join(f"{g * 1000:.0f} ms" for g in gone)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=200)
    args = parser.parse_args()
    try:
        import moto.server  # noqa: F401

        servers = ["u21", "moto"]
    except ImportError:
        servers = ["u21"]
        print("moto[server] is not installed: its rows are left out")
    with tempfile.TemporaryDirectory(prefix="u21-fixture-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "test_bench.py").write_text(textwrap.dedent(TEST_FILE.format(tests=args.tests)))
        (workdir / "bench_timing.py").write_text(TIMING_PLUGIN)
        for server in servers:
            for mode in ("fresh", "reset"):
                label = {("u21", "fresh"): "u21_mock_factory (a process per test)", ("u21", "reset"): "u21_mock (reset per test)", ("moto", "fresh"): "moto ThreadedMotoServer per test", ("moto", "reset"): "moto /moto-api/reset per test"}[(server, mode)]
                print(f"{label:40} {run_case(workdir, server, mode)}", flush=True)
        for how in (signal.SIGKILL, signal.SIGINT):
            print(f"{'pytest ' + how.name:40} {orphan_case(workdir, how)}", flush=True)


if __name__ == "__main__":
    main()
