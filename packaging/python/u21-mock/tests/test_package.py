"""The u21_mock package as installed from its wheel: finding the binary in every install
scheme, refusing another version, the handle's errors, and no fake left behind when the
process that started it dies (kill -9) or is interrupted (Ctrl-C).

Run by .ci/run from outside the repository with the wheel installed; `U21_MOCK_WHEEL` names
the wheel file for the install-scheme tests.
"""

import os
import select
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import u21_mock
from u21_mock import BinaryNotFound, U21Mock, U21MockError

#: How long a fake may take to go once its parent is gone (the issue's budget is 2 s).
GONE_WITHIN = 2.0


def wheel() -> str:
    path = os.environ.get("U21_MOCK_WHEEL")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("U21_MOCK_WHEEL is not set: .ci/run names the built wheel")
        pytest.skip("needs U21_MOCK_WHEEL, the built wheel (.ci/run sets it)")
    return path


def exits_within(pid: int, seconds: float) -> bool:
    """True once process `pid` has exited, waiting on a pidfd (no polling), at most `seconds`."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], seconds)
        return bool(readable)
    finally:
        os.close(fd)


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


# ---- finding the binary ----


@pytest.mark.parametrize("scheme", ["target", "prefix"])
def test_the_binary_is_found_where_pip_put_it(tmp_path, scheme):
    place = tmp_path / scheme
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check", "--ignore-installed", f"--{scheme}", str(place), wheel()], check=True)
    if scheme == "target":
        site = place
    else:
        site = next(place.glob("lib/python*/site-packages"))
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("U21_MOCK_BIN", None)
    found = subprocess.run([sys.executable, "-c", "import u21_mock; print(u21_mock.__file__); print(u21_mock.find_bin())"], env=env, capture_output=True, text=True, check=True)
    module, binary = found.stdout.split()
    assert module.startswith(str(site)), "the package imported is the one installed there"
    assert binary == str(place / "bin" / "u21-mock")


def test_when_no_place_has_the_binary_the_error_lists_them_all(tmp_path, monkeypatch):
    import sysconfig

    from u21_mock import _find

    monkeypatch.delenv("U21_MOCK_BIN", raising=False)
    monkeypatch.setattr(sysconfig, "get_path", lambda name, scheme=None, vars=None: str(tmp_path / f"scripts-{scheme or 'default'}"))
    package = tmp_path / "prefix" / "lib" / "python3.x" / "site-packages" / "u21_mock" / "__init__.py"
    with pytest.raises(BinaryNotFound) as missing:
        _find.find_executable("u21-mock", "U21_MOCK_BIN", str(package))
    message = str(missing.value)
    assert "cannot find the u21-mock executable; tried U21_MOCK_BIN (not set)" in message
    for place in ("prefix/bin", "site-packages/bin", "scripts-default", "scripts-posix_user"):
        assert f"{place}/u21-mock" in message, place


def test_u21_mock_bin_comes_first_and_must_be_an_executable(tmp_path, monkeypatch):
    fake_bin = script(tmp_path, "my-u21-mock", "exit 0\n")
    monkeypatch.setenv("U21_MOCK_BIN", str(fake_bin))
    assert u21_mock.find_bin() == str(fake_bin)
    monkeypatch.setenv("U21_MOCK_BIN", str(tmp_path / "nothing-here"))
    with pytest.raises(BinaryNotFound, match="U21_MOCK_BIN=.*nothing-here is not an executable file"):
        u21_mock.find_bin()


def test_python_m_runs_the_binary():
    ran = subprocess.run([sys.executable, "-m", "u21_mock", "--version"], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == f"u21-mock {u21_mock.__version__}"


# ---- starting ----


def test_a_binary_of_another_version_is_refused(tmp_path):
    other = script(tmp_path, "old-u21-mock", """\
        echo '{"event": "ready", "version": "0.0.1", "url": "http://127.0.0.1:9", "api_key": "k"}'
        cat > /dev/null
        """)
    with pytest.raises(U21MockError) as refused:
        U21Mock.start(bin=other)
    message = str(refused.value)
    assert "is u21-mock 0.0.1, but this Python package is" in message
    assert u21_mock.__version__ in message


def test_a_binary_that_cannot_start_is_reported_with_its_log(tmp_path):
    broken = script(tmp_path, "broken-u21-mock", "echo 'u21-mock: cannot start: no such config' >&2\nexit 1\n")
    with pytest.raises(U21MockError, match=r"(?s)exited before it was ready \(exit code 1\); its log:.*no such config"):
        U21Mock.start(bin=broken, startup_timeout=10)


def test_the_environments_u21_mock_variables_do_not_reach_the_fake(monkeypatch, tmp_path):
    monkeypatch.setenv("U21_MOCK_API_KEYS", "someone-elses-key")
    monkeypatch.setenv("U21_MOCK_DATA_DIR", str(tmp_path / "not-mine"))
    with U21Mock.start() as fake:
        assert fake.api_key == "u21-mock-dev-key"
        assert fake.ready["data_dir"] is None
    assert not (tmp_path / "not-mine").exists()


def test_stop_removes_the_fake_and_its_temporary_directory():
    fake = U21Mock.start()
    fake.control.add_file("s", "a.csv", "id\n1\n")
    assert fake.running
    assert fake.stop() == 0, "a clean stop"
    assert exits_within(fake.pid, 0)
    assert fake.stop() == 0, "stopping twice is harmless"
    assert "stopping (standard input closed)" in fake.log()


def test_attach_uses_a_running_fake_and_leaves_it_running():
    with U21Mock.start() as owner:
        attached = U21Mock.attach(owner.url)
        attached.control.add_file("s", "a.csv", "id\n1\n")
        attached.stop()
        assert owner.running
        assert owner.control.file(1)["file_name"] == "a.csv"
    with pytest.raises(U21MockError, match="no answer from the fake"):
        U21Mock.attach(owner.url)


def test_wait_for_status_says_why_a_file_cannot_get_there():
    with U21Mock.start() as fake:
        added = fake.control.add_file("s", "a.csv", "id\n1\n")
        with pytest.raises(U21MockError, match="ADDED: start its processing"):
            fake.control.wait_for_status(added["file_id"])
        fake.control.process(added["file_id"])
        failed = fake.control.transition(added["file_id"], "FAILED", failure_code="invalid_schema")
        with pytest.raises(U21MockError, match=r"is FAILED \(invalid_schema\); it will never be FINISHED"):
            fake.control.wait_for_status(failed["file_id"])
        # Under a moving timing it advances the clock rather than sleeping.
        fake.control.set_timing("realistic")
        queued = fake.control.add_file("s", "b.csv", "id\n1\n", process=True)
        done = fake.control.wait_for_status(queued["file_id"], "FINISHED")
        assert done["successful_count"] == 1


# ---- nothing left behind ----

STARTS_A_FAKE_AND_BLOCKS = """
import sys, threading
from u21_mock import U21Mock
fake = U21Mock.start()
print(fake.pid, flush=True)
threading.Event().wait()
"""


def test_after_kill_9_of_the_parent_the_fake_is_gone():
    parent = subprocess.Popen([sys.executable, "-c", STARTS_A_FAKE_AND_BLOCKS], stdout=subprocess.PIPE, text=True)
    fake_pid = int(parent.stdout.readline())
    assert not exits_within(fake_pid, 0), "the fake runs while its parent does"
    parent.kill()
    parent.wait()
    assert exits_within(fake_pid, GONE_WITHIN), f"the fake (pid {fake_pid}) outlived its killed parent"


PYTEST_SESSION = """
import os, threading
def test_blocks(u21_mock, u21_mock_factory):
    extra = u21_mock_factory()
    with open(os.environ["PIDS_FIFO"], "w") as out:
        out.write(f"{u21_mock.pid} {extra.pid}\\n")
    threading.Event().wait()
"""


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_after_pytest_is_killed_or_interrupted_its_fakes_are_gone(tmp_path, how):
    (tmp_path / "test_inner.py").write_text(PYTEST_SESSION)
    fifo = tmp_path / "pids"
    os.mkfifo(fifo)
    runner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_inner.py")],
        cwd=tmp_path,
        env={**os.environ, "PIDS_FIFO": str(fifo)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with open(fifo) as pids:
        fake_pids = [int(pid) for pid in pids.readline().split()]
    assert len(fake_pids) == 2
    runner.send_signal(getattr(signal, how))
    runner.wait(timeout=30)
    for pid in fake_pids:
        assert exits_within(pid, GONE_WITHIN), f"fake {pid} outlived pytest after {how}"


def test_the_wheel_carries_both_licences():
    from importlib.metadata import distribution

    dist = distribution("u21-mock")
    names = {Path(str(f)).name for f in dist.files or []}
    assert {"LICENSE-MIT", "LICENSE-APACHE"} <= names, sorted(names)
    assert "Apache License" in (Path(dist.locate_file("")) / next(
        str(f) for f in dist.files if Path(str(f)).name == "LICENSE-APACHE"
    )).read_text()
