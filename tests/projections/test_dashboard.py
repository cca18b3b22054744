"""The dashboard: a real uvicorn server, its JSON API, and the page in headless Chromium."""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from projections.dashboard.app import create_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--window-size=1280,1800", "--hide-scrollbars"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(demo_lake):
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(demo_lake), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: run `make test` (it installs Debian's chromium package) "
                    "or `apt-get install -y chromium`")
    return exe


def _chromium_run(args: list[str]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120)


def test_json_api(server):
    runs = httpx.get(f"{server}/api/runs").json()
    assert [r["run_id"] for r in runs] == ["demo", "demo-b"]
    assert runs[0]["status"] == "finished" and runs[0]["pass_at_1"] == pytest.approx(0.3)
    passk = httpx.get(f"{server}/api/passk").json()
    assert [k for k, _ in passk["demo"]] == [1, 2, 3, 4, 5]
    assert [a["rule"] for a in httpx.get(f"{server}/api/alerts").json()] == ["reward_drop"]
    memory = httpx.get(f"{server}/api/memory").json()
    assert [w["name"] for w in memory["django/django"]["workflows"]] == ["wf-1", "wf-2"]
    assert len(httpx.get(f"{server}/api/trainer").json()) == 20
    assert {t["id"] for t in httpx.get(f"{server}/api/tasks").json()} == {"add-payment-tests", "bump-deps"}
    assert len(httpx.get(f"{server}/api/scores", params={"run": "demo-b"}).json()) == 12
    svg = httpx.get(f"{server}/charts/passk.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "<polyline" in svg.text
    assert httpx.get(f"{server}/charts/nope.svg").status_code == 404


def test_page_renders_in_headless_chromium(server, tmp_path):
    dom = _chromium_run(["--dump-dom", f"{server}/"])
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'id="runs-table"' in html and html.count("<tr>") >= 3
    assert "demo" in html and "demo-b" in html
    chart = html[html.index('id="passk-chart"'):]
    chart = chart[:chart.index("</svg>")]
    assert chart.count("<polyline") == 2, "one pass@k curve per run"
    assert 'id="reward-chart"' in html and 'id="loss-chart"' in html and "reward_drop" in html
    shot = tmp_path / "dashboard.png"
    res = _chromium_run([f"--screenshot={shot}", f"{server}/"])
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    (ROOT / "artifacts").mkdir(exist_ok=True)
    shutil.copy(shot, ROOT / "artifacts" / "dashboard.png")
