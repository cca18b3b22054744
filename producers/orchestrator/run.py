"""The orchestrator (seed 002, R2): plan → launch → observe → reconcile, on the log.

    run.started ─▶ episodes in a worker pool (each via the proxy, in its sandbox)
                ─▶ eval.result per (instance, sample) ─▶ processors alongside
                ─▶ run.finished ─▶ lake + score index ─▶ score table

Resuming is the same code path: the plan is recomputed from the log, so what is
done is skipped. Attempts a dead orchestrator left open are closed as
`interrupted` (they do not count against max_attempts) and their sandboxes
removed; see plan.py for how attempts count. `run.finished` is the last event a
run appends, before the final projection, so the lake shows the run finished; a
resume that changes nothing does not finish the run again.
"""
from __future__ import annotations

import multiprocessing
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable

from rich.console import Console

import events
from events.log import EventLog, LogDamaged, LogFull, open_log
from events.payloads import EpisodeFinished, RunFinished, RunStarted

from .config import RunConfig, expand_param_search
from .infra import InfraTally, tally_infra
from .plan import (INTERRUPTED, ORCHESTRATOR, Finish, ResumeError, RunState, TaskSpec, Work, episode_id_for,
                   interrupted_finish, open_attempts, plan_specs, plan_work, read_state)
from .progress import RunProgress
from .worker import WorkerJob, init_worker, run_job

__all__ = ["Orchestrator", "run_config", "RunSummary", "ConfigMismatch", "EmptyPlan", "NotJudgeable"]

_RUN_NS = uuid.UUID("0b7c6a52-54a6-4b8e-9a43-6f0f3f5f2d11")


class ConfigMismatch(RuntimeError):
    """A run id that exists in the log was started with a different config."""


class EmptyPlan(RuntimeError):
    """The dataset (after its filter and limit) holds no instance: there is nothing to run."""


class NotJudgeable(RuntimeError):
    """`dataset.validation: refuse` and some instances cannot be judged: nothing ran."""


@dataclass
class RunSummary:
    run_id: str
    planned: int
    skipped: int
    ran: int = 0
    evaluated: int = 0
    resolved: int = 0
    failed: int = 0
    given_up: int = 0
    given_up_pairs: list[str] = field(default_factory=list)
    """`instance_id#sample_idx` of every pair of the run given up, in this session or before."""
    scores: list[dict[str, Any]] = field(default_factory=list)
    infra: InfraTally = field(default_factory=InfraTally)
    """Pairs of the run (this invocation and earlier ones) whose results are all `infra`."""
    consecutive_infra: int = 0
    stopped_after: int = 0
    """When the run stopped early: the consecutive infrastructure errors that stopped it."""
    not_run: int = 0
    """Planned pairs left undone by an early stop."""

    def infra_summary(self) -> str:
        """The one-line summary `ledger run` prints when it exits with code 3 ("" when none)."""
        if not self.infra.count and not self.stopped_after:
            return ""
        return self.infra.summary(self.planned, self.stopped_after, self.not_run)


def _identity(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The parts of a config snapshot that define a run's results (not where things are kept)."""
    return {k: v for k, v in snapshot.items() if k not in ("log", "lake", "artifacts", "batch")}


class Orchestrator:
    def __init__(self, config: RunConfig, console: Console | None = None):
        from .components import load_instances

        self.config = config
        self.console = console or Console(stderr=True)
        self.run_id = config.run.id
        self.log: EventLog = open_log(config.log)
        self.dataset = load_instances(config)
        self._repo = {i.instance_id: i.repo for i in self.dataset.instances}
        for err in self.dataset.errors:
            self.console.print(f"[yellow]dataset row skipped:[/] {err}")
        if not self.dataset.instances:
            self.log.close()
            raise EmptyPlan(_empty_plan_message(config, len(self.dataset.errors)))

    # -- plan ------------------------------------------------------------------------
    def start_or_resume(self) -> RunState:
        state = read_state(self.log, self.run_id)
        if state.run_started:
            if _identity(state.config or {}) != _identity(self.config.model_dump(mode="json")):
                raise ConfigMismatch(f"run {self.run_id!r} already exists with a different config; "
                                     "use a new run.id or the original config")
            self.console.print(f"resuming run [bold]{self.run_id}[/] from the log")
            return state
        ids = [i.instance_id for i in self.dataset.instances]
        payload = RunStarted(config=self.config.model_dump(mode="json"), manifest=self.dataset.manifest,
                             planned=len(ids) * self.config.sampling.n, mode=self.config.run.mode)
        started = events.new(payload, producer="orchestrator", run_id=self.run_id,
                             id=str(uuid.uuid5(_RUN_NS, f"{self.run_id}/started")))
        self.log.append("runs", [started])
        state.run_started, state.config = True, payload.config
        return state

    # -- launch / observe -------------------------------------------------------------
    def run(self) -> RunSummary:
        from .components import Sidecars

        t0 = time.monotonic()
        unjudgeable = self._validate()
        state = self.start_or_resume()
        specs = plan_specs(self.run_id, [i.instance_id for i in self.dataset.instances], self.config.sampling.n)
        if self.config.batch.mode == "distributed":  # workers close their own dead attempts
            return self._coordinate(state, specs, unjudgeable, t0)
        self._close_interrupted(specs, state)
        todo, done = plan_work(specs, state, self.config.resume_policy)
        summary = RunSummary(self.run_id, planned=len(specs), skipped=done)
        summary.given_up_pairs = [f"{s.instance_id}#{s.sample_idx}" for s in specs
                                  if s.pair in state.pairs and state.pairs[s.pair].given_up]
        todo = self._settle_given_up(todo, summary)
        todo = self._record_unjudgeable(todo, unjudgeable)
        with Sidecars(self.config, self.log, self.console) as sidecars:
            self._run_pool(todo, sidecars, summary)
            sidecars.drain()
            summary.infra = tally_infra(self.log, self.run_id)
            if todo or unjudgeable or not state.run_finished:  # a resume with nothing to do finishes nothing
                self._finish(summary, time.monotonic() - t0)
            sidecars.project()
            summary.scores = sidecars.scores(self.run_id)
        return summary

    def _validate(self) -> dict[str, str]:
        """instance id -> why it cannot be judged (`dataset.validation`), before any model call;
        with `refuse`, any such instance stops the run before it starts."""
        mode = self.config.dataset.validation
        if mode == "off":
            return {}
        from producers.datasets.validation import validate_instances
        from producers.evaluator import Evaluator

        from .components import make_sandbox_factory

        self.console.print(f"validating {len(self.dataset.instances)} instances (dataset.validation: {mode})")
        evaluator = Evaluator(make_sandbox_factory(self.config, evaluation=True),
                              timeout_s=self.config.agent.swe_agent_timeout)
        results = validate_instances(evaluator, self.dataset.instances, self.config.batch.workers)
        bad = {r.instance_id: r.reason for r in results if not r.judgeable}
        for iid, reason in bad.items():
            self.console.print(f"[yellow]{iid} cannot be judged:[/] {reason}")
        if bad and mode == "refuse":
            raise NotJudgeable(f"{len(bad)} of {len(results)} instances cannot be judged by their environment "
                               f"(dataset.validation: refuse), nothing ran: {', '.join(sorted(bad))}; see "
                               "ledger datasets validate")
        return bad

    def _record_unjudgeable(self, todo: list[Work], unjudgeable: dict[str, str]) -> list[Work]:
        """Pairs of instances that cannot be judged are infrastructure errors, recorded without
        an episode (no model call is made for them)."""
        if not unjudgeable:
            return todo
        from producers.evaluator import infra_result, record_eval
        from producers.failures import ENVIRONMENT

        instances = {i.instance_id: i for i in self.dataset.instances}
        keep = []
        for w in todo:
            reason = unjudgeable.get(w.spec.instance_id)
            if reason is None:
                keep.append(w)
                continue
            result = infra_result(instances[w.spec.instance_id], ENVIRONMENT, f"cannot be judged: {reason}",
                                  sample_idx=w.spec.sample_idx, model=self.config.model.name)
            record_eval(self.log, result, run_id=self.run_id, parent=None, producer="orchestrator")
        return keep

    def _close_interrupted(self, specs: list[TaskSpec], state: RunState) -> None:
        """Resume: close the attempts a dead orchestrator left open (`interrupted`, not counted
        against max_attempts) and remove the sandboxes its workers left behind."""
        if not state.run_started:
            return
        closing = open_attempts(specs, state, self.config.resume_policy)  # policy `fail` raises here
        self._remove_dead_sandboxes(specs, state)
        out = []
        for spec, attempt, ep in closing:
            fin = interrupted_finish(
                self.run_id, ep, spec.instance_id, spec.sample_idx, attempt,
                error="the orchestrator stopped while this attempt ran; closed when the run resumed")
            out.append(fin)
            state.pair(spec.pair).finished[ep] = Finish(fin.id, "", INTERRUPTED, closed=True)
        if out:
            self.log.append("episodes", out)
            self.console.print(f"closed {len(out)} attempt(s) interrupted when the run stopped")

    def _remove_dead_sandboxes(self, specs: list[TaskSpec], state: RunState) -> None:
        """Sandbox directories are named for their episode and their maker's pid
        (producers/sandbox/leftovers.py): those of this run's episodes whose maker is gone."""
        import tempfile
        from pathlib import Path

        from producers.sandbox.leftovers import remove_dead_sandboxes

        if self.config.sandbox.kind != "local":
            return
        labels = {episode_id_for(s, a) for s in specs
                  for a in range(1, (state.pairs[s.pair].attempts if s.pair in state.pairs else 0) + 2)}
        removed = remove_dead_sandboxes(Path(tempfile.gettempdir()), labels)
        if removed:
            self.console.print(f"removed {len(removed)} sandbox(es) left by the stopped run")

    def _coordinate(self, state: RunState, specs: list, unjudgeable: dict[str, str], t0: float) -> RunSummary:
        """`batch.mode: distributed`: workers run the episodes (producers/orchestrator/coordinator.py)."""
        from .components import Sidecars
        from .coordinator import Coordinator

        summary = RunSummary(self.run_id, planned=len(specs), skipped=0)
        with Sidecars(self.config, self.log, self.console) as sidecars:
            Coordinator(self).run(state, specs, summary, unjudgeable)
            sidecars.drain()
            summary.infra = tally_infra(self.log, self.run_id)
            if summary.ran or summary.evaluated or unjudgeable or not state.run_finished:
                self._finish(summary, time.monotonic() - t0)  # before the lake's final projection
            sidecars.project()
            summary.scores = sidecars.scores(self.run_id)
        return summary

    def _settle_given_up(self, todo: list[Work], summary: RunSummary) -> list[Work]:
        """Pairs whose attempts ran out: evaluated from their last failed attempt (an empty
        patch); with resume_policy `skip`, pairs whose last attempt was interrupted are not."""
        out = []
        for w in todo:
            if w.kind != "given_up":
                out.append(w)
                continue
            summary.given_up_pairs.append(f"{w.spec.instance_id}#{w.spec.sample_idx}")
            if w.finished_event_id is not None:
                out.append(Work("evaluate", w.spec, w.attempt, w.episode_id, w.finished_event_id, ""))
        summary.given_up = len(summary.given_up_pairs)
        return out

    def _run_pool(self, todo: list[Work], sidecars, summary: RunSummary) -> None:
        if not todo:
            return
        cfg = self.config.model_dump(mode="json")
        progress = RunProgress(self.console, total=summary.planned, already=summary.skipped)
        ctx = multiprocessing.get_context("spawn")
        with progress, ProcessPoolExecutor(self.config.batch.workers, mp_context=ctx,
                                           initializer=init_worker) as pool:
            pending: dict[Future, Work] = {}
            queue = list(todo)
            while queue or pending:
                while queue and len(pending) < self.config.batch.workers * 2 and not summary.stopped_after:
                    w = queue.pop(0)
                    pending[pool.submit(run_job, self._job(cfg, w, sidecars))] = w
                    progress.started()
                finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    self._observe(fut, pending.pop(fut), progress, summary)
                if not summary.stopped_after and self._infra_limit_reached(summary):
                    summary.stopped_after = summary.consecutive_infra
                    summary.not_run = len(queue) + sum(fut.cancel() for fut in pending)
                    pending = {f: w for f, w in pending.items() if not f.cancelled()}
                    queue.clear()
                    self.console.print(f"[red]stopping: {summary.stopped_after} consecutive pairs hit "
                                       "infrastructure errors[/]")

    def _job(self, cfg: dict, w: Work, sidecars) -> WorkerJob:
        return WorkerJob(config=cfg, kind=w.kind, instance_id=w.spec.instance_id,
                         sample_idx=w.spec.sample_idx, seed=w.spec.seed, attempt=w.attempt,
                         episode_id=w.episode_id, finished_event_id=w.finished_event_id, patch=w.patch,
                         proxy_url=sidecars.proxy_url(w.episode_id), proxy_token=sidecars.proxy_token,
                         memory=sidecars.memory_for(self._repo[w.spec.instance_id]))

    def _observe(self, fut: Future, w: Work, progress: RunProgress, summary: RunSummary) -> None:
        try:
            res = fut.result()
        except (LogFull, LogDamaged):
            raise  # nothing more can be recorded: the run stops with the log's one-line message
        except Exception as exc:  # a failed pair this time, retried on resume
            if w.kind == "episode" and not isinstance(exc, BrokenProcessPool):
                self._close_failed(w, exc)
            summary.failed += 1
            progress.failed()
            self.console.print(f"[red]{w.spec.instance_id} sample {w.spec.sample_idx} failed:[/] "
                               f"{type(exc).__name__}: {exc}")
            return
        summary.ran += res["kind"] == "episode"
        if res["status"] == "infra":
            summary.consecutive_infra += 1
            progress.failed()
            self.console.print(f"[yellow]{w.spec.instance_id} sample {w.spec.sample_idx}: infrastructure "
                               f"error ({res['infra_cause']})[/]")
            return
        summary.consecutive_infra = 0
        summary.evaluated += 1
        summary.resolved += bool(res["resolved"])
        progress.done(bool(res["resolved"]))

    def _infra_limit_reached(self, summary: RunSummary) -> bool:
        limit = self.config.batch.max_consecutive_infra_errors
        return limit > 0 and summary.consecutive_infra >= limit

    def _close_failed(self, w: Work, exc: Exception) -> None:
        """An attempt whose worker failed while this orchestrator watched: it failed on its
        own and counts against max_attempts (unless its agent finished it before failing)."""
        from events.log.partitioner import partition_for

        part = partition_for(w.episode_id, self.log.partitions("episodes"))
        if any(r.event.type == "episode.finished" and r.event.payload.episode_id == w.episode_id
               for r in self.log.read("episodes", partition=part)):
            return
        fin = events.new(EpisodeFinished(
            episode_id=w.episode_id, instance_id=w.spec.instance_id, sample_idx=w.spec.sample_idx,
            attempt=w.attempt, reason="error", incomplete=True,
            error=f"the attempt failed: {type(exc).__name__}: {exc}"[:2000]),
            producer=ORCHESTRATOR, run_id=self.run_id, id=events.derived_id(ORCHESTRATOR, 1, [w.episode_id, "failed"]))
        self.log.append("episodes", [fin])

    # -- reconcile ----------------------------------------------------------------------
    def _finish(self, summary: RunSummary, duration: float) -> None:
        """run.finished: the run's last event, appended before the final projection."""
        status = "finished" if not (summary.failed or summary.stopped_after) else "failed"
        fin = events.new(RunFinished(status=status, episodes=summary.ran, evaluated=summary.evaluated,
                                     failed=summary.failed, duration_s=round(duration, 3),
                                     message=summary.infra_summary(), infra_errors=summary.infra.count,
                                     infra_causes=dict(summary.infra.causes()), not_run=summary.not_run,
                                     given_up=summary.given_up, given_up_pairs=summary.given_up_pairs),
                         producer=ORCHESTRATOR, run_id=self.run_id)
        self.log.append("runs", [fin])

    def close(self) -> None:
        self.log.close()


def _empty_plan_message(config: RunConfig, bad_rows: int) -> str:
    d = config.dataset
    parts = [f"dataset {d.source!r} (split {d.split})"]
    if d.instance_filter:
        parts.append(f"instance_filter {d.instance_filter!r}")
    if bad_rows:
        parts.append(f"{bad_rows} rows rejected")
    return f"nothing to run: no instance matched in {', '.join(parts)}"


def run_config(config: RunConfig, console: Console | None = None,
               on_summary: Callable[[RunSummary], None] | None = None) -> list[RunSummary]:
    summaries = []
    for sub in expand_param_search(config):
        orch = Orchestrator(sub, console)
        try:
            summary = orch.run()
        finally:
            orch.close()
        summaries.append(summary)
        if on_summary:
            on_summary(summary)
    return summaries


__all__ += ["ResumeError"]
