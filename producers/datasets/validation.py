"""Can each instance be judged? Its tests, at base and with the gold patch.

An instance can be judged when, in its environment (`dataset.environments`, else
the sandbox's interpreter), with its test patch applied:

- at the base commit the tests run, no FAIL_TO_PASS test passes and every
  PASS_TO_PASS test passes (or is skipped);
- with the gold patch the result is resolved (every FAIL_TO_PASS passes, every
  PASS_TO_PASS still passes).

Both runs are the evaluator's own (the official harness's spec for rows that carry
it, our pytest harness otherwise). An instance that fails any of this cannot be
judged: a run would score its environment, not the model, so `ledger run` treats it
as an infrastructure error (`dataset.validation`).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from events.payloads import EvalResult

__all__ = ["Validation", "validate_instance", "validate_instances"]

_MAINTAINED = {"PASSED", "SKIPPED"}


@dataclass(frozen=True)
class Validation:
    instance_id: str
    judgeable: bool
    reason: str
    """Why it cannot be judged; "" when it can."""
    spec_digest: str = ""
    base: EvalResult | None = None
    gold: EvalResult | None = None


def validate_instance(evaluator: Any, instance: Any) -> Validation:
    base = evaluator.evaluate(instance, "", baseline=True)
    if base.status != "ok":
        return _no(instance, f"at the base commit the tests do not run ({base.status}): {base.reason}", base)
    gold = evaluator.evaluate(instance, instance.patch)
    already = [t for t, s in base.fail_to_pass.items() if s == "PASSED"]
    broken = [t for t, s in base.pass_to_pass.items() if s not in _MAINTAINED]
    if gold.status != "ok" or not gold.resolved:
        failing = [t for t, s in {**gold.fail_to_pass, **gold.pass_to_pass}.items() if s not in _MAINTAINED]
        return _no(instance, f"the gold patch is not resolved ({gold.status}: {gold.reason}); not passing: "
                   f"{_few(failing)}", base, gold)
    if already:
        return _no(instance, f"FAIL_TO_PASS tests already pass at the base commit: {_few(already)}", base, gold)
    if broken:
        return _no(instance, f"PASS_TO_PASS tests fail at the base commit: {_few(broken)}", base, gold)
    return Validation(instance.instance_id, True, "", gold.spec_digest, base, gold)


def _no(instance: Any, reason: str, base: EvalResult, gold: EvalResult | None = None) -> Validation:
    return Validation(instance.instance_id, False, reason, base.spec_digest, base, gold)


def _few(tests: list[str], n: int = 3) -> str:
    return ", ".join(tests[:n]) + (f" and {len(tests) - n} more" if len(tests) > n else "") if tests else "-"


def validate_instances(evaluator: Any, instances: list[Any], workers: int = 2,
                       on_result: Callable[[Validation], None] | None = None) -> list[Validation]:
    """Every instance, `workers` at a time, in the dataset's order."""
    def one(instance: Any) -> Validation:
        result = validate_instance(evaluator, instance)
        if on_result:
            on_result(result)
        return result

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(pool.map(one, instances))
