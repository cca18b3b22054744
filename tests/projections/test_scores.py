"""The score index: latest value per key, the load() API and `ledger scores`."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

import events
from events.log import open_log
from events.payloads import ScoreUpdated
from projections import scores
from projections.projector import Projector
from projections.views import refresh_all

ROOT = Path(__file__).resolve().parents[2]


def test_load_returns_latest_value_per_key(demo_lake):
    lf = scores.load(demo_lake)
    assert isinstance(lf, pl.LazyFrame)
    frame = lf.collect()
    assert frame.columns == scores.COLUMNS
    assert frame.select(scores.KEY).is_duplicated().sum() == 0
    p1 = frame.filter((pl.col("run_id") == "demo") & (pl.col("scope") == "run") & (pl.col("k") == 1)
                      & (pl.col("metric") == "pass@k"))
    assert p1["value"].to_list() == [pytest.approx(0.3)]  # the earlier 0.0 update is superseded


def test_index_equals_computing_from_the_log(demo_root, demo_lake):
    from_log = scores.from_log(f"sqlite:///{demo_root}/.ledger/ledger.db").collect()
    assert from_log.equals(scores.load(demo_lake).collect())


def test_latest_by_event_time_not_arrival(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/log.db")
    t = datetime(2026, 2, 1, tzinfo=timezone.utc)
    new = events.new(ScoreUpdated(scope="run", scope_key="r", metric="pass@k", k=1, value=0.9, n=1, samples=1),
                     producer="p", run_id="r", ts=t + timedelta(seconds=5))
    old = events.new(ScoreUpdated(scope="run", scope_key="r", metric="pass@k", k=1, value=0.1, n=1, samples=1),
                     producer="p", run_id="r", ts=t)
    log.append("scores", [new, old])
    Projector(log, tmp_path / "lake").run()
    refresh_all(tmp_path / "lake")
    assert scores.load(tmp_path / "lake").collect()["value"].to_list() == [0.9]
    log.close()


def _ledger(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "main", "scores", *args], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_ledger_scores_table_and_json(demo_root, demo_lake):
    table = _ledger("--lake", str(demo_lake))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    # every k scored gets its column; n = instances, samples = samples per instance
    assert lines[0].split() == ["run", "scope", "key", "n", "samples", "coverage", "pass@1", "pass@2", "pass@3",
                                "pass@4", "pass@5", "avg@1"]
    assert any(line.split()[:7] == ["demo", "repo", "django/django", "4", "5", "1.000", "0.150"]
               for line in lines)
    assert any(line.split()[:7] == ["demo-b", "run", "demo-b", "8", "5", "1.000", "0.400"] for line in lines)
    django = next(line.split() for line in lines if line.split()[:3] == ["demo", "repo", "django/django"])
    assert django[7:10] == ["-", "-", "-"] and django[10] != "-"  # the repo rows were scored at k=1 and 5
    js = _ledger("--run", "demo-b", "--log", f"sqlite:///{demo_root}/.ledger/ledger.db", "--json")
    assert js.returncode == 0, js.stderr
    rows = json.loads(js.stdout)
    assert {r["run_id"] for r in rows} == {"demo-b"} and len(rows) == 12
    assert set(rows[0]) == set(scores.COLUMNS)


def test_every_printing_command_is_quiet_on_a_closed_pipe(demo_root, demo_lake):
    """`ledger scores --json | head -2`: no BrokenPipeError traceback, whatever the command."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    log = f"sqlite:///{demo_root}/.ledger/ledger.db"
    for cmd in (f"scores --lake {demo_lake} --json", f"scores --log {log}", f"events --log {log} --topic evals"):
        res = subprocess.run(f"{sys.executable} -m main {cmd} | head -2", shell=True, cwd=ROOT, env=env,
                             capture_output=True, text=True)
        assert len(res.stdout.splitlines()) == 2, cmd
        assert res.stderr == "", (cmd, res.stderr)
