"""The closed RL loop on the toy environment, through the real parts.

Per step (one policy version):

1. for every prompt of the step and every sample: `episode.started`, one chat
   call through the model proxy (openai SDK -> ProxyServer -> `hf:tiny`
   upstream, which records token ids + logprobs + policy version in
   `proxy.*` events), `episode.finished` and `reward.assigned`;
2. the `rollouts` processor (processors runtime) turns them into
   `rollout.group` events;
3. the trainer consumes the groups, takes one verl GRPO step, checkpoints and
   appends `policy.updated`;
4. the upstream's follower sees `policy.updated`, reloads the weights and
   stamps the new version on the next responses.

Everything passes through the event log; the loop is deterministic (seeded
prompts, per-request sampling seeds, deterministic trainer).
`run_rl(config_path)` is what `ledger run` calls for configs with `run.mode: rl`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import yaml
from pydantic import BaseModel, ConfigDict, Field

from producers.toyenv import ToyEnv, ToyEnvConfig

__all__ = ["RlConfig", "RunSection", "load_config", "run_loop", "run_rl", "reward_lift"]

REWARD_FN = ("toy.rule", 1)
"""(reward_fn, reward_version) of the toy environment's reward.assigned events."""


class RunSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: str = "rl"
    """`rl`: run the closed training loop."""
    id: str = "demo-rl"
    """run_id of every event of the run."""


class RlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: RunSection = RunSection()
    """Run identity and mode."""
    log: str = "sqlite:///.ledger/demo-rl.db"
    """Event log URL."""
    model: str = "tiny"
    """Policy: `tiny` or a local HF model directory (sampler and trainer load the same)."""
    steps: int = 30
    """Policy updates (one per round of episodes)."""
    env: ToyEnvConfig = ToyEnvConfig()
    """The toy environment (prompts, rule, reward, group size, sampling)."""
    trainer: dict[str, Any] = Field(default_factory=dict)
    """Overrides of trainer.config.TrainerConfig fields (lr, clip, entropy_coeff, checkpoint_dir, ...)."""
    version_timeout_s: float = 120.0
    """How long to wait for the sampler to load a new policy."""


def _trainer_config(cfg: RlConfig):
    from .config import TrainerConfig

    base = dict(log=cfg.log, model=cfg.model, run_id=cfg.run.id, trainer_id=f"{cfg.run.id}.trainer",
                group=f"trainer.{cfg.run.id}", batch_groups=cfg.env.prompts_per_step, max_staleness=0,
                temperature=cfg.env.temperature, seed=cfg.env.seed,
                checkpoint_dir=f".ledger/checkpoints/{cfg.run.id}")
    return TrainerConfig(**(base | cfg.trainer))


class _Episodes:
    """Plays one round of toy episodes through the proxy and records them."""

    def __init__(self, log, proxy, env: ToyEnv, run_id: str):
        from openai import OpenAI

        self.log, self.proxy, self.env, self.run_id = log, proxy, env, run_id
        self.client = OpenAI(base_url=proxy.base_url("none"), api_key=proxy.token, max_retries=0)

    def play_round(self, step: int, version: int) -> None:
        for pi, task in enumerate(self.env.tasks(step)):
            for si in range(self.env.cfg.samples_per_prompt):
                self._episode(step, pi, si, task, version)

    def _episode(self, step: int, pi: int, si: int, task, version: int) -> None:
        import events
        from events.payloads import EpisodeFinished, EpisodeStarted, RewardAssigned

        ep = f"{self.run_id}.s{step}.p{pi}.i{si}"
        seed = self.env.sample_seed(step, pi, si)
        started = events.new(EpisodeStarted(episode_id=ep, instance_id=task.prompt_id, sample_idx=si,
                                            agent="toy", policy_version=version, seed=seed),
                             producer="toyenv", run_id=self.run_id)
        self.log.append("episodes", [started])
        client = self.client.with_options(base_url=self.proxy.base_url(ep))
        resp = client.chat.completions.create(model="policy", messages=task.messages, seed=seed,
                                              temperature=self.env.cfg.temperature,
                                              max_tokens=self.env.cfg.max_tokens)
        text = resp.choices[0].message.content or ""
        reward = self.env.reward(task, text)
        finished = events.new(EpisodeFinished(episode_id=ep, instance_id=task.prompt_id, sample_idx=si,
                                              reason="submitted", turns=1, steps=1),
                              producer="toyenv", run_id=self.run_id, parent=started.id)
        rewarded = events.new(RewardAssigned(episode_id=ep, instance_id=task.prompt_id, sample_idx=si,
                                             eval_id=ep, reward=reward, components={"correct": float(reward == 1.0)},
                                             reward_fn=REWARD_FN[0], reward_version=REWARD_FN[1]),
                              producer="toyenv", run_id=self.run_id, parent=finished.id)
        self.log.append_many({"episodes": [finished], "rewards": [rewarded]})


def run_loop(cfg: RlConfig, on_step: Callable[[Any], None] | None = None) -> list:
    """Run `cfg.steps` rounds; returns the `trainer.step` payloads in order."""
    from events.log import open_log
    from processors.reducers.rollouts import Rollouts
    from processors.reward_fns import RewardFn
    from processors.runtime import Runtime
    from producers.inference.hf import HfUpstream
    from producers.proxy.server import ProxyServer

    from .loop import Trainer

    tcfg = _trainer_config(cfg)
    log = open_log(cfg.log)
    upstream = HfUpstream(cfg.model, seed=tcfg.seed, log_url=cfg.log, trainer_id=tcfg.trainer_id)
    trainer = Trainer(tcfg, on_step=on_step)
    reducer = Rollouts(group_size=cfg.env.samples_per_prompt,
                       reward=RewardFn(REWARD_FN[0], REWARD_FN[1], lambda p: (0.0, {})))
    runtime = Runtime(log, [reducer], group_suffix=f".{cfg.run.id}")
    proxy = ProxyServer(log, upstream, run_id=cfg.run.id).start()
    try:
        upstream.wait_for_version(trainer.version, cfg.version_timeout_s)
        episodes = _Episodes(log, proxy, ToyEnv(cfg.env), cfg.run.id)
        while trainer.step < cfg.steps:
            episodes.play_round(trainer.step, upstream.policy_version)
            while any([runtime.step(t) for t in runtime.tasks]):
                pass
            trainer.run(until_step=trainer.step + 1)
            if not upstream.wait_for_version(trainer.version, cfg.version_timeout_s):
                raise RuntimeError(f"the sampler did not load policy version {trainer.version}")
    finally:
        proxy.stop()
        runtime.close()
        trainer.close()
    steps = [r.event.payload for r in log.read("trainer")
             if r.event.type == "trainer.step" and r.event.payload.trainer_id == tcfg.trainer_id]
    log.close()
    return steps


def reward_lift(rewards: list[float], frac: float = 0.2) -> float:
    """Mean of the last `frac` of the curve minus the mean of the first `frac`."""
    k = max(1, int(len(rewards) * frac))
    return sum(rewards[-k:]) / k - sum(rewards[:k]) / k


def load_config(source: Any) -> RlConfig:
    """From a YAML path, its parsed dict, or the orchestrator's RunConfig: `run` (id, mode),
    `log`, and the loop's options under `rl:`."""
    if isinstance(source, RlConfig):
        return source
    if isinstance(source, (str, Path)):
        source = yaml.safe_load(Path(source).read_text())
    if isinstance(source, dict):
        run, log, rl = source.get("run", {}), source.get("log"), source.get("rl") or {}
    else:  # producers.orchestrator.config.RunConfig
        run, log, rl = {"id": source.run.id, "mode": source.run.mode}, source.log, source.rl or {}
    return RlConfig.model_validate({"run": run, **({"log": log} if log else {}), **rl})


def run_rl(config: Any) -> int:
    """`ledger run CONFIG` for `run.mode: rl`: run the loop, print the reward curve."""
    cfg = load_config(config)

    def show(step) -> None:
        print(json.dumps({"step": step.step, "reward_mean": round(step.reward_mean, 3),
                          "loss": round(step.loss, 4), "grad_norm": round(step.grad_norm, 3),
                          "policy_version": step.policy_version}), flush=True)

    steps = run_loop(cfg, on_step=show)
    rewards = [s.reward_mean for s in steps]
    print(json.dumps({"steps": len(steps), "reward_lift": round(reward_lift(rewards), 3),
                      "reward_curve": [round(r, 3) for r in rewards]}))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(run_rl(sys.argv[1] if len(sys.argv) > 1 else "configs/demo-rl.yaml"))
