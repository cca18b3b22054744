"""`synthesis` topic: the task factory (`ledger tasks synth`), one event per step.

Keys: `synthesis.started` / `synthesis.finished` by synthesis id; the per-project
events (`synthesis.baseline`, `task.synthesized`, `task.rejected`) by project, so a
project's events stay in order on one partition. Ids are deterministic (the same
step of the same synthesis always has the same id), which is what makes a killed
synthesis resumable: a step whose event is in the log is not done again.

(The `tasks` topic holds the autonomous ephemeral tasks of seed 003; a synthesized
task is a dataset row, not one of those, hence a topic of its own.)
"""
from __future__ import annotations

from typing import Any, Literal

from .base import Payload

__all__ = ["RejectReason", "SynthesisBaseline", "SynthesisFinished", "SynthesisStarted",
           "TaskRejected", "TaskSynthesized"]

RejectReason = Literal["no_test_broken", "fails_after_revert", "flaky", "timeout",
                       "patch_failed", "duplicate", "error"]
"""Why a candidate bug is not a task: no kept test fails with it; a test still fails with
the fix applied (every time); a test's outcome changed between two identical runs; the
tests ran past the per-candidate timeout; the bug or its fix does not apply; an earlier
candidate made the same patch; the sandbox or the test run broke (no report)."""


class SynthesisStarted(Payload):
    synth_id: str
    config: dict[str, Any]
    """The synthesis config as validated (projects, seed, modifiers, limits)."""
    config_sha256: str
    """sha256 of the canonical JSON of `config`: a resumed synthesis must match it."""


class SynthesisBaseline(Payload):
    """A project prepared: sdist, git repository, environment, and its suite at base, run twice."""

    synth_id: str
    project: str
    version: str
    repo: str
    """`owner/name` of the synthesized repository (`pypi/<project>`)."""
    sdist_sha256: str
    base_commit: str
    """The pristine import of the sdist (every task's `environment_setup_commit`)."""
    environment_digest: str
    passed: list[str]
    """Tests that passed in both runs: the only ones a task may name."""
    flaky: list[str]
    """Tests whose outcome differed between the two runs (dropped)."""
    failing: list[str]
    """Tests that failed in both runs (dropped)."""
    coverage: dict[str, list[str]]
    """Entity key (`file::name::line`) -> the test files whose kept tests execute it."""
    duration_s: float = 0.0


class TaskSynthesized(Payload):
    """A validated task: its row in the SWE-bench schema, and where it came from."""

    synth_id: str
    project: str
    candidate_id: str
    order: int
    """Position in the project's candidate order (seeded): the dataset keeps the first
    `max_per_project` tasks in this order."""
    modifier: str
    file: str
    entity: str
    instance_id: str
    repo: str
    base_commit: str
    """The buggy commit."""
    environment_setup_commit: str
    version: str
    patch: str
    """The fix (buggy -> pristine)."""
    FAIL_TO_PASS: list[str]
    PASS_TO_PASS: list[str]
    problem_statement: str
    statement_source: str = "template"
    """`template`, or `model:<episode id>` when written by a model through the proxy."""
    patch_sha256: str = ""
    """sha256 of the bug patch (pristine -> buggy): a later candidate with the same one is
    a duplicate."""
    duration_s: float = 0.0


class TaskRejected(Payload):
    synth_id: str
    project: str
    candidate_id: str
    order: int
    modifier: str
    file: str
    entity: str
    reason: RejectReason
    detail: str = ""
    """What the reason rests on (the tests, the timeout, the error), short."""
    patch_sha256: str = ""
    duration_s: float = 0.0


class SynthesisFinished(Payload):
    synth_id: str
    dataset_sha256: str
    """The `DatasetManifest.sha256` of the dataset written."""
    count: int
    per_project: dict[str, int]
    per_modifier: dict[str, int]
    rejected: dict[str, int]
    """Rejections by reason (over every decided candidate)."""
    candidates: int
    """Candidates decided in total (accepted + rejected)."""
    duration_s: float = 0.0
