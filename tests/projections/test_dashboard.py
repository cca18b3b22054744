"""The dashboard over a fresh demo: a real uvicorn server, its JSON API checked against the log
itself, every page rendered in headless Chromium (screenshots under artifacts/dashboard/), every
link followed, and every episode three clicks from the Runs page."""
from __future__ import annotations

import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from html import unescape
from pathlib import Path
from urllib.parse import unquote

import httpx
import orjson
import pytest
import uvicorn

from projections.dashboard.app import create_app

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "dashboard"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
_HREF = re.compile(r'href="(/[^"#]*)')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _serving(lake: Path):
    """The dashboard of `lake` on a real uvicorn server in a thread; yields its base URL."""
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(lake), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(fresh_demo):
    with _serving(fresh_demo / ".ledger" / "lake") as url:
        yield url


@pytest.fixture(scope="module")
def log_events(fresh_demo) -> list[dict]:
    """Every event of the main log, read with sqlite3 (the lake is not involved)."""
    with sqlite3.connect(fresh_demo / ".ledger" / "ledger.db") as conn:
        return [orjson.loads(v) for (v,) in conn.execute("SELECT value FROM events ORDER BY seq")]


def _of(evs: list[dict], event_type: str, run: str | None = None) -> list[dict]:
    return [e for e in evs if e["type"] == event_type and (run is None or e["run_id"] == run)]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: run `make test` (it installs Debian's chromium package) "
                    "or `apt-get install -y chromium`")
    return exe


def _chromium_run(args: list[str], size: str = "1400,1800") -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--window-size={size}", f"--user-data-dir={profile}",
                               *args], capture_output=True, text=True, timeout=180)


def _dom(url: str) -> str:
    res = _chromium_run(["--dump-dom", url])
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_json_api_matches_the_log(server, log_events):
    runs = {r["run_id"]: r for r in httpx.get(f"{server}/api/runs").json()}
    assert set(runs) == {"demo", "search.temperature=0.2", "search.temperature=0.9", "demo-rl"}
    assert runs["demo"]["mode"] == "eval" and runs["demo-rl"]["mode"] == "rl"
    assert runs["search.temperature=0.2"]["mode"] == "param_search"
    assert runs["search.temperature=0.2"]["parent_run"] == "search"
    assert runs["demo"]["status"] == "finished" and runs["demo-rl"]["status"] in ("running", "unfinished")
    evals = _of(log_events, "eval.result", "demo")
    assert runs["demo"]["evaluated"] == len(evals) == 16
    assert runs["demo"]["resolved"] == sum(e["payload"]["resolved"] for e in evals)
    assert runs["demo"]["model_failures"] == sum(not e["payload"]["resolved"] for e in evals)
    assert runs["demo"]["infra_failures"] == 0 and sorted(runs["demo"]["pass_at"]) == ["1", "2", "4"]
    run = httpx.get(f"{server}/api/runs/demo").json()
    by_repo = Counter(e["payload"]["repo"] for e in evals)
    assert {r["repo"]: r["evaluated"] for r in run["repos"]} == dict(by_repo)
    assert all(r["coverage"] == 1.0 and r["samples"] == 4 for r in run["repos"])  # coverage per real repo
    assert len(run["episodes"]) == len(_of(log_events, "episode.started", "demo"))
    assert sum(g["count"] for g in run["failures"]) == runs["demo"]["model_failures"]
    steps = httpx.get(f"{server}/api/trainer").json()
    assert [s["step"] for s in steps] == [1, 2, 3] and all(isinstance(s["loss"], float) for s in steps)
    assert [a["rule"] for a in httpx.get(f"{server}/api/alerts").json()] == ["slow_model_calls"]
    assert httpx.get(f"{server}/api/memory").json(), "workflow memory was induced"
    assert httpx.get(f"{server}/api/runs/nope").status_code == 404


def test_an_episode_tells_its_story_linked_by_ids(server, log_events):
    ep = _of(log_events, "episode.finished", "demo")[0]["payload"]["episode_id"]
    d = httpx.get(f"{server}/api/episodes/{ep}").json()
    requests = [e for e in _of(log_events, "proxy.request") if e["key"] == ep]
    actions = [e for e in _of(log_events, "agent.action") if e["key"] == ep]
    assert [t["turn"] for t in d["turns"]] == sorted(r["payload"]["turn"] for r in requests)
    shown = [a["id"] for t in d["turns"] for a in t["actions"]]
    assert sorted(shown) == sorted(a["id"] for a in actions), "every action under the response that proposed it"
    for t in d["turns"]:
        assert all(a["parent"] == t["response"]["id"] for a in t["actions"])
    assert d["started"]["problem_statement"] and d["finished"]["patch"] == \
        next(e for e in _of(log_events, "episode.finished") if e["key"] == ep)["payload"]["patch"]
    assert d["eval"]["tests"] and {t["set"] for t in d["eval"]["tests"]} <= {"FAIL_TO_PASS", "PASS_TO_PASS"}
    assert d["tokens"]["total_tokens"] > 0 and d["reward"] is not None


PAGES = {"runs": "/", "run": "/runs/demo", "run-param-search": "/runs/search.temperature%3D0.9",
         "run-rl": "/runs/demo-rl", "param-search": "/runs/search",
         "compare": "/compare?a=search.temperature%3D0.2&b=search.temperature%3D0.9",
         "training": "/training", "alerts": "/alerts", "memory": "/memory", "tasks": "/tasks"}
MUST_HAVE = {"runs": ['id="runs-table"', "demo-rl", "search.temperature=0.9", 'id="trend-chart"', "compare-form"],
             "run": ['id="repo-table"', 'id="passk-chart"', 'id="failures"', 'id="slowest"', 'id="expensive"',
                     'id="episodes-table"'],
             "run-param-search": ['id="repo-table"', "param_search"], "run-rl": ["rewarded", "mean reward"],
             "param-search": ['id="search-chart"', "search.temperature=0.2", "search.temperature=0.9"],
             "compare": ['id="compare-run"', 'id="compare-repos"', 'id="compare-instances"'],
             "training": ['id="reward_mean-chart"', 'id="loss-chart"', 'id="kl-chart"', 'id="clip_frac-chart"',
                          'id="staleness_mean-chart"', 'id="dropped_stale-chart"', 'id="versions-served"'],
             "alerts": ["slow_model_calls"], "memory": ['id="memory"', "episode-link"], "tasks": ["Autonomous tasks"]}


def test_every_page_renders_in_headless_chromium(server, fresh_demo, tmp_path):
    ep = next(iter(httpx.get(f"{server}/api/runs/demo").json()["failures"]))["episodes"][0]["episode_id"]
    pages = {**PAGES, "episode": f"/episodes/{ep}"}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, path in pages.items():
        html = httpx.get(f"{server}{path}").text
        for marker in MUST_HAVE.get(name, ['id="transcript"', 'id="patch"', 'id="tests-table"']):
            assert marker in html, (name, marker)
        shot = tmp_path / f"{name}.png"
        res = _chromium_run([f"--screenshot={shot}", f"{server}{path}"], size="1400,2400")
        assert res.returncode == 0 and shot.exists(), (name, res.stderr[-2000:])
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000, name
        shutil.copy(shot, ARTIFACTS / shot.name)
    svg = httpx.get(f"{server}/charts/passk.svg").text
    assert "sans-serif" in svg and ">0.25<" in svg and ">0.75<" in svg, "nice ticks, sans-serif, standalone"


def _links(html: str) -> list[str]:
    return [unescape(h) for h in _HREF.findall(html)]


def test_links_resolve_and_every_episode_is_three_clicks_from_runs(server, log_events):
    """Breadth-first from the Runs page: every link answers 200, and every episode of the log is
    reached within three clicks."""
    depth, frontier, seen = {"/": 0}, ["/"], {"/"}
    while frontier:
        path = frontier.pop(0)
        res = httpx.get(f"{server}{path}")
        assert res.status_code == 200, path
        if depth[path] == 3 or not res.headers["content-type"].startswith("text/html"):
            continue
        for link in _links(res.text):
            if link not in seen and not link.startswith("/api/"):
                seen.add(link)
                depth[link] = depth[path] + 1
                frontier.append(link)
    reached = {unquote(p.split("/episodes/", 1)[1]) for p in depth if p.startswith("/episodes/")}
    everyone = {e["payload"]["episode_id"] for e in _of(log_events, "episode.started")}
    assert everyone and everyone <= reached


def test_three_clicks_in_the_browser_reach_the_transcript_and_patch(server, log_events):
    runs = _dom(f"{server}/")
    run = next(h for h in _links(runs) if h == "/runs/demo")  # click 1: the run
    run_dom = _dom(f"{server}{run}")
    repo = next(h for h in _links(run_dom) if "repo=" in h)  # click 2: a repo of it
    repo_dom = _dom(f"{server}{repo}")
    episode = next(h for h in _links(repo_dom) if h.startswith("/episodes/"))  # click 3: an episode
    dom = _dom(f"{server}{episode}")
    ep = unquote(episode.split("/episodes/", 1)[1])
    finished = next(e for e in _of(log_events, "episode.finished") if e["key"] == ep)["payload"]
    assert 'id="transcript"' in dom and "Turn 0" in dom and 'class="response"' in dom and 'class="action"' in dom
    patch = dom[dom.index('id="patch"'):]
    first_change = next(line for line in finished["patch"].splitlines() if line.startswith("+") and
                        not line.startswith("+++"))
    assert unescape(re.sub(r"<[^>]+>", "\n", patch)).count(first_change) >= 1


def test_pages_follow_the_lake_while_a_run_goes(tmp_path):
    """The live pages poll /api/version, which changes with every projector round that wrote."""
    import events
    from events.log import open_log
    from events.payloads import EpisodeStarted
    from projections.projector import Projector

    log = open_log(f"sqlite:///{tmp_path}/ledger.db")
    lake = tmp_path / "lake"
    with _serving(lake) as url:
        before = httpx.get(f"{url}/api/version").json()["version"]
        page = httpx.get(f"{url}/").text
        assert "/api/version" in page and f'data-version="{before}"' in page
        log.append("episodes", [events.new(EpisodeStarted(episode_id="e1", instance_id="i"), producer="t",
                                           run_id="r")])
        Projector(log, lake).run()
        assert httpx.get(f"{url}/api/version").json()["version"] != before
        assert [r["status"] for r in httpx.get(f"{url}/api/runs").json()] == ["running"]
        assert "/api/version" not in httpx.get(f"{url}/memory").text  # pages a run does not change stay put
    log.close()
