#!/usr/bin/env python3
"""Hostile input against a release u21-mock, one fresh server per case: each line prints
what the server answered and its peak resident memory (VmHWM). It measures; it does not
pass or fail.

    cargo build --release -p u21-mock --bin u21-mock
    python3 bench/scripts/abuse.py target/release/u21-mock [WORD…]

With words, only the cases whose title holds one of them run. With U21_ABUSE_CGROUP set to a
memory cgroup directory (v2 with `memory.max`, or v1 with `memory.limit_in_bytes`, written
beforehand), each fake starts inside it, and a case whose fake was killed says so.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

MB = 1024 * 1024
KEY = "u21-mock-dev-key"


class Fake:
    def __init__(self, binary, *args):
        self.port = free_port()
        cgroup = os.environ.get("U21_ABUSE_CGROUP")

        def enter_cgroup():
            if cgroup:
                with open(os.path.join(cgroup, "cgroup.procs"), "w") as procs:
                    procs.write("0")

        self.proc = subprocess.Popen(
            [binary, "--listen", f"127.0.0.1:{self.port}", "--rate-limit", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            preexec_fn=enter_cgroup,
        )
        self.proc.stdout.readline()

    def rss(self):
        status = open(f"/proc/{self.proc.pid}/status").read()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def create(self, name):
        request = urllib.request.Request(
            self.url("/v1/imports/pre-signed-url/create"),
            data=json.dumps({"stream_name": "s", "file_name": name}).encode(),
            headers={"content-type": "application/json", "u21-key": KEY},
        )
        return json.load(urllib.request.urlopen(request))

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw(fake, head, chunks=()):
    """Sends a request head and body chunks; returns the status line answered."""
    s = socket.create_connection(("127.0.0.1", fake.port))
    s.settimeout(60)
    s.sendall(head)
    try:
        for chunk in chunks:
            s.sendall(chunk)
    except OSError:
        pass  # the fake answered and closed: what a bound does
    try:
        line = s.recv(200).decode(errors="replace").split("\r\n")[0]
    except OSError as err:
        line = str(err)
    s.close()
    return line


def form(created, content, boundary="XB"):
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in created["form_fields"].items()
    )
    head = parts + (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.csv"\r\n\r\n'
    )
    return head.encode() + content, f"\r\n--{boundary}--\r\n".encode()


def upload_head(length, boundary="XB"):
    return (
        f"POST /u21-mock-uploads/ HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


# Words from the command line after the binary: only cases whose title holds one of them run.
ONLY = []


def case(binary, title, run, *args):
    if ONLY and not any(word in title for word in ONLY):
        return
    fake = Fake(binary, *args)
    try:
        answer = run(fake)
        if fake.proc.poll() is not None:
            print(f"{title}: {answer}; THE FAKE DIED (exit {fake.proc.returncode})")
        else:
            print(f"{title}: {answer}; peak RSS {fake.rss():.1f} MiB")
    finally:
        fake.stop()


def preamble(fake):
    return raw(fake, upload_head(300 * MB + 10), (b"p" * MB for _ in range(300)))


def part_header(fake):
    head = upload_head(300 * MB + 100) + b'--XB\r\nContent-Disposition: form-data; name="key"\r\nX-Long: '
    return raw(fake, head, (b"h" * MB for _ in range(300)))


def journal(fake):
    body = b"[" + b"0," * (32 * 1024 - 1) + b"0]"
    for _ in range(1000):
        raw(
            fake,
            b"POST /v1/imports/list HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body,
        )
    urllib.request.urlopen(fake.url("/_mock/requests")).read()
    return "1,000 keyless 64 KiB bodies, then the journal read"


def snapshot_zeros(fake):
    body = b"[" + b"0," * (8 * MB - 1) + b"0]"
    head = (
        b"PUT /_mock/state HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    return raw(fake, head, [body])


def snapshot_spaces(fake):
    # 900 MiB of whitespace before a (wrong) document: parsed as it arrives, never held.
    head = (
        b"PUT /_mock/state HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {900 * MB + 2}\r\n\r\n".encode()
    )
    return raw(fake, head, [*(b" " * MB for _ in range(900)), b"{}"])


def state_round_trip(fake):
    content = b"a\n" + b"1\n" * (150 * MB - 1)  # 300 MiB, the forms' bound
    uploaded = upload_and_wait(fake, "big.csv", content)
    del content
    with tempfile.TemporaryFile() as saved:
        with urllib.request.urlopen(fake.url("/_mock/state"), timeout=600) as answer:
            while chunk := answer.read(MB):
                saved.write(chunk)
        size = saved.tell()
        exported = fake.rss()
        saved.seek(0)
        request = urllib.request.Request(
            fake.url("/_mock/state"),
            data=saved,
            method="PUT",
            headers={"content-type": "application/json", "content-length": str(size)},
        )
        status = urllib.request.urlopen(request, timeout=600).status
    return (
        f"{uploaded}; GET /_mock/state streamed {size} bytes (peak so far {exported:.1f} MiB), "
        f"then PUT back: {status}"
    )


def long_record(fake):
    content = b'{"id":1}\n{"note":"' + b"x" * (250 * MB) + b'"}\n{"id":2}\n'
    return upload_and_wait(fake, "big.jsonl", content)


def stalled_uploads(fake):
    stalled = []
    for i in range(300):
        body, _ = form(fake.create(f"slow{i}.csv"), b"a,b\n1,2\n")
        s = socket.create_connection(("127.0.0.1", fake.port))
        s.sendall(upload_head(len(body) + 1000) + body)
        stalled.append(s)
    time.sleep(1)  # the stalled clients' own silence
    body, tail = form(fake.create("normal.csv"), b"a,b\n1,2\n")
    started = time.time()
    line = raw(fake, upload_head(len(body) + len(tail)) + body + tail)
    took = (time.time() - started) * 1000
    return f"300 uploads stalled mid-file; a normal upload answered {line!r} in {took:.0f} ms"


def half_sent_lines(fake):
    lines = []
    for _ in range(300):
        s = socket.create_connection(("127.0.0.1", fake.port))
        s.sendall(b"GET /v1/imp")
        lines.append(s)
    started = time.time()
    status = urllib.request.urlopen(fake.url("/_mock/health")).status
    return f"300 half-sent request lines; a health check answered {status} in {(time.time() - started) * 1000:.0f} ms"


# Parquet, written by hand (Thrift's compact protocol), so a page can claim what it likes.
def _varint(v):
    out = bytearray()
    while True:
        byte, v = v & 0x7F, v >> 7
        if v == 0:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def _int(v):
    return _varint((v << 1) ^ (v >> 63))


def _struct(fields):
    """fields: (id, type code, encoded value) in id order; a stop byte ends it."""
    out, last = bytearray(), 0
    for fid, kind, value in fields:
        out.append(((fid - last) << 4) | kind)
        out += value
        last = fid
    out.append(0)
    return bytes(out)


def _binary(b):
    return _varint(len(b)) + b


def _list(kind, items):
    return bytes([(len(items) << 4) | kind]) + b"".join(items)


def parquet_page(claimed, data, values, codec):
    """A file of one REQUIRED INT32 column `n` in one PLAIN page whose header claims `claimed`
    bytes decompressed, holding `data` (compressed with `codec`: 0 none, 2 gzip)."""
    I32, I64, BIN, LIST, STRUCT = 5, 6, 8, 9, 12
    header = _struct([
        (1, I32, _int(0)),  # DATA_PAGE
        (2, I32, _int(claimed)),
        (3, I32, _int(len(data))),
        (5, STRUCT, _struct([(1, I32, _int(values)), (2, I32, _int(0)), (3, I32, _int(3)), (4, I32, _int(3))])),
    ])
    chunk = header + data
    meta = _struct([
        (1, I32, _int(1)),  # INT32
        (2, LIST, _list(I32, [_int(0)])),  # PLAIN
        (3, LIST, _list(BIN, [_binary(b"n")])),
        (4, I32, _int(codec)),
        (5, I64, _int(values)),
        (6, I64, _int(claimed + len(header))),
        (7, I64, _int(len(chunk))),
        (9, I64, _int(4)),  # data_page_offset
    ])
    footer = _struct([
        (1, I32, _int(1)),
        (2, LIST, _list(STRUCT, [
            _struct([(4, BIN, _binary(b"schema")), (5, I32, _int(1))]),
            _struct([(1, I32, _int(1)), (3, I32, _int(0)), (4, BIN, _binary(b"n"))]),
        ])),
        (3, I64, _int(values)),
        (4, LIST, _list(STRUCT, [_struct([
            (1, LIST, _list(STRUCT, [_struct([(2, I64, _int(4)), (3, STRUCT, meta)])])),
            (2, I64, _int(claimed)),
            (3, I64, _int(values)),
        ])])),
    ])
    return b"PAR1" + chunk + footer + len(footer).to_bytes(4, "little") + b"PAR1"


def upload_and_wait(fake, name, content):
    created = fake.create(name)
    body, tail = form(created, b"")
    status = raw(fake, upload_head(len(body) + len(content) + len(tail)), (body, content, tail))
    file = None
    for _ in range(1200):  # processing is on the fake's own schedule: poll its answer
        request = urllib.request.Request(
            fake.url(f"/v1/imports/{created['file_id']}"), headers={"u21-key": KEY}
        )
        file = json.load(urllib.request.urlopen(request))
        if file["status"] in ("FINISHED", "FAILED"):
            break
        time.sleep(0.1)
    return (
        f"{status}; then {file['status']} {file['failure_code'] or ''}, {file['successful_count']} ok, "
        f"{file['failure_count']} failed ({len(content)} bytes uploaded)"
    )


def parquet_lying_page(fake):
    # 121 bytes or so: a page that claims 2 GiB decompressed and holds 8 bytes.
    return upload_and_wait(fake, "lie.parquet", parquet_page(2**31 - 1, b"\0" * 8, 2, 0))


def parquet_gzip_bomb(fake):
    import zlib

    plain = bytes(256 * MB)  # 64 M zero INT32 values
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = gz.compress(plain) + gz.flush()
    return upload_and_wait(fake, "bomb.parquet", parquet_page(len(plain), data, len(plain) // 4, 2))


def csv_long_header(fake):
    return upload_and_wait(fake, "header.csv", b"id," + b"h" * (200 * MB) + b"\n1,2\n")


def csv_long_field(fake):
    return upload_and_wait(fake, "field.csv", b"id,note\n1," + b"x" * (200 * MB) + b"\n2,ok\n")


def stalled_bodies_then_a_get(fake):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    hostile = []
    for i in range(2000):
        s = socket.create_connection(("127.0.0.1", fake.port))
        s.sendall(
            b"POST /v1/imports/pre-signed-url/create HTTP/1.1\r\nHost: x\r\n"
            b"content-type: application/json\r\nContent-Length: 1000\r\n\r\n{\"str"
        )
        hostile.append(s)
    started = time.time()
    request = urllib.request.Request(fake.url("/v1/imports/list"), data=b"{}", headers={"u21-key": KEY, "content-type": "application/json"})
    status = urllib.request.urlopen(request, timeout=30).status
    took = (time.time() - started) * 1000
    for s in hostile:
        s.close()
    return f"2,000 connections with stalled bodies, no key; a keyed list answered {status} in {took:.0f} ms"


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/u21-mock"
    ONLY[:] = sys.argv[2:]
    case(binary, "300 MB multipart preamble", preamble)
    case(binary, "300 MB part header", part_header)
    case(binary, "journal flood without a key", journal)
    case(binary, "PUT /_mock/state of 16 MiB [0,0,…]", snapshot_zeros)
    case(binary, "PUT /_mock/state of 900 MiB of spaces, then {}", snapshot_spaces)
    case(binary, "the state of a 300 MiB upload out and back in", state_round_trip, "--timing", "instant")
    case(binary, "a 250 MB JSONL record", long_record, "--timing", "instant")
    case(binary, "stalled uploads", stalled_uploads, "--timing", "instant")
    case(binary, "slow request lines", half_sent_lines)
    case(binary, "a Parquet page claiming 2 GiB", parquet_lying_page, "--timing", "instant")
    case(binary, "a Parquet gzip page of 256 MiB", parquet_gzip_bomb, "--timing", "instant")
    case(binary, "stalled bodies, then a keyed call", stalled_bodies_then_a_get)
    case(binary, "a CSV header line of 200 MiB", csv_long_header, "--timing", "instant")
    case(binary, "a CSV field of 200 MiB", csv_long_field, "--timing", "instant")


if __name__ == "__main__":
    main()
