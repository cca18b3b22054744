"""Named, versioned reward functions over an `eval.result` payload.

Each returns (reward, components); penalties (default 0) are added for a
timeout, an empty patch, and a patch that does not apply. A function's
identity is `name@version`; changing what it computes means a new version.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Penalties", "RewardFn", "REWARD_FNS", "reward_fn", "parse_reward"]


@dataclass(frozen=True)
class Penalties:
    timeout: float = 0.0
    """Added when the evaluation timed out."""
    no_patch: float = 0.0
    """Added when the episode produced an empty patch."""
    patch_failed: float = 0.0
    """Added when the patch (or the test patch) did not apply."""

    def of(self, status: str) -> dict[str, float]:
        pen = {"timeout": self.timeout, "empty_patch": self.no_patch,
               "patch_failed": self.patch_failed, "test_patch_failed": self.patch_failed}.get(status, 0.0)
        return {f"penalty_{status}": pen} if pen else {}


def _binary(p: Any) -> tuple[float, dict[str, float]]:
    r = 1.0 if p.resolved else 0.0
    return r, {"resolved": r}


def _partial(p: Any) -> tuple[float, dict[str, float]]:
    f2p = p.fail_to_pass or {}
    passing = sum(1 for s in f2p.values() if s == "PASSED")
    frac = passing / len(f2p) if f2p else (1.0 if p.resolved else 0.0)
    broken = sum(1 for s in (p.pass_to_pass or {}).values() if s != "PASSED")
    r = 0.0 if broken else frac
    return r, {"f2p_fraction": frac, "p2p_broken": float(broken), "resolved": 1.0 if p.resolved else 0.0}


@dataclass(frozen=True)
class RewardFn:
    name: str
    version: int
    compute: Callable[[Any], tuple[float, dict[str, float]]] = field(compare=False)
    penalties: Penalties = Penalties()

    @property
    def ident(self) -> str:
        """Names the outputs: `binary@1`, or `binary@1+<penalties>` when penalties are set."""
        base = f"{self.name}@{self.version}"
        if self.penalties == Penalties():
            return base
        p = self.penalties
        return f"{base}+t{p.timeout:g},n{p.no_patch:g},a{p.patch_failed:g}"

    def __call__(self, payload: Any) -> tuple[float, dict[str, float]]:
        reward, comps = self.compute(payload)
        pens = self.penalties.of(payload.status)
        return reward + sum(pens.values()), {**comps, **pens}


REWARD_FNS: dict[tuple[str, int], Callable[[Any], tuple[float, dict[str, float]]]] = {
    ("binary", 1): _binary,
    ("partial", 1): _partial,
}


def reward_fn(name: str, version: int = 1, penalties: Penalties = Penalties()) -> RewardFn:
    try:
        return RewardFn(name, version, REWARD_FNS[(name, version)], penalties)
    except KeyError:
        known = ", ".join(f"{n}@{v}" for n, v in REWARD_FNS)
        raise ValueError(f"unknown reward function {name}@{version}; known: {known}") from None


def parse_reward(spec: str, penalties: Penalties = Penalties()) -> RewardFn:
    """`binary`, `binary@1`, `partial@1`."""
    name, _, version = spec.partition("@")
    try:
        v = int(version) if version else 1
    except ValueError:
        raise ValueError(f"bad reward spec {spec!r}: expected NAME@VERSION") from None
    return reward_fn(name, v, penalties)
