"""The faust app, run as `faust -A processors.faust_app worker` against the dev broker,
produces the same scores (final value per scope, metric, k), rewards and dead letters
as the runtime on the same input."""
from __future__ import annotations

import sys
import signal
import subprocess
import time
import uuid
from pathlib import Path

from events.log import open_log
from processors.reducers.pass_at_k import PassAtK
from processors.reducers.rewards import Rewards
from processors.runtime import Runtime
from tests.conftest import kafka_log_url
from tests.processors.synth import synthetic_run

FAUST = Path(sys.executable).parent / "faust"


def finals(log):
    out = {}
    for r in log.read("scores"):
        p = r.event.payload
        drops = (p.dropped_duplicates, p.dropped_malformed) if p.scope == "run" else ()
        out[(p.scope, p.scope_key, p.metric, p.k if p.metric == "pass@k" else 0)] = (
            round(p.value, 9), p.n, p.c, p.instances, round(p.coverage, 9), drops)
    return out


def ids(log, topic):
    return {r.event.id for r in log.read(topic)}


def test_faust_worker_scores_equal_the_runtime(kafka_bootstrap, tmp_path, subprocess_env):
    started, evs = synthetic_run("fr", 10, 3, seed=2, duplicates=3)
    url = kafka_log_url(kafka_bootstrap)
    kafka = open_log(url)
    kafka.append("runs", [started])
    kafka.append("evals", evs)
    kafka.append_raw("evals", [("fr/x", b"junk")])
    ref = open_log(f"sqlite:///{tmp_path}/ref.db")
    ref.append("runs", [started])
    ref.append("evals", evs)
    ref.append_raw("evals", [("fr/x", b"junk")])
    Runtime(ref, [PassAtK((1, 2)), Rewards()]).run()
    want = finals(ref)

    exe = FAUST if FAUST.exists() else "faust"
    env = {**subprocess_env, "LEDGER_LOG": url, "LEDGER_FAUST_APP": f"t{uuid.uuid4().hex[:8]}",
           "LEDGER_FAUST_K": "1,2"}
    worker = subprocess.Popen([str(exe), "-A", "processors.faust_app", "worker", "-l", "warn"], cwd=tmp_path,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        got: dict = {}
        deadline = time.monotonic() + 240  # worker start-up on a busy machine: ~30-60 s
        while time.monotonic() < deadline and worker.poll() is None:
            got = finals(kafka)
            if got == want and ids(kafka, "rewards") == ids(ref, "rewards"):
                break
            time.sleep(2)
        assert worker.poll() is None, worker.stderr.read()[-1500:]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert got == want
    assert ids(kafka, "rewards") == ids(ref, "rewards")
    assert ids(kafka, "deadletter") == ids(ref, "deadletter") and len(ids(ref, "deadletter")) == 1
