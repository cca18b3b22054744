"""The parts a run is made of, wired from a RunConfig.

This is the one place where the orchestrator touches the other producers
(datasets, sandboxes, agents, evaluator, proxy) and the sidecars that run
beside it (processors, inducer, projector). Everything else in the
orchestrator speaks only TaskSpecs, the log and these functions.
"""
from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from rich.console import Console

from events.log import EventLog, open_log

from .config import RunConfig

__all__ = ["load_instances", "make_sandbox_factory", "run_episode", "evaluate_and_record", "Sidecars",
           "processor_args", "run_rl"]


def load_instances(cfg: RunConfig):
    from producers.datasets import load_dataset

    d = cfg.dataset
    return load_dataset(d.source, split=d.split, revision=d.revision, instance_filter=d.instance_filter,
                        limit=d.limit, cache_dir=d.cache_dir, repos=d.repos)


def _memory_bytes(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower()
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def make_sandbox_factory(cfg: RunConfig, evaluation: bool = False):
    """Where episodes (and, with `evaluation`, their evaluations) run. In the harness's images
    an evaluation container has the network the harness gives it; an episode never does."""
    s = cfg.sandbox
    if s.kind == "docker":
        from producers.sandbox.docker import SWEBENCH_IMAGE, DockerSandboxFactory

        return DockerSandboxFactory(image=s.image, memory=s.memory, startup_timeout=s.startup_timeout,
                                    output_cap=s.output_cap, build_images=s.build_images, task_repo=s.task_repo,
                                    network=evaluation and s.image == SWEBENCH_IMAGE)
    from producers.datasets.environments import EnvironmentResolver
    from producers.sandbox.isolation import Rlimits
    from producers.sandbox.local import LocalSandboxFactory
    from producers.sandbox.with_environment import EnvironmentSandboxes

    local = LocalSandboxFactory(output_cap=s.output_cap, rlimits=Rlimits(memory_bytes=_memory_bytes(s.memory)))
    resolver = EnvironmentResolver(cfg.dataset.environments, cfg.dataset.cache_dir)
    return EnvironmentSandboxes(local, resolver.environment_for)


def run_episode(cfg: RunConfig, log: EventLog, instance: Any, sandboxes, job):
    from producers.agents.base import AgentLimits, EpisodeContext, Sampling
    from producers.agents.registry import make_runner

    a, s = cfg.agent, cfg.sampling
    ctx = EpisodeContext(
        log=log, run_id=cfg.run.id, episode_id=job.episode_id, instance=instance, sandbox_factory=sandboxes,
        base_url=job.proxy_url, api_key=job.proxy_token, model=cfg.model.name, sample_idx=job.sample_idx,
        attempt=job.attempt, seed=job.seed,
        sampling=Sampling(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens),
        workflow_memory=job.memory,
        limits=AgentLimits(max_steps=a.max_steps, max_turns=a.max_turns, execution_timeout=a.execution_timeout,
                           swe_agent_timeout=a.swe_agent_timeout))
    return make_runner(a.runner).run(ctx)


def evaluate_and_record(cfg: RunConfig, log: EventLog, instance: Any, sandboxes, job, patch: str,
                        finished_id: str | None, infra: tuple[str, str] | None = None):
    """Judge the pair's patch and record the verdict; `infra` = (cause, reason) when the episode
    ended on an infrastructure failure: then nothing is judged and the result says `infra`."""
    from producers.evaluator import Evaluator, infra_result, record_eval

    if infra is not None:
        result = infra_result(instance, infra[0], infra[1], patch=patch, sample_idx=job.sample_idx,
                              episode_id=job.episode_id, model=cfg.model.name)
    else:
        result = Evaluator(sandboxes, timeout_s=cfg.agent.swe_agent_timeout).evaluate(
            instance, patch, sample_idx=job.sample_idx, episode_id=job.episode_id, model=cfg.model.name)
    record_eval(log, result, run_id=cfg.run.id, parent=finished_id)
    return result


def processor_args(cfg: RunConfig) -> argparse.Namespace:
    """The processors' options for this run (the same ones `ledger process` takes)."""
    return argparse.Namespace(reward="binary@1", penalty_timeout=0.0, penalty_no_patch=0.0,
                              penalty_patch_failed=0.0, k=",".join(str(k) for k in cfg.sampling.k),
                              scorer=1, every=cfg.awm.induction_trigger_count, group_size=cfg.sampling.n,
                              rules=None, max_workflows=cfg.awm.max_workflows)


class Sidecars:
    """What runs beside the episode workers: the proxy, the processors, the inducer and
    the lake projection (every few seconds, so a dashboard follows the run; once more at
    the end). Each has its own connection to the log."""

    PROJECT_EVERY_S = 3.0
    """Seconds between two projections of the lake while the run goes."""

    PROCESSORS = ("rewards", "pass_at_k", "experiences", "rollouts", "alerts", "evictor")

    def __init__(self, cfg: RunConfig, log: EventLog, console: Console):
        self.cfg, self.log, self.console = cfg, log, console
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.proxy = None

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> "Sidecars":
        from producers.proxy.server import ProxyServer

        m = self.cfg.model
        opts = {"log_url": self.cfg.log, "follow": m.follow_policy} if m.follow_policy else {}
        self.proxy = ProxyServer(self.cfg.log, m.upstream, run_id=self.cfg.run.id, upstream_opts=opts).start()
        self._thread = threading.Thread(target=self._follow, name="processors", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=60)
        if self.proxy:
            self.proxy.stop()

    @property
    def proxy_token(self) -> str:
        return self.proxy.token

    def proxy_url(self, episode_id: str) -> str:
        return self.proxy.base_url(episode_id)

    # -- processors alongside ------------------------------------------------------------
    def _runtime(self, log: EventLog):
        from processors.catalog import build
        from processors.runtime import Runtime

        args = processor_args(self.cfg)
        return Runtime(log, [build(name, args) for name in self.PROCESSORS],
                       snapshot_dir=Path(self.cfg.artifacts) / "snapshots")

    def _follow(self) -> None:
        import time

        log = open_log(self.cfg.log)
        projector, projected = None, 0.0
        try:
            while not self._stop.is_set():
                self._runtime(log).run(follow=False)
                self._induce(log)
                if time.monotonic() - projected >= self.PROJECT_EVERY_S:
                    projector = projector or self._projector(log)
                    projector.run()
                    projected = time.monotonic()
                self._stop.wait(0.5)
        except BaseException as exc:  # reported by drain(), never lost
            self._error = exc
        finally:
            if projector is not None:
                projector.close()
            log.close()

    def _projector(self, log: EventLog):
        from projections.projector import Projector
        from projections.views import refresh

        lake = self.cfg.lake
        return Projector(log, lake, on_round=lambda touched: refresh(lake, touched,
                                                                     max_workflows=self.cfg.awm.max_workflows))

    def _induce(self, log: EventLog) -> None:
        from producers.inducer import Inducer, heuristic_induction, model_induction

        if not self.cfg.awm.enabled:
            return
        induce = heuristic_induction
        if self.cfg.awm.inducer == "model":
            induce = model_induction(self.proxy.base_url("inducer"), self.cfg.model.name, self.proxy.token)
        Inducer(log, induce).run(follow=False, idle_s=0.05)

    def drain(self) -> None:
        """Stop following, then catch every processor, the inducer and the lake up with the log."""
        from projections.projector import project

        self._stop.set()
        if self._thread:
            self._thread.join()
        if self._error:
            raise RuntimeError(f"processors failed: {self._error}") from self._error
        for _ in range(2):  # the inducer's outputs feed the processors once more
            self._runtime(self.log).run(follow=False)
            self._induce(self.log)
        project(self.cfg.log, self.cfg.lake)

    def memory_for(self, repo: str) -> str:
        """The workflow memory block of a scope, as the log says now (empty when AWM is off)."""
        from projections.memory import WorkflowMemory

        if not self.cfg.awm.enabled:
            return ""
        memory = WorkflowMemory(max_workflows=self.cfg.awm.max_workflows)
        for rec in self.log.read("workflows"):
            memory.apply_event(rec.event)
        return memory.render(self.cfg.agent.memory_scope or repo)

    def scores(self, run_id: str) -> list[dict[str, Any]]:
        from projections.scores import load

        frame = load(self.cfg.lake).collect()
        if frame.is_empty() or "run_id" not in frame.columns:
            return []
        return frame.filter(frame["run_id"] == run_id).to_dicts()


def run_rl(cfg: RunConfig) -> int:
    from .rl import run_rl as run

    return run(cfg)
