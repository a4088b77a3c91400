"""A fake to use from Python: started as a child process, or attached to one already running."""

from __future__ import annotations

import collections
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Deque, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._find import find_executable
from .control import Control, U21MockError

PathLike = Union[str, "os.PathLike[str]"]

#: The default key of a fake started with no keys given.
DEFAULT_API_KEY = "u21-mock-dev-key"
#: Log lines a handle keeps (the newest); older ones are dropped.
DEFAULT_LOG_LINES = 2000
#: How long a stop waits for the fake to exit by itself before it is terminated, then killed.
STOP_GRACE_SECONDS = 5.0

_TIMINGS = ("instant", "fast", "realistic", "manual")
#: The path segment of the request :meth:`U21Mock.sync_log` sends; never shown by ``log()``.
_LOG_SYNC = "u21-mock-log-sync-"


@dataclass(frozen=True)
class S3:
    """The fake's S3 endpoint: where forms are posted, and what they are signed with."""

    bucket: str
    #: The form-POST URL, ``<public url>/<bucket>/``.
    url: str
    access_key_id: str
    #: A fake's secret, for an S3 SDK that signs its own forms; never a real one.
    secret_access_key: str


@dataclass(frozen=True)
class Key:
    """An API key the fake accepts, and the organisation it belongs to."""

    key: str
    org: str


def find_bin() -> str:
    """The ``u21-mock`` executable: ``U21_MOCK_BIN`` if set, else the one this package's wheel
    installed (the venv's, ``--user``, ``--prefix`` or ``--target`` scripts directory).

    Raises :class:`FileNotFoundError` listing every place tried.
    """
    return find_executable("u21-mock", "U21_MOCK_BIN", __file__)


def package_version() -> Optional[str]:
    """This package's version (the binary must match it), or ``None`` outside an install."""
    global _VERSION
    if _VERSION is _UNKNOWN:
        try:
            from importlib.metadata import PackageNotFoundError, version

            try:
                _VERSION = version("u21-mock")
            except PackageNotFoundError:
                _VERSION = None
        except ImportError:  # pragma: no cover - Python < 3.8
            _VERSION = None
    return _VERSION  # type: ignore[return-value]


_UNKNOWN = object()
_VERSION: object = _UNKNOWN


class _Log:
    """The newest lines of the fake's stderr, drained by a thread so the pipe never fills."""

    def __init__(self, stream: IO[bytes], keep: int) -> None:
        self._lines: Deque[str] = collections.deque(maxlen=keep)
        self._count = 0
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._drain, args=(stream,), name="u21-mock-log", daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self._lock:
                    self._lines.append(line)
                    self._count += 1
                    self._arrived.notify_all()
        with self._lock:
            self._arrived.notify_all()

    def mark(self) -> int:
        """A position to read from later with :meth:`text`."""
        with self._lock:
            return self._count

    def text(self, since: int = 0) -> str:
        with self._lock:
            kept_from = self._count - len(self._lines)
            lines = list(self._lines)[max(since - kept_from, 0):]
        return "\n".join(line for line in lines if _LOG_SYNC not in line)

    def wait_for(self, token: str, timeout: float) -> bool:
        """Waits until a line holding ``token`` has arrived (or the log ended), at most
        ``timeout`` seconds."""

        def seen() -> bool:
            return not self._thread.is_alive() or any(token in line for line in reversed(self._lines))

        with self._arrived:
            return self._arrived.wait_for(seen, timeout)

    def finish(self, timeout: float) -> None:
        self._thread.join(timeout)


class U21Mock:
    """A running fake: its URLs, keys and S3 details, its control plane, and (when this handle
    started it) its log. Use :meth:`start` or :meth:`attach`; a context manager stops it.

    >>> with U21Mock.start() as fake:                        # doctest: +SKIP
    ...     fake.control.add_file("stream", "a.csv", "id\\n1\\n", process=True)
    """

    url: str
    public_url: str
    api_key: str
    keys: Tuple[Key, ...]
    s3: Optional[S3]
    control: Control
    pid: Optional[int]
    version: Optional[str]

    def __init__(
        self,
        ready: Mapping[str, object],
        *,
        process: Optional["subprocess.Popen[bytes]"] = None,
        log: Optional[_Log] = None,
        control_token: Optional[str] = None,
        temp_config: Optional[str] = None,
    ) -> None:
        self.ready = dict(ready)
        self.url = str(ready["url"])
        self.public_url = str(ready.get("public_url") or self.url)
        self.api_key = str(ready["api_key"])
        keys = ready.get("keys") or [{"key": self.api_key, "org": "demo"}]
        self.keys = tuple(Key(str(k["key"]), str(k["org"])) for k in keys)  # type: ignore[index, union-attr]
        s3 = ready.get("s3")
        self.s3 = S3(**s3) if isinstance(s3, dict) else None
        self.pid = ready.get("pid")  # type: ignore[assignment]
        self.version = ready.get("version")  # type: ignore[assignment]
        self.control = Control(self.url, token=control_token)
        self._process = process
        self._log = log
        self._temp_config = temp_config

    # ---- starting and attaching ----

    @classmethod
    def start(
        cls,
        *,
        timing: str = "manual",
        rate_limit: Optional[int] = None,
        config: Optional[PathLike] = None,
        config_toml: Optional[str] = None,
        data_dir: Optional[PathLike] = None,
        api_keys: Optional[Sequence[Union[str, Tuple[str, str]]]] = None,
        public_url: Optional[str] = None,
        control_token: Optional[str] = None,
        extra_args: Sequence[str] = (),
        bin: Optional[PathLike] = None,
        startup_timeout: float = 30.0,
        log_lines: int = DEFAULT_LOG_LINES,
    ) -> "U21Mock":
        """Starts a fake as a child process on a free loopback port and returns once it answers.

        ``timing`` defaults to ``manual`` (files move only when the test says so, so no test
        sleeps); ``config`` is a TOML file and ``config_toml`` the same as text; ``api_keys``
        holds keys or ``(key, org)`` pairs; ``extra_args`` go to the binary as they are.

        The child exits when this handle is stopped, and also when this process dies however
        it dies (its standard input is a pipe from here: ``--exit-with-stdin``). ``U21_MOCK_*``
        variables of this environment other than ``U21_MOCK_LOG`` are not passed on, so the
        fake is what the arguments say.

        Raises :class:`U21MockError` when the binary cannot start, with its log, and when it is
        another version than this package.
        """
        if timing not in _TIMINGS:
            raise ValueError(f"timing must be one of {_TIMINGS}, not {timing!r}")
        if config is not None and config_toml is not None:
            raise ValueError("give config or config_toml, not both")
        executable = os.fspath(bin) if bin is not None else find_bin()
        temp_config = None
        if config_toml is not None:
            handle, temp_config = tempfile.mkstemp(prefix="u21-mock-config-", suffix=".toml")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(config_toml)
            config = temp_config
        args: List[str] = [executable, "--listen", "127.0.0.1:0", "--ready-json", "--exit-with-stdin", "--timing", timing]
        if rate_limit is not None:
            args += ["--rate-limit", str(int(rate_limit))]
        if config is not None:
            args += ["--config", os.fspath(config)]
        if data_dir is not None:
            args += ["--data-dir", os.fspath(data_dir)]
        for key in api_keys or ():
            args += ["--api-key", key if isinstance(key, str) else f"{key[0]}={key[1]}"]
        if public_url is not None:
            args += ["--public-url", public_url]
        if control_token is not None:
            args += ["--control-token", control_token]
        args += list(extra_args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("U21_MOCK_") or k == "U21_MOCK_LOG"}
        try:
            process = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                # Its own session (process group on Windows): a Ctrl-C in the terminal reaches
                # the test runner, whose teardown stops the fake, not the fake mid-test.
                **_detached(),
            )
        except OSError as err:
            _remove(temp_config)
            raise U21MockError(f"cannot run {executable}: {err}") from err
        assert process.stdout is not None and process.stderr is not None
        log = _Log(process.stderr, log_lines)
        first_line: "queue.Queue[bytes]" = queue.Queue(maxsize=1)
        threading.Thread(target=_read_ready, args=(process.stdout, first_line), name="u21-mock-ready", daemon=True).start()
        timed_out = False
        try:
            line = first_line.get(timeout=startup_timeout)
        except queue.Empty:
            line, timed_out = b"", True
        ready = _parse_ready(line)
        if ready is None:
            exited = False
            if not line and not timed_out:
                # Its stdout ended: it is exiting; wait for the code rather than guess.
                try:
                    process.wait(STOP_GRACE_SECONDS)
                    exited = True
                except subprocess.TimeoutExpired:
                    pass
            _stop_process(process)
            log.finish(1.0)
            _remove(temp_config)
            if exited:
                why = f"exited before it was ready (exit code {process.returncode})"
            elif line:
                why = f"printed something else than its JSON ready line: {line[:200]!r}"
            else:
                why = f"was not ready within {startup_timeout:g} s"
            raise U21MockError(f"u21-mock ({executable}) {why}; its log:\n{log.text()}")
        fake = cls(ready, process=process, log=log, control_token=control_token, temp_config=temp_config)
        wanted = package_version()
        if wanted is not None and fake.version != wanted:
            fake.stop()
            raise U21MockError(
                f"{executable} is u21-mock {fake.version}, but this Python package is {wanted}: "
                f"they must match. Reinstall u21-mock, or point U21_MOCK_BIN at a {wanted} binary."
            )
        return fake

    @classmethod
    def attach(
        cls,
        url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        control_token: Optional[str] = None,
    ) -> "U21Mock":
        """A handle on a fake that is already running (compose, the image, another terminal):
        ``url`` defaults to ``U21_MOCK_URL``, ``api_key`` to ``U21_MOCK_API_KEY`` or the default
        key, ``control_token`` to ``U21_MOCK_CONTROL_TOKEN``. Stopping it leaves that fake
        running. Raises :class:`U21MockError` when nothing answers there.
        """
        url = url or os.environ.get("U21_MOCK_URL")
        if not url:
            raise U21MockError("no URL to attach to: pass one or set U21_MOCK_URL")
        api_key = api_key or os.environ.get("U21_MOCK_API_KEY") or DEFAULT_API_KEY
        control_token = control_token or os.environ.get("U21_MOCK_CONTROL_TOKEN")
        url = url.rstrip("/")
        fake = cls({"url": url, "api_key": api_key}, control_token=control_token)
        fake.control.health()
        return fake

    # ---- using it ----

    @property
    def headers(self) -> Dict[str, str]:
        """The header a Unit21 call carries: ``{"u21-key": api_key}``."""
        return {"u21-key": self.api_key}

    @property
    def running(self) -> bool:
        """False once a fake this handle started has exited (attached fakes: always True)."""
        return self._process is None or self._process.poll() is None

    def log(self, since: int = 0) -> str:
        """The newest lines of the fake's log (empty for an attached fake); ``since`` is a
        :meth:`log_mark` taken earlier."""
        return self._log.text(since) if self._log else ""

    def sync_log(self, timeout: float = 2.0) -> bool:
        """Waits until every line the fake has logged so far has reached this handle (the fake
        writes its log in batches): it sends one request without a key, whose path is unique,
        and waits for its line, at most ``timeout`` seconds. That request is in the journal;
        its line is not shown by :meth:`log`. Returns False for an attached fake or a timeout."""
        if self._log is None or not self.running:
            return False
        token = f"{_LOG_SYNC}{uuid.uuid4().hex}"
        try:
            self.control.call("GET", f"/v1/imports/{token}")
        except U21MockError:
            pass  # the expected 401
        return self._log.wait_for(token, timeout)

    def log_mark(self) -> int:
        """A position in the log, for :meth:`log` to start from."""
        return self._log.mark() if self._log else 0

    def stop(self) -> Optional[int]:
        """Stops a fake this handle started (its temporary directory is removed) and returns
        its exit code; an attached fake is left running. Safe to call twice."""
        code = None
        if self._process is not None:
            code = _stop_process(self._process)
            if self._log:
                self._log.finish(1.0)
        _remove(self._temp_config)
        self._temp_config = None
        return code

    def __enter__(self) -> "U21Mock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        how = f"pid {self.pid}" if self._process is not None else "attached"
        return f"<U21Mock {self.url} ({how})>"


def _detached() -> Dict[str, object]:
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
    return {"start_new_session": True}


def _read_ready(stream: IO[bytes], first_line: "queue.Queue[bytes]") -> None:
    """Hands over the first stdout line (empty when stdout ends first), then reads on to the
    end so the pipe can never fill."""
    with stream:
        first_line.put(stream.readline(64 * 1024))
        for _ in stream:
            pass


def _parse_ready(line: bytes) -> Optional[Dict[str, object]]:
    try:
        ready = json.loads(line)
    except ValueError:
        return None
    if isinstance(ready, dict) and ready.get("event") == "ready" and "url" in ready:
        return ready
    return None


def _stop_process(process: "subprocess.Popen[bytes]") -> Optional[int]:
    """Closes the fake's stdin (its clean stop), then terminates and kills it if it lingers."""
    if process.stdin is not None and not process.stdin.closed:
        try:
            process.stdin.close()
        except OSError:
            pass
    for signal_it in (None, process.terminate, process.kill):
        if signal_it is not None:
            try:
                signal_it()
            except OSError:
                pass
        try:
            return process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            continue
    return process.poll()


def _remove(path: Optional[str]) -> None:
    if path:
        try:
            Path(path).unlink()
        except OSError:
            pass
