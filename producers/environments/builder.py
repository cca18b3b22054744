"""Build an environment spec once into a cached venv, and hand out what sandboxes need.

Layout under the cache (one directory per (repo, version, spec digest))::

    <cache>/environments/<owner>__<name>/<version>-<digest[:16]>/
        venv/              the interpreter and every dependency
        src/               the source tree `packages`/`pre_install`/`install` ran in
        build.log          every command, its exit code and its whole output, in order
        environment.json   the record (spec, digest, steps, pip freeze) = the "done" marker
    <cache>/environments/<owner>__<name>/<version>-<digest[:16]>.lock

Built in place (a venv is not relocatable: its scripts name their own path), under
an exclusive file lock; `environment.json` is written last, by an atomic rename,
and a directory without it is a half-built one: the next builder removes it and
starts again. Readers use a directory only once its record is there.

The code under test is the sandbox's checkout, never the installed copy: the
spec's `pythonpath` directories of the checkout come first on PYTHONPATH, ahead
of anything `install` put in the venv (an installed copy only supplies metadata,
entry points and dependencies). After `install`, the builder checks this on a
second checkout: every top-level package of the source tree must be found there,
not in the venv, or the build fails naming the package and the `pythonpath` to set.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from producers.datasets.lock import default_cache_dir, file_lock
from producers.sandbox.environment import SYSTEM_PATH
from producers.sandbox.process import MARKER_VAR, kill_marked, run_capped

from .spec import EnvironmentSpec

__all__ = ["Environment", "EnvironmentBuildError", "ensure_environment", "environment_dir",
           "RECORD_FILE"]

RECORD_FILE = "environment.json"
_MARKER_FILE = ".build-marker"
_BUILD_SCHEMA = 1
_OUTPUT_CAP = 32 << 20
_EXCERPT = 4000
_DROPPED_HOST_VARS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONSTARTUP")
_NOT_CODE = {"setup", "conftest", "noxfile", "tasks", "fabfile", "docs", "doc", "test", "tests",
             "testing", "examples", "benchmarks", "build", "dist", "venv", "scripts"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EnvironmentBuildError(RuntimeError):
    """The environment could not be built; the message names the step and the log."""


@dataclass(frozen=True)
class Environment:
    """A built environment, ready for sandboxes."""

    spec: EnvironmentSpec
    repo: str
    version: str
    root: Path
    record: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def digest(self) -> str:
        return self.spec.digest

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def python(self) -> Path:
        """The interpreter for `python`/`pytest` wrappers (not resolved: keep the venv)."""
        return self.venv / "bin" / "python"

    def command_env(self, workdir: Path) -> dict[str, str]:
        """Variables a command in a checkout at `workdir` needs, on top of the sandbox's
        clean environment: the spec's `env`, PYTHONPATH (the checkout's `pythonpath`
        dirs first), VIRTUAL_ENV. Put `path_dirs` on PATH after the sandbox's own bin."""
        pythonpath = ":".join(str(workdir / p) if p != "." else str(workdir)
                              for p in self.spec.pythonpath)
        return {**self.spec.env, "PYTHONPATH": pythonpath, "VIRTUAL_ENV": str(self.venv)}

    @property
    def path_dirs(self) -> list[Path]:
        return [self.venv / "bin"]

    def test_command(self) -> str:
        """`eval_commands` then `test_cmd`, as one shell line that test ids can follow."""
        return " && ".join([*self.spec.eval_commands, self.spec.test_cmd])


def environment_dir(spec: EnvironmentSpec, repo: str, version: str,
                    cache_dir: Path | str | None = None) -> Path:
    cache = (Path(cache_dir) if cache_dir is not None else default_cache_dir()).absolute()
    safe_repo = re.sub(r"[^\w.\-]", "_", repo.replace("/", "__"))
    safe_version = re.sub(r"[^\w.\-]", "_", version or "unversioned")
    return cache / "environments" / safe_repo / f"{safe_version}-{spec.digest[:16]}"


def ensure_environment(spec: EnvironmentSpec, *, repo: str, version: str, source: Path | str,
                       commit: str, cache_dir: Path | str | None = None,
                       timeout_s: float = 1800.0) -> Environment:
    """The environment for (repo, version, spec), built from `source` (a git repository)
    at `commit` the first time; later and concurrent callers reuse it."""
    root = environment_dir(spec, repo, version, cache_dir)
    record = _read_record(root)
    if record is None:
        with file_lock(root.parent / f"{root.name}.lock"):
            record = _read_record(root)
            if record is None:
                record = _Build(spec, repo, version, root, timeout_s).run(Path(source), commit)
    if record.get("digest") != spec.digest:
        raise EnvironmentBuildError(f"{root}: its record is for spec {record.get('digest')}, "
                                    f"not {spec.digest}")
    return Environment(spec, repo, version, root, record)


def _read_record(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None


@dataclass
class _Step:
    command: str
    cwd: str
    exit_code: int | None
    duration_s: float
    output: str

    def summary(self) -> dict[str, Any]:
        raw = self.output.encode()
        return {"command": self.command, "cwd": self.cwd, "exit_code": self.exit_code,
                "duration_s": round(self.duration_s, 3),
                "output_sha256": hashlib.sha256(raw).hexdigest(), "output_bytes": len(raw),
                "output_tail": self.output[-_EXCERPT:]}


class _Build:
    def __init__(self, spec: EnvironmentSpec, repo: str, version: str, root: Path,
                 timeout_s: float) -> None:
        self.spec, self.repo, self.version, self.root = spec, repo, version, root
        self.deadline = time.monotonic() + timeout_s
        self.steps: list[_Step] = []
        self.marker = uuid.uuid4().hex

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    def run(self, source: Path, commit: str) -> dict[str, Any]:
        self._clear_half_built()
        self.root.mkdir(parents=True)
        (self.root / _MARKER_FILE).write_text(self.marker)
        src = self.root / "src"
        full = _checkout(source, commit, src)
        interpreter = _interpreter(self.spec.python)
        self._sh(f"{interpreter} -m venv {self.venv}", self.root)
        for command in self._install_commands():
            self._sh(command, src)
        freeze = self._sh("python -m pip freeze --all", src).output.splitlines()
        checked = self._check_imports(source, full)
        record = {"schema": _BUILD_SCHEMA, "repo": self.repo, "version": self.version,
                  "digest": self.spec.digest, "spec": self.spec.model_dump(),
                  "source_commit": full, "interpreter": interpreter,
                  "steps": [s.summary() for s in self.steps], "freeze": freeze,
                  "checked_imports": checked}
        tmp = self.root / f".{RECORD_FILE}.tmp"
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
        os.replace(tmp, self.root / RECORD_FILE)
        return record

    def _clear_half_built(self) -> None:
        """A builder killed mid-build leaves its directory and maybe its commands (they run
        in their own sessions): those are killed by their marker, then the directory goes."""
        if not self.root.exists():
            return
        try:
            kill_marked((self.root / _MARKER_FILE).read_text().strip())
        except OSError:
            pass
        shutil.rmtree(self.root)

    def _install_commands(self) -> list[str]:
        """The harness's order: env packages, pip_packages, then pre_install and install."""
        spec, commands = self.spec, []
        if spec.packages == "requirements.txt":
            commands.append("python -m pip install -r requirements.txt")
        elif spec.packages.strip():
            commands.append(f"python -m pip install {spec.packages.strip()}")
        if spec.pip_packages:
            commands.append("python -m pip install " + " ".join(shlex.quote(p) for p in spec.pip_packages))
        commands += spec.pre_install
        if spec.install.strip():
            commands.append(spec.install)
        return commands

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_HOST_VARS}
        env.update(PATH=f"{self.venv / 'bin'}:{SYSTEM_PATH}", VIRTUAL_ENV=str(self.venv),
                   PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", LC_ALL="C.UTF-8")
        env.update(self.spec.env)
        env[MARKER_VAR] = self.marker
        return env

    def _sh(self, command: str, cwd: Path) -> _Step:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self._fail(f"build ran past its time limit before `{command}`")
        raw = run_capped(["bash", "-c", command], cwd=cwd, env=self._env(), timeout_s=remaining,
                         output_cap=_OUTPUT_CAP)
        step = _Step(command, os.path.relpath(cwd, self.root), raw.exit_code, raw.duration_s,
                     raw.output.decode("utf-8", "replace"))
        self.steps.append(step)
        with open(self.root / "build.log", "a") as log:
            log.write(f"$ (cd {step.cwd} && {command})\n{step.output}\n[exit code: {raw.exit_code}, "
                      f"{raw.duration_s:.1f}s]\n")
        if raw.timed_out:
            self._fail(f"`{command}` ran past the build's time limit")
        if raw.exit_code != 0:
            self._fail(f"`{command}` exited with {raw.exit_code}: {step.output.strip()[-600:]}")
        return step

    def _fail(self, message: str) -> None:
        raise EnvironmentBuildError(f"environment for {self.repo} {self.version} "
                                    f"(spec {self.spec.digest[:12]}): {message} "
                                    f"(log: {self.root / 'build.log'})")

    def _check_imports(self, source: Path, commit: str) -> dict[str, str]:
        """On a second checkout, every top-level package of the tree must be found there."""
        if not self.spec.install.strip():
            return {}
        check = self.root / "check"
        _checkout(source, commit, check)
        try:
            names = _top_level_names(check, self.spec.pythonpath)
            pythonpath = ":".join(str(check / p) for p in self.spec.pythonpath)
            script = ("import importlib.util, json, sys\nout = {}\nfor n in sys.argv[1:]:\n"
                      "    try:\n        s = importlib.util.find_spec(n)\n"
                      "    except Exception as e:\n        out[n] = f'error: {e}'\n        continue\n"
                      "    if s is None:\n        out[n] = ''\n        continue\n"
                      "    out[n] = s.origin if s.origin not in (None, 'namespace') else "
                      "list(s.submodule_search_locations or [''])[0]\nprint(json.dumps(out))\n")
            proc = subprocess.run([str(self.venv / "bin" / "python"), "-c", script, *names],
                                  cwd="/", env={**self._env(), "PYTHONPATH": pythonpath},
                                  capture_output=True, text=True, timeout=120)
            found = json.loads(proc.stdout or "{}")
        finally:
            shutil.rmtree(check, ignore_errors=True)
        wrong = {n: o for n, o in found.items() if o and not o.startswith("error")
                 and not Path(o).resolve().is_relative_to(check.resolve())}
        if wrong:
            self._fail("the checkout would not be the code under test: "
                       + "; ".join(f"`import {n}` finds {o}" for n, o in sorted(wrong.items()))
                       + f" (pythonpath is {self.spec.pythonpath}; a src layout needs [\"src\"])")
        return {n: os.path.relpath(o, check) for n, o in found.items() if o and not o.startswith("error")}


def _top_level_names(tree: Path, pythonpath: list[str]) -> list[str]:
    """Packages and modules at the top of the tree, of `src/` and of each pythonpath dir."""
    names: set[str] = set()
    for base in dict.fromkeys([".", "src", *pythonpath]):
        directory = tree / base
        if not directory.is_dir():
            continue
        for entry in directory.iterdir():
            name = entry.stem if entry.suffix == ".py" else entry.name
            if not _NAME.match(name) or name.lower() in _NOT_CODE or name.startswith("_"):
                continue
            if (entry.is_dir() and (entry / "__init__.py").is_file()) or \
                    (entry.is_file() and entry.suffix == ".py"):
                names.add(name)
    return sorted(names)


def _checkout(source: Path, commit: str, dest: Path) -> str:
    """`commit` of the repository at `source` checked out (detached) at `dest`."""
    env = {"PATH": SYSTEM_PATH, "HOME": str(dest.parent), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}

    def git(*args: str, cwd: Path) -> str:
        proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0:
            raise EnvironmentBuildError(f"git {' '.join(args)} in {cwd}: {proc.stderr.strip()}")
        return proc.stdout.strip()

    full = git("rev-parse", "--verify", f"{commit}^{{commit}}", cwd=source)
    dest.mkdir(parents=True)
    git("init", "--quiet", cwd=dest)
    git("fetch", "--quiet", "--depth", "1", f"file://{source.resolve()}", full, cwd=dest)
    git("checkout", "--quiet", "--detach", full, cwd=dest)
    return full


def _interpreter(version: str) -> str:
    path = shutil.which(f"python{version}", path=f"{SYSTEM_PATH}:{os.environ.get('PATH', '')}")
    if path is None:
        raise EnvironmentBuildError(f"python {version} is not installed here (no python{version} "
                                    "on PATH); set the spec's `python` to an installed version")
    return path
