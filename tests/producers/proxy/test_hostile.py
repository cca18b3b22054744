"""The hostile-input corpus against one proxy (`demo` upstream): every request gets the status it
should, every error is in the OpenAI shape without Python exception text, a rejection leaves no
event, what is accepted decodes, and the proxy stays healthy; `ledger events` then reads back
exactly as many events as the log holds."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import orjson
import pytest
from openai import OpenAI

from events.codec import decode
from producers.proxy.config import ProxyConfig
from producers.proxy.server import ProxyServer

from .conftest import ROOT
from .corpus import CHAT, GOOD, LIMIT, Case, cases
from .harness import LogWatch, Reply, check_error, exchange

CASES = cases()


class Served:
    def __init__(self, proxy: ProxyServer, db: Path):
        self.proxy = proxy
        self.watch = LogWatch(db)
        self.http = httpx.Client(base_url=proxy.url, timeout=30)
        self.db = db


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    db = tmp_path_factory.mktemp("hostile") / "ledger.db"
    config = ProxyConfig(max_body_bytes=LIMIT, header_timeout_s=1.0, body_timeout_s=1.0)
    with ProxyServer(f"sqlite:///{db}", "demo", run_id="run-A", config=config) as proxy:
        s = Served(proxy, db)
        yield s
        s.http.close()


def _send(s: Served, case: Case) -> list[Reply]:
    token = s.proxy.token
    if case.raw is not None:
        return exchange(s.proxy.port, *[part.replace(b"{TOKEN}", token.encode()) for part in case.raw],
                        expect=case.replies)
    headers = {k: v.replace("{TOKEN}", token).encode("latin-1") for k, v in case.headers.items()}
    if case.auth:
        headers["Authorization"] = f"Bearer {token}".encode()
    r = s.http.request(case.method, case.path, headers=headers, content=case.body)
    return [Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_request(served: Served, case: Case):
    served.watch.new()
    replies = _send(served, case)
    assert len(replies) == case.replies, (case.id, replies)
    assert [r.status for r in replies] == [200] * (case.replies - 1) + [case.status], (case.id, replies)
    last = replies[-1]
    if last.status >= 400:
        err = check_error(last)
        if case.param is not None:  # the field named, or a place inside it
            assert err["param"] is not None and (err["param"] == case.param or err["param"].startswith(
                (case.param + ".", case.param + "["))), (case.id, err)
        if case.fragment is not None:
            assert case.fragment in err["message"], (case.id, err)
        if last.status == 405:
            assert last.headers.get("allow"), (case.id, last.headers)
    new = served.watch.new()
    assert len(new) == case.events, (case.id, [e.type for e in new])
    if case.events and case.body is not None and case.raw is None:
        _check_recorded(case, new, last)
    if case.raw is not None:  # whatever the connection went through, the proxy still answers
        assert served.http.get("/healthz").status_code == 200


def _check_recorded(case: Case, evs: list, reply: Reply) -> None:
    """What was sent and received is what decodes from the log."""
    sent = orjson.loads(case.body)
    req, resp = evs
    assert (req.type, resp.type, resp.parent) == ("proxy.request", "proxy.response", req.id)
    assert req.payload.model == sent["model"]
    if "messages" in sent:
        assert req.payload.messages == sent["messages"]
    own = ("model", "messages", "stream", "tools") if "messages" in sent else ("model", "prompt", "stream")
    assert req.payload.sampling == {k: v for k, v in sent.items() if k not in own}
    assert req.payload.tools == (sent.get("tools") if "messages" in sent else None)
    if not sent.get("stream"):
        choice = orjson.loads(reply.body)["choices"][0]
        assert resp.payload.text == choice.get("message", choice).get("content", choice.get("text"))
        assert resp.payload.finish_reason == choice["finish_reason"]


def test_slow_clients_are_cut_off(served: Served):
    port = served.proxy.port
    results: dict[str, list[Reply]] = {}

    def run(name: str, *parts: bytes, pause: float = 0.0) -> None:
        results[name] = exchange(port, *parts, pause=pause)

    head = b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + served.proxy.token.encode()
    body = orjson.dumps(GOOD)
    jobs = {
        "silent": (),
        "slow-head": (b"POST " + CHAT.encode() + b" HTTP/1.1\r\n", b"Host: x\r\n", b"X-A: b\r\n", b"X-B: c\r\n"),
        "slow-body": (head + b"\r\nContent-Length: %d\r\n\r\n" % len(body), body[:5], body[5:10], body[10:15]),
        "idle-after-request": (head + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body,),
    }
    threads = [threading.Thread(target=run, args=(name, *parts), kwargs={"pause": 0.6}) for name, parts in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for name in ("silent", "slow-head", "slow-body"):
        (reply,) = results[name]
        assert reply.status == 408 and check_error(reply)["code"] in ("header_timeout", "body_timeout"), name
    assert [r.status for r in results["idle-after-request"]] == [200]


def test_disconnects_mid_request_and_mid_stream(served: Served):
    served.watch.new()
    token = served.proxy.token.encode()
    body = orjson.dumps(GOOD)
    with socket.create_connection(("127.0.0.1", served.proxy.port)) as sock:  # half a body, then gone
        sock.sendall(b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token
                     + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:7])
    stream = orjson.dumps({**GOOD, "stream": True, "messages": [{"role": "user", "content": "x" * 5000}],
                           "stop": "never"})
    with socket.create_connection(("127.0.0.1", served.proxy.port)) as sock:  # first chunk, then gone
        sock.sendall(b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token
                     + b"\r\nContent-Length: %d\r\n\r\n" % len(stream) + stream)
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
    evs = served.watch.wait_new(2)
    assert [e.type for e in evs] == ["proxy.request", "proxy.response"]
    assert evs[1].payload.reason in ("cancelled", "done") and evs[1].parent == evs[0].id
    assert served.http.get("/healthz").status_code == 200


def test_afterwards_the_proxy_serves_and_every_event_reads_back(served: Served):
    """Runs last in this module: the openai SDK still works, and `ledger events` prints every row."""
    client = OpenAI(base_url=served.proxy.base_url("ep-after"), api_key=served.proxy.token, max_retries=0)
    assert client.chat.completions.create(**GOOD).choices[0].message.content
    assert client.models.retrieve("demo").id == "demo"
    time.sleep(0.2)  # a cancelled stream's events are appended in the background
    held = served.watch.count()
    printed = subprocess.run([sys.executable, "main.py", "events", "--log", f"sqlite:///{served.db}",
                              "--topic", "proxy"], cwd=ROOT, capture_output=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert len(lines) == held and held >= 50
    assert all(decode(line).type.startswith("proxy.") for line in lines)
    dead = subprocess.run([sys.executable, "main.py", "events", "--log", f"sqlite:///{served.db}",
                           "--topic", "deadletter"], cwd=ROOT, capture_output=True, timeout=120)
    assert dead.stdout == b""
    metrics = served.http.get("/metrics").text
    for kind in ("rejected", "headers_too_large", "too_many_headers", "invalid_http", "header_timeout"):
        assert f'proxy_errors_total{{kind="{kind}"}}' in metrics, kind
