"""The sampling side of `run.mode: rl`: prompt groups, played through the proxy, bounded by staleness.

A prompt group is `group_size` episodes of one prompt (a dataset instance, or a
toy task); the rollouts processor turns each into one `rollout.group` once all
its episodes are ready (excluded ones included). Two samplers share one shape:

- `SweSampler`: each episode is the orchestrator's own unit of work
  (producers/orchestrator/worker.run_job: the configured agent in the configured
  sandbox through the run's proxy, then the evaluator; `eval.result` ->
  `reward.assigned` by the rewards processor), in a process pool;
- `ToySampler`: one chat call per episode through the proxy, reward written by
  the toy environment (producers/toyenv.py), in one thread.

`Gate` decides when the next group may start, so that sampling overlaps training
but stays within `max_staleness`: at most `(max_staleness + 1) * batch_groups`
groups started and not yet consumed by the trainer (trained or dropped), and
never while the weights being served are already too old for the step the
trainer is working towards.
"""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import events
from events.payloads import EpisodeFinished, EpisodeStarted, EvalResult, PolicyVersion, RewardAssigned

__all__ = ["Gate", "PromptGroup", "SweSampler", "ToySampler", "TOY_REWARD"]

TOY_REWARD = ("toy.rule", 1)
"""(reward_fn, reward_version) of the toy environment's reward.assigned events."""


@dataclass
class Gate:
    """When may the next prompt group start? (see the module docstring)."""

    batch_groups: int
    max_staleness: int

    @property
    def capacity(self) -> int:
        return (self.max_staleness + 1) * self.batch_groups

    def allows(self, started: int, consumed: int, serving: PolicyVersion, judge_step: int) -> bool:
        """`judge_step`: the step at which the trainer will next judge staleness (its step, + 1 while
        it trains): samples of the serving weights must not be stale by then."""
        fresh = serving.step >= judge_step - self.max_staleness
        return started - consumed < self.capacity and fresh


@dataclass
class PromptGroup:
    index: int
    prompt_id: str
    episodes: list[str]
    futures: list[Future] = field(default_factory=list)


class _Sampler:
    """Shared bookkeeping: episode ids, futures, failures."""

    def __init__(self, run_id: str, group_size: int):
        self.run_id, self.group_size = run_id, group_size
        self.session = uuid.uuid4().hex[:6]
        """Distinguishes this process's episode ids from a previous (resumed) one's."""
        self.started = 0
        self.failures: list[str] = []
        self.groups: list[PromptGroup] = []

    def episode_ids(self, index: int, prompt_id: str) -> list[str]:
        return [f"{self.run_id}.{self.session}.g{index}.{prompt_id}.{i}" for i in range(self.group_size)]

    def reap(self) -> int:
        """Collect finished episodes; returns how many are still running."""
        running = 0
        for g in self.groups:
            for fut, ep in zip(g.futures, g.episodes):
                if fut.done() and not getattr(fut, "_reaped", False):
                    fut._reaped = True  # type: ignore[attr-defined]
                    exc = fut.exception()
                    if exc is not None:
                        self.failures.append(f"{ep}: {type(exc).__name__}: {exc}")
                        self.on_failure(g, ep, exc)
                elif not fut.done():
                    running += 1
        self.groups = [g for g in self.groups if not all(getattr(f, "_reaped", False) for f in g.futures)]
        return running

    def on_failure(self, group: PromptGroup, episode_id: str, exc: BaseException) -> None:
        raise NotImplementedError


class ToySampler(_Sampler):
    """Toy episodes, played one after another in one thread (the hf upstream samples one at a time)."""

    def __init__(self, log, proxy, env, run_id: str, version: Callable[[], PolicyVersion]):
        super().__init__(run_id, env.cfg.samples_per_prompt)
        from openai import OpenAI

        self.log, self.proxy, self.env, self.version = log, proxy, env, version
        self.client = OpenAI(base_url=proxy.base_url("none"), api_key=proxy.token, max_retries=0)
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="toy-sampler")

    def start(self) -> PromptGroup:
        index = self.started
        task = self.env.task(index)
        group = PromptGroup(index, task.prompt_id, self.episode_ids(index, task.prompt_id))
        group.futures = [self.pool.submit(self._episode, index, i, task, ep) for i, ep in enumerate(group.episodes)]
        self.groups.append(group)
        self.started += 1
        return group

    def _episode(self, index: int, si: int, task, ep: str) -> None:
        seed = self.env.sample_seed(index, 0, si)
        started = events.new(EpisodeStarted(episode_id=ep, instance_id=task.prompt_id, sample_idx=si, agent="toy",
                                            policy_version=self.version(), seed=seed),
                             producer="toyenv", run_id=self.run_id)
        self.log.append("episodes", [started])
        client = self.client.with_options(base_url=self.proxy.base_url(ep))
        resp = client.chat.completions.create(model="policy", messages=task.messages, seed=seed,
                                              temperature=self.env.cfg.temperature,
                                              max_tokens=self.env.cfg.max_tokens)
        text = resp.choices[0].message.content or ""
        self._record(ep, task, si, started.id, "submitted", self.env.reward(task, text))

    def _record(self, ep: str, task, si: int, parent: str | None, reason: str, reward: float,
                incomplete: bool = False, error: str = "") -> None:
        finished = events.new(EpisodeFinished(episode_id=ep, instance_id=task.prompt_id, sample_idx=si,
                                              reason=reason, turns=1, steps=1, incomplete=incomplete, error=error),
                              producer="toyenv", run_id=self.run_id, parent=parent)
        rewarded = events.new(RewardAssigned(episode_id=ep, instance_id=task.prompt_id, sample_idx=si, eval_id=ep,
                                             reward=reward, components={"correct": float(reward == 1.0)},
                                             reward_fn=TOY_REWARD[0], reward_version=TOY_REWARD[1]),
                              producer="toyenv", run_id=self.run_id, parent=finished.id)
        self.log.append_many({"episodes": [finished], "rewards": [rewarded]})

    def on_failure(self, group: PromptGroup, episode_id: str, exc: BaseException) -> None:
        task = self.env.task(group.index)
        self._record(episode_id, task, group.episodes.index(episode_id), None, "error", 0.0, incomplete=True,
                     error=f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class SweSampler(_Sampler):
    """Episodes of dataset instances with the run's agent, sandbox and evaluator, in worker processes."""

    def __init__(self, log, run_config: Any, instances: list, proxy, seed: int):
        super().__init__(run_config.run.id, run_config.sampling.n)
        import multiprocessing
        import random
        from concurrent.futures import ProcessPoolExecutor

        from .worker import init_worker

        self.log, self.cfg, self.proxy = log, run_config, proxy
        self.instances = list(instances)
        self.rng = random.Random(seed)
        self.order: list = []
        self.config_dict = run_config.model_dump(mode="json")
        self.pool = ProcessPoolExecutor(run_config.batch.workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=init_worker)
        self.lock = threading.Lock()

    def next_instance(self):
        """Instances in a seeded random order, reshuffled each pass over the dataset."""
        if not self.order:
            self.order = list(self.instances)
            self.rng.shuffle(self.order)
        return self.order.pop(0)

    def start(self) -> PromptGroup:
        from .worker import WorkerJob, run_job

        index, inst = self.started, self.next_instance()
        group = PromptGroup(index, inst.instance_id, self.episode_ids(index, inst.instance_id))
        for i, ep in enumerate(group.episodes):
            job = WorkerJob(config=self.config_dict, kind="episode", instance_id=inst.instance_id, sample_idx=i,
                            seed=self.rng.randrange(2**31), attempt=1, episode_id=ep, finished_event_id=None,
                            patch="", proxy_url=self.proxy.base_url(ep), proxy_token=self.proxy.token)
            group.futures.append(self.pool.submit(run_job, job))
        self.groups.append(group)
        self.started += 1
        return group

    def on_failure(self, group: PromptGroup, episode_id: str, exc: BaseException) -> None:
        """A crashed episode still finishes (incomplete) and is evaluated as an error, so its group
        completes with the episode excluded."""
        si = group.episodes.index(episode_id)
        fin = events.new(EpisodeFinished(episode_id=episode_id, instance_id=group.prompt_id, sample_idx=si,
                                         reason="error", incomplete=True, error=f"{type(exc).__name__}: {exc}"),
                         producer="orchestrator", run_id=self.run_id)
        ev = events.new(EvalResult(instance_id=group.prompt_id, sample_idx=si, episode_id=episode_id,
                                   resolved=False, status="error", reason=f"episode crashed: {exc}"),
                        producer="orchestrator", run_id=self.run_id, parent=fin.id)
        self.log.append_many({"episodes": [fin], "evals": [ev]})

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
