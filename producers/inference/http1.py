"""A lean HTTP/1.1 client (keep-alive pool, httptools parser) for the proxy's upstream calls.

The proxy's throughput is bounded by its per-request CPU; a general-purpose
client spends several hundred microseconds per call on features the proxy does
not use (cookies, redirects, tracing, middlewares). This one does one thing:
POST a body to one host over pooled keep-alive connections, and hand back the
status and either the whole body or its chunks as they arrive.

A request sent on a reused connection that the server had already closed
(keep-alive expiry) is resent once on a fresh connection.
"""
from __future__ import annotations

import asyncio
import socket
from collections import deque
from typing import AsyncIterator
from urllib.parse import urlsplit

import httptools

__all__ = ["Pool", "Response", "ConnectionFailed"]


class ConnectionFailed(ConnectionError):
    """The connection failed or closed before the response was complete."""


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.used = False
        self.status = 0
        self.headers_done: asyncio.Future | None = None
        self.complete = False
        self.chunks: deque[bytes] = deque()
        self.waiter: asyncio.Future | None = None
        self.error: BaseException | None = None
        self.got_bytes = False
        self.keep_alive = False

    # -- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(ConnectionFailed("bad HTTP response from upstream (unparsable)"))
            self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        if not self.complete:
            reason = getattr(exc, "strerror", None) if exc else None
            self._fail(ConnectionFailed(f"upstream closed the connection{f' ({reason})' if reason else ''}"))

    # -- httptools callbacks ---------------------------------------------------------
    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_result(None)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self._wake()

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()  # only valid before the parser resets
        self.complete = True
        self._wake()

    # -- use -------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.used = True
        self.status, self.complete, self.error, self.got_bytes, self.keep_alive = 0, False, None, False, False
        self.chunks.clear()
        self.headers_done = loop.create_future()
        self.transport.write(data)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_exception(exc)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    async def next_chunk(self) -> bytes | None:
        """The next body piece, or None at the end of the response."""
        while not self.chunks:
            if self.complete:
                return None
            if self.error is not None:
                raise self.error
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
            self.waiter = None
        return self.chunks.popleft()

    def reusable(self) -> bool:
        return self.complete and not self.closed and self.keep_alive


class Response:
    """An upstream response whose headers have arrived; read or iterate its body once, then close."""

    def __init__(self, pool: "Pool", conn: _Conn):
        self.pool, self.conn, self.status = pool, conn, conn.status

    async def read(self) -> bytes:
        parts = []
        while (piece := await self.conn.next_chunk()) is not None:
            parts.append(piece)
        return b"".join(parts)

    async def iter_lines(self) -> AsyncIterator[bytes]:
        pending = b""
        while (piece := await self.conn.next_chunk()) is not None:
            pending += piece
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line
        if pending:
            yield pending

    def close(self) -> None:
        self.pool.release(self.conn)


class Pool:
    """Keep-alive connections to the host of `base_url`."""

    def __init__(self, base_url: str, headers: dict[str, str]):
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError(f"the lean client speaks plain http only, got {base_url!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        host_header = f"{self.host}:{self.port}"
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": host_header, **headers}.items())
        self.idle: list[_Conn] = []

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Conn, self.host, self.port)
        except OSError as exc:
            raise ConnectionFailed(f"cannot connect to {self.host}:{self.port} "
                                   f"({exc.strerror or 'no connection'})") from exc
        return conn

    async def post(self, path: str, body: bytes) -> Response:
        """Send; returns once the response headers arrived (the body may still be coming)."""
        request = (f"POST {self.prefix}{path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n"
                   .encode("latin-1") + body)
        while self.idle:
            conn = self.idle.pop()
            if conn.closed:
                continue
            try:
                return await self._send(conn, request)
            except ConnectionFailed:
                if conn.got_bytes:
                    raise
                # the server closed an idle connection: resend once on a fresh one
                break
        return await self._send(await self._connect(), request)

    async def _send(self, conn: _Conn, request: bytes) -> Response:
        conn.send(request)
        try:
            await conn.headers_done
        except BaseException:
            self.discard(conn)
            raise
        return Response(self, conn)

    def release(self, conn: _Conn) -> None:
        if conn.reusable():
            self.idle.append(conn)
        else:
            self.discard(conn)

    def discard(self, conn: _Conn) -> None:
        conn.closed = True
        if conn.transport is not None:
            conn.transport.close()

    def close(self) -> None:
        for conn in self.idle:
            self.discard(conn)
        self.idle.clear()
