"""A fixed-seed sample of the produced tasks, checked the way an evaluator judges them,
from what the dataset ships alone: the repository from `mirrors/`, the environment from
`environments.yaml`. At the base (buggy) commit every FAIL_TO_PASS test fails and every
PASS_TO_PASS test passes; with the gold patch applied, all of them pass."""
from __future__ import annotations

import json
import random
import shlex
from concurrent.futures import ThreadPoolExecutor

import pytest

from producers.datasets.instance import Instance
from producers.environments import EnvironmentTable, ensure_environment
from producers.harness.pytest_junit import test_files as files_of
from producers.sandbox.local import LocalSandboxFactory
from producers.synthesis.testrun import run_tests

pytestmark = pytest.mark.timeout(1800)  # a real synthesis: minutes on a loaded machine

SAMPLE = 20


def _check(instance: Instance, out, cache) -> list[str]:
    table = EnvironmentTable.load(out / "environments.yaml")
    mirror = out / "mirrors" / (instance.repo.replace("/", "__") + ".git")
    spec = table.spec_for(instance.repo, instance.version, instance.instance_id)
    env = ensure_environment(spec, repo=instance.repo, version=instance.version, source=mirror,
                             commit=instance.environment_setup_commit, cache_dir=cache)
    files = files_of(instance.FAIL_TO_PASS + instance.PASS_TO_PASS)
    problems = []
    with LocalSandboxFactory().create(mirror, instance.base_commit, environment=env) as sandbox:
        base = run_tests(sandbox, env, files, 300, name="base")
        problems += [f"passes at base: {t}" for t in instance.FAIL_TO_PASS if base.passed(t)]
        problems += [f"fails at base: {t}" for t in instance.PASS_TO_PASS if not base.passed(t)]
        sandbox.write_file(".git/gold.patch", instance.patch)
        applied = sandbox.run(f"git apply {shlex.quote('.git/gold.patch')}")
        assert applied.exit_code == 0, applied.output
        gold = run_tests(sandbox, env, files, 300, name="gold")
        problems += [f"fails with gold: {t}" for t in instance.FAIL_TO_PASS + instance.PASS_TO_PASS
                     if not gold.passed(t)]
    return problems


def test_a_seeded_sample_of_tasks_holds(small_run):
    rows = [json.loads(line) for line in (small_run.out / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) >= SAMPLE
    sample = [Instance(**r) for r in random.Random(15).sample(rows, SAMPLE)]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda i: (i.instance_id, _check(i, small_run.out, small_run.cache)), sample))
    bad = {iid: problems for iid, problems in results if problems}
    assert not bad, bad
