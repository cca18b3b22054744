"""Sandboxes a killed owner left behind, found by their directory names and removed.

A sandbox directory is named `ledger-sbx-<label>.p<pid>-XXXX`: the label ties it to
its owner (the orchestrator uses the episode id) and the pid names the process that
made it, at the moment `mkdtemp` creates it, so no window leaves a directory
unaccounted for. A resumed run removes the directories of its own episodes whose
making process is gone, after killing whatever still runs inside them (a command
outlives a SIGKILLed worker: it runs in its own process group). Directories of
live processes, other labels or other naming are never touched.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path
from typing import Iterable

from .process import kill_with_env

__all__ = ["sandbox_prefix", "remove_dead_sandboxes", "force_remove"]

_PREFIX = "ledger-sbx-"
_NAME = re.compile(r"^ledger-sbx-(?P<label>[A-Za-z0-9_-]+)\.p(?P<pid>\d+)-[^/]+$")


def sandbox_prefix(label: str) -> str:
    """The mkdtemp prefix of a sandbox made now by this process for `label`."""
    return f"{_PREFIX}{label}.p{os.getpid()}-" if label else _PREFIX


def remove_dead_sandboxes(root: Path, labels: Iterable[str]) -> list[Path]:
    """Remove the sandboxes under `root` labelled with one of `labels` whose making process
    is gone; the directories removed."""
    wanted = set(labels)
    removed = []
    try:
        entries = list(Path(root).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _NAME.match(entry.name)
        if not match or match["label"] not in wanted or _alive(int(match["pid"])) or not entry.is_dir():
            continue
        kill_with_env(f"HOME={entry / 'home'}")
        shutil.rmtree(entry, onerror=force_remove)
        if not entry.exists():
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    """A running (not zombie) process with this pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] not in ("Z", "X")


def force_remove(func, path, _exc_info) -> None:
    """rmtree error handler: a command may have left read-only files or dirs."""
    try:
        parent = os.path.dirname(path)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, stat.S_IRWXU)
            shutil.rmtree(path, onerror=force_remove)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
