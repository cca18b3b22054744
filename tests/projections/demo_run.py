"""A fresh demo, made once per test session with the real `ledger` commands: what `make demo`
makes, smaller, plus the other kinds of run the dashboard shows.

- `demo`: an eval run of the bundled suite (two repos, four tasks, 4 samples, pass@1/2/4) with
  workflow memory on, on `.ledger/ledger.db`;
- `search`: a param_search over two temperatures (two sub-runs) on the same log;
- `demo-rl`: three steps of the RL loop (tiny model, its own log `.ledger/demo-rl.db`);
- an alert rule replayed over the main log, so there is an active alert;
- both logs projected into the one lake `.ledger/lake`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["make_demo", "ledger"]

EVAL = {"run": {"id": "demo", "mode": "eval"}, "model": {"upstream": "demo", "name": "demo-scripted"},
        "dataset": {"source": "bundled", "instance_filter": "textkit|money"},
        "agent": {"runner": "bash", "max_steps": 12, "max_turns": 12, "execution_timeout": 30},
        "sampling": {"temperature": 0.7, "max_tokens": 2048, "n": 4, "k": [1, 2, 4]}, "batch": {"workers": 2},
        "awm": {"enabled": True, "induction_trigger_count": 3},
        "log": "sqlite:///.ledger/ledger.db", "lake": ".ledger/lake", "artifacts": ".ledger/artifacts"}
SEARCH = {**EVAL, "run": {"id": "search", "mode": "param_search"}, "awm": {"enabled": False},
          "dataset": {"source": "bundled", "instance_filter": "pager|semver"},
          "sampling": {"max_tokens": 2048, "n": 2, "k": [1, 2]}, "param_search": {"grid": {"temperature": [0.2, 0.9]}}}
RL = {"run": {"id": "demo-rl", "mode": "rl"}, "log": "sqlite:///.ledger/demo-rl.db",
      "rl": {"environment": "toy", "model": "tiny", "steps": 3,
             "env": {"shift": 1, "digits": 2, "digit_bonus": 0.1, "prompts_per_step": 2, "samples_per_prompt": 4,
                     "max_tokens": 2, "temperature": 1.0, "seed": 1},
             "trainer": {"lr": 0.02, "entropy_coeff": 0.01, "clip": 0.2, "adv": "grpo",
                         "checkpoint_dir": ".ledger/checkpoints/demo-rl"}}}
ALERT_RULES = {"rules": [{"name": "slow_model_calls", "metric": "proxy_p95_latency_ms", "threshold": 0.0,
                          "window_s": 86400, "severity": "warning"}]}


def ledger(root: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "main", *args], cwd=root, env=env, capture_output=True, text=True,
                         timeout=timeout)
    if res.returncode != 0:
        raise AssertionError(f"ledger {' '.join(args)} exited {res.returncode}:\n{res.stdout[-3000:]}\n"
                             f"{res.stderr[-3000:]}")
    return res


def make_demo(root: Path, cache: Path) -> Path:
    """Run everything in `root`; returns the lake."""
    for name, cfg in (("demo.yaml", EVAL), ("search.yaml", SEARCH)):
        cfg = {**cfg, "dataset": {**cfg["dataset"], "cache_dir": str(cache)}}
        (root / name).write_text(yaml.safe_dump(cfg))
    (root / "rl.yaml").write_text(yaml.safe_dump(RL))
    (root / "rules.yaml").write_text(yaml.safe_dump(ALERT_RULES))
    ledger(root, "run", "demo.yaml")
    ledger(root, "run", "search.yaml")
    ledger(root, "run", "rl.yaml")
    ledger(root, "replay", "alerts", "--rules", "rules.yaml", "--log", "sqlite:///.ledger/ledger.db")
    ledger(root, "project", "--log", "sqlite:///.ledger/ledger.db", "--lake", ".ledger/lake")
    ledger(root, "project", "--log", "sqlite:///.ledger/demo-rl.db", "--lake", ".ledger/lake")
    return root / ".ledger" / "lake"
