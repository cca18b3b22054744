"""Sandboxes: where agent commands and evaluations run (local, docker)."""
from .base import CommandResult, Sandbox, SandboxError, SandboxFactory
from .isolation import Rlimits
from .local import LocalSandbox, LocalSandboxFactory

__all__ = ["CommandResult", "LocalSandbox", "LocalSandboxFactory", "Rlimits", "Sandbox",
           "SandboxError", "SandboxFactory"]
