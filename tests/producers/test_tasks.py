"""Autonomous ephemeral tasks on real git repositories: phases, gates, rebase, exit codes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from events.log import open_log
from producers.tasks.runner import TaskRunner
from producers.tasks.spec import TaskSpecError, load_task

ROOT = Path(__file__).resolve().parents[2]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]

PAYMENT = "def calculate_fee(amount):\n    return amount * 0.05\n\n\ndef refund(amount):\n    return -amount\n"
TEST_PAYMENT = ("from src.service.payment import calculate_fee\n\n\n"
                "def test_positive_fee():\n    assert calculate_fee(100) == 5.0\n\n\n"
                "def test_zero_fee():\n    assert calculate_fee(0) == 0\n")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare `origin` holding sample-service on main."""
    work = tmp_path / "seed"
    (work / "src" / "service").mkdir(parents=True)
    (work / "tests").mkdir()
    (work / "src" / "__init__.py").write_text("")
    (work / "src" / "service" / "__init__.py").write_text("")
    (work / "src" / "service" / "payment.py").write_text(PAYMENT)
    (work / "tests" / "test_smoke.py").write_text("def test_smoke():\n    assert True\n")
    _git(work, "init", "-q")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "initial")
    bare = tmp_path / "origin.git"
    _git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return bare


def _task(tmp_path: Path, origin: Path, **over) -> Path:
    spec = {"id": "add-payment-tests", "objective": "add unit tests for payment", "repo": str(origin),
            "target": {"include": ["tests/*"]},
            "strategy": {"commands": [f"cat > tests/test_payment.py <<'EOF'\n{TEST_PAYMENT}EOF"]},
            "quality_gates": {"test_command": "python -m pytest -q tests", "lint_paths": ["tests"],
                              "type_paths": ["tests"]},
            "pr": {"title_prefix": "feat(test):", "risk_rules": {"high_if": ["coverage_delta < -2"]}}}
    for key, value in over.items():
        spec[key] = value
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _events(log):
    return [r.event for r in log.read("tasks")]


def test_successful_task_pushes_branch_and_reports_every_phase(tmp_path, origin, sqlite_url):
    log = open_log(sqlite_url)
    code = TaskRunner(load_task(_task(tmp_path, origin)), log, tmp_path / "artifacts").run()
    evs = _events(log)
    assert code == 0, evs[-1].payload
    phases = [e.payload.phase for e in evs if e.type == "task.phase" and e.payload.status == "succeeded"]
    assert phases == ["PREPARE", "ANALYZE", "GENERATE", "VALIDATE", "COMMIT", "REBASE", "AGGREGATE", "PR", "EXIT"]
    gates = {e.payload.gate: e.payload for e in evs if e.type == "gate.result"}
    assert gates["tests"].passed and gates["tests"].tests_passed == 3 and gates["tests"].tests_failed == 0
    assert gates["coverage"].coverage_after >= gates["coverage"].coverage_before
    assert gates["diff"].diff_files == 1
    fin = evs[-1].payload
    assert (fin.status, fin.exit_code, fin.risk_labels) == ("success", 0, [])
    assert "test_payment.py" in _git(origin, "show", "--stat", "auto/add-payment-tests")
    assert (tmp_path / "artifacts" / "add-payment-tests" / "pr.md").read_text().startswith("## feat(test):")


def test_failing_tests_and_out_of_scope_changes_make_a_partial_task(tmp_path, origin, sqlite_url):
    bad = TEST_PAYMENT.replace("== 5.0", "== 6.0")
    cmds = [f"cat > tests/test_payment.py <<'EOF'\n{bad}EOF", "echo '# touched' >> src/service/payment.py"]
    log = open_log(sqlite_url)
    code = TaskRunner(load_task(_task(tmp_path, origin, strategy={"commands": cmds})), log, tmp_path / "a").run()
    fin = _events(log)[-1].payload
    assert code == 2 and fin.status == "partial"
    assert {"tests-failed", "out-of-scope-reverted"} <= set(fin.risk_labels)
    assert "touched" not in _git(origin, "show", "auto/add-payment-tests:src/service/payment.py")


def test_rebase_conflict_is_aborted_and_labelled(tmp_path, origin, sqlite_url):
    other = tmp_path / "other"
    _git(tmp_path, "clone", "-q", str(origin), str(other))
    (other / "tests" / "test_payment.py").write_text("def test_other():\n    assert 1\n")
    _git(other, "add", "-A")
    _git(other, "commit", "-qm", "someone else's tests")
    # the other developer lands their commit after our task cloned: simulate with a generate step
    push = f"git -C {other} push -q origin main"
    cmds = [push, f"cat > tests/test_payment.py <<'EOF'\n{TEST_PAYMENT}EOF"]
    log = open_log(sqlite_url)
    code = TaskRunner(load_task(_task(tmp_path, origin, strategy={"commands": cmds})), log, tmp_path / "a").run()
    fin = _events(log)[-1].payload
    assert code == 2 and "needs-manual-review" in fin.risk_labels and fin.partial


def test_failed_generation_exits_1(tmp_path, origin, sqlite_url):
    log = open_log(sqlite_url)
    task = load_task(_task(tmp_path, origin, strategy={"commands": ["exit 3"]}))
    assert TaskRunner(task, log, tmp_path / "a").run() == 1
    evs = _events(log)
    failed = [e.payload for e in evs if e.type == "task.phase" and e.payload.status == "failed"]
    assert failed[0].phase == "GENERATE" and "exit 3" in failed[0].message
    assert evs[-1].payload.exit_code == 1


def test_cli_runs_a_task_and_bad_specs_name_the_field(tmp_path, origin):
    db = tmp_path / "l.db"
    proc = subprocess.run([sys.executable, "-m", "main", "task", "run", str(_task(tmp_path, origin)),
                           "--log", f"sqlite:///{db}", "--artifacts", str(tmp_path / "a")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nobjective: y\npr: {risk_rules: {high_if: ['coverage goes down']}}\n")
    with pytest.raises(TaskSpecError, match="pr.risk_rules.high_if"):
        load_task(bad)
