"""ProxyServer surface: port fallback, auth, episode routing, run ids, health, metrics, models, CLI."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import httpx
import pytest
from openai import OpenAI

from producers.proxy.server import PortsBusy, ProxyServer, bind_with_fallback

from .conftest import ROOT, proxy_events

MSG = [{"role": "user", "content": "hi"}]


def test_busy_port_falls_back_to_the_next_free_one(log_url):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    try:
        with ProxyServer(log_url, "demo", port=busy) as p:
            assert p.port != busy and busy < p.port <= busy + 20
            assert httpx.get(f"{p.url}/healthz").json()["ok"] is True
        with pytest.raises(PortsBusy, match="all busy"):
            bind_with_fallback("127.0.0.1", busy, 0)
    finally:
        taken.close()


def test_episode_routing_run_ids_and_auth(log_url):
    with ProxyServer(log_url, "demo", token="secret", run_id="run-A") as p:
        assert p.token == "secret" and p.base_url("ep-1") == f"http://127.0.0.1:{p.port}/e/ep-1/v1"
        OpenAI(base_url=p.base_url("ep-1"), api_key="secret").chat.completions.create(model="m", messages=MSG)
        plain = OpenAI(base_url=f"{p.url}/v1", api_key="secret")
        plain.chat.completions.create(model="m", messages=MSG)
        plain.chat.completions.create(model="m", messages=MSG,
                                      extra_headers={"X-Episode-Id": "ep-2", "X-Run-Id": "run-B"})
        with pytest.raises(Exception) as denied:
            OpenAI(base_url=p.base_url("ep-1"), api_key="wrong", max_retries=0).chat.completions.create(
                model="m", messages=MSG)
        assert getattr(denied.value, "status_code", None) == 401
        models = plain.models.list()
        metrics = httpx.get(f"{p.url}/metrics").text
    assert [m.id for m in models.data] == ["demo"]
    evs = proxy_events(log_url)
    where = {(e.payload.episode_id, e.run_id) for e in evs}
    assert where == {("ep-1", "run-A"), ("adhoc", "run-A"), ("ep-2", "run-B")}
    assert all(e.payload.scripted for e in evs) and len(evs) == 6
    assert 'proxy_requests_total{endpoint="chat",status="200"} 3' in metrics
    assert "proxy_events_appended_total 6" in metrics and "proxy_log_queue_depth 0" in metrics
    assert 'proxy_request_duration_seconds_bucket{le="+Inf"} 4' in metrics


def test_cli_serves_and_reports_the_port(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "main.py", "proxy", "--log", f"sqlite:///{tmp_path}/cli.db",
                             "--upstream", "demo", "--port", "0", "--token", "tok", "--run-id", "cli"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["token"] == "tok" and info["base_url"].endswith("/e/{episode_id}/v1")
        client = OpenAI(base_url=info["base_url"].format(episode_id="cli-ep"), api_key="tok")
        assert client.completions.create(model="m", prompt="x").choices[0].text
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert [e.type for e in proxy_events(f"sqlite:///{tmp_path}/cli.db")] == ["proxy.request", "proxy.response"]
