"""The autonomous task runner (seed 003 §4.2): one ephemeral "developer" per task.yaml.

    PREPARE → ANALYZE → GENERATE → VALIDATE → COMMIT → REBASE → AGGREGATE → PR → EXIT

Every phase is a `task.phase` event (started, then succeeded/failed/skipped),
every gate a `gate.result`, and the end one `task.finished` with the exit code
of §5.8: 0 done and gates passed, 1 fatal, 2 partial (the PR carries risk labels).
No central scheduler: tasks share nothing but the git remote and the log.
"""
from __future__ import annotations

import fnmatch
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import events
from events.log import EventLog
from events.payloads import GateResult, TaskFinished, TaskPhase

from .gates import Metrics, diff_stats, measure
from .spec import RISK_RULE, TaskFile

__all__ = ["TaskRunner", "TaskFailed"]

_OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
_COVERAGE_DRIFT = 0.5


class TaskFailed(RuntimeError):
    """A phase could not be completed; the task ends with exit code 1."""


class TaskRunner:
    def __init__(self, task: TaskFile, log: EventLog, artifacts: Path, workroot: Path | None = None):
        self.task, self.log = task, log
        self.artifacts = Path(artifacts) / task.id
        self.workroot = Path(workroot or tempfile.mkdtemp(prefix=f"task-{task.id}-"))
        self.workdir = self.workroot / "repo"
        self.labels: list[str] = []
        self.partial = False
        self.deadline = time.monotonic() + task.limits.max_runtime_minutes * 60
        self.before = self.after = Metrics()
        self.diff = (0, 0)
        self.last_event: str | None = None

    # -- events ---------------------------------------------------------------------
    def _emit(self, payload) -> None:
        ev = events.new(payload, producer="task-runner", run_id=f"task-{self.task.id}", parent=self.last_event)
        self.log.append(ev.topic, [ev])
        self.last_event = ev.id

    def _phase(self, name: str, fn) -> None:
        if name not in ("PR", "EXIT") and time.monotonic() > self.deadline:
            self.partial = True
            self._label("timeout-partial")
            self._emit(TaskPhase(task_id=self.task.id, phase=name, status="skipped", message="runtime limit reached"))
            return
        self._emit(TaskPhase(task_id=self.task.id, phase=name, status="started"))
        try:
            message = fn() or ""
        except (TaskFailed, subprocess.SubprocessError, OSError) as exc:
            self._emit(TaskPhase(task_id=self.task.id, phase=name, status="failed", message=str(exc)[:2000]))
            raise TaskFailed(f"{name}: {exc}") from exc
        self._emit(TaskPhase(task_id=self.task.id, phase=name, status="succeeded", message=message))

    def _label(self, label: str) -> None:
        if label not in self.labels:
            self.labels.append(label)

    # -- git ------------------------------------------------------------------------
    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["git", "-c", "user.name=ledger-task", "-c", "user.email=task@ledger.local",
                               *args], cwd=self.workdir, capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise TaskFailed(f"git {' '.join(args)} failed: {proc.stderr.strip()[:500]}")
        return proc

    # -- phases -----------------------------------------------------------------------
    def prepare(self) -> str:
        self.workroot.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["git", "clone", "-q", "--branch", self.task.base, self.task.repo, str(self.workdir)],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise TaskFailed(f"cannot clone {self.task.repo}: {proc.stderr.strip()[:500]}")
        self._git("checkout", "-q", "-b", self.task.branch_name)
        self.before = measure(self.workdir, self.task.quality_gates, self.task.limits.command_timeout_s)
        return f"baseline: {self.before.tests_passed} passed, {self.before.tests_failed} failed, coverage {self.before.coverage}"

    def _in_scope(self, path: str) -> bool:
        t = self.task.target
        inc = not t.include or any(fnmatch.fnmatch(path, g) for g in t.include)
        return inc and not any(fnmatch.fnmatch(path, g) for g in t.exclude)

    def analyze(self) -> str:
        files = self._git("ls-files").stdout.split()
        targets = [f for f in files if self._in_scope(f)]
        return f"{len(targets)} target files: {', '.join(targets[:20])}"

    def generate(self) -> str:
        for cmd in self.task.strategy.commands:
            proc = subprocess.run(["bash", "-c", cmd], cwd=self.workdir, capture_output=True, text=True,
                                  timeout=self.task.limits.command_timeout_s, start_new_session=True)
            if proc.returncode != 0:
                raise TaskFailed(f"command failed ({proc.returncode}): {cmd}\n{proc.stderr[-1000:]}")
        return self._revert_out_of_scope()

    def _revert_out_of_scope(self) -> str:
        self._git("add", "-A")
        changed = self._git("diff", "--cached", "--name-only").stdout.split()
        outside = [f for f in changed if not self._in_scope(f)]
        for path in outside:  # seed 003 §9: only files on the allowlist may change
            self._git("reset", "-q", "HEAD", "--", path)
            self._git("checkout", "-q", "--", path, check=False)
            if (self.workdir / path).exists() and path not in self._git("ls-files").stdout.split():
                (self.workdir / path).unlink()
        if outside:
            self._label("out-of-scope-reverted")
        if not changed or len(outside) == len(changed):
            raise TaskFailed("the change is empty (nothing in scope was modified)")
        return f"{len(changed) - len(outside)} files changed, {len(outside)} out of scope reverted"

    def validate(self) -> str:
        g = self.task.quality_gates
        self.after = measure(self.workdir, g, self.task.limits.command_timeout_s)
        self.diff = diff_stats(self.workdir, "HEAD")
        b, a = self.before, self.after
        tests_ok = a.tests_failed == 0 or not g.require_all_tests_pass
        self._gate("tests", tests_ok, "tests-failed", tests_passed=a.tests_passed, tests_failed=a.tests_failed)
        delta = None if a.coverage is None or b.coverage is None else a.coverage - b.coverage
        cov_ok = delta is None or delta >= g.min_coverage_delta - _COVERAGE_DRIFT
        self._gate("coverage", cov_ok, "coverage-risk", coverage_before=b.coverage, coverage_after=a.coverage,
                   message="" if delta is not None else "not run: coverage unavailable")
        lint_ok = a.lint_errors is None or a.lint_errors <= (b.lint_errors or 0)
        self._gate("lint", lint_ok, "style-fix-needed", lint_errors=a.lint_errors or 0,
                   message="not run: ruff unavailable" if a.lint_errors is None else "")
        types_ok = a.type_errors is None or not g.forbid_new_type_errors or a.type_errors <= (b.type_errors or 0)
        self._gate("types", types_ok, "type-risk", type_errors=a.type_errors or 0,
                   message="not run: mypy unavailable" if a.type_errors is None else "")
        self._gate("diff", self.diff[1] <= g.max_diff_lines, "large-diff",
                   diff_files=self.diff[0], diff_lines=self.diff[1])
        for tool in a.not_run:
            self._label(f"gate-not-run:{tool}")
        return f"{a.tests_passed} passed, {a.tests_failed} failed; coverage {b.coverage} -> {a.coverage}"

    def _gate(self, name: str, passed: bool, label: str, **fields) -> None:
        if not passed:
            self._label(label)
        self._emit(GateResult(task_id=self.task.id, gate=name, passed=passed, **fields))

    def commit(self) -> str:
        self._git("add", "-A")
        title = f"{self.task.pr.title_prefix} {self.task.objective} (auto)".strip()
        self._git("commit", "-q", "-m", title)
        return self._git("rev-parse", "HEAD").stdout.strip()

    def rebase(self) -> str:
        self._git("fetch", "-q", "origin")
        proc = self._git("rebase", f"origin/{self.task.base}", check=False)
        if proc.returncode != 0:
            self._git("rebase", "--abort", check=False)
            self._label("needs-manual-review")
            self.partial = True
            return "rebase conflicted: aborted, branch kept on its original base"
        return f"rebased onto origin/{self.task.base}"

    def metrics(self) -> dict[str, float]:
        a, b = self.after, self.before
        delta = (a.coverage - b.coverage) if a.coverage is not None and b.coverage is not None else 0.0
        return {"coverage_delta": delta, "tests_failed": a.tests_failed, "lint_errors": a.lint_errors or 0,
                "type_errors": a.type_errors or 0, "diff_lines": self.diff[1], "diff_files": self.diff[0]}

    def aggregate(self) -> str:
        values = self.metrics()
        for rule in self.task.pr.risk_rules.high_if:
            name, op, num = RISK_RULE.match(rule).groups()
            if name in values and _OPS[op](values[name], float(num)):
                self._label("high-risk")
        return ", ".join(f"{k}={v}" for k, v in values.items())

    def pull_request(self) -> str:
        self._git("push", "-q", "-u", "origin", self.task.branch_name)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        labels = [*self.task.pr.labels, *self.labels]
        m = self.metrics()
        body = [f"## {self.task.pr.title_prefix} {self.task.objective} (auto)", "",
                f"Branch `{self.task.branch_name}` · tests {self.after.tests_passed} passed / "
                f"{self.after.tests_failed} failed · coverage {self.before.coverage} → {self.after.coverage} · "
                f"diff {m['diff_files']} files, {m['diff_lines']} lines", "",
                f"Labels: {', '.join(labels) or 'none'}"]
        if self.partial:
            body.append("\n**Partial**: only part of the objective was completed (see task events).")
        (self.artifacts / "pr.md").write_text("\n".join(body) + "\n")
        return f"pushed {self.task.branch_name}; PR body at {self.artifacts / 'pr.md'}"

    # -- the whole task ------------------------------------------------------------------
    def run(self) -> int:
        status, code = "success", 0
        try:
            for name, fn in [("PREPARE", self.prepare), ("ANALYZE", self.analyze), ("GENERATE", self.generate),
                             ("VALIDATE", self.validate), ("COMMIT", self.commit), ("REBASE", self.rebase),
                             ("AGGREGATE", self.aggregate), ("PR", self.pull_request)]:
                self._phase(name, fn)
            if self.labels or self.partial:
                status, code = "partial", 2
        except TaskFailed:
            status, code = "failed", 1
        finally:
            self._phase("EXIT", lambda: f"exit code {code}")
            self._emit(TaskFinished(task_id=self.task.id, status=status, risk_labels=self.labels,
                                    partial=self.partial or code == 2, exit_code=code,
                                    branch=self.task.branch_name))
            shutil.rmtree(self.workroot, ignore_errors=True)
        return code
