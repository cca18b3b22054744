"""Distributed runs (`batch.mode: distributed`): the coordinator and `ledger worker` processes
on loopback, through the dev broker's consumer groups and on the embedded log.

Every run uses the same run id and demo subset as a local-pool reference run, so
the scripted verdicts (a function of run, instance and sample) must be the same
pair by pair; `SLEEPY` episodes only sleep before each command, to last long
enough for workers to join and be killed mid-episode.
"""
from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from events.log import open_log
from producers.datasets.bundled import ensure_bundled_tasks

from tests.orchestrator.distributed import SLEEPY, LogWatch, WorkerProc, outcome, start_run, wait_until, write_config

RUN = "dist"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dataset-cache")


class Reference:
    """The same job on the local pool: what every distributed run must reproduce. It runs
    beside the first distributed test (which mostly waits on sleeps and group rebalances)."""

    def __init__(self, tmp: Path, cache: Path):
        ensure_bundled_tasks(cache)  # built once here, not by two runs at the same time
        self.url = f"sqlite:///{tmp / 'ledger.db'}"
        self.proc = start_run(write_config(tmp, RUN, self.url, cache, mode="local"), tmp)
        self._outcome = None

    def get(self):
        if self._outcome is None:
            stdout, stderr = self.proc.communicate(timeout=600)
            assert self.proc.returncode == 0, stderr[-3000:]
            self._outcome = outcome(self.url, RUN)
            assert len(self._outcome.evals) == 8 and self._outcome.scores
        return self._outcome


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache):
    ref = Reference(tmp_path_factory.mktemp("local"), cache)
    yield ref
    if ref.proc.poll() is None:
        ref.proc.kill()
        ref.proc.wait()


def assert_same_results(got, ref, subset: bool = False) -> None:
    assert set(got.evals.values()) == {1}, f"every pair needs exactly one eval.result: {got.evals}"
    if subset:
        assert got.evals and set(got.evals) < set(ref.evals)
        assert got.resolved == {k: v for k, v in ref.resolved.items() if k in got.resolved}
        instances = {k: v for k, v in got.scores.items() if k[0] == "instance"}
        assert instances and instances == {k: v for k, v in ref.scores.items() if k in instances}
    else:
        assert set(got.evals) == set(ref.evals) and got.resolved == ref.resolved
        assert got.scores == ref.scores
    duplicates = {ep: n for ep, n in got.finished.items() if n > 1}
    assert not duplicates, f"episode.finished appended more than once: {duplicates}"
    assert got.started <= set(got.finished), "an attempt was left without its episode.finished"


def repeat_one_item(url: str) -> str:
    """Append a copy of the run's first scheduled item (same event): a duplicate delivery."""
    log = open_log(url)
    try:
        first = next(r.event for r in log.read("work") if r.event.type == "episode.scheduled")
        log.append("work", [first])
        return first.payload.episode_id
    finally:
        log.close()


def finish(run: subprocess.Popen, workers: list[WorkerProc], timeout_s: float = 400):
    try:
        stdout, stderr = run.communicate(timeout=timeout_s)
    finally:
        codes = [w.stop() for w in workers]
    logs = "\n".join(f"--- {w.name}\n{w.text()}" for w in workers)
    assert run.returncode == 0, f"{stderr[-3000:]}\n{logs}"
    assert codes == [0] * len(workers), logs
    return stdout, logs


@pytest.mark.timeout(1500)  # group joins and rebalances take long on a loaded shared machine
def test_workers_that_join_leave_and_die_give_the_local_pool_results(reference, cache, kafka_url, tmp_path):
    """Two victim workers from the start; a victim is SIGKILLed five times, each time while one
    of its episodes runs (its episode.started is in the log), and restarted at once (two victim
    processes are kept alive, so the next kill does not wait for a restarted one to join its
    group); one item is delivered twice; after the fifth kill a victim leaves (SIGTERM) and two
    more workers join the running run (three at once from then on), which must take a share."""
    rng = random.Random(20)
    config = write_config(tmp_path, RUN, kafka_url, cache, upstream=SLEEPY)
    run = start_run(config, tmp_path, sleep_s=1)
    victims = [WorkerProc(kafka_url, f"victim{i}", tmp_path, sleep_s=1) for i in range(2)]
    joined: list[WorkerProc] = []
    killed: list[str] = []
    watch = LogWatch(kafka_url)

    def mid_episode():
        for v in victims:
            eps = v.running()
            if eps and eps[-1] not in killed and eps[-1] in watch.started and v.proc.poll() is None:
                return v, eps[-1]
        return None

    try:
        wait_until(lambda: any(" joined run " in ln for w in victims for ln in w.lines), 180,
                   "a worker to join the run")
        repeated = repeat_one_item(kafka_url)
        while len(killed) < 5:
            picked = wait_until(lambda: mid_episode() or run.poll() is not None, 300,
                                "a victim in the middle of an episode")
            assert run.poll() is None, f"the run ended after {len(killed)} kills"
            victim, episode = picked
            time.sleep(rng.uniform(0.1, 0.6))
            victim.kill()
            killed.append(episode)
            victims[victims.index(victim)] = WorkerProc(kafka_url, f"victim{len(killed) + 1}", tmp_path,
                                                        sleep_s=1)
        leaving = wait_until(lambda: next((v for v in victims if any(" joined run " in ln for ln in v.lines)),
                                          None), 180, "a victim in the run")
        leaving.proc.send_signal(signal.SIGTERM)
        joined += [WorkerProc(kafka_url, name, tmp_path, sleep_s=1) for name in ("third", "late")]
    except BaseException:
        run.kill()
        for w in [*victims, *joined]:
            w.stop()
            print(f"--- {w.name}\n" + "\n".join(w.lines))  # shown by pytest on failure
        raise
    finally:
        watch.close()
    stdout, logs = finish(run, [*victims, *joined], timeout_s=500)
    assert any(" left run " in ln for ln in leaving.lines), logs
    assert "pass@1" in stdout and "failed 0" in stdout
    got = outcome(kafka_url, RUN)
    assert_same_results(got, reference.get())
    assert {ep: got.reason_of.get(ep) for ep in killed} == {ep: "interrupted" for ep in killed}
    by_worker = {d.worker for _, d in got.done if d.outcome in ("ran", "evaluated")}
    assert by_worker & {"third", "late"}, f"the workers started after the kills took nothing:\n{logs}"
    assert {d.episode_id for _, d in got.done} == {s.episode_id for _, s in got.scheduled}
    # the item delivered twice (Kafka keeps both copies) was run and acknowledged once
    assert [d.episode_id for _, d in got.done].count(repeated) == 1
    assert sum(1 for _, s in got.scheduled if s.episode_id == repeated) == 2


def test_embedded_log_worker_and_a_standby_that_takes_over(reference, cache, tmp_path):
    """SQLite parity: one worker holds the run's queue, a second waits; SIGKILL the first
    mid-episode and the standby takes over at once, closing the dead attempt. The
    coordinator is SIGKILLed too once a result is in, and restarted: nothing is scheduled twice."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    config = write_config(tmp_path, RUN, url, cache, upstream=SLEEPY, limit=2, max_scheduled=3)
    first = WorkerProc(url, "first", tmp_path, slots=2, sleep_s=1)
    run = start_run(config, tmp_path, sleep_s=1)
    standby = None
    watch = LogWatch(url)
    try:
        episode = wait_until(lambda: first.running() and first.running()[0], 180, "the first episode")
        standby = WorkerProc(url, "standby", tmp_path, slots=2, sleep_s=1)
        wait_until(lambda: episode in watch.started, 60, f"{episode} to start")
        first.kill()
        wait_until(lambda: watch.evaluated, 180, "a first result")
        run.kill()
        run.wait()
        run = start_run(config, tmp_path, sleep_s=1)
    except BaseException:
        run.kill()
        for w in (first, standby):
            if w is not None:
                w.stop()
        raise
    finally:
        watch.close()
    finish(run, [standby])
    got = outcome(url, RUN)
    assert sorted((s.instance_id, s.sample_idx) for _, s in got.scheduled) == sorted(got.evals), \
        "a pair was scheduled twice"
    # half of the reference's instances: the same verdict per pair, the same score per instance
    assert_same_results(got, reference.get(), subset=True)
    assert got.finished[episode] == 1 and got.reason_of[episode] == "interrupted"
    assert any(episode in d.interrupted and d.worker == "standby" for _, d in got.done)
    in_flight, most = 0, 0  # back-pressure: never more than max_scheduled items without a result
    events = sorted([(ts, 1) for ts, _ in got.scheduled] + [(ts, -1) for ts in got.eval_ts])
    for _, step in events:
        in_flight += step
        most = max(most, in_flight)
    assert most <= 3


def test_an_unreachable_upstream_is_an_infrastructure_error_not_a_score(cache, tmp_path):
    """As on the local pool: every pair an infra error, the coordinator stops scheduling after
    `max_consecutive_infra_errors` in a row, exit 3 with the one-line summary, nothing scored."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    config = write_config(tmp_path, "outage", url, cache, upstream="openai:http://127.0.0.1:1/v1", max_scheduled=1)
    cfg = yaml.safe_load(config.read_text())
    cfg["batch"]["max_consecutive_infra_errors"] = 2
    config.write_text(yaml.safe_dump(cfg))
    worker = WorkerProc(url, "w", tmp_path)
    run = start_run(config, tmp_path)
    try:
        stdout, stderr = run.communicate(timeout=600)
    finally:
        worker.stop()
    assert run.returncode == 3, stderr[-3000:]
    assert "stopped after 2 consecutive infrastructure errors" in stderr.strip().splitlines()[-1]
    got = outcome(url, "outage")
    log = open_log(url)
    try:
        evals = [r.event.payload for r in log.read("evals")]
        [fin] = [r.event.payload for r in log.read("runs") if r.event.type == "run.finished"]
    finally:
        log.close()
    assert {e.status for e in evals} == {"infra"} and not got.scores
    # one item at a time (max_scheduled 1): the second infra error in a row is the last pair run
    assert len(evals) == 2 and fin.infra_errors == 2 and fin.not_run == 6
