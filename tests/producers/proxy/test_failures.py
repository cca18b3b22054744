"""Failure paths: client gone mid-stream, upstream dead/slow/broken, log unavailable."""
from __future__ import annotations

import socket
import sqlite3
import time

import httpx
import openai
import orjson
import pytest
from openai import OpenAI

from events.log import LogUnavailable
from events.log.sqlite import SqliteLog
from producers.proxy.config import ProxyConfig
from producers.proxy.server import ProxyServer

from .conftest import Stub, proxy_events
from .harness import PYTHON_TEXT

MSG = [{"role": "user", "content": "hello"}]


def _wait_for(url: str, episode: str, n: int, timeout_s: float = 20.0) -> list:
    deadline = time.monotonic() + timeout_s
    while True:
        evs = proxy_events(url, episode)
        if len(evs) >= n or time.monotonic() > deadline:
            return evs
        time.sleep(0.05)


def test_client_disconnect_mid_stream_records_cancelled(proxy, log_url):
    client = OpenAI(base_url=proxy.base_url("ep-gone"), api_key=proxy.token, max_retries=0)
    stream = client.chat.completions.create(model="m", messages=MSG, stream=True,
                                            extra_body={"stub_pieces": 40, "stub_delay_s": 0.05})
    received = ""
    for i, chunk in enumerate(stream):
        received += chunk.choices[0].delta.content or ""
        if i == 2:
            break
    stream.close()
    req, resp = _wait_for(log_url, "ep-gone", 2)
    assert resp.payload.reason == "cancelled" and resp.payload.stream
    assert resp.payload.text.startswith(received) and len(received) > 0
    assert resp.payload.trainable is False and resp.parent == req.id


def test_upstream_killed_gives_502_and_proxy_error(log_url):
    stub = Stub()
    with ProxyServer(log_url, f"openai:{stub.url}", upstream_opts={"retries": 1, "backoff_s": 0.01}) as p:
        client = OpenAI(base_url=p.base_url("ep-dead"), api_key=p.token, max_retries=0)
        assert client.chat.completions.create(model="m", messages=MSG).choices[0].message.content
        stub.kill()
        for stream in (False, True):
            with pytest.raises(openai.APIStatusError) as err:
                r = client.chat.completions.create(model="m", messages=MSG, stream=stream)
                list(r) if stream else None
            assert err.value.status_code == 502 and "openai:http://127.0.0.1" in err.value.message
        status = httpx.get(f"{p.url}/e/ep-dead/status", headers={"Authorization": f"Bearer {p.token}"}).json()
    evs = proxy_events(log_url, "ep-dead")
    assert [e.type for e in evs] == ["proxy.request", "proxy.response"] + ["proxy.request", "proxy.error"] * 2
    errors = [e.payload for e in evs if e.type == "proxy.error"]
    assert all(e.status == 502 and e.kind == "upstream_error" for e in errors)
    assert status["errors"] == 2 and status["incomplete"] is False


def test_upstream_broken_mid_stream_ends_with_upstream_error(proxy, log_url):
    client = OpenAI(base_url=proxy.base_url("ep-drop"), api_key=proxy.token, max_retries=0)
    got = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(model="m", messages=MSG, stream=True,
                                                    extra_body={"stub_pieces": 6, "stub_drop_after": 2}):
            got.append(chunk.choices[0].delta.content or "")
    req, resp, err = proxy_events(log_url, "ep-drop")
    assert resp.payload.reason == "upstream_error" and resp.payload.text == "".join(got)
    assert err.type == "proxy.error" and err.payload.kind == "upstream_error"


def test_upstream_timeout_gives_504_and_error_status_passthrough(log_url, stub):
    with ProxyServer(log_url, f"openai:{stub.url}", upstream_opts={"retries": 1, "backoff_s": 0.01,
                                                                   "timeout_s": 0.3}) as p:
        client = OpenAI(base_url=p.base_url("ep-slow"), api_key=p.token, max_retries=0)
        with pytest.raises(openai.APIStatusError) as slow:
            client.chat.completions.create(model="m", messages=MSG, extra_body={"stub_delay_s": 3})
        with pytest.raises(openai.APIStatusError) as failing:
            client.chat.completions.create(model="m", messages=MSG, extra_body={"stub_status": 500})
        with pytest.raises(openai.APIStatusError) as refused:
            client.chat.completions.create(model="m", messages=MSG, extra_body={"stub_status": 422})
    assert slow.value.status_code == 504 and failing.value.status_code == 502
    assert refused.value.status_code == 422 and "stub asked to fail with 422" in refused.value.message
    kinds = [(e.payload.kind, e.payload.status) for e in proxy_events(log_url, "ep-slow") if e.type == "proxy.error"]
    assert kinds == [("upstream_timeout", 504), ("upstream_error", 502), ("upstream_error", 422)]


def test_log_unavailable_gives_503_and_no_response_without_its_event(tmp_path, stub):
    url = f"sqlite:///{tmp_path}/locked.db?busy_timeout_ms=200"
    with ProxyServer(url, f"openai:{stub.url}") as p:
        client = OpenAI(base_url=p.base_url("ep-lock"), api_key=p.token, max_retries=0)
        first = client.chat.completions.create(model="m", messages=MSG).choices[0].message.content
        holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the log: appends cannot commit
        try:
            for stream in (False, True):
                with pytest.raises(openai.APIError) as err:
                    r = client.chat.completions.create(model="m", messages=MSG, stream=stream)
                    list(r) if stream else None
                assert "log unavailable" in str(err.value.message)
            headers = {"Authorization": f"Bearer {p.token}"}
            status = httpx.get(f"{p.url}/e/ep-lock/status", headers=headers).json()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        after = client.chat.completions.create(model="m", messages=MSG).choices[0].message.content
        assert p.writer.failed >= 4
    assert status["incomplete"] is True and len(status["unrecorded"]) == 2
    responses = [e.payload for e in proxy_events(url.split("?")[0], "ep-lock") if e.type == "proxy.response"]
    assert [r.text for r in responses] == [first, after]  # exactly the two answers the client got
    assert {r.turn for r in responses} == {0, 3}


class RefusingLog(SqliteLog):
    """A real SQLite log that refuses the next `refusals` appends, as a full disk would."""

    refusals = 0

    def append_many(self, outputs):
        if self.refusals:
            self.refusals -= 1
            raise LogUnavailable("disk full (refused on purpose)")
        return super().append_many(outputs)


def test_log_refusal_is_503_without_exception_text_and_its_error_has_its_parent(tmp_path):
    log = RefusingLog(f"sqlite:///{tmp_path}/refusing.db")
    with ProxyServer(log, "demo") as p:
        client = OpenAI(base_url=p.base_url("ep-full"), api_key=p.token, max_retries=0)
        for stream in (False, True):
            log.refusals = 2  # the batch and its item-by-item retry are refused; the error + request are taken after
            with pytest.raises(openai.APIError) as err:
                r = client.chat.completions.create(model="m", messages=MSG, stream=stream)
                list(r) if stream else None
            message = str(err.value.message)
            assert "log unavailable" in message and "refused on purpose" not in message
            assert not PYTHON_TEXT.search(message)
            evs = _wait_for(f"sqlite:///{tmp_path}/refusing.db", "ep-full", 4 if stream else 2)
    by_id = {e.id: e for e in evs}
    errors = [e for e in evs if e.type == "proxy.error"]
    assert len(errors) == 2 and not any(e.type == "proxy.response" for e in evs)
    for e in errors:
        assert e.payload.kind == "log_unavailable" and e.payload.status == 503
        assert by_id[e.parent].type == "proxy.request" and not PYTHON_TEXT.search(e.payload.message)


def test_a_client_that_stops_reading_is_cut_off_and_its_stream_still_recorded(log_url, stub):
    config = ProxyConfig(send_timeout_s=1.0)
    with ProxyServer(log_url, f"openai:{stub.url}", config=config) as p:
        for listener in p._server.servers[0].sockets:  # small kernel buffers: the proxy's own buffer fills fast
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        body = orjson.dumps({"model": "m", "stream": True, "messages": MSG, "stub_reply": "r" * 150_000,
                             "stub_pieces": 150})
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", p.port))
            sock.sendall(b"POST /e/ep-stalled/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                         + p.token.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            req, resp = _wait_for(log_url, "ep-stalled", 2, 60)  # recorded once the proxy gave up on the reader
            got = b""
            sock.settimeout(10)
            try:
                while data := sock.recv(1 << 16):
                    got += data
            except ConnectionResetError:
                pass
        assert httpx.get(f"{p.url}/healthz").status_code == 200
    assert b"[DONE]" not in got and 0 < len(got) < 150_000  # cut off long before the end
    # recorded either as cancelled, or (if the whole stream was made before the cut was noticed) as done
    assert resp.payload.reason in ("cancelled", "done") and resp.payload.text.startswith("r" * 1000)
