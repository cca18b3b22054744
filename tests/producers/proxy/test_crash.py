"""SIGKILL the proxy under load: every answer a client received has its events in the log."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import httpx

from .conftest import ROOT, Stub, proxy_events

BODY = {"model": "m", "messages": [{"role": "user", "content": "go"}]}


def test_sigkill_under_load_loses_no_acknowledged_response(tmp_path, stub: Stub):
    url = f"sqlite:///{tmp_path}/crash.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "main.py", "proxy", "--log", url, "--port", "0", "--token", "t",
                             "--upstream", f"openai:{stub.url}"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    port = json.loads(proc.stdout.readline())["port"]
    acked: list[str] = []
    lock, enough = threading.Lock(), threading.Event()

    def worker(w: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer t"}) as http:
            while True:
                try:
                    r = http.post(f"/e/crash-{w}/v1/chat/completions", json=BODY)
                except httpx.HTTPError:
                    return  # the proxy is gone
                if r.status_code == 200:
                    with lock:
                        acked.append(r.headers["x-request-id"])
                        if len(acked) >= 150:
                            enough.set()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    enough.wait(120)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for t in threads:
        t.join(30)
    recorded = {e.payload.request_id for e in proxy_events(url) if e.type == "proxy.response"}
    requests = {e.id for e in proxy_events(url) if e.type == "proxy.request"}
    assert len(acked) >= 150
    assert set(acked) <= recorded and set(acked) <= requests
