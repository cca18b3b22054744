"""The runtime on the embedded log: offsets, snapshots, deadletter, replay, rescore."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import events
from events.log import open_log
from events.payloads import RunFinished
from processors.reducers.pass_at_k import PassAtK
from processors.reducers.rewards import Rewards
from processors.rescore import rescore_scores
from processors.runtime import Runtime
from tests.processors.synth import eval_result, synthetic_run

ROOT = Path(__file__).resolve().parents[2]


def outputs(log, topic):
    return {r.event.id: r.event.payload.model_dump() for r in log.read(topic)}


def ledger(*args):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_restart_resumes_from_checkpoint_and_matches_one_pass(tmp_path):
    started, evs = synthetic_run("r1", 12, 3, seed=1, duplicates=3)
    a, b = open_log(f"sqlite:///{tmp_path}/a.db"), open_log(f"sqlite:///{tmp_path}/b.db")
    for log in (a, b):
        log.append("runs", [started])
    a.append("evals", evs)
    Runtime(a, [PassAtK((1, 2)), Rewards()], batch=1000).run()
    # b: events arrive in three parts, a fresh runtime each time, snapshot every other batch
    for part in (evs[:10], evs[10:25], evs[25:]):
        b.append("evals", part)
        stats = Runtime(b, [PassAtK((1, 2)), Rewards()], batch=4, snapshot_every=2).run()
        assert stats["processor.rewards.binary@1"].records == len(part)
    assert outputs(a, "scores") == outputs(b, "scores")
    assert outputs(a, "rewards") == outputs(b, "rewards")
    assert len(outputs(b, "rewards")) == len(evs)
    assert b.load_checkpoint("processor.pass_at_k@1")[1] > 0  # a snapshot was taken


def test_garbage_and_unknown_types_go_to_deadletter_and_processing_continues(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/l.db")
    log.append("evals", [eval_result("r", "a__b-1", 0, True)])
    log.append_raw("evals", [("r/x", b"\x00not json"),
                             ("r/x", json.dumps({"type": "eval.mystery", "v": 1}).encode())])
    # a decodable event the reducer cannot use: a run event misfiled in evals
    misfiled = events.new(RunFinished(), producer="test", run_id="r")
    log.append_raw("evals", [("r/y", events.encode(misfiled))])
    log.append("evals", [eval_result("r", "a__b-2", 0, False)])
    stats = Runtime(log, [Rewards(), PassAtK()]).run()
    dead = [r.event.payload for r in log.read("deadletter")]
    reasons = " | ".join(d.reason for d in dead)
    assert "not JSON" in reasons and "unknown event type 'eval.mystery'" in reasons
    assert len(dead) == 2  # routed once although two processors read them
    assert stats["processor.rewards.binary@1"].records == 5
    assert len(outputs(log, "rewards")) == 2


class Exploding:
    name, version, inputs = "exploding", 1, ("evals",)

    def initial_state(self):
        return 0

    def apply(self, state, record):
        if record.event.payload.instance_id == "bad__x-1":
            raise ValueError("cannot fold this one")
        return state + 1, []


def test_reducer_failure_is_deadlettered_with_the_reason(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/l.db")
    log.append("evals", [eval_result("r", "a__b-1", 0, True), eval_result("r", "bad__x-1", 0, True),
                         eval_result("r", "a__b-3", 0, True)])
    rt = Runtime(log, [Exploding()])
    rt.run()
    assert rt.tasks[0].state == 2
    dead = [r.event.payload for r in log.read("deadletter")]
    assert len(dead) == 1 and "exploding@1 failed: ValueError: cannot fold this one" in dead[0].reason


def test_rescore_new_reward_version_leaves_old_outputs_and_adds_new(tmp_path):
    url = f"sqlite:///{tmp_path}/l.db"
    log = open_log(url)
    started, evs = synthetic_run("r1", 6, 2, seed=3)
    _, other = synthetic_run("r2", 2, 1, seed=4)
    log.append("runs", [started])
    log.append("evals", evs + other)
    Runtime(log, [Rewards(), PassAtK()]).run()
    before = outputs(log, "rewards")
    res = ledger("rescore", "r1", "--log", url, "--reward", "partial@1")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["rewards"] == len(evs)
    after = outputs(log, "rewards")
    assert {k: after[k] for k in before} == before  # old outputs untouched
    new = [p for k, p in after.items() if k not in before]
    assert len(new) == len(evs) and {p["reward_fn"] for p in new} == {"partial"}
    assert {p["reward_fn"] for p in before.values()} == {"binary"}
    # partial credit differs from binary somewhere in this run
    by_eval = {(p["eval_id"], p["reward_fn"]): p["reward"] for p in after.values()}
    assert any(by_eval[(e.id, "partial")] != by_eval[(e.id, "binary")] for e in evs)
    bad = ledger("rescore", "r1", "--log", url, "--reward", "nope@3")
    assert bad.returncode == 2 and "unknown reward function nope@3; known: binary@1, partial@1" in bad.stderr


def test_rescore_scores_equal_the_streaming_final_values(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/l.db")
    started, evs = synthetic_run("r1", 9, 4, seed=5, duplicates=4)
    log.append("runs", [started])
    log.append("evals", evs)
    log.append_raw("evals", [("r1/zz", b"{broken")])
    log.append("evals", [eval_result("r1", "org0__repo0-0", -1, True),
                         eval_result("r1", "org0__repo0-0", 7, True, status="timeout")])
    Runtime(log, [PassAtK((1, 3))]).run()
    streamed = {}
    for r in log.read("scores"):
        p = r.event.payload
        streamed[(p.scope, p.scope_key, p.metric, p.k)] = p
    made, _ = rescore_scores(log, "r1", 1, (1, 3))
    assert made == len(streamed)
    finals = [r.event.payload for r in log.read("scores")][-made:]
    assert {(p.scope, p.scope_key, p.metric, p.k) for p in finals} == set(streamed)
    for p in finals:
        s = streamed[(p.scope, p.scope_key, p.metric, p.k)]
        assert abs(p.value - s.value) < 1e-9 and (p.n, p.samples, p.c) == (s.n, s.samples, s.c)
        assert p.dropped_duplicates == 4 and p.dropped_malformed == 2


def test_replay_rebuilds_into_a_fresh_group_with_the_same_ids(tmp_path):
    url = f"sqlite:///{tmp_path}/l.db"
    log = open_log(url)
    started, evs = synthetic_run("r1", 5, 2, seed=6)
    log.append("runs", [started])
    log.append("evals", evs)
    first = ledger("process", "pass_at_k", "--log", url)
    assert first.returncode == 0, first.stderr
    n_scores = len(outputs(log, "scores"))
    res = ledger("replay", "pass_at_k", "--log", url)
    assert res.returncode == 0, res.stderr
    stats = json.loads(res.stdout.strip().splitlines()[-1])
    (group, st), = stats.items()
    assert ".replay-" in group and st["records"] == len(evs) + 1 and st["outputs"] == n_scores
    assert len(outputs(log, "scores")) == n_scores  # same deterministic ids: nothing new
