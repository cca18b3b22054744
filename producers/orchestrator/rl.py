"""`run.mode: rl`: sampling and training at once, through the real parts, bounded by staleness.

    sampler (rl_sampling) ─ episodes through the run's proxy ─▶ proxy.* / episodes / evals / rewards
    processors (rewards, rollouts) ─▶ rollout.group            (one per prompt group)
    trainer thread (trainer.loop) ─ PPO steps ─▶ trainer.step, policy.updated, trainer.dropped
    the proxy's upstream follows the trainer ─▶ new weights between requests, responses stamped {trainer, step}

The environment is either the run's dataset (`rl.environment: swe`, default:
any dataset the orchestrator loads — bundled, synthesized, SWE-bench format —
with the configured agent, sandbox and evaluator; reward from `eval.result`
by a versioned reward function, `rl.reward` with `rl.penalties` shaping), or
the toy digit task (`rl.environment: toy`, a fast test of the learning
machinery). The sampler starts a new prompt group whenever the trainer's
staleness bound allows it (rl_sampling.Gate), so sampling overlaps training.

`run_rl(config)` is what `ledger run` calls for configs with `run.mode: rl`; it
prints one JSON line per trainer step and returns 0 when `rl.steps` steps were
trained, 4 (with the reason on stderr) when the trainer stopped short.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from producers.toyenv import ToyEnvConfig

__all__ = ["RlConfig", "RlSection", "RunSection", "Penalties", "load_config", "run_loop", "run_rl",
           "reward_lift", "LoopResult"]


class RunSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: str = "rl"
    """`rl`: run the closed training loop."""
    id: str = "demo-rl"
    """run_id of every event of the run."""


class Penalties(BaseModel):
    """Reward shaping added to the reward function's value (processors/reward_fns.py Penalties)."""

    model_config = ConfigDict(extra="forbid")

    timeout: float = 0.0
    """Added when the evaluation timed out."""
    no_patch: float = 0.0
    """Added when the episode produced an empty patch."""
    patch_failed: float = 0.0
    """Added when the patch (or the test patch) did not apply."""


class RlSection(BaseModel):
    """The `rl:` block of a run config."""

    model_config = ConfigDict(extra="forbid")

    environment: Literal["swe", "toy"] = "swe"
    """`swe`: the run's dataset, agent, sandbox and evaluator; `toy`: the digit task (fast tests)."""
    steps: int = Field(10, ge=1)
    """Trainer steps to run."""
    model: str | None = None
    """Trainer model (`tiny` or a local HF directory). Default: the `hf:` upstream's model; needed for
    `openai:` upstreams (the checkpoint the vLLM server started from)."""
    reward: str = "binary@1"
    """swe: reward function over eval.result: binary@1 (resolved) or partial@1 (fraction of
    FAIL_TO_PASS passing, 0 if a PASS_TO_PASS test broke)."""
    penalties: Penalties = Penalties()
    """swe: shaping added to the reward (typically negative)."""
    env: ToyEnvConfig = ToyEnvConfig()
    """toy: the environment (prompts, rule, reward, group size, sampling)."""
    trainer: dict[str, Any] = Field(default_factory=dict)
    """Overrides of trainer.config.TrainerConfig fields (every trainer knob: ppo_epochs, clip_high,
    policy_loss, entropy_coeff, dynamic_sampling, max_staleness, ...)."""
    threads: int | None = Field(1, ge=1)
    """torch threads for the in-process sampler and trainer (1: best for small models on a busy CPU)."""
    max_groups: int | None = Field(None, ge=1)
    """Stop sampling after this many prompt groups (default: 20 x steps x batch_groups)."""
    version_timeout_s: float = Field(300.0, gt=0)
    """How long the sampler may wait for a new policy before the run gives up."""


class RlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    run: RunSection = RunSection()
    log: str = "sqlite:///.ledger/demo-rl.db"
    """Event log URL."""
    upstream: str = "hf:tiny"
    """What samples: `hf:tiny`, `hf:PATH`, or `openai:URL` of a vLLM server (weights pushed to it)."""
    rl: RlSection = RlSection()
    base: Any = None
    """The orchestrator's RunConfig (swe: dataset, agent, sandbox, sampling, batch)."""

    @property
    def trainer_id(self) -> str:
        return f"{self.run.id}.trainer"

    @property
    def group_size(self) -> int:
        return self.rl.env.samples_per_prompt if self.rl.environment == "toy" else self.base.sampling.n


def _trainer_config(cfg: RlConfig):
    from trainer.config import TrainerConfig

    model = cfg.rl.model or (cfg.upstream.split(":", 1)[1] if cfg.upstream.startswith("hf:") else None)
    if model is None:
        raise ValueError(f"rl.model must name the trainer's model for upstream {cfg.upstream!r}")
    toy = cfg.rl.environment == "toy"
    temperature = cfg.rl.env.temperature if toy else cfg.base.sampling.temperature
    base = dict(log=cfg.log, model=model, run_id=cfg.run.id, trainer_id=cfg.trainer_id, group=f"trainer.{cfg.run.id}",
                batch_groups=cfg.rl.env.prompts_per_step if toy else 2, temperature=temperature or 1.0,
                seed=cfg.rl.env.seed if toy else 0, threads=cfg.rl.threads,
                checkpoint_dir=f".ledger/checkpoints/{cfg.run.id}",
                export_hf=cfg.upstream.startswith("openai:"))
    tcfg = TrainerConfig(**(base | cfg.rl.trainer))
    if tcfg.parallel != "none":
        raise ValueError(f"rl.trainer.parallel: {tcfg.parallel!r}: the run's trainer is a thread of `ledger run`; "
                         "to train on several processes, leave it out here and start "
                         "`torchrun --nproc-per-node N -m trainer.consume --parallel fsdp --log-url LOG` "
                         "on the run's log (docs/scaling.md)")
    return tcfg


def load_config(source: Any) -> RlConfig:
    """From a YAML path, its parsed dict, or the orchestrator's RunConfig."""
    if isinstance(source, RlConfig):
        return source
    if isinstance(source, (str, Path)):
        from .config import load_config as load_run_config

        source = load_run_config(source)
    if isinstance(source, dict):
        from .config import RunConfig

        source = RunConfig.model_validate(source)
    rl = RlSection.model_validate(source.rl or {})
    upstream = f"hf:{rl.model or 'tiny'}" if rl.environment == "toy" else source.model.upstream
    if not upstream.startswith(("hf:", "openai:")):
        raise ValueError(f"run {source.run.id}: rl mode trains the policy that samples, so model.upstream must "
                         f"be hf:MODEL or openai:URL (a vLLM server), not {upstream!r}; the digit task "
                         f"needs `rl.environment: toy`")
    return RlConfig(run=RunSection(id=source.run.id, mode=source.run.mode), log=source.log, upstream=upstream,
                    rl=rl, base=source)


class LoopResult(list):
    """The run's `trainer.step` payloads in order, with how it ended."""

    status: int = 0
    message: str | None = None


def run_loop(cfg: RlConfig, on_step: Callable[[Any], None] | None = None) -> LoopResult:
    """Sample and train until `rl.steps` steps; returns the trainer's steps and exit status."""
    import torch

    from events.log import open_log

    if cfg.rl.threads:
        torch.set_num_threads(cfg.rl.threads)
    tcfg = _trainer_config(cfg)
    log = open_log(cfg.log)
    try:
        with _Loop(cfg, tcfg, log, on_step) as loop:
            loop.run()
        steps = LoopResult(r.event.payload for r in log.read("trainer")
                           if r.event.type == "trainer.step" and r.event.payload.trainer_id == tcfg.trainer_id)
        steps.status, steps.message = loop.status, loop.message
        return steps
    finally:
        log.close()


class _Loop:
    """The parts of one RL run, started in order and stopped in reverse."""

    def __init__(self, cfg: RlConfig, tcfg: Any, log: Any, on_step: Callable[[Any], None] | None):
        self.cfg, self.tcfg, self.log, self.on_step = cfg, tcfg, log, on_step
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.status, self.message = 0, None

    def __enter__(self) -> "_Loop":
        from producers.proxy.server import ProxyServer

        from trainer.loop import Trainer

        self.trainer = Trainer(self.tcfg, on_step=self.on_step)
        opts = {"log_url": self.cfg.log, "follow": self.tcfg.trainer_id}
        if self.cfg.upstream.startswith("hf:"):
            opts["seed"] = self.tcfg.seed
        self.proxy = ProxyServer(self.cfg.log, self.cfg.upstream, run_id=self.cfg.run.id, upstream_opts=opts).start()
        self.runtime = self._runtime()
        self.sampler = self._sampler()
        self.threads = [threading.Thread(target=self._guard, args=(f,), name=n, daemon=True)
                        for n, f in (("rl-processors", self._process), ("rl-trainer", self._train))]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.trainer.stop_event.set()
        self.sampler.close()
        for t in self.threads:
            t.join(timeout=120)
        self.proxy.stop()
        self.runtime.close()
        self.trainer.close()

    def _runtime(self):
        from processors.reducers.rewards import Rewards
        from processors.reducers.rollouts import Rollouts
        from processors.reward_fns import Penalties as RewardPenalties
        from processors.reward_fns import RewardFn, parse_reward
        from processors.runtime import Runtime

        from .rl_sampling import TOY_REWARD

        if self.cfg.rl.environment == "toy":
            reducers = [Rollouts(group_size=self.cfg.group_size,
                                 reward=RewardFn(TOY_REWARD[0], TOY_REWARD[1], lambda p: (0.0, {})))]
        else:
            fn = parse_reward(self.cfg.rl.reward, RewardPenalties(**self.cfg.rl.penalties.model_dump()))
            reducers = [Rewards(fn), Rollouts(group_size=self.cfg.group_size, reward=fn)]
        return Runtime(self.log, reducers, group_suffix=f".{self.cfg.run.id}")

    def _sampler(self):
        from .rl_sampling import SweSampler, ToySampler

        if self.cfg.rl.environment == "toy":
            from producers.toyenv import ToyEnv

            return ToySampler(self.log, self.proxy, ToyEnv(self.cfg.rl.env), self.cfg.run.id,
                              lambda: self.proxy.upstream.policy_version)
        from .components import load_instances

        dataset = load_instances(self.cfg.base)
        if not dataset.instances:
            raise ValueError(f"run {self.cfg.run.id}: the dataset has no instances to sample")
        base = self.cfg.base.model_copy(update={"model": self.cfg.base.model.model_copy(
            update={"follow_policy": self.tcfg.trainer_id})})
        self._run_started(base, dataset.manifest)
        return SweSampler(self.log, base, dataset.instances, self.proxy, seed=self.tcfg.seed)

    def _run_started(self, base: Any, manifest: Any) -> None:
        """run.started once per run id (the same event when a run is resumed)."""
        import uuid

        import events
        from events.payloads import RunStarted

        from .run import _RUN_NS

        started = events.new(RunStarted(config=base.model_dump(mode="json"), manifest=manifest, mode="rl"),
                             producer="orchestrator", run_id=self.cfg.run.id,
                             id=str(uuid.uuid5(_RUN_NS, f"{self.cfg.run.id}/started")))
        self.log.append("runs", [started])

    # -- the threads -------------------------------------------------------------------
    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:  # reported by run(), never lost
            self.errors.append(exc)
            self.stop.set()

    def _process(self) -> None:
        while not self.stop.is_set():
            if not any([self.runtime.step(t) for t in self.runtime.tasks]):
                self.stop.wait(0.05)

    def _train(self) -> None:
        self.trainer.run(until_step=self.cfg.rl.steps)
        self.stop.set()

    # -- the sampler, in the calling thread ------------------------------------------------
    def run(self) -> None:
        from .rl_sampling import Gate

        gate = Gate(self.tcfg.batch_groups, self.tcfg.max_staleness)
        limit = self.cfg.rl.max_groups or 20 * self.cfg.rl.steps * self.tcfg.batch_groups
        waiting_since = time.monotonic()
        while not self.stop.is_set():
            running = self.sampler.reap()
            serving = self.proxy.upstream.policy_version
            if self.sampler.started < limit and gate.allows(self.sampler.started, self.trainer.groups_consumed,
                                                            serving, self.trainer.judge_step):
                self.sampler.start()
                waiting_since = time.monotonic()
                continue
            if self.sampler.started >= limit and not running and self.trainer.idle_for_s() > 5.0:
                break  # nothing more will come: let the trainer report what it has
            if time.monotonic() - waiting_since > self.cfg.rl.version_timeout_s and not running:
                raise RuntimeError(f"the sampler waited {self.cfg.rl.version_timeout_s:g}s: serving {serving}, "
                                   f"trainer at step {self.trainer.step}")
            self.stop.wait(0.02)
        self._finish()

    def _finish(self) -> None:
        self.stop.set()
        self.trainer.stop_event.set()
        for t in self.threads:
            t.join(timeout=600)
        if self.errors:
            raise RuntimeError(f"rl run {self.cfg.run.id} failed: {self.errors[0]}") from self.errors[0]
        self.status, self.message = self.trainer.exit_status(self.cfg.rl.steps)
        if self.cfg.rl.environment == "swe":
            self._run_finished()

    def _run_finished(self) -> None:
        import events
        from events.payloads import RunFinished

        fin = RunFinished(status="finished" if self.status == 0 else "failed", episodes=self.sampler.started
                          * self.cfg.group_size, failed=len(self.sampler.failures), message=self.message or "")
        self.log.append("runs", [events.new(fin, producer="orchestrator", run_id=self.cfg.run.id)])
        if self.sampler.failures:
            print(f"{len(self.sampler.failures)} episodes crashed (excluded from their groups); first: "
                  f"{self.sampler.failures[0]}", file=sys.stderr)


def reward_lift(rewards: list[float], frac: float = 0.2) -> float:
    """Mean of the last `frac` of the curve minus the mean of the first `frac`."""
    k = max(1, int(len(rewards) * frac))
    return sum(rewards[-k:]) / k - sum(rewards[:k]) / k


def run_rl(config: Any) -> int:
    """`ledger run CONFIG` for `run.mode: rl`: run the loop, print each step and the curves."""
    cfg = load_config(config)

    def show(step) -> None:
        print(json.dumps({"step": step.step, "reward": round(step.reward_mean_sampled, 3),
                          "reward_trained": round(step.reward_mean, 3), "entropy": round(step.entropy, 4),
                          "loss": round(step.loss, 4), "clip_frac": round(step.clip_frac, 3),
                          "staleness": step.staleness, "dropped": step.dropped,
                          "policy_version": str(step.policy_version)}), flush=True)

    t0 = time.monotonic()
    steps = run_loop(cfg, on_step=show)
    rewards = [s.reward_mean_sampled for s in steps]
    print(json.dumps({"steps": len(steps), "wall_s": round(time.monotonic() - t0, 1),
                      "reward_lift": round(reward_lift(rewards), 3) if rewards else None,
                      "reward_curve": [round(r, 3) for r in rewards],
                      "entropy_curve": [round(s.entropy, 4) for s in steps]}))
    if steps.message:
        print(f"ledger run: {steps.message}", file=sys.stderr)
    return steps.status


if __name__ == "__main__":
    sys.exit(run_rl(sys.argv[1] if len(sys.argv) > 1 else "configs/demo-rl.yaml"))
