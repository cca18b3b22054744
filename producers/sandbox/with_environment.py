"""Sandboxes with each instance's test environment (`producers.environments`).

`EnvironmentSandboxes(factory, resolve)` wraps a local sandbox factory: for an
instance, `resolve(instance)` gives its built `Environment` (or None: the
sandbox's own interpreter), and the sandbox is made with it — the same way for
the agent's episode and for the evaluation, so both see the same interpreter and
packages. A spec that is invalid or an environment that cannot be built is
`EnvironmentUnavailable`: an infrastructure error, never the model's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .base import EnvironmentUnavailable, Sandbox, SandboxError

__all__ = ["EnvironmentSandboxes"]


class EnvironmentSandboxes:
    def __init__(self, factory: Any, resolve: Callable[[Any], Any]):
        self.factory, self.resolve = factory, resolve

    def create(self, repo: Path | str, base_commit: str) -> Sandbox:
        return self.factory.create(repo, base_commit)

    def create_for(self, instance: Any) -> Sandbox:
        from producers.agents.workspace import repo_source_of

        source = repo_source_of(instance)
        try:
            environment = self.resolve(instance)
        except SandboxError:
            raise
        except Exception as exc:  # SpecError, EnvironmentBuildError, a missing interpreter...
            raise EnvironmentUnavailable(f"the test environment of {instance.instance_id} cannot be made: "
                                         f"{exc}") from exc
        if environment is None:
            return self.factory.create(source, instance.base_commit)
        return self.factory.create(source, instance.base_commit, environment=environment)
