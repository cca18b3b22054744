"""`task.yaml`: one self-contained autonomous task (seed 003 §4.1)."""
from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["TaskFile", "load_task", "TaskSpecError", "RISK_RULE"]

RISK_RULE = re.compile(r"^\s*([a-z_]+)\s*(<=|>=|<|>|==|!=)\s*(-?\d+(?:\.\d+)?)\s*$")


class TaskSpecError(ValueError):
    pass


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_M):
    include: list[str] = []
    """Glob patterns of files the task may change (empty: any)."""
    exclude: list[str] = []


class Strategy(_M):
    batch_mode: str = "single_file"
    commands: list[str] = []
    """Shell commands that generate the change, run in the task's checkout (the GENERATE phase)."""


class Limits(_M):
    max_commits: int = Field(5, ge=1)
    max_runtime_minutes: float = Field(30, gt=0)
    command_timeout_s: float = Field(600, gt=0)


class QualityGates(_M):
    require_all_tests_pass: bool = True
    min_coverage_delta: float = 0.0
    """Coverage may not drop by more than this many points (0: no drop allowed, ±0.5 drift tolerated)."""
    forbid_new_type_errors: bool = True
    max_diff_lines: int = Field(500, ge=1)
    test_command: str = "python -m pytest -q"
    lint_paths: list[str] = ["."]
    type_paths: list[str] = ["."]


class RiskRules(_M):
    high_if: list[str] = []
    """Expressions like `coverage_delta < -2` over the gate metrics."""

    @field_validator("high_if")
    @classmethod
    def _rules(cls, v: list[str]) -> list[str]:
        for rule in v:
            if not RISK_RULE.match(rule):
                raise ValueError(f"risk rule {rule!r} must look like `name < number`")
        return v


class PullRequest(_M):
    title_prefix: str = "feat:"
    labels: list[str] = ["automated"]
    risk_rules: RiskRules = RiskRules()


class TaskFile(_M):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    branch: str = ""
    """Defaults to auto/<id>."""
    objective: str
    repo: str = "."
    """Git repository to clone (a path or URL); its `origin` receives the branch."""
    base: str = "main"
    target: Target = Target()
    strategy: Strategy = Strategy()
    limits: Limits = Limits()
    quality_gates: QualityGates = QualityGates()
    pr: PullRequest = PullRequest()

    @property
    def branch_name(self) -> str:
        return self.branch or f"auto/{self.id}"


def load_task(path: str | Path) -> TaskFile:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
        return TaskFile.model_validate(data)
    except OSError as exc:
        raise TaskSpecError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise TaskSpecError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "(task)"
        raise TaskSpecError(f"{path}: {field}: {err['msg']}") from None
