"""Environments and `ledger datasets validate` on real upstream fixes (python-semver, from PyPI).

The repository's pytest config needs pytest-cov (`addopts = --cov=semver`). With the
dataset's environment table the venv is built from the spec and every gold patch is
resolved; without it the same instances cannot be judged (pytest exits 4) and are
reported as infrastructure errors, never as model failures — by `validate` and by
`ledger run` with `dataset.validation: skip`.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from events.log import open_log
from producers.agents.workspace import open_sandbox
from producers.datasets import load_dataset
from producers.datasets.environments import EnvironmentResolver
from producers.evaluator import Evaluator
from producers.sandbox.local import LocalSandboxFactory
from producers.sandbox.with_environment import EnvironmentSandboxes
from tests.conftest import REPO_ROOT

from .upstream_fixes import build


@pytest.fixture(scope="module")
def fixes(tmp_path_factory):
    return build(tmp_path_factory.mktemp("semver"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("env-cache")


def _ledger(*args, cwd, env):
    return subprocess.run([sys.executable, str(REPO_ROOT / "main.py"), *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=900)


def test_with_the_environment_every_gold_patch_resolves(fixes, cache, subprocess_env):
    out = _ledger("datasets", "validate", str(fixes / "rows.jsonl"), "--environments", str(fixes / "environments.yaml"),
                  "--cache-dir", str(cache), "--json", str(fixes / "valid.json"), cwd=fixes, env=subprocess_env)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads((fixes / "valid.json").read_text())
    assert [r["judgeable"] for r in report] == [True, True] and len({r["spec_digest"] for r in report}) == 1
    assert "2 of 2 instances can be judged" in out.stdout
    # the same environment serves the agent's sandbox and the evaluation, and its digest is recorded
    resolver = EnvironmentResolver(fixes / "environments.yaml", cache)
    factory = EnvironmentSandboxes(LocalSandboxFactory(root=fixes / "sbx"), resolver.environment_for)
    inst = load_dataset(fixes / "rows.jsonl").instances[0]
    with open_sandbox(factory, inst) as sandbox:
        assert sandbox.environment.digest == report[0]["spec_digest"]
        assert "pytest-cov==6.0.0" in sandbox.environment.record["freeze"]
        assert sandbox.run("python -c 'import pytest_cov'").exit_code == 0
    result = Evaluator(factory, timeout_s=600).evaluate(inst, inst.patch)
    assert result.resolved and result.spec_digest == report[0]["spec_digest"] and "coverage" in result.log.text


def test_without_it_the_instances_are_not_judgeable_infra(fixes, subprocess_env):
    out = _ledger("datasets", "validate", str(fixes / "rows.jsonl"), cwd=fixes, env=subprocess_env)
    assert out.returncode == 3, out.stdout + out.stderr
    assert out.stdout.count("pytest wrote no report (exit code 4)") == 2
    assert "0 of 2 instances can be judged; 2 cannot (infrastructure: environment)" in out.stdout


def test_ledger_run_skips_them_as_infra_errors_before_any_model_call(fixes, subprocess_env):
    cfg = yaml.safe_load((REPO_ROOT / "configs" / "demo.yaml").read_text())
    cfg["run"]["id"] = "semver"
    cfg["dataset"] = {"source": str(fixes / "rows.jsonl"), "validation": "skip", "cache_dir": str(fixes / "c")}
    cfg["sampling"].update(n=2, k=[1])
    cfg["log"], cfg["lake"], cfg["artifacts"] = f"sqlite:///{fixes / 'run.db'}", str(fixes / "lake"), str(fixes / "a")
    (fixes / "run.yaml").write_text(yaml.safe_dump(cfg))
    out = _ledger("run", str(fixes / "run.yaml"), cwd=fixes, env=subprocess_env)
    assert out.returncode == 3, out.stderr[-3000:]
    assert out.stderr.strip().splitlines()[-1] == (
        "ledger run: 4 of 4 pairs hit infrastructure errors: environment (4); see ledger events --topic evals")
    log = open_log(cfg["log"])
    try:
        evals = [r.event.payload for r in log.read("evals")]
        assert list(log.read("episodes")) == [] and list(log.read("proxy")) == []
    finally:
        log.close()
    assert {(e.status, e.infra_cause) for e in evals} == {("infra", "environment")} and len(evals) == 4
    assert all("pytest wrote no report (exit code 4)" in e.reason for e in evals)
