"""The faust app, run as `faust -A processors.faust_app worker` against the dev broker,
produces the same outputs as the runtime on the same input, for all five reducers:
rewards, experiences (+ induction requests), rollouts (GRPO groups) and alerts
event for event (same ids, same payloads), pass_at_k's final score per scope,
and the dead letters.

The input is published in rounds (sample 0 of every instance, then sample 1); in a
round the episodes' own events go first and their evals once the app has re-keyed
those. Every fold then sees a key's records in the order the runtime does, which
is what the ids of order-dependent outputs (the members of a GRPO group, the
experiences of an induction request) are made of.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import events
from events.blob import make_blob
from events.log import open_log
from events.payloads import AgentAction
from processors.alert_rules import load_rules
from processors.reducers.alerts import Alerts
from processors.reducers.experiences import Experiences
from processors.reducers.pass_at_k import PassAtK
from processors.reducers.rewards import Rewards
from processors.reducers.rollouts import Rollouts
from processors.runtime import Runtime
from tests.conftest import kafka_log_url
from tests.processors.synth import episode_events, eval_result, run_started

FAUST = Path(sys.executable).parent / "faust"
RUN = "fx"
INSTANCES = ["org0__repo0-0", "org1__repo1-1", "org2__repo2-2"]
RESOLVED = {("org0__repo0-0", 0): True, ("org0__repo0-0", 1): True, ("org1__repo1-1", 0): True,
            ("org1__repo1-1", 1): False, ("org2__repo2-2", 0): False, ("org2__repo2-2", 1): True}
P0, C0, C1, C2 = [1, 2, 3], [10, 11], [12], [13, 14]
RULES = "rules:\n  - {name: deadletters, metric: deadletter_growth, threshold: 0.5, window_s: 3600}\n"
OUTPUTS = ("rewards", "experiences", "workflows", "rollouts", "alerts", "deadletter")


def episode(inst: str, idx: int, **kw):
    """An episode's own events (started, proxy turns with a fork, actions, finished) and its eval."""
    eid = f"ep-{inst}-{idx}"
    turns = [(P0, C0), (P0 + C0 + [4], C1), ([1, 2, 99], C2)]
    evs = episode_events(RUN, eid, inst, turns, sample_idx=idx, actions=2, **kw)
    acts = [events.new(AgentAction(episode_id=eid, step=s, command=f"edit {s}", exit_code=s % 2,
                                   observation=make_blob(f"out {s}")), producer="agent", run_id=RUN)
            for s in range(2)]
    verdict = eval_result(RUN, inst, idx, RESOLVED.get((inst, idx), False), episode_id=eid,
                          status="ok", fail_to_pass={"t": "PASSED"})
    return evs[:-1] + acts + evs[-1:], verdict


def rounds():
    """[(episode events, evals)] per round; round 0 also has an episode excluded for a proxy error."""
    out = []
    for idx in (0, 1):
        eps = [episode(inst, idx) for inst in INSTANCES]
        if idx == 0:
            eps.append(episode(INSTANCES[0], 2, error_at=1))
        out.append(([e for own, _ in eps for e in own], [v for _, v in eps]))
    return out


def by_id(log, topic):
    return {r.event.id: r.event.payload.model_dump(mode="json") for r in log.read(topic)}


def finals(log):
    out = {}
    for r in log.read("scores"):
        p = r.event.payload
        drops = (p.dropped_duplicates, p.dropped_malformed) if p.scope == "run" else ()
        out[(p.scope, p.scope_key, p.metric, p.k if p.metric == "pass@k" else 0)] = (
            round(p.value, 9), p.n, p.samples, p.c, round(p.coverage, 9), drops)
    return out


class Topic:
    """Records read so far from one of the app's internal topics (its progress between rounds)."""

    def __init__(self, bootstrap: str, physical: str):
        from kafka import KafkaConsumer

        self.physical = physical
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.records = 0
        self.assigned = False

    def count(self) -> int:
        from kafka import TopicPartition

        if not self.assigned:
            self.consumer.topics()  # refreshes the metadata: faust creates the topic at start-up
            parts = self.consumer.partitions_for_topic(self.physical)
            if not parts:
                return 0
            tps = [TopicPartition(self.physical, p) for p in parts]
            self.consumer.assign(tps)
            self.consumer.seek_to_beginning(*tps)
            self.assigned = True
        self.records += sum(len(rs) for rs in self.consumer.poll(timeout_ms=500).values())
        return self.records


def wait_for(what: str, cond, worker, deadline: float) -> None:
    while not cond():
        assert worker.poll() is None, worker.stderr.read()[-3000:]
        assert time.monotonic() < deadline, f"faust worker: timed out waiting for {what}"
        time.sleep(1)


def append(logs, evs) -> None:
    for log in logs:
        for e in evs:
            log.append(e.topic, [e])


def test_faust_worker_outputs_equal_the_runtime(kafka_bootstrap, tmp_path, subprocess_env):
    prefix = f"t{uuid.uuid4().hex}."
    url = kafka_log_url(kafka_bootstrap, prefix)
    kafka, ref = open_log(url), open_log(f"sqlite:///{tmp_path}/ref.db")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = {**subprocess_env, "LEDGER_LOG": url, "LEDGER_FAUST_APP": f"t{uuid.uuid4().hex[:8]}",
           "LEDGER_FAUST_K": "1,2", "LEDGER_FAUST_GROUP_SIZE": "2", "LEDGER_FAUST_EVERY": "2",
           "LEDGER_FAUST_ALERT_RULES": str(rules)}
    exe = FAUST if FAUST.exists() else "faust"
    worker = subprocess.Popen([str(exe), "-A", "processors.faust_app", "worker", "-l", "warn", "--without-web"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    by_episode = Topic(kafka_bootstrap, f"{prefix}faust.by_episode")
    by_prompt = Topic(kafka_bootstrap, f"{prefix}faust.rollouts.by_prompt")
    deadline = time.monotonic() + 300  # worker start-up on a busy machine: ~30-60 s
    try:
        append([kafka, ref], [run_started(RUN, INSTANCES, samples=2)])
        keyed = ready = recorded = 0
        for i, (own, verdicts) in enumerate(rounds()):
            append([kafka, ref], own)
            keyed += len(own)
            wait_for("episode events re-keyed", lambda: by_episode.count() >= keyed, worker, deadline)
            append([kafka, ref], verdicts)
            if i == 1:
                for log in (kafka, ref):
                    log.append_raw("evals", [(f"{RUN}/x", b"junk")])
            keyed += 2 * len(verdicts)  # each eval and its reward
            ready += len(verdicts)
            recorded += sum(v.payload.resolved for v in verdicts)
            wait_for("episodes ready", lambda: by_prompt.count() >= ready, worker, deadline)
            wait_for("experiences recorded", lambda: len(by_id(kafka, "experiences")) >= recorded, worker,
                     deadline)
            wait_for("rewards re-keyed", lambda: by_episode.count() >= keyed, worker, deadline)
        Runtime(ref, [Rewards(), PassAtK((1, 2)), Experiences(every=2), Rollouts(group_size=2),
                      Alerts(load_rules(rules))]).run()
        want = {t: by_id(ref, t) for t in OUTPUTS}
        want_scores = finals(ref)
        assert len(want["rollouts"]) == 3 and len(want["workflows"]) == 1 and len(want["experiences"]) == 4
        assert len(want["alerts"]) == 1 and len(want["deadletter"]) == 1
        excluded = {p["group_id"]: p["excluded_reasons"] for p in want["rollouts"].values()}
        assert excluded[f"{RUN}/{INSTANCES[0]}/0"] == {"proxy_error": 1}

        def caught_up():
            return finals(kafka) == want_scores and all(by_id(kafka, t) == want[t] for t in OUTPUTS)
        while not caught_up() and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(2)
        assert worker.poll() is None, worker.stderr.read()[-3000:]
    finally:
        by_episode.consumer.close()
        by_prompt.consumer.close()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    for t in OUTPUTS:
        assert by_id(kafka, t) == want[t], t
    assert finals(kafka) == want_scores


def _inputs_in_log_order(db) -> list[tuple[str, str | None, bytes]]:
    import sqlite3

    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT topic, key, value FROM events WHERE topic IN "
                            "('runs', 'episodes', 'proxy', 'actions', 'evals') ORDER BY seq").fetchall()
    finally:
        conn.close()


def _canonical(topic: str, payloads: dict) -> dict:
    """A group's samples in a canonical order: which member became ready first is arrival
    order (the group id, content-addressed, does not depend on it)."""
    if topic != "rollouts":
        return payloads
    return {i: {**p, "samples": sorted(p["samples"], key=lambda s: (s["episode_id"], s["fork"]))}
            for i, p in payloads.items()}


def _requests(log) -> list:
    return [r.event.payload for r in log.read("workflows") if r.event.type == "workflow.induction_requested"]


def test_faust_on_the_demo_input_equals_the_runtime(demo_run, kafka_bootstrap, tmp_path, subprocess_env):
    """The demo job's input (tests/demo_run.py: 4 tasks x 2 samples, groups of 2, induction
    every 2 successes) through a faust worker gives what `ledger run`'s runtime gave: the same
    rewards, experiences and rollout groups event for event (content-addressed ids; a group's
    samples in the order its members became ready), the same final score per scope. The one difference arrival order makes: which successes of
    a memory scope share an induction request (faust counts a scope's successes in the order
    its stage sees them); the requests' number, scopes and experiences are the same."""
    ref_dir, proc = demo_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    ref = open_log(f"sqlite:///{ref_dir / 'ledger.db'}", read_only=True)
    prefix = f"t{uuid.uuid4().hex}."
    url = kafka_log_url(kafka_bootstrap, prefix)
    kafka = open_log(url)
    env = {**subprocess_env, "LEDGER_LOG": url, "LEDGER_FAUST_APP": f"t{uuid.uuid4().hex[:8]}",
           "LEDGER_FAUST_K": "1,2", "LEDGER_FAUST_GROUP_SIZE": "2", "LEDGER_FAUST_EVERY": "2"}
    exe = FAUST if FAUST.exists() else "faust"
    worker = subprocess.Popen([str(exe), "-A", "processors.faust_app", "worker", "-l", "warn", "--without-web"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    by_episode = Topic(kafka_bootstrap, f"{prefix}faust.by_episode")
    deadline = time.monotonic() + 400
    want = {t: _canonical(t, by_id(ref, t)) for t in ("rewards", "experiences", "rollouts")}
    want_scores, want_requests = finals(ref), _requests(ref)
    try:
        rows = _inputs_in_log_order(ref_dir / "ledger.db")
        own = [(t, k, v) for t, k, v in rows if t != "evals"]
        for topic, key, value in own:  # an episode's own events first, as a live run writes them
            kafka.append_raw(topic, [(key, value)])
        keyed = sum(t != "runs" for t, _, _ in own)
        wait_for("episode events re-keyed", lambda: by_episode.count() >= keyed, worker, deadline)
        evals = [(k, v) for t, k, v in rows if t == "evals"]
        kafka.append_raw("evals", evals)

        def caught_up():
            return (all(_canonical(t, by_id(kafka, t)) == want[t] for t in want)
                    and finals(kafka) == want_scores and len(_requests(kafka)) == len(want_requests))
        while not caught_up() and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(2)
        assert worker.poll() is None, worker.stderr.read()[-3000:]
    finally:
        by_episode.consumer.close()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert len(want["rollouts"]) == 4 and len(want["experiences"]) > 2 and want_requests
    for topic in want:
        assert _canonical(topic, by_id(kafka, topic)) == want[topic], topic
    assert finals(kafka) == want_scores
    got_requests = _requests(kafka)
    assert sorted((q.scope, q.successes) for q in got_requests) == sorted((q.scope, q.successes) for q in want_requests)
    scope_of = {i: p["scope"] for i, p in want["experiences"].items()}
    for q in got_requests:  # which successes: the first `every` this stage saw in its scope
        assert len(q.experience_ids) == 2 and {scope_of[i] for i in q.experience_ids} == {q.scope}
    assert not list(kafka.read("deadletter"))
