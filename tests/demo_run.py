"""The reference job the end-to-end tests share: the demo's config on a subset, run once
per test session (`demo_run` in tests/conftest.py) and compared against by the resume,
Kafka and faust tests."""
from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

from events.log import open_log

__all__ = ["ROOT", "write_config", "ledger_run", "outcome"]

ROOT = Path(__file__).resolve().parents[1]


def write_config(tmp: Path, run_id: str, log: str | None = None, cache: Path | None = None,
                 base: str = "demo.yaml") -> Path:
    """The demo's config on a subset (4 tasks x 2 samples; AWM induces every 2 successes)."""
    cfg = yaml.safe_load((ROOT / "configs" / base).read_text())
    cfg["run"]["id"] = run_id
    cfg["awm"] = {**cfg.get("awm", {}), "induction_trigger_count": 2}
    cfg["dataset"].update(limit=4, cache_dir=str(cache or tmp / "cache"))
    cfg["sampling"].update(n=2, k=[1, 2])
    cfg["log"] = log or f"sqlite:///{tmp / 'ledger.db'}"
    cfg["lake"] = str(tmp / "lake")
    cfg["artifacts"] = str(tmp / "artifacts")
    cfg["resume_policy"]["max_attempts"] = 3  # kills do not use attempts up, however many land on a pair
    path = tmp / f"{run_id}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def ledger_run(config: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "main", "run", str(config)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def outcome(log_url: str, run_id: str):
    """(eval results per pair, episode.finished per pair, verdict per pair, final scores:
    (value, n, samples, c) per scope/key/metric/k) of a run."""
    log = open_log(log_url, read_only=True)
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
                scores[(p.scope, p.scope_key, p.metric, p.k)] = (p.value, p.n, p.samples, p.c)
        return evals, finished, resolved, scores
    finally:
        log.close()
