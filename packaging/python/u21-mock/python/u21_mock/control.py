"""A client for the fake's control plane (``/_mock/…``): one method per route.

Standard library only (``http.client``): no proxy settings from the environment apply, and no
redirect is followed, so a call goes to the fake and nowhere else.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

__all__ = ["Control", "U21MockError", "STATUSES", "FINAL_STATUSES"]

#: Unit21's file statuses, in lifecycle order.
STATUSES = ("PENDING_UPLOAD", "ADDED", "QUEUED", "PROCESSING", "FINISHED", "FAILED", "DELETED")
#: Statuses a file never leaves by itself.
FINAL_STATUSES = frozenset({"FINISHED", "FAILED", "DELETED"})

#: The largest answer a control call reads (a state export with objects inline can be large).
MAX_ANSWER_BYTES = 1024 * 1024 * 1024

JSON = Any


class U21MockError(Exception):
    """A refusal from the fake (its own message included), or a fake that cannot be used.

    ``status`` is the HTTP status (``None`` when there was no answer), ``error_code`` and
    ``message`` come from the fake's JSON (Unit21's error shape), ``body`` is the raw answer.
    """

    def __init__(
        self,
        text: str,
        *,
        status: Optional[int] = None,
        error_code: Optional[str] = None,
        message: Optional[str] = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(text)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.body = body


class Control:
    """The control plane of the fake at ``url``. Thread-safe: each call is its own connection."""

    def __init__(self, url: str, *, token: Optional[str] = None, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._token = token
        self._timeout = timeout

    # ---- the transport ----

    def call(self, method: str, path: str, body: JSON = None, *, query: Optional[Mapping[str, Any]] = None) -> JSON:
        """One control call; returns the decoded JSON answer (``None`` for an empty one).

        Raises :class:`U21MockError` for any answer outside 2xx, with the fake's message.
        """
        if query:
            pairs = {k: v for k, v in query.items() if v is not None}
            if pairs:
                path = f"{path}?{urllib.parse.urlencode(pairs)}"
        headers = {"accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if self._token:
            headers["x-u21-mock-token"] = self._token
        connection_type = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = connection_type(self._host, self._port, timeout=self._timeout)
        try:
            try:
                connection.request(method, path, body=payload, headers=headers)
                response = connection.getresponse()
                raw = response.read(MAX_ANSWER_BYTES + 1)
            except (OSError, http.client.HTTPException) as err:
                raise U21MockError(f"{method} {path}: no answer from the fake at {self.url} ({err})") from err
        finally:
            connection.close()
        if len(raw) > MAX_ANSWER_BYTES:
            raise U21MockError(f"{method} {path}: the answer is over {MAX_ANSWER_BYTES} bytes", status=response.status)
        if not 200 <= response.status < 300:
            raise _refusal(method, path, response.status, raw)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as err:
            raise U21MockError(f"{method} {path}: the answer is not JSON", status=response.status, body=raw) from err

    # ---- one method per route ----

    def health(self) -> JSON:
        """``GET /_mock/health``."""
        return self.call("GET", "/_mock/health")

    def reset(self, *, settings: bool = False) -> None:
        """``POST /_mock/reset``: forget files, objects, the journal, faults and rate windows;
        with ``settings=True`` also put the timing, streams and clock back as the fake started."""
        self.call("POST", "/_mock/reset", {"settings": True} if settings else None)

    def seed(self, seed: int) -> JSON:
        """``POST /_mock/seed``: reset, and freeze the clock at an instant derived from ``seed``."""
        return self.call("POST", "/_mock/seed", {"seed": seed})

    def clock(self) -> JSON:
        """``GET /_mock/clock``: ``now_ms``, ``now``, ``frozen``, ``timing``."""
        return self.call("GET", "/_mock/clock")

    def advance(self, seconds: float = 0, *, ms: int = 0) -> JSON:
        """``POST /_mock/clock/advance``: move the clock forward, applying what falls due."""
        whole = int(seconds)
        extra_ms = ms + round((seconds - whole) * 1000)
        return self.call("POST", "/_mock/clock/advance", {"seconds": whole, "ms": extra_ms})

    def set_clock(self, epoch_ms: int) -> JSON:
        """``POST /_mock/clock/set``: freeze the clock at an instant (ms since the epoch)."""
        return self.call("POST", "/_mock/clock/set", {"epoch_ms": epoch_ms})

    def set_timing(self, timing: str) -> JSON:
        """``POST /_mock/timing``: ``instant``, ``fast``, ``realistic`` or ``manual``."""
        return self.call("POST", "/_mock/timing", {"timing": timing})

    def add_file(
        self,
        stream_name: str,
        file_name: str,
        content: Union[bytes, str] = b"",
        *,
        org: Optional[str] = None,
        process: bool = False,
    ) -> JSON:
        """``POST /_mock/files``: a file added as Unit21's UI does (``ADDED``, or ``QUEUED``
        with ``process=True``)."""
        body: Dict[str, Any] = {"stream_name": stream_name, "file_name": file_name, "process": process}
        if isinstance(content, str):
            body["content"] = content
        else:
            body["content_base64"] = base64.b64encode(content).decode()
        if org is not None:
            body["org"] = org
        return self.call("POST", "/_mock/files", body)

    def file(self, file_id: Union[int, str]) -> JSON:
        """``GET /_mock/files/{id}``: a file in any organisation, with its key and history."""
        return self.call("GET", f"/_mock/files/{_id(file_id)}")

    def transition(
        self,
        file_id: Union[int, str],
        status: str,
        *,
        failure_code: Optional[str] = None,
        successful_count: int = 0,
        failure_count: int = 0,
    ) -> JSON:
        """``POST /_mock/files/{id}/transition``: force PROCESSING, FINISHED, FAILED or DELETED."""
        body: Dict[str, Any] = {"status": status, "successful_count": successful_count, "failure_count": failure_count}
        if failure_code is not None:
            body["failure_code"] = failure_code
        return self.call("POST", f"/_mock/files/{_id(file_id)}/transition", body)

    def process(self, file_id: Union[int, str]) -> JSON:
        """``POST /_mock/files/{id}/process``: start an ADDED file's processing."""
        return self.call("POST", f"/_mock/files/{_id(file_id)}/process")

    def process_queued(self) -> int:
        """``POST /_mock/process-queued``: under ``manual`` timing, process every QUEUED file."""
        return int(self.call("POST", "/_mock/process-queued")["processed"])

    def streams(self) -> List[JSON]:
        """``GET /_mock/streams``."""
        return self.call("GET", "/_mock/streams")

    def set_streams(self, streams: Sequence[Mapping[str, Any]]) -> List[JSON]:
        """``PUT /_mock/streams``: replace every stream configuration."""
        return self.call("PUT", "/_mock/streams", list(streams))

    def faults(self) -> List[JSON]:
        """``GET /_mock/faults``."""
        return self.call("GET", "/_mock/faults")

    def add_fault(
        self,
        path: str,
        action: Union[str, Mapping[str, Any]],
        *,
        method: Optional[str] = None,
        times: Optional[int] = None,
        probability: Optional[float] = None,
        seed: Optional[int] = None,
    ) -> int:
        """``POST /_mock/faults``; returns the fault's id. ``action`` is a kind
        (``"internal_error"``) or a whole action (``{"kind": "rate_limited", "retry_after_secs": 2}``)."""
        fault: Dict[str, Any] = {"path": path, "action": {"kind": action} if isinstance(action, str) else dict(action)}
        for name, value in (("method", method), ("times", times), ("probability", probability), ("seed", seed)):
            if value is not None:
                fault[name] = value
        return int(self.call("POST", "/_mock/faults", fault)["id"])

    def remove_fault(self, fault_id: int) -> None:
        """``DELETE /_mock/faults/{id}``."""
        self.call("DELETE", f"/_mock/faults/{int(fault_id)}")

    def clear_faults(self) -> None:
        """``DELETE /_mock/faults``."""
        self.call("DELETE", "/_mock/faults")

    def requests(
        self,
        *,
        method: Optional[str] = None,
        path: Optional[str] = None,
        status: Optional[int] = None,
        after: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> List[JSON]:
        """``GET /_mock/requests``: the journal of Unit21 and S3 requests, oldest first."""
        query = {"method": method, "path": path, "status": status, "after": after, "limit": limit}
        return self.call("GET", "/_mock/requests", query=query)["requests"]

    def clear_requests(self) -> None:
        """``DELETE /_mock/requests``."""
        self.call("DELETE", "/_mock/requests")

    def export_state(self) -> JSON:
        """``GET /_mock/state``: the whole state, objects inline."""
        return self.call("GET", "/_mock/state")

    def import_state(self, state: JSON) -> None:
        """``PUT /_mock/state``."""
        self.call("PUT", "/_mock/state", state)

    # ---- helpers ----

    def wait_for_status(
        self,
        file_id: Union[int, str],
        status: Union[str, Iterable[str]] = "FINISHED",
        *,
        step_seconds: float = 1.0,
        max_seconds: float = 7 * 24 * 3600,
    ) -> JSON:
        """Drives the fake until the file reaches ``status`` (one or several), and returns it.

        It never sleeps: under ``manual`` timing it processes the QUEUED files, otherwise it
        moves the clock forward (by ``step_seconds``, doubling up to 15 minutes, the longest
        step any timing profile waits). Raises :class:`U21MockError` when the file ends in
        another final status, has not been uploaded, waits for a manual start (``ADDED``), or
        needs more than ``max_seconds`` of fake time.
        """
        wanted = {status} if isinstance(status, str) else set(status)
        unknown = wanted - set(STATUSES)
        if unknown:
            raise ValueError(f"unknown status {sorted(unknown)}; expected one of {STATUSES}")
        moved = 0.0
        step = step_seconds
        while True:
            record = self.file(file_id)
            now = record["status"]
            if now in wanted:
                return record
            if now in FINAL_STATUSES:
                code = f" ({record.get('failure_code')})" if record.get("failure_code") else ""
                raise U21MockError(f"file {file_id} is {now}{code}; it will never be {'/'.join(sorted(wanted))}")
            if now == "PENDING_UPLOAD":
                raise U21MockError(f"file {file_id} is PENDING_UPLOAD: it has not been uploaded, and no clock moves it on")
            if now == "ADDED":
                raise U21MockError(f"file {file_id} is ADDED: start its processing with process({file_id!r}) first")
            if now == "QUEUED" and self.clock()["timing"] == "manual":
                self.process_queued()
                continue
            if moved >= max_seconds:
                raise U21MockError(f"file {file_id} is still {now} after {moved:g} s of fake time")
            self.advance(step)
            moved += step
            step = min(step * 2, 900.0)


def _id(file_id: Union[int, str]) -> str:
    text = str(file_id)
    if not text.isdigit():
        raise ValueError(f"a file id is a number, not {file_id!r}")
    return text


def _refusal(method: str, path: str, status: int, raw: bytes) -> U21MockError:
    error_code = message = None
    try:
        decoded = json.loads(raw)
        if isinstance(decoded, dict):
            error_code = decoded.get("error_code")
            message = decoded.get("message")
    except ValueError:
        pass
    said = message or error_code or raw[:200].decode("utf-8", "replace") or "(no body)"
    return U21MockError(
        f"{method} {path}: the fake answered {status}: {said}",
        status=status,
        error_code=error_code,
        message=message,
        body=raw,
    )
