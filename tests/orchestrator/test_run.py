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
import yaml

from events.log import open_log

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp: Path, run_id: str, log: str | None = None, cache: Path | None = None) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["run"]["id"] = run_id
    cfg["dataset"].update(limit=4, cache_dir=str(cache or tmp / "cache"))
    cfg["sampling"].update(n=2, k=[1, 2])
    cfg["log"] = log or f"sqlite:///{tmp / 'ledger.db'}"
    cfg["lake"] = str(tmp / "lake")
    cfg["artifacts"] = str(tmp / "artifacts")
    # three kills may each land while the same first pair runs: attempts must outlast them
    cfg["resume_policy"]["max_attempts"] = 10
    path = tmp / f"{run_id}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def ledger_run(config: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "main", "run", str(config)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def outcome(log_url: str, run_id: str):
    """(eval results per pair, episode.finished per pair, final scores) of a run."""
    log = open_log(log_url)
    try:
        evals = Counter()
        resolved = {}
        for rec in log.read("evals"):
            p = rec.event.payload
            if rec.event.run_id == run_id:
                evals[(p.instance_id, p.sample_idx)] += 1
                resolved[(p.instance_id, p.sample_idx)] = p.resolved
        finished = Counter((r.event.payload.instance_id, r.event.payload.sample_idx)
                           for r in log.read("episodes")
                           if r.event.run_id == run_id and r.event.type == "episode.finished")
        scores = {}
        for rec in log.read("scores"):
            p = rec.event.payload
            if rec.event.run_id == run_id:
                scores[(p.scope, p.scope_key, p.metric, p.k)] = (p.value, p.n, p.c)
        return evals, finished, resolved, scores
    finally:
        log.close()


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dataset-cache")


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, shared_cache):
    tmp = tmp_path_factory.mktemp("clean")
    config = write_config(tmp, "clean", cache=shared_cache)
    proc = ledger_run(config, tmp)
    return tmp, proc


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


def test_rerun_of_a_finished_run_does_nothing_twice(clean_run):
    tmp, _ = clean_run
    proc = ledger_run(tmp / "clean.yaml", tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    evals, finished, _, _ = outcome(f"sqlite:///{tmp / 'ledger.db'}", "clean")
    assert set(evals.values()) == {1} and set(finished.values()) == {1}


def test_resume_after_sigkill_equals_uninterrupted(clean_run, tmp_path, shared_cache):
    ref_tmp, _ = clean_run
    _, _, ref_resolved, ref_scores = outcome(f"sqlite:///{ref_tmp / 'ledger.db'}", "clean")
    config = write_config(tmp_path, "clean", cache=shared_cache)  # same run id and config, fresh log
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "main", "run", str(config)], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(4.0, 12.0))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    final = ledger_run(config, tmp_path)
    assert final.returncode == 0, final.stderr[-3000:]
    evals, finished, resolved, scores = outcome(f"sqlite:///{tmp_path / 'ledger.db'}", "clean")
    assert set(evals.values()) == {1}, "an (instance, sample) was evaluated twice"
    assert set(finished.values()) == {1}
    assert resolved == ref_resolved
    final_scores = {k: v for k, v in scores.items()}
    assert {k: v for k, v in final_scores.items() if k[0] == "run"} == \
        {k: v for k, v in ref_scores.items() if k[0] == "run"}
    assert final_scores == ref_scores


def test_same_job_on_kafka_gives_the_same_scores(clean_run, kafka_url, tmp_path, shared_cache):
    ref_tmp, _ = clean_run
    _, _, ref_resolved, ref_scores = outcome(f"sqlite:///{ref_tmp / 'ledger.db'}", "clean")
    url = kafka_url
    config = write_config(tmp_path, "clean", log=url, cache=shared_cache)
    proc = ledger_run(config, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    evals, finished, resolved, scores = outcome(url, "clean")
    assert set(evals.values()) == {1} and len(evals) == 8
    assert resolved == ref_resolved
    assert scores == ref_scores
