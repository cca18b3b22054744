"""How a bundled task is written down: files, and edits that fix, test or break them.

A family is one repository whose history is a series of bug fixes: task k's
base commit is the family's first commit plus the gold fixes and test patches
of tasks 1..k-1, so tasks of one family share a repo name and differ in base
commit. Test ids are not written by hand: FAIL_TO_PASS are the tests the test
patch adds, PASS_TO_PASS every other test at base+test_patch (found with `ast`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Edit", "TaskSpec", "Family", "append"]


@dataclass(frozen=True)
class Edit:
    """Replace `old` (which must occur exactly once) by `new` in `path`;
    an empty `old` appends `new` (creating the file if needed)."""

    path: str
    old: str
    new: str


def append(path: str, text: str) -> Edit:
    return Edit(path, "", text)


@dataclass(frozen=True)
class TaskSpec:
    number: int
    """Instance id is `<family>__<number>`."""
    kind: str
    """The kind of bug (off-by-one, wrong condition, ...)."""
    problem_statement: str
    fix: tuple[Edit, ...]
    """The gold fix."""
    tests: tuple[Edit, ...]
    """The test patch: adds the FAIL_TO_PASS tests."""
    wrong: tuple[Edit, ...]
    """A plausible fix that does not pass FAIL_TO_PASS (or breaks PASS_TO_PASS)."""
    regression: tuple[Edit, ...]
    """An edit that breaks at least one PASS_TO_PASS test."""
    look: tuple[str, ...]
    """Shell commands a solver looks around with before fixing."""
    solve_rate: float = 0.75
    """How often the demo policy picks the right fix."""


@dataclass(frozen=True)
class Family:
    name: str
    """Repo is `ledger-bundled/<name>`."""
    files: dict[str, str]
    """The first commit's files."""
    tasks: tuple[TaskSpec, ...] = field(default_factory=tuple)
