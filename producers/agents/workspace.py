"""Where an episode's commands run: a fresh sandbox at the instance's base commit."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from producers.sandbox.base import Sandbox, SandboxFactory

__all__ = ["open_sandbox", "repo_path_of"]


def repo_path_of(instance: Any) -> Path:
    """The local git repository an instance's sandboxes are made from."""
    path = getattr(instance, "repo_path", None)
    if path is None:
        raise ValueError(f"instance {instance.instance_id!r} has no local repository (repo_path)")
    return Path(path)


def open_sandbox(factory: SandboxFactory, instance: Any) -> Sandbox:
    return factory.create(repo_path_of(instance), instance.base_commit)
