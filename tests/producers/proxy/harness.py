"""Tools the proxy's hostile-input tests share: a raw HTTP/1.1 exchange, a watch on the log, shape checks."""
from __future__ import annotations

import re
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from events.codec import decode
from events.envelope import Envelope

__all__ = ["Reply", "exchange", "LogWatch", "check_error", "PYTHON_TEXT"]

PYTHON_TEXT = re.compile(r"Traceback|\b\w+(Error|Exception)\b:|unhashable type|object has no attribute|"
                         r"sequence item \d|NoneType|<class '")
"""What Python exception text looks like; no message the proxy sends or records may match it."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _read_one(buf: bytearray, sock: socket.socket) -> Reply | None:
    """One final response from `buf` (+ the socket), interim 1xx skipped; None when the connection ended first."""
    while True:
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                return None
            buf += data
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        if status >= 200:
            break
        del buf[:len(head) + 4]
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    del buf[:len(head) + 4]
    body = bytearray(rest)
    if "content-length" in headers:
        need = int(headers["content-length"])
        while len(body) < need:
            data = sock.recv(65536)
            if not data:
                break
            body += data
        buf[:] = body[need:]
        return Reply(status, headers, bytes(body[:need]))
    if headers.get("transfer-encoding") == "chunked":
        while not body.endswith(b"0\r\n\r\n"):
            data = sock.recv(65536)
            if not data:
                break
            body += data
        buf.clear()
        return Reply(status, headers, _dechunk(bytes(body)))
    while data := sock.recv(65536):
        body += data
    buf.clear()
    return Reply(status, headers, bytes(body))


def _dechunk(data: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2:end + 2 + size]
        pos = end + 2 + size + 2


def exchange(port: int, *parts: bytes, expect: int = 1, pause: float = 0.0, timeout: float = 10.0) -> list[Reply]:
    """Send `parts` (with `pause` seconds between them) on one connection; read up to `expect` replies."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            for i, part in enumerate(parts):
                if i and pause:
                    time.sleep(pause)
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the proxy refused and closed early: its answer is still readable
        buf, out = bytearray(), []
        try:
            while len(out) < expect:
                reply = _read_one(buf, sock)
                if reply is None:
                    break
                out.append(reply)
        except ConnectionResetError:
            pass
        return out


def check_error(reply: Reply) -> dict:
    """The OpenAI error shape, with no Python exception text in it; returns the `error` object."""
    assert reply.headers.get("content-type", "").startswith("application/json"), reply
    err = orjson.loads(reply.body)["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["type"], str) and isinstance(err["code"], str), err
    assert err["param"] is None or isinstance(err["param"], str), err
    assert not PYTHON_TEXT.search(err["message"]), err
    return err


class LogWatch:
    """The proxy topic of a SQLite log, read read-only: what was appended since the last look."""

    def __init__(self, db: Path):
        self.db = db
        self.seen = 0

    def _rows(self, after: int) -> list[tuple[int, bytes]]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT seq, value FROM events WHERE topic = 'proxy' AND seq > ? ORDER BY seq",
                                (after,)).fetchall()
        finally:
            conn.close()

    def new(self) -> list[Envelope]:
        """Events appended since the last call, each decoded as every reader decodes it."""
        rows = self._rows(self.seen)
        if rows:
            self.seen = rows[-1][0]
        return [decode(value) for _, value in rows]

    def wait_new(self, n: int, timeout_s: float = 20.0) -> list[Envelope]:
        got: list[Envelope] = []
        deadline = time.monotonic() + timeout_s
        while len(got) < n and time.monotonic() < deadline:
            got += self.new()
            if len(got) < n:
                time.sleep(0.02)
        return got

    def count(self) -> int:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT count(*) FROM events WHERE topic = 'proxy'").fetchone()[0]
        finally:
            conn.close()
