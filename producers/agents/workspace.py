"""Where an episode's commands run: a fresh sandbox at the instance's base commit."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from events.payloads import SandboxInfo
from producers.sandbox.base import Sandbox, SandboxError, SandboxFactory, SourceMissing

__all__ = ["open_sandbox", "open_for_episode", "repo_path_of", "repo_source_of"]


def repo_source_of(instance: Any) -> Path | str:
    """Where an instance's sandboxes fetch its base commit from: its own `repo_path`, else
    the dataset's mirrors (`repos`: a directory or a URL template). SourceMissing names the
    repo, the commit and where it looked."""
    path = getattr(instance, "repo_path", None)
    if path is not None:
        return Path(path)
    repos = getattr(instance, "repos", None)
    if repos:
        from producers.datasets.mirrors import Mirrors

        return Mirrors(repos).locate(instance.repo, instance.base_commit)
    raise SourceMissing(f"instance {instance.instance_id!r} ({getattr(instance, 'repo', '?')} at "
                        f"{instance.base_commit}) has no local repository (repo_path) and the "
                        "dataset names no mirrors (dataset.repos)")


def repo_path_of(instance: Any) -> Path:
    """The local git repository of an instance that has one (bundled and local tasks, and
    rows whose mirrors are a local directory)."""
    from producers.sandbox.checkout import is_url

    source = repo_source_of(instance)
    if is_url(source):
        raise SourceMissing(f"instance {instance.instance_id!r} comes from {source}, not a local path")
    return Path(source)


def open_sandbox(factory: SandboxFactory, instance: Any) -> Sandbox:
    """A fresh sandbox for `instance`: the factory's own per-instance way when it has one
    (`create_for`: the harness's image for the instance), else its base commit fetched
    from where the instance's repository is."""
    per_instance = getattr(factory, "create_for", None)
    if per_instance is not None:
        return per_instance(instance)
    return factory.create(repo_source_of(instance), instance.base_commit)


def open_for_episode(ctx: Any, recorder: Any) -> tuple[Sandbox | None, str]:
    """The episode's sandbox, or (None, error) once `episode.started` has recorded why none
    could be made: a sandbox failure ends the episode (an infrastructure failure, noted on
    the recorder), it never escapes the runner."""
    try:
        return open_sandbox(ctx.sandbox_factory, ctx.instance), ""
    except (SandboxError, ValueError, OSError) as exc:
        cause = exc.cause if isinstance(exc, SandboxError) else SandboxError.cause
        recorder.infra_cause = cause
        recorder.started(SandboxInfo(note=f"sandbox not created: {exc}"))
        return None, f"{cause}: {exc}"
