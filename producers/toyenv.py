"""A toy environment a tiny model can learn on CPU within minutes.

A prompt shows a digit, `x=D` with D in 0..digits-1; the answer is the
completion's first character and the rule is `(D + shift) mod 10`. The reward
is 1.0 for the right digit, `digit_bonus` for a digit that answers some other
prompt, 0 otherwise. A random model (261-id vocabulary) answers with one of
the valid digits well under 1% of the time.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

__all__ = ["ToyEnvConfig", "ToyTask", "ToyEnv"]


class ToyEnvConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shift: int = 1
    """The rule: answer = (x + shift) mod 10."""
    digits: int = 10
    """Prompts draw x from 0..digits-1."""
    digit_bonus: float = 0.1
    """Reward for a wrong answer that is right for some other prompt (a well-formed answer)."""
    prompts_per_step: int = 8
    """Prompt groups per trainer step (the trainer's batch_groups unless rl.trainer sets it)."""
    samples_per_prompt: int = 8
    """Samples per prompt (the GRPO group size)."""
    max_tokens: int = 2
    """Completion length cap."""
    temperature: float = 1.0
    """Sampling temperature (the trainer uses the same)."""
    seed: int = 0
    """Seed of the prompt sequence and of every sample's sampling seed."""


@dataclass(frozen=True)
class ToyTask:
    prompt_id: str
    x: int
    answer: str

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": f"x={self.x}"}]


class ToyEnv:
    def __init__(self, cfg: ToyEnvConfig):
        self.cfg = cfg

    def task(self, index: int) -> ToyTask:
        """The prompt of the `index`-th prompt group: each x once per cycle of `digits` groups, in an
        order seeded by (seed, cycle)."""
        cycle, pos = divmod(index, self.cfg.digits)
        xs = list(range(self.cfg.digits))
        random.Random(f"{self.cfg.seed}/{cycle}").shuffle(xs)
        x = xs[pos]
        return ToyTask(prompt_id=f"g{index}-x{x}", x=x, answer=str((x + self.cfg.shift) % 10))

    def sample_seed(self, step: int, prompt: int, sample: int) -> int:
        return (self.cfg.seed * 1_000_003 + step * 10_007 + prompt * 101 + sample) % (2**31)

    @property
    def answers(self) -> set[str]:
        """Every answer some prompt can have."""
        return {str((x + self.cfg.shift) % 10) for x in range(self.cfg.digits)}

    def reward(self, task: ToyTask, completion: str) -> float:
        first = completion[:1]
        if first == task.answer:
            return 1.0
        return self.cfg.digit_bonus if first in self.answers else 0.0
