"""SIGKILLed five times at random points, then run to the end: the same bytes as the
uninterrupted synthesis (a different output directory, work directory and log; the
same inputs and seed) — which is also the determinism check."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest

from tests.conftest import REPO_ROOT

from .conftest import SMALL, synth_argv, synth_env

pytestmark = pytest.mark.timeout(1800)  # a real synthesis: minutes on a loaded machine

FILES = ("dataset.jsonl", "dataset.parquet", "manifest.json", "environments.yaml", "demo_scripts.json")


def _refs(mirror) -> str:
    return subprocess.run(["git", "for-each-ref", "--format=%(refname) %(objectname)"], cwd=mirror,
                          capture_output=True, text=True, check=True).stdout


def test_killed_five_times_then_resumed_writes_the_same_dataset(small_run, tmp_path):
    rng = random.Random(2024)
    log_url = f"sqlite:///{tmp_path}/ledger.db"
    argv = synth_argv(SMALL, tmp_path / "out", log_url, small_run.cache)
    kills = 0
    while kills < 5:  # at random points: setup, baseline, validation, between
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=synth_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(1.0, 5.0))
        assert proc.poll() is None, "the synthesis finished before all five kills landed"
        os.kill(proc.pid, signal.SIGKILL)  # the workers follow it (PR_SET_PDEATHSIG)
        proc.wait()
        kills += 1
    done = subprocess.run(argv, cwd=REPO_ROOT, env=synth_env(), capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "out" / "small"
    for name in FILES:
        assert (out / name).read_bytes() == (small_run.out / name).read_bytes(), name
    for mirror in sorted((small_run.out / "mirrors").iterdir()):
        assert _refs(out / "mirrors" / mirror.name) == _refs(mirror)
