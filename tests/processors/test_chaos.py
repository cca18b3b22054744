"""Chaos: the processor process is SIGKILLed at 20 random points while a run's
events arrive; the final outputs (ids and values) equal an uninterrupted run."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from events.log import open_log
from processors.reducers.pass_at_k import PassAtK
from processors.reducers.rewards import Rewards
from processors.runtime import Runtime
from tests.conftest import kafka_log_url
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
    """One append per event, 2 ms apart: on Kafka the merge order follows record
    timestamps, so the clean and the chaos log must not differ by ties."""
    for topic, ev in part:
        log.append(topic, [ev])
        time.sleep(0.002)
    if i == 7:
        log.append_raw("evals", garbage)


def outputs_made(log) -> int:
    return sum(log.end_offsets("rewards").values())


@pytest.mark.parametrize("backend", ["sqlite", "kafka"])
def test_sigkill_at_20_points_equals_clean_run(backend, tmp_path, request, subprocess_env):
    """On Kafka duplicates (same id, same value) are allowed: sinks dedupe by id."""
    rng = random.Random(20)
    parts, garbage = chunks(seed=11)
    if backend == "sqlite":
        clean_url, url = f"sqlite:///{tmp_path}/clean.db", f"sqlite:///{tmp_path}/chaos.db"
    else:
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        clean_url, url = kafka_log_url(bootstrap), kafka_log_url(bootstrap)
    clean = open_log(clean_url)
    for i, part in enumerate(parts):
        feed(clean, part, garbage, i)
    Runtime(clean, [PassAtK((1, 2)), Rewards()], snapshot_dir=tmp_path / "clean-snaps").run()
    want = outputs_of(clean)
    clean.close()

    log = open_log(url)
    cmd = [sys.executable, str(ROOT / "main.py"), "process", "pass_at_k", "rewards", "--log", url,
           "--k", "1,2", "--batch", "3", "--snapshot-every", "2", "--follow",
           "--snapshot-dir", str(tmp_path / "snaps")]
    kills = mid_run = 0
    for i, part in enumerate(parts):
        feed(log, part, garbage, i)
        start = outputs_made(log)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=subprocess_env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        target = start + rng.randint(1, len(part))
        deadline = time.monotonic() + 90
        while outputs_made(log) < target and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        mid_run += outputs_made(log) >= target
        time.sleep(rng.random() * 0.05)
        assert proc.poll() is None, "the processor died on its own"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    assert kills == 20 and mid_run >= 15  # killed while it was making progress
    Runtime(log, [PassAtK((1, 2)), Rewards()], snapshot_dir=tmp_path / "snaps").run()  # the last restart
    got = outputs_of(log)
    for topic in TOPICS:
        assert got[topic] == want[topic], topic
    assert len(want["scores"]) > 500 and len(want["deadletter"]) == 1
    log.close()


def outputs_of(log):
    """id -> value per topic; an id seen with two different values fails here."""
    out = {}
    for t in TOPICS:
        seen: dict[str, str] = {}
        for r in log.read(t):
            value = r.event.payload.model_dump_json()
            assert seen.setdefault(r.event.id, value) == value, f"{t}: {r.event.id} with two values"
        out[t] = seen
    return out
