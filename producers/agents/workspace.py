"""Where an episode's commands run: a fresh sandbox at the instance's base commit."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from events.payloads import SandboxInfo
from producers.sandbox.base import Sandbox, SandboxError, SandboxFactory

__all__ = ["open_sandbox", "open_for_episode", "repo_path_of"]


def repo_path_of(instance: Any) -> Path:
    """The local git repository an instance's sandboxes are made from."""
    path = getattr(instance, "repo_path", None)
    if path is None:
        raise ValueError(f"instance {instance.instance_id!r} has no local repository (repo_path)")
    return Path(path)


def open_sandbox(factory: SandboxFactory, instance: Any) -> Sandbox:
    return factory.create(repo_path_of(instance), instance.base_commit)


def open_for_episode(ctx: Any, recorder: Any) -> tuple[Sandbox | None, str]:
    """The episode's sandbox, or (None, error) once `episode.started` has recorded why none
    could be made: a sandbox failure ends the episode, it never escapes the runner."""
    try:
        return open_sandbox(ctx.sandbox_factory, ctx.instance), ""
    except (SandboxError, ValueError, OSError) as exc:
        recorder.started(SandboxInfo(note=f"sandbox not created: {exc}"))
        return None, f"sandbox: {exc}"
