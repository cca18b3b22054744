"""Which environment each instance of a dataset is tested in.

`dataset.environments` names an environment table (`producers.environments.
EnvironmentTable`: defaults, per repo/version, per instance); a row may carry its
own `environment` fields on top. `EnvironmentResolver.environment_for(instance)`
merges them into the instance's `EnvironmentSpec` and builds it once per
(repo, version, spec digest) into the cache (`ensure_environment`), from the
instance's repository at its `environment_setup_commit` (else its base commit).
An instance with neither a table nor its own fields has no environment: its
tests run with the sandbox's interpreter.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["EnvironmentResolver"]


class EnvironmentResolver:
    """table: path of an environment table (or None). cache_dir: where environments are built."""

    def __init__(self, table: str | Path | None = None, cache_dir: str | Path | None = None):
        from producers.environments import EnvironmentTable

        self.table = EnvironmentTable.load(table) if table else None
        self.cache_dir = cache_dir
        self._built: dict[tuple[str, str, str], Any] = {}

    def spec_for(self, instance: Any):
        from producers.environments import EnvironmentTable

        row = getattr(instance, "environment", None)
        if self.table is None and not row:
            return None
        table = self.table or EnvironmentTable()
        return table.spec_for(instance.repo, getattr(instance, "version", "") or "", instance.instance_id, row=row)

    def environment_for(self, instance: Any):
        """The built environment (None: no spec applies); raises what the spec or build raise."""
        from producers.agents.workspace import repo_path_of
        from producers.environments import ensure_environment

        spec = self.spec_for(instance)
        if spec is None:
            return None
        version = getattr(instance, "version", "") or ""
        key = (instance.repo, version, spec.digest)
        if key not in self._built:
            commit = getattr(instance, "environment_setup_commit", "") or instance.base_commit
            self._built[key] = ensure_environment(spec, repo=instance.repo, version=version,
                                                  source=repo_path_of(instance), commit=commit,
                                                  cache_dir=self.cache_dir)
        return self._built[key]
