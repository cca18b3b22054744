"""The proxy's HTTP/1.1 connection: uvicorn's httptools protocol, bounded before any request runs.

uvicorn's protocol puts no limit on the size of a request's head, no timeout on
reading a head or a body, and none on a client that stops reading. Each
connection here enforces, before the app (and its token check) sees anything:

| bound                                   | answer                     |
|-----------------------------------------|----------------------------|
| more than `max_connections` open        | 503, closed at once        |
| request line + headers > `max_header_bytes`, or > `max_headers` lines | 431, closed |
| head not complete `header_timeout_s` after the connection opened or the request's first byte | 408, closed |
| body not complete `body_timeout_s` after the head (time the server holds reading back does not count) | 408, closed |
| a client reading nothing of a pending response for `send_timeout_s` | closed |
| idle keep-alive longer than `keep_alive_s` | closed (uvicorn's timer) |
| a request httptools cannot parse (bad method, bad header bytes, NUL, bad Content-Length or chunking, non-ASCII path) | 400, closed |

Answers are in the OpenAI error shape, like every other error of the proxy.
Memory per connection is therefore at most about `max_header_bytes` plus one
read (256 KiB) plus what the app reads after the token check. This subclasses
uvicorn's `HttpToolsProtocol` and relies on its per-connection attributes
(`connections`, `cycle`, `flow`, `parser`, `transport`).
"""
from __future__ import annotations

import asyncio
from typing import Callable

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .config import ProxyConfig
from .responses import error_body

__all__ = ["bounded_protocol", "BoundedHttpToolsProtocol"]


class _Refuse(Exception):
    def __init__(self, status: int, message: str, code: str):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """One connection with the bounds of `config` (set by `bounded_protocol`)."""

    limits: ProxyConfig
    on_refused: Callable[[str], None] = staticmethod(lambda code: None)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        """Between requests or reading a request's head (not its body, not waiting for the app)."""
        self._raw_head = 0
        """Bytes received since the head began (a partial head is buffered by the parser)."""
        self._head_bytes = 0
        """Bytes of the request line and header lines the parser handed over."""
        self._head_lines = 0
        self._timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._deferred: bytes | None = None
        """An answer held back until the response under way is complete."""

    # -- connection ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503, f"too many connections (the limit is {self.limits.max_connections}); "
                         "retry later", "too_many_connections")
            return
        self._arm(self.limits.header_timeout_s, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._cancel_send_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._unset_keepalive_if_required()
        if self._in_head:
            if self._timer is None:
                self._arm(self.limits.header_timeout_s, self._head_timed_out)
            self._raw_head += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Refuse):
                self._refuse(cause.status, cause.message, cause.code)
            else:
                self._refuse(400, "invalid HTTP request", "invalid_http")
            return
        except httptools.HttpParserUpgrade:
            pass  # no upgrades here: the request was handled as a plain one
        except httptools.HttpParserError as exc:
            self._refuse(400, f"invalid HTTP request ({_reason(exc)})", "invalid_http")
            return
        if self._in_head and self._raw_head > self.limits.max_header_bytes:
            self._refuse(431, f"request head larger than {self.limits.max_header_bytes} bytes",
                         "headers_too_large")

    # -- parser callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes, self._head_lines = True, 0, 0

    def on_url(self, url: bytes) -> None:
        self._grow(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_lines += 1
        if self._head_lines > self.limits.max_headers:
            raise _Refuse(431, f"more than {self.limits.max_headers} header lines", "too_many_headers")
        self._grow(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._raw_head = False, 0
        self._disarm()
        super().on_headers_complete()
        self._arm(self.limits.body_timeout_s, self._body_timed_out)

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head, self._raw_head = True, 0
        super().on_message_complete()

    def _grow(self, n: int) -> None:
        """Count head bytes as the parser hands them over (a whole head may arrive in one read)."""
        self._head_bytes += n
        if self._head_bytes > self.limits.max_header_bytes:
            raise _Refuse(431, f"request head larger than {self.limits.max_header_bytes} bytes",
                          "headers_too_large")

    # -- writing -------------------------------------------------------------------------
    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None and not self._refused:
            self._send_timer = self.loop.call_later(self.limits.send_timeout_s, self._send_timed_out)

    def resume_writing(self) -> None:
        self._cancel_send_timer()
        super().resume_writing()

    def _cancel_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_timed_out(self) -> None:
        self._send_timer = None
        self.on_refused("send_timeout")
        self._refused = True
        self.transport.abort()  # close() would wait for the unread response to drain

    # -- timers --------------------------------------------------------------------------
    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_timed_out(self) -> None:
        self._timer = None
        self._refuse(408, f"request headers not received within {self.limits.header_timeout_s} s",
                     "header_timeout")

    def _body_timed_out(self) -> None:
        self._timer = None
        if self.flow is not None and self.flow.read_paused:  # the server holds reading back, not the client
            self._arm(self.limits.body_timeout_s, self._body_timed_out)
            return
        self._refuse(408, f"request body not received within {self.limits.body_timeout_s} s",
                     "body_timeout")

    # -- refusing ------------------------------------------------------------------------
    def _refuse(self, status: int, message: str, code: str) -> None:
        """Answer `status` in the OpenAI error shape and close.

        A bad head that follows a request still being answered (pipelining) is
        answered after that response; otherwise at once, unless a response is
        already under way on this connection, which is then just cut.
        """
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._disarm()
        self.on_refused(code)
        answer = _answer(status, message, code)
        cycle = self.cycle
        if self._in_head and cycle is not None and not cycle.response_complete:
            self._deferred = answer
            self.flow.pause_reading()
            return
        if cycle is None or not cycle.response_started or (cycle.response_complete and self._in_head):
            self.transport.write(answer)
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's pending receive() ends; its sends are dropped
            cycle.message_event.set()
        self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._deferred is not None and not self.transport.is_closing():
            self.transport.write(self._deferred)
            self.transport.close()


def _answer(status: int, message: str, code: str) -> bytes:
    body = error_body(status, message, code)
    return b"".join([STATUS_LINE[status], b"content-type: application/json\r\n",
                     b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n", body])


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or "unparsable"
    return "".join(c if c.isprintable() else "?" for c in text[:80])


def bounded_protocol(config: ProxyConfig, on_refused: Callable[[str], None] | None = None) -> type:
    """A protocol class for uvicorn's `Config(http=...)` that enforces `config`'s bounds."""
    attrs = {"limits": config}
    if on_refused is not None:
        attrs["on_refused"] = staticmethod(on_refused)
    return type("ProxyHttpProtocol", (BoundedHttpToolsProtocol,), attrs)
