"""Crash safety: a trainer SIGKILLed mid-run and restarted ends where a clean run ends."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from events.log import open_log
from tests.trainer.synthetic import make_group, write_groups
from trainer.checkpoint import latest_checkpoint
from trainer.config import TrainerConfig
from trainer.loop import Trainer

ROOT = Path(__file__).resolve().parents[2]
WAVE1 = [make_group(f"w1-{i}", n=4, completion_len=12) for i in range(7)]
WAVE2 = [make_group(f"w2-{i}", n=4, completion_len=12, version=i // 4) for i in range(19)]
STEPS = 13
ARGS = dict(batch_groups=2, checkpoint_every=2, max_staleness=100, lr=1e-2, seed=7, threads=1)


def _steps(url: str) -> list[dict]:
    log = open_log(url)
    try:
        return [r.event.payload.model_dump(exclude={"tokens_per_s"})
                for r in log.read("trainer") if r.event.type == "trainer.step"]
    finally:
        log.close()


def _spawn(url: str, ck: Path, idle_exit: bool) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "trainer.consume", "--log", url, "--checkpoint-dir", str(ck),
           "--steps", str(STEPS), "--batch-groups", "2", "--checkpoint-every", "2", "--max-staleness", "100",
           "--lr", "1e-2", "--seed", "7", "--threads", "1"]
    if idle_exit:
        cmd += ["--idle-exit", "5"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_steps(url: str, n: int, proc: subprocess.Popen) -> None:
    while len(_steps(url)) < n:
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

    assert _steps(crash_url) == _steps(clean_url)
    assert [s["step"] for s in _steps(crash_url)] == list(range(1, STEPS + 1))
    final_clean = torch.load(latest_checkpoint(clean_ck) / "model.pt", weights_only=True)
    final_crash = torch.load(latest_checkpoint(crash_ck) / "model.pt", weights_only=True)
    assert latest_checkpoint(crash_ck).name == f"step-{STEPS:08d}"
    assert all(torch.equal(final_clean[k], final_crash[k]) for k in final_clean)
    opt_clean = torch.load(latest_checkpoint(clean_ck) / "optim.pt", weights_only=True)
    opt_crash = torch.load(latest_checkpoint(crash_ck) / "optim.pt", weights_only=True)
    assert all(torch.equal(opt_clean["state"][i]["exp_avg"], opt_crash["state"][i]["exp_avg"])
               for i in opt_clean["state"])
