"""Applying a patch in a sandbox the way a harness does: a list of commands tried in order."""
from __future__ import annotations

import shlex

from producers.sandbox.base import Sandbox

from .trace import Trace

__all__ = ["apply_patch", "PYTEST_APPLY", "WORK_DIR"]

WORK_DIR = ".git/ledger-eval"
"""Patch files, scripts and reports live inside .git: never part of the tree under test."""

PYTEST_APPLY = ("git apply --verbose --whitespace=nowarn {p}",
                "patch --batch --fuzz=5 -p1 -i {p}")
"""Our harness's chain (`git apply` is atomic, so a failed attempt leaves the tree as it was)."""


def apply_patch(sandbox: Sandbox, path: str, commands: tuple[str, ...] | list[str], trace: Trace,
                timeout_s: float, reset: str = "") -> bool:
    """Try each command (`{p}` = the patch path, else appended) until one succeeds; `reset`
    runs before every retry (for chains whose failures can leave the tree half-patched)."""
    for i, template in enumerate(commands):
        if i and reset:
            res = sandbox.run(reset, timeout_s=timeout_s)
            trace.add(reset, res.output, res.exit_code)
        quoted = shlex.quote(path)
        command = template.format(p=quoted) if "{p}" in template else f"{template} {quoted}"
        result = sandbox.run(command, timeout_s=timeout_s)
        trace.add(command, result.output, result.exit_code)
        if result.exit_code == 0:
            return True
    return False
