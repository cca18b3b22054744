"""Processor names -> reducers, built from command-line options."""
from __future__ import annotations

import argparse

from .base import Reducer

__all__ = ["PROCESSORS", "build", "add_options"]

PROCESSORS = ("rewards", "pass_at_k", "experiences", "rollouts", "alerts", "evictor")


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("processor options")
    g.add_argument("--reward", default="binary@1", help="reward function NAME@VERSION (rewards, rollouts)")
    g.add_argument("--penalty-timeout", type=float, default=0.0, help="reward added on an eval timeout")
    g.add_argument("--penalty-no-patch", type=float, default=0.0, help="reward added on an empty patch")
    g.add_argument("--penalty-patch-failed", type=float, default=0.0,
                   help="reward added when the patch does not apply")
    g.add_argument("--k", default="1", help="comma-separated k values for pass@k (pass_at_k)")
    g.add_argument("--scorer", type=int, default=1, help="scorer version (pass_at_k)")
    g.add_argument("--every", type=int, default=5,
                   help="successes per memory scope between induction requests (experiences)")
    g.add_argument("--group-size", type=int, default=4, help="samples per GRPO group (rollouts)")
    g.add_argument("--rules", default=None, help="alert rules YAML (alerts; default: built-in rules)")
    g.add_argument("--max-workflows", type=int, default=50, help="workflows kept per memory scope (evictor)")


def _reward(args: argparse.Namespace):
    from .reward_fns import Penalties, parse_reward

    pens = Penalties(timeout=args.penalty_timeout, no_patch=args.penalty_no_patch,
                     patch_failed=args.penalty_patch_failed)
    return parse_reward(args.reward, pens)


def build(name: str, args: argparse.Namespace) -> Reducer:
    if name == "rewards":
        from .reducers.rewards import Rewards

        return Rewards(_reward(args))
    if name == "pass_at_k":
        from .reducers.pass_at_k import PassAtK

        return PassAtK(tuple(int(k) for k in str(args.k).split(",") if k), version=args.scorer)
    if name == "experiences":
        from .reducers.experiences import Experiences

        return Experiences(every=args.every)
    if name == "rollouts":
        from .reducers.rollouts import Rollouts

        return Rollouts(group_size=args.group_size, reward=_reward(args))
    if name == "alerts":
        from .reducers.alerts import Alerts, load_rules

        return Alerts(load_rules(args.rules))
    if name == "evictor":
        from .evictor import Evictor

        return Evictor(getattr(args, "max_workflows", 50))
    raise ValueError(f"unknown processor {name!r}; known: {', '.join(PROCESSORS)}")
