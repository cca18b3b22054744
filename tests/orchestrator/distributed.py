"""Helpers for the distributed-run tests: configs, worker processes, what a run left in the log."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from events.log import open_log

ROOT = Path(__file__).resolve().parents[2]
SLEEPY = "callable:infra.benchmarks.sleepy:SleepyDemoUpstream"


def write_config(tmp: Path, run_id: str, log: str, cache: Path, *, mode: str = "distributed",
                 upstream: str = "demo", limit: int = 4, max_scheduled: int = 32) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["run"]["id"] = run_id
    cfg["model"]["upstream"] = upstream
    cfg["dataset"].update(limit=limit, cache_dir=str(cache))
    cfg["sampling"].update(n=2, k=[1, 2])
    cfg["batch"] = {"mode": mode, "workers": 2, "max_scheduled": max_scheduled}
    cfg["log"], cfg["lake"], cfg["artifacts"] = log, str(tmp / "lake"), str(tmp / "artifacts")
    path = tmp / f"{run_id}-{mode}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def env(sleep_s: float | None = None) -> dict[str, str]:
    out = {**os.environ, "PYTHONPATH": str(ROOT)}
    if sleep_s is not None:
        out["LEDGER_SLEEPY_S"] = str(sleep_s)
    return out


def start_run(config: Path, cwd: Path, sleep_s: float | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "main", "run", str(config)], cwd=cwd, env=env(sleep_s),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class WorkerProc:
    """A `ledger worker` subprocess whose stderr lines are collected as they come."""

    def __init__(self, log_url: str, name: str, cwd: Path, *, slots: int = 1, sleep_s: float | None = None,
                 extra: tuple[str, ...] = ()):
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "main", "worker", "--log", log_url, "--name", name, "--slots", str(slots),
             *extra], cwd=cwd, env=env(sleep_s), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def running(self) -> list[str]:
        """Episode ids this worker has started running (evaluations of finished ones left out), in order."""
        return [ln.split("running ", 1)[1].split()[0] for ln in list(self.lines)
                if " running ep-" in ln and "(evaluate " not in ln]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout_s: float = 60) -> int:
        # a worker still starting up has no handler yet: SIGTERM would kill it, not stop it
        deadline = time.monotonic() + 120
        while self.proc.poll() is None and not self.lines and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(30)

    def text(self) -> str:
        return "\n".join(self.lines[-60:])


def wait_until(predicate, timeout_s: float, what: str, poll_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")


@dataclass
class Outcome:
    evals: Counter = field(default_factory=Counter)
    eval_ts: list = field(default_factory=list)
    resolved: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)
    finished: Counter = field(default_factory=Counter)
    """episode id -> episode.finished records."""
    reasons: Counter = field(default_factory=Counter)
    reason_of: dict = field(default_factory=dict)
    """episode id -> the reason of its (first) episode.finished."""
    done: list = field(default_factory=list)
    """work.done payloads of the run."""
    scheduled: list = field(default_factory=list)
    started: set = field(default_factory=set)


def outcome(log_url: str, run_id: str) -> Outcome:
    out = Outcome()
    log = open_log(log_url)
    try:
        for rec in log.read("evals"):
            p = rec.event.payload
            if rec.event.run_id == run_id:
                out.evals[(p.instance_id, p.sample_idx)] += 1
                out.eval_ts.append(rec.event.ts)
                out.resolved[(p.instance_id, p.sample_idx)] = p.resolved
        for rec in log.read("episodes"):
            ev = rec.event
            if ev.run_id == run_id and ev.type == "episode.finished":
                out.finished[ev.payload.episode_id] += 1
                out.reasons[ev.payload.reason] += 1
                out.reason_of.setdefault(ev.payload.episode_id, ev.payload.reason)
            elif ev.run_id == run_id:
                out.started.add(ev.payload.episode_id)
        for rec in log.read("scores"):
            p = rec.event.payload
            if rec.event.run_id == run_id:
                out.scores[(p.scope, p.scope_key, p.metric, p.k)] = (p.value, p.n, p.c)
        for rec in log.read("work"):
            if rec.event.run_id == run_id:
                target = out.done if rec.event.type == "work.done" else out.scheduled
                target.append((rec.event.ts, rec.event.payload))
    finally:
        log.close()
    return out


class LogWatch:
    """Episodes started and pairs evaluated so far, followed from the log in a background thread."""

    def __init__(self, log_url: str):
        from producers.work.follower import LogFollower

        self.started: set[str] = set()
        self.evaluated: set[tuple[str, int]] = set()
        self._follower = LogFollower(log_url, ("episodes", "evals"), self._apply).start()

    def _apply(self, ev) -> None:
        if ev.type == "episode.started":
            self.started.add(ev.payload.episode_id)
        elif ev.type == "eval.result":
            self.evaluated.add((ev.payload.instance_id, ev.payload.sample_idx))

    def close(self) -> None:
        self._follower.stop()
