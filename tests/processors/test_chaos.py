"""Chaos: the processor process is SIGKILLed at 20 random points while a run's
events arrive; the final outputs (ids and values) equal an uninterrupted run."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from events.log import open_log
from processors.reducers.pass_at_k import PassAtK
from processors.reducers.rewards import Rewards
from processors.runtime import Runtime
from tests.processors.synth import synthetic_run

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ("scores", "rewards", "deadletter")


def chunks(seed: int, parts: int = 20):
    started, evs = synthetic_run("chaos", 30, 3, seed=seed, duplicates=6)
    garbage = [("chaos/junk", b"\xffgarbage")]
    items = [("runs", started)] + [("evals", e) for e in evs]
    size = -(-len(items) // parts)
    out = [items[i:i + size] for i in range(0, len(items), size)]
    return out, garbage


def feed(log, part, garbage, i):
    for topic, ev in part:
        log.append(topic, [ev])
    if i == 7:
        log.append_raw("evals", garbage)


def snapshot_of(log):
    return {t: {r.event.id: r.event.payload.model_dump_json() for r in log.read(t)} for t in TOPICS}


def progress(path: Path) -> int:
    try:
        con = sqlite3.connect(path, timeout=5)
        row = con.execute("SELECT MIN(seq) FROM processor_checkpoints").fetchone()
        con.close()
        return row[0] or 0
    except sqlite3.OperationalError:
        return 0


def test_sigkill_at_20_points_equals_clean_run(tmp_path):
    rng = random.Random(20)
    parts, garbage = chunks(seed=11)
    clean = open_log(f"sqlite:///{tmp_path}/clean.db")
    for i, part in enumerate(parts):
        feed(clean, part, garbage, i)
    Runtime(clean, [PassAtK((1, 2)), Rewards()]).run()
    want = snapshot_of(clean)

    path = tmp_path / "chaos.db"
    url = f"sqlite:///{path}"
    log = open_log(url)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(ROOT / "main.py"), "process", "pass_at_k", "rewards", "--log", url,
           "--k", "1,2", "--batch", "3", "--snapshot-every", "2", "--follow"]
    kills = 0
    for i, part in enumerate(parts):
        feed(log, part, garbage, i)
        start = progress(path)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target = start + rng.randint(1, 3 * len(part))
        deadline = time.monotonic() + 60
        while progress(path) < target and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.random() * 0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    assert kills == 20
    Runtime(log, [PassAtK((1, 2)), Rewards()]).run()  # the last restart runs to the end
    got = snapshot_of(log)
    for topic in TOPICS:
        assert got[topic] == want[topic], topic
    assert len(want["scores"]) > 500 and len(want["deadletter"]) == 1
