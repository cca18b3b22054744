"""SWE episodes for an outside trainer: play one, record it, read its trajectory back.

`SweEpisodes` is what verl's `SWEAgentLoop` (trainer/verl_agent_loop.py) stands on,
one per process: a run config (the log, the dataset, the agent runner, the
sandboxes), a model proxy whose upstream is a `HandoffUpstream` (each model call
is handed to the agent loop, which generates with verl), the evaluator and a
reward function. `play()` runs one episode as `ledger run` would — every call,
action, eval result and reward lands in the log — and then reads the episode's
events back from the log and assembles them with the rollouts processor's
rules (`processors.reducers.rollouts`): the trajectory verl trains on is the
one the log holds, token for token.

Where a `ledger run` would plan (instance, sample) pairs, an outside trainer
decides: verl hands each agent-loop call one dataset row and does not say which
of its `rollout.n` samples it is, and several worker processes play samples of
the same row. So episode ids are fresh (`ep-<uuid7 hex>`) and `sample_idx` is
52 bits of the episode id's random part: unique within a run with overwhelming
probability, so pass@k/avg@k over a training run count every sample once.
"""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import events
from events.ids import uuid7
from events.log import open_log
from events.log.partitioner import partition_for
from events.payloads import INFRA, RolloutSample, RunStarted

__all__ = ["READ_BACK", "Played", "SweEpisodes"]

READ_BACK = ("episodes", "proxy", "rewards")
"""The topics an episode's trajectory is assembled from (key: episode id)."""

_RUN_NS = uuid.UUID("0b7c6a52-54a6-4b8e-9a43-6f0f3f5f2d11")
"""The orchestrator's namespace for run.started ids: one run id, one run.started."""


@dataclass
class Played:
    """One episode, as the log tells it."""

    episode_id: str
    instance_id: str
    sample_idx: int
    reason: str
    """How the episode ended (episode.finished.reason)."""
    status: str
    """eval.result status (`infra` when the infrastructure kept it from being judged)."""
    resolved: bool
    reward: float | None
    """reward.assigned's reward (None for an infrastructure failure: no reward is assigned)."""
    samples: list[RolloutSample]
    """The episode's trajectories (one per fork; one unless the conversation was edited)."""
    excluded: str | None
    """Why the episode yields no trajectory to train on (the rollouts processor's reason), or None."""
    duration_s: float
    eval_s: float


class SweEpisodes:
    """The ledger's parts for one process; `play()` may run in many threads at once."""

    def __init__(self, config: Any, *, reward: str = "binary@1", chat_tokens: Any = None,
                 workers: int = 8, upstream_name: str = "verl"):
        from processors.reward_fns import parse_reward
        from producers.inference.handoff import HandoffUpstream
        from producers.orchestrator.components import (
            load_instances,
            make_sandbox_factory,
        )
        from producers.proxy.server import ProxyServer

        self.cfg = config
        self.reward = parse_reward(reward)
        self.log = open_log(config.log)
        self.dataset = load_instances(config)
        self.instances = {i.instance_id: i for i in self.dataset.instances}
        self.sandboxes = make_sandbox_factory(config)
        self.eval_sandboxes = make_sandbox_factory(config, evaluation=True)
        self.upstream = HandoffUpstream(upstream_name, chat_tokens)
        self.proxy = ProxyServer(config.log, self.upstream, run_id=config.run.id).start()
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="swe-episode")
        self._record_run_started()

    # -- identity --------------------------------------------------------------------------
    def instance(self, instance_id: str) -> Any:
        try:
            return self.instances[instance_id]
        except KeyError:
            raise ValueError(f"instance {instance_id!r} is not in the run config's dataset "
                             f"({self.cfg.dataset.source}, {len(self.instances)} instances)") from None

    @staticmethod
    def new_episode() -> tuple[str, int]:
        """(episode id, sample_idx) of a new episode."""
        hex_id = uuid.UUID(uuid7()).hex
        return f"ep-{hex_id}", int(hex_id[-13:], 16)

    def _record_run_started(self) -> None:
        run_id = self.cfg.run.id
        event_id = str(uuid.uuid5(_RUN_NS, f"{run_id}/started"))
        part = partition_for(run_id, self.log.partitions("runs"))
        if any(rec.event.id == event_id for rec in self.log.read("runs", partition=part)):
            return
        payload = RunStarted(config=self.cfg.model_dump(mode="json"), manifest=self.dataset.manifest,
                             planned=0, mode="verl")
        self.log.append("runs", [events.new(payload, producer="verl_agent_loop", run_id=run_id, id=event_id)])

    # -- one episode -------------------------------------------------------------------------
    def marks(self, episode_id: str) -> dict[str, tuple[int, int]]:
        """Where the episode's events will start, per read-back topic: (partition, offset)."""
        out = {}
        for topic in READ_BACK:
            part = partition_for(episode_id, self.log.partitions(topic))
            out[topic] = (part, self.log.end_offsets(topic).get(part, 0))
        return out

    def play(self, instance: Any, episode_id: str, sample_idx: int, sampling: Any) -> Played:
        """Run the agent (its model calls go to the proxy, which hands them over), judge the patch,
        assign the reward, and read the trajectory back. Blocking; call it off the event loop."""
        marks = self.marks(episode_id)
        t0 = time.monotonic()
        outcome = self._run_agent(instance, episode_id, sample_idx, sampling)
        t1 = time.monotonic()
        result = self._judge(instance, outcome, sample_idx)
        samples, excluded, reward = self.read_trajectory(episode_id, marks)
        if result.payload.status == INFRA:
            excluded = f"infra: {result.payload.infra_cause or result.payload.reason}"
        return Played(episode_id=episode_id, instance_id=instance.instance_id, sample_idx=sample_idx,
                      reason=outcome.reason, status=result.payload.status, resolved=result.payload.resolved,
                      reward=reward, samples=samples, excluded=excluded,
                      duration_s=t1 - t0, eval_s=time.monotonic() - t1)

    def _run_agent(self, instance: Any, episode_id: str, sample_idx: int, sampling: Any):
        from producers.agents.base import AgentLimits, EpisodeContext
        from producers.agents.registry import make_runner

        a = self.cfg.agent
        ctx = EpisodeContext(
            log=self.log, run_id=self.cfg.run.id, episode_id=episode_id, instance=instance,
            sandbox_factory=self.sandboxes, base_url=self.proxy.base_url(episode_id), api_key=self.proxy.token,
            model=self.cfg.model.name, sample_idx=sample_idx, sampling=sampling,
            limits=AgentLimits(max_steps=a.max_steps, max_turns=a.max_turns, execution_timeout=a.execution_timeout,
                               swe_agent_timeout=a.swe_agent_timeout))
        return make_runner(a.runner).run(ctx)

    def _judge(self, instance: Any, outcome: Any, sample_idx: int):
        """eval.result, then reward.assigned from it (the rewards processor's own event and id, so
        `ledger process rewards` over the same log adds nothing twice)."""
        from processors.reducers.rewards import reward_event
        from producers.evaluator import Evaluator, infra_result, record_eval

        common = {"sample_idx": sample_idx, "episode_id": outcome.episode_id, "model": self.cfg.model.name}
        if outcome.infra_cause:
            result = infra_result(instance, outcome.infra_cause,
                                  f"the episode ended on an infrastructure failure: {outcome.error}",
                                  patch=outcome.patch, **common)
        else:
            result = Evaluator(self.eval_sandboxes, timeout_s=self.cfg.agent.swe_agent_timeout).evaluate(
                instance, outcome.patch, **common)
        event = record_eval(self.log, result, run_id=self.cfg.run.id, parent=outcome.finished_event_id)
        if result.status != INFRA:
            self.log.append("rewards", [reward_event(self.reward, event)])
        return event

    def read_trajectory(self, episode_id: str, marks: dict[str, tuple[int, int]]
                        ) -> tuple[list[RolloutSample], str | None, float | None]:
        """(samples, None, reward) assembled from the episode's events in the log, or
        ([], why not, reward)."""
        from processors.reducers.rollouts import EpisodeTurns, Rollouts

        rollouts = Rollouts(group_size=1, reward=self.reward)
        episode = EpisodeTurns()
        for topic, (part, start) in marks.items():
            for rec in self.log.read(topic, start=start, partition=part):
                if getattr(rec.event.payload, "episode_id", None) == episode_id:
                    rollouts.fold_episode(episode, rec.event)
        if episode.finished is None:
            return [], "unfinished: the log holds no episode.finished", None
        if episode.reward is None:
            return [], "no reward: the log holds no reward.assigned", None
        outcome = rollouts.outcome(episode_id, episode)
        if isinstance(outcome, str):
            return [], outcome, episode.reward
        return outcome, None, episode.reward

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.proxy.stop()
        self.log.close()
