"""`ledger run` end to end on the embedded log and on Kafka, and resume after SIGKILL.

The job is the demo's (bundled tasks, bash agent, scripted `demo` upstream) on a
subset so the suite stays quick; `make demo` runs the full configs/demo.yaml.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from events.log import open_log
from tests.demo_run import ROOT, ledger_run, outcome, write_config

@pytest.fixture
def shared_cache(demo_cache) -> Path:
    return demo_cache


@pytest.fixture
def clean_run(demo_run):
    return demo_run


def test_run_end_to_end(clean_run):
    tmp, proc = clean_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "pass@1" in proc.stdout and "pass@2" in proc.stdout and "run clean" in proc.stdout
    evals, finished, resolved, scores = outcome(f"sqlite:///{tmp / 'ledger.db'}", "clean")
    assert len(evals) == 8 and set(evals.values()) == {1}
    assert set(finished) == set(evals) and set(finished.values()) == {1}
    assert ("run", "clean", "pass@k", 1) in scores and ("run", "clean", "pass@k", 2) in scores
    assert (tmp / "lake" / "scores").exists() or any((tmp / "lake").rglob("*.parquet"))
    from projections.scores import load

    index = load(tmp / "lake").collect()
    assert {"run_id", "scope", "metric", "k", "value"} <= set(index.columns)
    assert len(index.filter(index["run_id"] == "clean")) > 0


def _lake_runs(lake: Path) -> list[dict]:
    """The lake's rows of the `runs` topic (every type)."""
    from projections.lake import table

    frames = [table(lake, t) for t in ("run.started", "run.finished")]
    return [row for f in frames if f is not None for row in f.select("type").collect().to_dicts()]


def test_rerun_of_a_finished_run_does_nothing_twice(clean_run):
    tmp, _ = clean_run
    # the lake was projected after run.finished: it shows the run finished
    assert sorted(r["type"] for r in _lake_runs(tmp / "lake")) == ["run.finished", "run.started"]
    proc = ledger_run(tmp / "clean.yaml", tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    evals, finished, _, _ = outcome(f"sqlite:///{tmp / 'ledger.db'}", "clean")
    assert set(evals.values()) == {1} and set(finished.values()) == {1}
    log = open_log(f"sqlite:///{tmp / 'ledger.db'}", read_only=True)
    try:
        assert Counter(r.event.type for r in log.read("runs")) == {"run.started": 1, "run.finished": 1}
    finally:
        log.close()


def _log_size(db: Path) -> int:
    """Events appended so far (0 while the file is not there yet)."""
    import sqlite3

    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _kill_at_a_random_point(proc: subprocess.Popen, db: Path, rng: random.Random) -> bool:
    """SIGKILL the run's process group at a random point; False if the run ended first.
    About two kills in five land during start-up (a random fraction of a second to three
    seconds in: cheap); the others once the log grew by a random number of events (the job's
    own work, the processors', the final projection), however long the machine takes to get
    there -- a deadline there would, on a loaded machine, make every kill a start-up kill."""
    if rng.random() < 0.4:
        grow, deadline = None, time.monotonic() + rng.uniform(0.2, 3.0)
    else:
        grow, deadline = rng.randint(1, 16), time.monotonic() + 300  # only a hung run ends this way
    start = _log_size(db)
    while proc.poll() is None:
        if (grow is not None and _log_size(db) - start >= grow) or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.05)
    return False


def _processes_using(path: Path) -> list[str]:
    """Live processes whose environment names `path` (workers, agents, sandboxed commands)."""
    found = []
    needle = str(path).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state not in ("Z", "X") and needle in (entry / "environ").read_bytes():
                found.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()[:200]!r}")
        except (OSError, IndexError):
            continue
    return found


def test_twenty_sigkills_change_no_verdict_and_no_score(clean_run, tmp_path, shared_cache):
    """SIGKILL `ledger run` 20 times at random points (max_attempts 3): the verdicts and scores
    equal an uninterrupted run's, no attempt was given up, no sandbox directory or process
    is left, and the run finished once."""
    ref_tmp, _ = clean_run
    _, _, ref_resolved, ref_scores = outcome(f"sqlite:///{ref_tmp / 'ledger.db'}", "clean")
    config = write_config(tmp_path, "clean", cache=shared_cache)  # same run id and config, fresh log
    scratch = tmp_path / "scratch"  # TMPDIR of every process of the run: sandboxes are made here
    scratch.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch)}
    rng = random.Random(14)
    kills = 0
    while kills < 20:
        proc = subprocess.Popen([sys.executable, "-m", "main", "run", str(config)], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        kills += _kill_at_a_random_point(proc, tmp_path / "ledger.db", rng)
    final = subprocess.run([sys.executable, "-m", "main", "run", str(config)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=900)
    assert final.returncode == 0, final.stderr[-3000:]
    assert "given up 0" in final.stdout, final.stdout[-2000:]
    evals, finished, resolved, scores = outcome(f"sqlite:///{tmp_path / 'ledger.db'}", "clean")
    assert set(evals.values()) == {1}, "an (instance, sample) was evaluated twice"
    assert resolved == ref_resolved
    assert scores == ref_scores
    assert list(scratch.glob("ledger-sbx-*")) == []
    assert _processes_using(scratch) == []
    log = open_log(f"sqlite:///{tmp_path / 'ledger.db'}", read_only=True)
    try:
        closed = Counter(r.event.payload.reason for r in log.read("episodes")
                         if r.event.type == "episode.finished" and r.event.producer == "orchestrator")
        runs = Counter(r.event.type for r in log.read("runs"))
    finally:
        log.close()
    assert set(closed) <= {"interrupted"} and closed["interrupted"] > 0  # kills closed attempts, none failed
    assert runs == {"run.started": 1, "run.finished": 1}


ORDER_DEPENDENT = {"score.updated", "alert.raised", "alert.resolved"}
"""Event types whose count depends on arrival order: a run or repo score is re-emitted when
each verdict lands (whether pass@k at the run scope exists yet depends on which instances
already have k samples), and alerts on time windows. Their final values are compared instead."""


def _distinct_by_type(url: str) -> Counter:
    """Distinct event ids per type over every topic (sinks dedupe by id)."""
    from events.topics import CATALOG

    log = open_log(url, read_only=True)
    try:
        seen: dict[str, set] = {}
        for topic in CATALOG:
            try:
                records = list(log.read(topic))
            except Exception:  # a topic nobody wrote on this broker
                continue
            for r in records:
                seen.setdefault(r.event.type, set()).add(r.event.id)
        return Counter({t: len(ids) for t, ids in seen.items()})
    finally:
        log.close()


def test_the_demo_on_kafka_equals_the_demo_on_sqlite(clean_run, kafka_url, tmp_path, shared_cache):
    """configs/demo-kafka.yaml (on the same subset and run id) against configs/demo.yaml on
    SQLite: the same verdicts and scores, and the same number of events of every type
    (order-dependent types excepted, their final values compared) -- workflows induced
    included: the inducer waits for its Kafka group before it takes an empty poll for the end."""
    ref_tmp, _ = clean_run
    ref_url = f"sqlite:///{ref_tmp / 'ledger.db'}"
    _, _, ref_resolved, ref_scores = outcome(ref_url, "clean")
    config = write_config(tmp_path, "clean", log=kafka_url, cache=shared_cache, base="demo-kafka.yaml")
    proc = ledger_run(config, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    evals, finished, resolved, scores = outcome(kafka_url, "clean")
    assert set(evals.values()) == {1} and len(evals) == 8
    assert resolved == ref_resolved
    assert scores == ref_scores
    want, got = _distinct_by_type(ref_url), _distinct_by_type(kafka_url)
    assert want["workflow.induced"] > 0 and want["rollout.group"] > 0
    assert {t: n for t, n in got.items() if t not in ORDER_DEPENDENT} == \
        {t: n for t, n in want.items() if t not in ORDER_DEPENDENT}
