"""Building environments: once per (repo, version, spec), atomically, used by real sandboxes.

Real venvs, real pip (the plugin test installs pytest and pytest-cov from the package
index or pip's cache), real pytest runs in the local sandbox.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from producers.environments import (
    RECORD_FILE,
    EnvironmentBuildError,
    EnvironmentSpec,
    ensure_environment,
    environment_dir,
)
from producers.sandbox.local import LocalSandboxFactory
from tests.conftest import REPO_ROOT

PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "calc"
version = "0.1"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
addopts = "--cov=calc"
"""
CALC = "def add(a, b):\n    return a + b\n"
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
COPY_INSTALL = f'cp -r src/calc "$VIRTUAL_ENV/lib/python{PYTHON}/site-packages/"'
"""Installs the package into the venv without pip: a fast stand-in for `pip install .`."""


def _git(repo: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t.invalid", "HOME": str(repo),
           "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
           "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def src_repo(tmp_path) -> Path:
    repo = tmp_path / "calc"
    for rel, text in {"pyproject.toml": PYPROJECT, "src/calc/__init__.py": CALC,
                      "tests/test_calc.py": TEST}.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "calc")
    return repo


def test_plugin_env_runs_the_checkouts_code(src_repo, tmp_path):
    """The issue's case: `addopts = --cov=...` needs pytest-cov; without the environment
    pytest exits 4, with it the tests pass, and an edit in the checkout is what runs."""
    spec = EnvironmentSpec(pip_packages=["pytest==8.3.5", "pytest-cov==6.0.0"],
                           install=COPY_INSTALL, pythonpath=["src"])
    env = ensure_environment(spec, repo="acme/calc", version="0.1", source=src_repo,
                             commit="HEAD", cache_dir=tmp_path / "cache")
    record = json.loads((env.root / RECORD_FILE).read_text())
    assert record["digest"] == spec.digest and record["source_commit"] == _git(src_repo, "rev-parse", "HEAD")
    commands = [s["command"] for s in record["steps"]]
    assert commands[1] == "python -m pip install pytest==8.3.5 pytest-cov==6.0.0"
    assert all(s["exit_code"] == 0 for s in record["steps"])
    assert "pytest-cov==6.0.0" in record["freeze"]
    assert record["checked_imports"] == {"calc": "src/calc/__init__.py"}
    factory = LocalSandboxFactory(root=tmp_path / "sbx")
    with factory.create(src_repo, "HEAD") as bare:
        assert bare.run("pytest -q tests").exit_code == 4  # no pytest-cov in the host's venv
    with factory.create(src_repo, "HEAD", environment=env) as sandbox:
        ok = sandbox.run(f"{env.test_command()} tests")
        assert ok.exit_code == 0 and "PASSED tests/test_calc.py::test_add" in ok.output, ok.output
        assert "pytest-8.3.5" in ok.output and "src/calc/__init__.py" in ok.output
        sandbox.write_file("src/calc/__init__.py", "def add(a, b):\n    return a - b\n")
        broken = sandbox.run(f"{env.test_command()} tests")
        assert broken.exit_code == 1 and "FAILED tests/test_calc.py::test_add" in broken.output
        assert sandbox.run("touch $VIRTUAL_ENV/x").exit_code != 0  # the venv is read-only
    log_size = (env.root / "build.log").stat().st_size
    again = ensure_environment(spec, repo="acme/calc", version="0.1", source=src_repo,
                               commit="HEAD", cache_dir=tmp_path / "cache")
    assert again.root == env.root and (env.root / "build.log").stat().st_size == log_size


def test_installed_copy_shadowing_the_checkout_is_refused(src_repo, tmp_path):
    spec = EnvironmentSpec(install=COPY_INSTALL)  # pythonpath ["."]: src/calc is not found first
    with pytest.raises(EnvironmentBuildError, match=r"`import calc` finds .*site-packages.*src layout"):
        ensure_environment(spec, repo="acme/calc", version="0.1", source=src_repo, commit="HEAD",
                           cache_dir=tmp_path / "cache")
    assert not (environment_dir(spec, "acme/calc", "0.1", tmp_path / "cache") / RECORD_FILE).exists()


def test_failed_command_names_itself_and_the_log(src_repo, tmp_path):
    spec = EnvironmentSpec(pre_install=["echo nope >&2; exit 7"])
    with pytest.raises(EnvironmentBuildError, match=r"`echo nope >&2; exit 7` exited with 7: nope .*build\.log"):
        ensure_environment(spec, repo="acme/calc", version="0.1", source=src_repo, commit="HEAD",
                           cache_dir=tmp_path / "cache")


_BUILD = """import sys
from producers.environments import EnvironmentSpec, ensure_environment
spec = EnvironmentSpec(pre_install=[sys.argv[3]])
env = ensure_environment(spec, repo="acme/calc", version="0.1", source=sys.argv[1], commit="HEAD",
                         cache_dir=sys.argv[2])
print(env.root)
"""


def _builder(src_repo: Path, cache: Path, pre_install: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-c", _BUILD, str(src_repo), str(cache), pre_install],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_concurrent_builders_build_once(src_repo, tmp_path):
    cache = tmp_path / "cache"
    procs = [_builder(src_repo, cache, "sleep 1; echo built >> ../count") for _ in range(3)]
    roots = {p.communicate(timeout=300)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs) and len(roots) == 1
    assert (Path(roots.pop()) / "count").read_text() == "built\n"


def test_sigkilled_build_is_never_used_and_is_rebuilt(src_repo, tmp_path):
    """A builder SIGKILLed mid-build leaves a directory without a record: nobody uses it;
    the next builder kills the orphaned command (by its marker) and builds again."""
    cache, flag = tmp_path / "cache", tmp_path / "go-on"
    step = f"echo $$ >> ../started; test -e {flag} || exec sleep 300"
    root = environment_dir(EnvironmentSpec(pre_install=[step]), "acme/calc", "0.1", cache)
    proc = _builder(src_repo, cache, step)
    deadline = time.monotonic() + 120
    while not (root / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    orphan = int((root / "started").read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (root / "venv").is_dir() and not (root / RECORD_FILE).exists()
    assert _alive(orphan)
    flag.touch()
    rebuilt = _builder(src_repo, cache, step)
    out, err = rebuilt.communicate(timeout=300)
    assert rebuilt.returncode == 0, err
    assert Path(out.strip()) == root and (root / RECORD_FILE).exists()
    assert len((root / "started").read_text().split()) == 1  # a fresh directory
    assert not _alive(orphan)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
