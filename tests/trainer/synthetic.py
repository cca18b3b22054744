"""Synthetic rollout groups for trainer tests: deterministic, valid by default."""
from __future__ import annotations

import random

import events
from events.payloads import PolicyVersion, RolloutGroup, RolloutSample

__all__ = ["make_group", "group_event", "write_groups", "trainer_steps"]


def make_group(gid: str, *, n: int = 4, version: int | PolicyVersion = 0, seed: int = 0,
               reward: float | None = None, prompt_len: int = 6, completion_len: int = 4,
               trainer: str = "trainer") -> RolloutGroup:
    """`version`: a step of `trainer`'s lineage (the default trainer id) or any PolicyVersion.
    Rewards alternate 1/0 unless `reward` is given, so a group never has zero advantage by chance."""
    rng = random.Random(f"{gid}/{seed}")
    pv = PolicyVersion.of(trainer, version) if isinstance(version, int) else version
    samples = []
    for i in range(n):
        ids = [rng.randrange(256) for _ in range(prompt_len + completion_len - i % 2)]
        mask = [0] * prompt_len + [1] * (len(ids) - prompt_len)
        lps = [0.0 if m == 0 else -rng.uniform(4.5, 6.5) for m in mask]
        samples.append(RolloutSample(sample_id=f"{gid}/{i}", episode_id=f"{gid}-e{i}", rollout_id=f"{gid}-e{i}",
                                     token_ids=ids, loss_mask=mask, logprobs=lps, prompt_len=prompt_len,
                                     reward=float(i % 2 == 0) if reward is None else reward,
                                     policy_version=pv))
    return RolloutGroup(group_id=gid, run_id="run", prompt_id=gid.split("/")[0], samples=samples)


def group_event(group: RolloutGroup):
    return events.derive(group, processor="test.rollouts", version=1, inputs=[group.group_id], run_id="run")


def write_groups(log, groups: list[RolloutGroup]) -> None:
    log.append("rollouts", [group_event(g) for g in groups])


def trainer_steps(url: str) -> list[dict]:
    """The `trainer.step` payloads in a log, in order, without their timing (`tokens_per_s`)."""
    from events.log import open_log

    log = open_log(url)
    try:
        return [r.event.payload.model_dump(exclude={"tokens_per_s"})
                for r in log.read("trainer") if r.event.type == "trainer.step"]
    finally:
        log.close()
