"""Sandboxes: where agent commands and evaluations run (local, docker)."""
from .base import CommandResult, ImageUnavailable, Sandbox, SandboxError, SandboxFactory, SourceMissing
from .isolation import Rlimits
from .local import LocalSandbox, LocalSandboxFactory

__all__ = ["CommandResult", "ImageUnavailable", "LocalSandbox", "LocalSandboxFactory", "Rlimits", "Sandbox",
           "SandboxError", "SandboxFactory", "SourceMissing"]
