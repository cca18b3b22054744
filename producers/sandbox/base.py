"""The `Sandbox` seam: a fresh checkout of a repo at its base commit, and a way
to run commands in it with limits.

Agents run their commands through it; the evaluator makes a second, clean one
to apply the patches and run the tests. A sandbox says how isolated it really
is (`info`), so weaker isolation is recorded in `episode.started`, not hidden.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from events.payloads import SandboxInfo
from producers.failures import ENVIRONMENT, IMAGE, REPOSITORY, SANDBOX

__all__ = ["CommandResult", "Sandbox", "SandboxFactory", "SandboxError", "SourceMissing", "ImageUnavailable",
           "EnvironmentUnavailable"]


class SandboxError(RuntimeError):
    """The sandbox could not be created or used (not a failing command: that is a result).

    Always an infrastructure failure; `cause` is its word in events (`producers.failures`)."""

    cause = SANDBOX


class SourceMissing(SandboxError):
    """The repository or the base commit cannot be found where it was looked for."""

    cause = REPOSITORY


class ImageUnavailable(SandboxError):
    """The container image is missing and could not be pulled or built."""

    cause = IMAGE


class EnvironmentUnavailable(SandboxError):
    """The instance's test environment could not be resolved or built."""

    cause = ENVIRONMENT


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None
    """None when the command was killed (timeout)."""
    output: str
    """stdout+stderr interleaved, capped at the sandbox's output cap."""
    output_size: int
    """Bytes the command really wrote (may exceed len(output) when capped)."""
    output_capped: bool
    timed_out: bool
    duration_s: float


@runtime_checkable
class Sandbox(Protocol):
    info: SandboxInfo
    workdir: Path
    """The repository root as seen by commands (a host path for the local sandbox)."""
    base_commit: str

    def run(self, command: str, timeout_s: float = 60.0) -> CommandResult:
        """Run a bash command in `workdir`; a timeout kills its whole process group."""

    def write_file(self, relpath: str, content: str | bytes) -> None:
        """Write a file under `workdir`; paths escaping it raise SandboxError."""

    def diff(self) -> str:
        """The patch of the working tree against `base_commit` (new, deleted, renamed and
        binary files included)."""

    def close(self) -> None:
        """Remove everything the sandbox created."""

    def __enter__(self) -> "Sandbox": ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class SandboxFactory(Protocol):
    def create(self, repo: Path, base_commit: str) -> Sandbox:
        """A fresh sandbox holding `repo` (a git repository) checked out at `base_commit`."""
