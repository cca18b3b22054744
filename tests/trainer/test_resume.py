"""Crash safety: a trainer SIGKILLed mid-run and restarted ends where a clean run ends, also while
samples keep arriving from moving policy versions (async sampling)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import torch

import events
from events.log import open_log
from tests.trainer.synthetic import make_group, trainer_steps, write_groups
from trainer.checkpoint import latest_checkpoint
from trainer.config import TrainerConfig
from trainer.loop import Trainer

ROOT = Path(__file__).resolve().parents[2]
WAVE1 = [make_group(f"w1-{i}", n=4, completion_len=12) for i in range(7)]
WAVE2 = [make_group(f"w2-{i}", n=4, completion_len=12, version=i // 4) for i in range(19)]
STEPS = 13
ASYNC_STEPS = 9
ARGS = dict(batch_groups=2, checkpoint_every=2, max_staleness=100, lr=1e-2, seed=7, threads=1)


def _spawn(url: str, ck: Path, idle_exit: bool) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "trainer.consume", "--log", url, "--checkpoint-dir", str(ck),
           "--steps", str(STEPS), "--batch-groups", "2", "--checkpoint-every", "2", "--max-staleness", "100",
           "--lr", "1e-2", "--seed", "7", "--threads", "1"]
    if idle_exit:
        cmd += ["--idle-exit", "5"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _spawn_with(url: str, ck: Path, args: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "trainer.consume", "--log", url, "--checkpoint-dir", str(ck), *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _drops(url: str) -> list[dict]:
    log = open_log(url)
    try:
        return sorted((r.event.id, r.event.payload.model_dump_json()) for r in log.read("trainer")
                      if r.event.type == "trainer.dropped")
    finally:
        log.close()


def _wait_for_steps(url: str, n: int, proc: subprocess.Popen) -> None:
    while len(trainer_steps(url)) < n:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        time.sleep(0.05)


def test_sigkill_and_restart_matches_an_uninterrupted_run(tmp_path):
    clean_url, crash_url = f"sqlite:///{tmp_path}/clean.db", f"sqlite:///{tmp_path}/crash.db"
    clean_ck, crash_ck = tmp_path / "clean-ck", tmp_path / "crash-ck"

    clean_log = open_log(clean_url)
    trainer = Trainer(TrainerConfig(log=clean_url, checkpoint_dir=str(clean_ck), **ARGS))
    write_groups(clean_log, WAVE1)
    assert trainer.run(until_step=3) == 3
    write_groups(clean_log, WAVE2)
    assert trainer.run(until_step=STEPS) == STEPS
    trainer.close()

    crash_log = open_log(crash_url)
    write_groups(crash_log, WAVE1)
    proc = _spawn(crash_url, crash_ck, idle_exit=False)
    _wait_for_steps(crash_url, 3, proc)
    # Step 3 is trained but not checkpointed; one polled group waits in memory.
    assert latest_checkpoint(crash_ck).name == "step-00000002"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    write_groups(crash_log, WAVE2)
    proc = _spawn(crash_url, crash_ck, idle_exit=True)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-3000:]

    assert trainer_steps(crash_url) == trainer_steps(clean_url)
    assert [s["step"] for s in trainer_steps(crash_url)] == list(range(1, STEPS + 1))
    final_clean = torch.load(latest_checkpoint(clean_ck) / "model.pt", weights_only=True)
    final_crash = torch.load(latest_checkpoint(crash_ck) / "model.pt", weights_only=True)
    assert latest_checkpoint(crash_ck).name == f"step-{STEPS:08d}"
    assert all(torch.equal(final_clean[k], final_crash[k]) for k in final_clean)
    opt_clean = torch.load(latest_checkpoint(clean_ck) / "optim.pt", weights_only=True)
    opt_crash = torch.load(latest_checkpoint(crash_ck) / "optim.pt", weights_only=True)
    assert all(torch.equal(opt_clean["state"][i]["exp_avg"], opt_crash["state"][i]["exp_avg"])
               for i in opt_clean["state"])


class _AsyncSampler(threading.Thread):
    """Writes rollout groups while the trainer runs, stamped with the newest policy it has seen:
    fresh groups, some two steps stale, some of another lineage and some with equal rewards."""

    def __init__(self, url: str, total: int):
        super().__init__(daemon=True)
        self.url, self.total, self.stop = url, total, threading.Event()
        self.written = 0

    def _newest(self, log) -> int:
        steps = [r.event.payload.step for r in log.read("trainer") if r.event.type == "policy.updated"]
        return max(steps, default=0)

    def run(self) -> None:
        log = open_log(self.url)
        t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
        while not self.stop.is_set() and self.written < self.total:
            v, i = self._newest(log), self.written
            if i >= (v + 2) * 5:  # pace with the trainer, as the RL loop's gate does
                self.stop.wait(0.05)
                continue
            kind = i % 6
            version = max(v - 2, 0) if kind == 4 else v
            g = make_group(f"a{i}", n=4, completion_len=8, version=version, trainer="other" if kind == 5 else "trainer",
                           reward=1.0 if kind == 3 else None)
            ev = events.derive(g, processor="test.rollouts", version=1, inputs=[g.group_id], run_id="run",
                               ts=t0 + timedelta(seconds=i))
            log.append("rollouts", [ev])
            self.written += 1
            self.stop.wait(0.03)
        log.close()


def test_sigkill_and_restart_with_async_sampling_matches_a_replay(tmp_path):
    """Groups keep arriving, from moving policy versions, while the trainer is killed and restarted;
    replaying the same log into a fresh trainer gives the same steps, drops and weights, bit for bit."""
    url, ck = f"sqlite:///{tmp_path}/async.db", tmp_path / "async-ck"
    args = ["--max-staleness", "1", "--batch-groups", "2", "--checkpoint-every", "2", "--lr", "1e-2",
            "--seed", "7", "--threads", "1", "--steps", str(ASYNC_STEPS)]
    sampler = _AsyncSampler(url, total=ASYNC_STEPS * 5)
    open_log(url).close()
    sampler.start()
    proc = _spawn_with(url, ck, args)
    _wait_for_steps(url, 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc = _spawn_with(url, ck, args + ["--idle-exit", "10"])
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-3000:]
    sampler.stop.set()
    sampler.join()

    replay_url, replay_ck = f"sqlite:///{tmp_path}/replay.db", tmp_path / "replay-ck"
    source, replay = open_log(url), open_log(replay_url)
    groups = sorted((r for r in source.read("rollouts")), key=lambda r: (r.event.ts, r.partition, r.offset))
    replay.append("rollouts", [r.event for r in groups])
    trainer = Trainer(TrainerConfig(log=replay_url, checkpoint_dir=str(replay_ck), max_staleness=1, batch_groups=2,
                                    checkpoint_every=2, lr=1e-2, seed=7, threads=1))
    assert trainer.run(until_step=ASYNC_STEPS) == ASYNC_STEPS
    trainer.close()

    crashed, replayed = trainer_steps(url), trainer_steps(replay_url)
    assert [s["step"] for s in crashed] == list(range(1, ASYNC_STEPS + 1))
    assert crashed == replayed
    assert sum(s["dropped"].get("stale", 0) for s in crashed) > 0
    assert sum(s["dropped"].get("lineage", 0) for s in crashed) > 0 and sum(s["filtered_groups"] for s in crashed) > 0
    assert _drops(url) == _drops(replay_url)
    final_crash = torch.load(latest_checkpoint(ck) / "model.pt", weights_only=True)
    final_replay = torch.load(latest_checkpoint(replay_ck) / "model.pt", weights_only=True)
    assert all(torch.equal(final_crash[k], final_replay[k]) for k in final_crash)
