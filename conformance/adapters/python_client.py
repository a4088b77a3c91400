#!/usr/bin/env python3
"""A Unit21 imports client in Python's standard library only, speaking the conformance
adapter protocol (see conformance/ADAPTERS.md): one JSON request per line on stdin, one
JSON answer per line on stdout. U21_BASE_URL and U21_API_KEY say where and who.

It is also a small example of a careful client: it retries 429 (after Retry-After or
X-RateLimit-Reset), 5xx and dropped connections on reads, retries the create call only when
the server surely did nothing, streams uploads from disk, and never re-sends an upload that
S3 accepted.
"""
import http.client
import json
import os
import random
import re
import sys
import time
import urllib.parse
import uuid

BASE = os.environ["U21_BASE_URL"].rstrip("/")
KEY = os.environ["U21_API_KEY"]
RETRIES = 4
# Seconds a request may go without a byte before it is given up (and retried where safe).
TIMEOUT = float(os.environ.get("U21_REQUEST_TIMEOUT_SECS", "60"))


class Failure(Exception):
    def __init__(self, message, status=None, error_code=None, s3_code=None, timed_out=False):
        super().__init__(message)
        self.status, self.error_code, self.s3_code = status, error_code, s3_code
        self.timed_out = timed_out


def connect(url):
    parts = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return cls(parts.hostname, parts.port, timeout=TIMEOUT), path


def pause(attempt, headers):
    retry_after = headers.get("Retry-After") if headers else None
    if retry_after and retry_after.isdigit():
        return float(retry_after)
    reset = headers.get("X-RateLimit-Reset") if headers else None
    if reset and reset.isdigit():
        return max(0.0, int(reset) - time.time())
    return random.uniform(0, min(5.0, 0.05 * 2 ** attempt))


def api(method, path, body=None, idempotent=True):
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(RETRIES + 1):
        conn, target = connect(BASE + path)
        headers = {"u21-key": KEY, "accept": "application/json"}
        if data is not None:
            headers["content-type"] = "application/json"
        try:
            conn.request(method, target, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (ConnectionError, http.client.HTTPException, OSError) as err:
            if idempotent and attempt < RETRIES:
                time.sleep(pause(attempt, None))
                continue
            raise Failure(f"{method} {path}: {err}")
        finally:
            conn.close()
        status = response.status
        if 300 <= status < 400:
            # http.client follows nothing; say so plainly (the key goes to Unit21's API only).
            location = response.headers.get("Location", "nowhere")
            raise Failure(f"{method} {path} answered {status}, a redirect to {location}: not followed", status)
        retryable = status in (429, 503) or (idempotent and status >= 500)
        if retryable and attempt < RETRIES:
            time.sleep(pause(attempt, response.headers))
            continue
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            raise Failure(f"{method} {path} answered {status} with a body that is not JSON", status)
        if 200 <= status < 300:
            return answer
        answer = answer if isinstance(answer, dict) else {}
        raise Failure(answer.get("message") or f"{method} {path} answered {status}", status, answer.get("error_code"))


def quoted(name):
    """A name inside a quoted header parameter, escaped as browsers and curl do (the HTML
    standard's multipart/form-data encoding): the name is data, never syntax."""
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def upload_form(form, path):
    boundary = uuid.uuid4().hex
    head = b""
    for name, value in form["form_fields"].items():
        head += f'--{boundary}\r\nContent-Disposition: form-data; name="{quoted(name)}"\r\n\r\n{value}\r\n'.encode()
    filename = quoted(os.path.basename(path))
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n\r\n'.encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = len(head) + os.path.getsize(path) + len(tail)
    for attempt in range(RETRIES + 1):
        conn, target = connect(form["url"])
        response = None
        try:
            conn.putrequest("POST", target)
            conn.putheader("content-type", f"multipart/form-data; boundary={boundary}")
            conn.putheader("content-length", str(size))
            conn.endheaders()
            try:
                conn.send(head)
                with open(path, "rb") as f:
                    while chunk := f.read(256 * 1024):
                        conn.send(chunk)
                conn.send(tail)
            except (BrokenPipeError, ConnectionResetError):
                pass  # S3 may answer (and close) before the body is done: read what it said.
            response = conn.getresponse()
            raw = response.read()
        except (ConnectionError, http.client.HTTPException, OSError) as err:
            conn.close()
            if attempt < RETRIES:
                time.sleep(pause(attempt, None))
                continue
            raise Failure(f"upload: {err}")
        conn.close()
        if 200 <= response.status < 300:
            return {}  # accepted: never sent again
        if response.status >= 500 and attempt < RETRIES:
            time.sleep(pause(attempt, response.headers))
            continue
        text = raw.decode(errors="replace")
        code = re.search(r"<Code>(.*?)</Code>", text)
        message = re.search(r"<Message>(.*?)</Message>", text)
        raise Failure(message.group(1) if message else text[:200], response.status, None, code.group(1) if code else None)


def create(stream, file_name):
    return api("POST", "/v1/imports/pre-signed-url/create", {"stream_name": stream, "file_name": file_name}, idempotent=False)


def wait(file_id, timeout):
    deadline, interval = time.monotonic() + timeout, 0.1
    while True:
        file = api("GET", f"/v1/imports/{file_id}")
        if file["status"] in ("FINISHED", "FAILED", "DELETED"):
            return file
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure(f"file {file_id} was still {file['status']} when the wait timed out", timed_out=True)
        time.sleep(min(interval, left))
        interval = min(interval * 1.5, 2.0)


def list_all(request):
    request = dict(request)
    limit = request.get("limit", 1000)
    files, seen, page = [], set(), 1
    while True:
        answer = api("POST", "/v1/imports/list", dict(request, offset=page, limit=limit))
        # A file created while paging pushes the others down a place: keep each file once.
        for file in answer["datafiles"]:
            if file["file_id"] not in seen:
                seen.add(file["file_id"])
                files.append(file)
        if len(answer["datafiles"]) < limit or len(files) >= answer["total_count"]:
            return {"datafiles": files}
        page += 1


def handle(request):
    op = request["op"]
    if op == "create":
        return create(request["stream"], request["file_name"])
    if op == "upload_form":
        return upload_form(request["form"], request["path"])
    if op == "upload":
        form = create(request["stream"], os.path.basename(request["path"]))
        upload_form(form, request["path"])
        return form
    if op == "status":
        return api("GET", f"/v1/imports/{request['file_id']}")
    if op == "wait":
        return wait(request["file_id"], float(request["timeout_secs"]))
    if op == "list":
        return api("POST", "/v1/imports/list", request["request"])
    if op == "list_all":
        return list_all(request["request"])
    raise Failure(f"unknown op {op}")


for line in sys.stdin:
    request = json.loads(line)
    try:
        answer = {"id": request["id"], "ok": True, "result": handle(request)}
    except Failure as failure:
        error = {"status": failure.status, "error_code": failure.error_code, "s3_code": failure.s3_code,
                 "message": str(failure), "timed_out": failure.timed_out}
        answer = {"id": request["id"], "ok": False, "error": error}
    print(json.dumps(answer), flush=True)
