"""A small synthesis (configs/tasks/small.yaml: one real PyPI project, five modifiers),
run once per session through the real CLI; the tests read what it produced.

Sdists come from the package index (`pip download`, then cached for the session);
environments are built with pip like any other. Everything lands under one session
directory: `cache/` (sdists, repositories, environments) is shared by every synthesis
in the session, each synthesis has its own output, work directory and log.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SMALL = REPO_ROOT / "configs" / "tasks" / "small.yaml"


@dataclass(frozen=True)
class SynthRun:
    out: Path
    """<output>/<id>: the dataset directory."""
    output: Path
    log_url: str
    cache: Path
    proc: subprocess.CompletedProcess


def synth_argv(config: Path, output: Path, log_url: str, cache: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "main", "tasks", "synth", str(config), "--output", str(output),
            "--cache-dir", str(cache), "--log", log_url, *extra]


def synth_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


@pytest.fixture(scope="session")
def synth_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synth-cache")


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, synth_cache) -> SynthRun:
    root = tmp_path_factory.mktemp("synth-small")
    log_url = f"sqlite:///{root}/ledger.db"
    proc = subprocess.run(synth_argv(SMALL, root / "out", log_url, synth_cache), cwd=REPO_ROOT,
                          env=synth_env(), capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return SynthRun(root / "out" / "small", root / "out", log_url, synth_cache, proc)
