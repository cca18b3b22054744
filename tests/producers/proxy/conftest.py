"""Fixtures: a real OpenAI-compatible upstream (infra.openai_stub) in a subprocess, and proxies."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from events.log import open_log
from producers.proxy.server import ProxyServer

ROOT = Path(__file__).resolve().parents[3]


class Stub:
    """The stub server process; `kill()` SIGKILLs it."""

    def __init__(self, *extra: str):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "infra.openai_stub", "--port", "0", *extra],
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on "), line
        self.port = int(line.split()[-1])
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    s = Stub()
    yield s
    s.kill()


@pytest.fixture
def log_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


@pytest.fixture
def proxy(log_url: str, stub: Stub) -> Iterator[ProxyServer]:
    with ProxyServer(log_url, f"openai:{stub.url}", run_id="run-1",
                     upstream_opts={"retries": 1, "backoff_s": 0.01, "timeout_s": 30}) as p:
        yield p


def proxy_events(url: str, episode: str | None = None) -> list:
    """The proxy topic's events (in log order per partition), optionally of one episode."""
    log = open_log(url)
    try:
        evs = [r.event for r in log.read("proxy")]
    finally:
        log.close()
    return [e for e in evs if episode is None or e.payload.episode_id == episode]
