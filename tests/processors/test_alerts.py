"""alerts: windowed rules raise and resolve; `ledger alerts --follow` prints them live
and POSTs them to a webhook."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import events
from events.log import open_log
from events.payloads import ProxyError, ProxyResponse
from processors.alert_rules import Rule
from processors.reducers.alerts import Alerts
from processors.runtime import Runtime
from tests.processors.synth import eval_result

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def proxy(i: int, error: bool, latency: float = 100.0):
    ts = T0 + timedelta(seconds=i)
    p = (ProxyError(episode_id=f"e{i}", request_id=f"q{i}", status=502, kind="upstream_error", message="x")
         if error else ProxyResponse(episode_id=f"e{i}", request_id=f"q{i}", turn=0, latency_ms=latency))
    return events.new(p, producer="proxy", run_id="r", ts=ts)


def test_error_rate_raises_then_resolves_in_event_time(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/l.db")
    rule = Rule("errs", "proxy_error_rate", 0.5, window_s=10, min_events=4)
    lat = Rule("slow", "proxy_p95_latency_ms", 1000, window_s=60, min_events=5)
    evs = [proxy(i, error=4 <= i < 10, latency=5000 if i >= 20 else 100) for i in range(30)]
    log.append("proxy", evs)
    Runtime(log, [Alerts((rule, lat))]).run()
    got = [(r.event.type, r.event.payload.rule) for r in log.read("alerts")]
    assert got == [("alert.raised", "errs"), ("alert.resolved", "errs"), ("alert.raised", "slow")]
    raised = next(r.event.payload for r in log.read("alerts"))
    assert raised.value > 0.5 and raised.threshold == 0.5 and raised.window_s == 10


class Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_ledger_alerts_follow_prints_live_and_posts_webhook(tmp_path):
    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""rules:
  - name: timeouts
    metric: eval_timeout_rate
    threshold: 0.4
    window_s: 3600
    min_events: 3
    webhook: http://127.0.0.1:{server.server_port}/hook
""")
    url = f"sqlite:///{tmp_path}/l.db"
    log = open_log(url)
    log.append("evals", [eval_result("r", "a__b-0", 0, False)])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "alerts", "--log", url, "--follow",
                             "--rules", str(rules), "--process"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        log.append("evals", [eval_result("r", f"a__b-{i}", 0, False, status="timeout") for i in range(1, 4)])
        alert = json.loads(proc.stdout.readline())
        assert alert["type"] == "alert.raised" and alert["payload"]["rule"] == "timeouts"
        assert abs(alert["payload"]["value"] - 2 / 3) < 1e-12
        # appended only after the command printed: the resolution must show up live
        log.append("evals", [eval_result("r", f"c__d-{i}", 0, True) for i in range(6)])
        resolved = json.loads(proc.stdout.readline())
        assert resolved["type"] == "alert.resolved" and resolved["payload"]["value"] < 0.4
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()
    assert [h["id"] for h in Hook.received] == [alert["id"], resolved["id"]]


def test_bad_rules_file_names_the_problem(tmp_path):
    from processors.alert_rules import load_rules

    bad = tmp_path / "r.yaml"
    bad.write_text("rules:\n  - {name: x, metric: cpu, threshold: 1}\n")
    try:
        load_rules(bad)
    except ValueError as exc:
        assert "unknown metric 'cpu'" in str(exc)
    else:
        raise AssertionError("accepted an unknown metric")
