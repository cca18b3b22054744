"""Quality gates (seed 003 §4.3, §7): tests, coverage, lint, types, diff size.

A tool that is not installed is reported as not run (and becomes a risk
label), never as passed in silence.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Metrics", "measure", "run_tests", "diff_stats"]


@dataclass
class Metrics:
    tests_passed: int = 0
    tests_failed: int = 0
    coverage: float | None = None
    lint_errors: int | None = None
    type_errors: int | None = None
    not_run: list[str] = field(default_factory=list)
    log: str = ""


def _env() -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {"PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


def _sh(command: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout, start_new_session=True)


def _has_module(name: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True).returncode == 0


def run_tests(workdir: Path, test_command: str, timeout: float, with_coverage: bool) -> Metrics:
    m = Metrics()
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = test_command
        if with_coverage and cmd.startswith("python -m pytest"):
            cmd = cmd.replace("python -m pytest", f"python -m coverage run --source=. --data-file={tmp}/.cov -m pytest", 1)
        proc = _sh(f"{cmd} --junitxml={junit} -p no:cacheprovider", workdir, timeout)
        m.log = (proc.stdout + proc.stderr)[-4000:]
        if junit.exists():
            root = ET.parse(junit).getroot()
            for case in root.iter("testcase"):
                failed = any(child.tag in ("failure", "error") for child in case)
                m.tests_failed += failed
                m.tests_passed += not failed and not any(c.tag == "skipped" for c in case)
        elif proc.returncode != 0:
            m.tests_failed = 1
        if with_coverage and (Path(tmp) / ".cov").exists():
            out = _sh(f"python -m coverage json --data-file={tmp}/.cov -o {tmp}/cov.json -q", workdir, timeout)
            if out.returncode == 0:
                m.coverage = round(json.loads((Path(tmp) / "cov.json").read_text())["totals"]["percent_covered"], 2)
    return m


def _lint(workdir: Path, paths: list[str], timeout: float) -> int | None:
    ruff = shutil.which("ruff", path=_env()["PATH"])
    if not ruff:
        return None
    proc = _sh(f"ruff check --output-format=json {' '.join(paths)}", workdir, timeout)
    try:
        return len(json.loads(proc.stdout or "[]"))
    except ValueError:
        return 1 if proc.returncode else 0


def _types(workdir: Path, paths: list[str], timeout: float) -> int | None:
    if not _has_module("mypy"):
        return None
    proc = _sh(f"python -m mypy --ignore-missing-imports --no-error-summary {' '.join(paths)}", workdir, timeout)
    return sum(1 for line in proc.stdout.splitlines() if ": error:" in line)


def measure(workdir: Path, gates, timeout: float) -> Metrics:
    """Every gate metric of a checkout."""
    cov = _has_module("coverage")
    m = run_tests(workdir, gates.test_command, timeout, with_coverage=cov)
    if not cov:
        m.not_run.append("coverage")
    m.lint_errors = _lint(workdir, gates.lint_paths, timeout)
    if m.lint_errors is None:
        m.not_run.append("lint")
    m.type_errors = _types(workdir, gates.type_paths, timeout)
    if m.type_errors is None:
        m.not_run.append("types")
    return m


def diff_stats(workdir: Path, base: str) -> tuple[int, int]:
    """(files changed, lines added + deleted) against `base`."""
    out = subprocess.run(["git", "diff", "--numstat", base], cwd=workdir, capture_output=True, text=True).stdout
    files = lines = 0
    for row in out.splitlines():
        added, deleted, _ = row.split("\t", 2)
        files += 1
        lines += (int(added) if added.isdigit() else 0) + (int(deleted) if deleted.isdigit() else 0)
    return files, lines
