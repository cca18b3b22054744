"""How attempts count on resume: interrupted attempts (the orchestrator died) never do,
attempts that failed on their own (closed by a live orchestrator) do, up to
resume_policy.max_attempts; then the pair is given up, evaluated as an empty patch, and
shown in the summary and in run.finished."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
import yaml

import events
from events.log import open_log
from events.payloads import EpisodeFinished, EpisodeStarted, RunStarted
from producers.orchestrator.config import ResumePolicy, load_config
from producers.orchestrator.plan import (ORCHESTRATOR, ResumeError, episode_id_for, interrupted_finish,
                                         open_attempts, plan_specs, plan_work, read_state)
from tests.demo_run import ROOT, write_config

RETRY3 = ResumePolicy(on_unfinished="retry", max_attempts=3)


def _attempt(run: str, spec, attempt: int, end: str | None) -> list:
    """An attempt's episode.started and how it ended: `interrupted` / `failed` (closed by the
    orchestrator), `agent` (finished by its agent), None (left open)."""
    ep = episode_id_for(spec, attempt)
    out = [events.new(EpisodeStarted(episode_id=ep, instance_id=spec.instance_id, sample_idx=spec.sample_idx,
                                     attempt=attempt), producer="agent.bash", run_id=run)]
    if end is None:
        return out
    reason = {"interrupted": "interrupted", "failed": "error", "agent": "submitted"}[end]
    producer = "agent.bash" if end == "agent" else ORCHESTRATOR
    out.append(events.new(EpisodeFinished(episode_id=ep, instance_id=spec.instance_id, sample_idx=spec.sample_idx,
                                          attempt=attempt, reason=reason, patch="diff" if end == "agent" else ""),
                          producer=producer, run_id=run))
    return out


def _plan(tmp_path, ends: list[str | None], policy=RETRY3):
    log = open_log(f"sqlite:///{tmp_path}/l.db")
    [spec] = plan_specs("r", ["a__b-1"], 1)
    for i, end in enumerate(ends, start=1):
        log.append("episodes", _attempt("r", spec, i, end))
    state = read_state(log, "r")
    log.close()
    return spec, state, plan_work([spec], state, policy)[0]


def test_interrupted_attempts_never_count(tmp_path):
    spec, _, [work] = _plan(tmp_path, ["interrupted"] * 5 + ["failed", "failed"])
    assert (work.kind, work.attempt, work.episode_id) == ("episode", 8, episode_id_for(spec, 8))


def test_an_attempt_a_worker_closed_as_interrupted_is_closed_and_one_event(tmp_path):
    """A distributed worker closes a dead attempt with its own producer name: read as closed
    (not the agent's result), never counted, and the orchestrator's close of it is the same id."""
    log = open_log(f"sqlite:///{tmp_path}/l.db")
    [spec] = plan_specs("r", ["a__b-1"], 1)
    [started] = _attempt("r", spec, 1, None)
    ep = started.payload.episode_id
    by_worker = interrupted_finish("r", ep, spec.instance_id, spec.sample_idx, 1, producer="worker.w1")
    log.append("episodes", [started, by_worker])
    state = read_state(log, "r")
    log.close()
    [work] = plan_work([spec], state, RETRY3)[0]
    assert (work.kind, work.attempt) == ("episode", 2)
    assert state.pairs[spec.pair].finished[ep].closed and not state.pairs[spec.pair].failed_attempts()
    assert interrupted_finish("r", ep, spec.instance_id, spec.sample_idx, 1).id == by_worker.id


def test_attempts_that_failed_on_their_own_run_out(tmp_path):
    spec, state, [work] = _plan(tmp_path, ["failed", "interrupted", "failed", "failed"])
    assert work.kind == "given_up" and work.attempt == 4
    assert work.finished_event_id == state.pairs[spec.pair].finished[work.episode_id].event_id


def test_an_attempt_its_agent_finished_is_the_result(tmp_path):
    _, _, [work] = _plan(tmp_path, ["failed", "interrupted", "agent", "interrupted"])
    assert work.kind == "evaluate" and work.attempt == 3 and work.patch == "diff"


def test_open_attempts_are_found_and_policy_fail_refuses(tmp_path):
    spec, state, _ = _plan(tmp_path, ["failed", None])
    assert open_attempts([spec], state, RETRY3) == [(spec, 2, episode_id_for(spec, 2))]
    with pytest.raises(ResumeError, match="never finished"):
        open_attempts([spec], state, ResumePolicy(on_unfinished="fail"))


def test_policy_skip_gives_up_an_interrupted_pair_without_evaluating_it(tmp_path):
    _, _, [work] = _plan(tmp_path, ["interrupted"], ResumePolicy(on_unfinished="skip"))
    assert work.kind == "given_up" and work.finished_event_id is None


def test_a_given_up_pair_is_evaluated_and_shown_in_the_summary_and_run_finished(tmp_path, demo_cache):
    """A log where one pair's three attempts failed on their own: `ledger run` gives it up."""
    config = write_config(tmp_path, "gu", cache=demo_cache)
    raw = yaml.safe_load(config.read_text())
    raw["dataset"]["limit"], raw["sampling"]["n"], raw["sampling"]["k"] = 1, 1, [1]
    config.write_text(yaml.safe_dump(raw))
    cfg = load_config(config)
    from producers.orchestrator.components import load_instances

    dataset = load_instances(cfg)
    run_ns = uuid.UUID("0b7c6a52-54a6-4b8e-9a43-6f0f3f5f2d11")  # the orchestrator's run.started id space
    started = events.new(RunStarted(config=cfg.model_dump(mode="json"), manifest=dataset.manifest, planned=1,
                                    mode="eval"), producer=ORCHESTRATOR, run_id="gu",
                         id=str(uuid.uuid5(run_ns, "gu/started")))
    log = open_log(cfg.log)
    log.append("runs", [started])
    [spec] = plan_specs("gu", [i.instance_id for i in dataset.instances], 1)
    for attempt in (1, 2, 3):
        log.append("episodes", _attempt("gu", spec, attempt, "failed"))
    log.close()
    done = subprocess.run([sys.executable, "-m", "main", "run", str(config)], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "given up 1" in done.stdout and f"given up (attempts ran out; scored as empty patches): " \
        f"{spec.instance_id}#0" in done.stdout, done.stdout[-2000:]
    log = open_log(cfg.log, read_only=True)
    try:
        [fin] = [r.event.payload for r in log.read("runs") if r.event.type == "run.finished"]
        [verdict] = [r.event.payload for r in log.read("evals")]
    finally:
        log.close()
    assert fin.given_up == 1 and fin.given_up_pairs == [f"{spec.instance_id}#0"]
    assert not verdict.resolved and verdict.episode_id == episode_id_for(spec, 3)


def test_a_record_of_the_run_topics_that_cannot_be_read_stops_the_plan(tmp_path):
    """Planning around an unreadable eval.result could judge its pair twice: it stops instead."""
    from events.log import LogDamaged

    log = open_log(f"sqlite:///{tmp_path}/l.db")
    [spec] = plan_specs("r", ["a__b-1"], 1)
    log.append("episodes", _attempt("r", spec, 1, "agent"))
    [bad] = log.append_raw("evals", [("r/a__b-1", b"{not json")])
    with pytest.raises(LogDamaged, match=f"record evals/{bad.partition}/{bad.offset} cannot be read"):
        read_state(log, "r")
    log.close()
