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
    evs = episode_events(RUN, eid, inst, turns, sample_idx=idx, **kw)
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
    worker = subprocess.Popen([str(exe), "-A", "processors.faust_app", "worker", "-l", "warn"], cwd=tmp_path,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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
