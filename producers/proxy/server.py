"""`ProxyServer`: the proxy as an object you start and stop (uvicorn in a background thread).

    with ProxyServer("sqlite:///run.db", "demo", run_id="r1") as proxy:
        client = OpenAI(base_url=proxy.base_url("ep-1"), api_key=proxy.token)

Port fallback (as the SWE Agent Recipe's ModelProxy): if the requested port is
busy, the next `port_tries` ports are tried in order; `.port` is the one bound.
"""
from __future__ import annotations

import asyncio
import errno
import secrets
import socket
import threading
from typing import Any

import uvicorn

from events.log import EventLog, open_log
from producers.inference.base import Upstream
from producers.inference.factory import make_upstream

from .app import create_app
from .config import ProxyConfig
from .forwarding import Forwarder
from .metrics import Metrics
from .protocol import bounded_protocol
from .writer import GroupWriter

__all__ = ["ProxyServer", "PortsBusy", "bind_with_fallback"]


class PortsBusy(OSError):
    """Every port in the fallback range was taken."""


def bind_with_fallback(host: str, port: int, tries: int) -> socket.socket:
    """A listening socket on `port`, or the first free one of the next `tries` ports."""
    candidates = [0] if port == 0 else range(port, port + tries + 1)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                continue
            raise
        sock.listen(2048)
        sock.setblocking(False)
        return sock
    raise PortsBusy(errno.EADDRINUSE, f"ports {port}..{port + tries} on {host} are all busy")


class ProxyServer:
    """The model proxy, serving from a background thread once `start()` returns."""

    def __init__(self, log_url_or_log: str | EventLog, upstream: str | Upstream, host: str = "127.0.0.1",
                 port: int = 0, token: str | None = None, run_id: str = "",
                 config: ProxyConfig | None = None, upstream_opts: dict[str, Any] | None = None):
        self.config = config or ProxyConfig()
        self.config.host, self.config.port, self.config.run_id = host, port, run_id
        self.config.check()
        self.token = token or self.config.token or secrets.token_urlsafe(24)
        self._owns_log = isinstance(log_url_or_log, str)
        self.log = open_log(log_url_or_log) if isinstance(log_url_or_log, str) else log_url_or_log
        self.upstream = make_upstream(upstream, **(upstream_opts or {})) if isinstance(upstream, str) else upstream
        self.writer = GroupWriter(self.log, max_batch=self.config.max_batch)
        self.metrics = Metrics({
            "proxy_events_appended_total": lambda: self.writer.appended,
            "proxy_events_failed_total": lambda: self.writer.failed,
            "proxy_log_queue_depth": lambda: self.writer.depth,
            "proxy_log_batches_total": lambda: self.writer.batches,
            "proxy_episodes_holding_turns": lambda: self.forwarder.book.holding,
            "proxy_turns_dropped_total": lambda: self.forwarder.book.dropped_turns,
        })
        self.forwarder = Forwarder(self.upstream, self.writer, self.config, self.metrics)
        self.app = create_app(self.forwarder, self.token)
        self.host = host
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self, timeout_s: float = 30.0) -> "ProxyServer":
        sock = bind_with_fallback(self.host, self.config.port, self.config.port_tries)
        self.port = sock.getsockname()[1]
        protocol = bounded_protocol(self.config, on_refused=self.metrics.error)
        cfg = uvicorn.Config(self.app, loop="uvloop", http=protocol, ws="none", lifespan="off",
                             log_level="warning", access_log=False, timeout_keep_alive=self.config.keep_alive_s,
                             proxy_headers=False, server_header=False, date_header=False)
        self._server = uvicorn.Server(cfg)
        self._thread = threading.Thread(target=self._run, args=(sock,), name="proxy-server", daemon=True)
        self._thread.start()
        ready = threading.Event()
        for _ in range(int(timeout_s / 0.01)):
            if self._server.started or self._error is not None or not self._thread.is_alive():
                ready.set()
                break
            ready.wait(0.01)
        if not self._server.started:
            raise RuntimeError(f"proxy did not start on {self.host}:{self.port}: {self._error!r}")
        return self

    def _run(self, sock: socket.socket) -> None:
        try:
            import uvloop

            uvloop.run(self._serve(sock))
        except BaseException as exc:  # surfaced by start()
            self._error = exc

    async def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None
        try:
            await self._server.serve(sockets=[sock])
        finally:
            await self.upstream.aclose()
            await asyncio.sleep(0)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)
        self.writer.close()
        if self._owns_log:
            self.log.close()

    def wait(self) -> None:
        """Block until the server thread ends (the CLI's foreground mode)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def __enter__(self) -> "ProxyServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, episode_id: str) -> str:
        return f"{self.url}/e/{episode_id}/v1"
