"""A project made ready for bugs: sdist -> git repository -> environment -> its suite at base.

The suite runs twice at the pristine commit, each time in a fresh sandbox with the
project's environment: once plain, once under coverage with one context per test
(pytest-cov's `--cov-context=test`). A test is kept iff it passed both times;
one whose outcome differed is flaky (dropped and counted). The coverage contexts
say which test files execute each function or class of the source: candidates are
made only where some kept test looks, and validated by running those files.
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from producers.environments import Environment, ensure_environment
from producers.sandbox.base import SandboxFactory

from .config import ProjectConfig, SynthConfig, spec_fields
from .entities import entity_key, extract_entities, source_files
from .repo import ProjectRepo, import_sdist
from .sdist import Sdist, fetch_sdist
from .testrun import WORK_DIR, TestRun, run_tests

__all__ = ["Baseline", "BaselineError", "Prepared", "prepare", "project_repo", "run_baseline"]

_CONTEXT_PHASE = re.compile(r"\|(run|setup|teardown)$")


class BaselineError(RuntimeError):
    """The project's suite could not be run at base (the message says what happened)."""


@dataclass(frozen=True)
class Prepared:
    project: ProjectConfig
    sdist: Sdist
    repo: ProjectRepo
    environment: Environment


@dataclass(frozen=True)
class Baseline:
    passed: list[str]
    flaky: list[str]
    failing: list[str]
    coverage: dict[str, list[str]]
    """Entity key -> sorted test files whose kept tests execute the entity."""


def project_repo(config: SynthConfig, project: ProjectConfig) -> ProjectRepo:
    """The project's repository (sdist fetched and imported on first use)."""
    return _sdist_and_repo(config, project)[1]


def _sdist_and_repo(config: SynthConfig, project: ProjectConfig) -> tuple[Sdist, ProjectRepo]:
    cache = Path(config.cache_dir)
    sdist = fetch_sdist(project.name, project.version, cache, project.sha256)
    return sdist, import_sdist(sdist.path, sdist.sha256, project.slug, project.version, cache,
                               project.commit_message)


def prepare(config: SynthConfig, project: ProjectConfig) -> Prepared:
    cache = Path(config.cache_dir)
    sdist, repo = _sdist_and_repo(config, project)
    env = ensure_environment(spec_fields(config, project), repo=project.repo, version=project.version,
                             source=repo.path, commit=repo.pristine, cache_dir=cache)
    return Prepared(project, sdist, repo, env)


def run_baseline(prepared: Prepared, factory: SandboxFactory, timeout_s: float) -> Baseline:
    project, repo, env = prepared.project, prepared.repo, prepared.environment
    plain = _run(factory, prepared, timeout_s, "")
    with factory.create(repo.path, repo.pristine, environment=env) as sandbox:
        covered = run_tests(sandbox, env, project.tests, timeout_s, name="baseline-cov",
                            extra="--cov=. --cov-context=test --cov-report=")
        _check(covered, project, "the run under coverage")
        include = ",".join(shlex.quote(f"{s.rstrip('/')}/*" if (repo.path / s).is_dir() else s)
                           for s in project.source)
        report = sandbox.run(f"python -m coverage json --show-contexts -q --include={include} "
                             f"-o {WORK_DIR}/cov.json", timeout_s=timeout_s)
        if report.exit_code != 0:
            listed = sandbox.run("python -m coverage report --format=total 2>&1; python -m coverage debug data "
                                 "2>&1 | head -20", timeout_s=timeout_s).output
            raise BaselineError(f"{project.name}: `coverage json --include={include}` failed: "
                                f"{report.output[-300:]}; the data: {listed[-900:]}")
        # The local sandbox's workdir is a host path: the report is read directly (it can
        # be larger than a command's output cap).
        data = json.loads((sandbox.workdir / WORK_DIR / "cov.json").read_text())
        contexts = _contexts(data, sandbox.workdir)
    keep = re.compile(project.test_filter) if project.test_filter else None
    ids = sorted(set(plain.statuses) | set(covered.statuses))
    ids = [t for t in ids if keep is None or keep.search(t)]
    passed = [t for t in ids if plain.passed(t) and covered.passed(t)]
    flaky = [t for t in ids if plain.passed(t) != covered.passed(t)]
    failing = [t for t in ids if not plain.passed(t) and not covered.passed(t)
               and "SKIPPED" not in (plain.statuses.get(t), covered.statuses.get(t))]
    if not passed:
        raise BaselineError(f"{project.name}: no test passed in both runs at base (plain: "
                            f"{_tally(plain)}; under coverage: {_tally(covered)}); the plain run "
                            f"ended: {plain.output_tail[-600:]}")
    coverage = _entity_coverage(repo.path, project.source, contexts, set(passed), set(ids))
    return Baseline(passed, flaky, failing, coverage)


def _run(factory: SandboxFactory, prepared: Prepared, timeout_s: float, extra: str) -> TestRun:
    repo, env = prepared.repo, prepared.environment
    with factory.create(repo.path, repo.pristine, environment=env) as sandbox:
        run = run_tests(sandbox, env, prepared.project.tests, timeout_s, name="baseline", extra=extra)
    _check(run, prepared.project, "the plain run")
    return run


def _check(run: TestRun, project: ProjectConfig, which: str) -> None:
    if run.timed_out:
        raise BaselineError(f"{project.name}: {which} of the suite ran past the timeout")
    if run.problem:
        raise BaselineError(f"{project.name}: {which} of the suite: {run.problem}")
    if not run.reported:
        raise BaselineError(f"{project.name}: {which} of the suite wrote no JUnit report "
                            f"(exit {run.exit_code}): {run.output_tail[-800:]}")


def _tally(run: TestRun) -> str:
    counts: dict[str, int] = {}
    for status in run.statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no test reported"


def _contexts(report: dict, workdir: Path) -> dict[str, dict[int, set[str]]]:
    """file (relative) -> line -> test ids that executed it (import-time lines have none)."""
    out: dict[str, dict[int, set[str]]] = {}
    for name, data in report.get("files", {}).items():
        path = Path(name)
        rel = path.relative_to(workdir).as_posix() if path.is_absolute() else path.as_posix()
        lines: dict[int, set[str]] = {}
        for line, ctxs in (data.get("contexts") or {}).items():
            tests = {_CONTEXT_PHASE.sub("", c) for c in ctxs if c}
            if tests:
                lines[int(line)] = tests
        out[rel] = lines
    return out


def _entity_coverage(tree: Path, sources: list[str], contexts: dict[str, dict[int, set[str]]],
                     passed: set[str], known: set[str]) -> dict[str, list[str]]:
    """A test file counts for an entity when one of its kept tests executes a line of it
    (a context whose id JUnit spelled otherwise counts when its file has kept tests)."""
    passed_files = {t.split("::", 1)[0] for t in passed}
    coverage: dict[str, list[str]] = {}
    for rel in source_files(tree, sources):
        lines = contexts.get(rel, {})
        for entity in extract_entities(tree, rel):
            files: set[str] = set()
            for line in range(entity.line_start, entity.line_end + 1):
                for test in lines.get(line, ()):
                    test_file = test.split("::", 1)[0]
                    if test in passed or (test not in known and test_file in passed_files):
                        files.add(test_file)
            if files:
                coverage[entity_key(rel, entity)] = sorted(files)
    return coverage
