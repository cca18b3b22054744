"""A task instance in the SWE-bench schema, validated.

FAIL_TO_PASS / PASS_TO_PASS accept a list or a JSON-encoded list (as the
SWE-bench dataset stores them). Test ids are pytest node ids (`path::name`,
the path relative and inside the repo) or, for suites that name tests
otherwise (django, sympy), a bare name; never empty, never multi-line. The
files a patch touches must stay inside the repository.
"""
from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Instance", "DEFAULT_TEST_COMMAND", "MACHINE_FIELDS", "HARNESS_FIELDS", "check_test_id",
           "patch_paths"]

DEFAULT_TEST_COMMAND = "pytest -rA -p no:cacheprovider"
MACHINE_FIELDS = frozenset({"repo_path", "repos"})
"""Where things are on this machine: never part of a dataset's content hash."""
HARNESS_FIELDS = ("image", "eval_script", "log_parser", "eval_type", "environment")
"""The official harness's columns of a SWE-bench 5 row, and a row's own environment spec
(hashed only when present, so older datasets keep their hash)."""
_INSTANCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_REPO = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")
_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
_GIT_PATHS = re.compile(r"^(?:diff --git a/(\S+) b/(\S+)|rename (?:from|to) (\S+))", re.M)
_PLAIN_PATHS = re.compile(r"^(?:--- (?:a/)?(\S+)|\+\+\+ (?:b/)?(\S+))", re.M)


class Instance(BaseModel):
    """One task: a repo at a base commit, an issue, and the tests that judge a fix."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    instance_id: str
    """Unique id, e.g. `astropy__astropy-12907` or `textkit__1`."""
    repo: str
    """`owner/name` (for bundled tasks `ledger-bundled/<name>`)."""
    base_commit: str
    """The commit the agent starts from (hex, 7-40 chars)."""
    problem_statement: str
    """The issue text the agent is given."""
    patch: str
    """The gold patch (reference fix; never shown to the agent)."""
    test_patch: str = ""
    """Adds or changes the tests that judge the fix; applied before evaluation."""
    FAIL_TO_PASS: list[str]
    """Tests that fail at base+test_patch and must pass with a correct fix."""
    PASS_TO_PASS: list[str] = Field(default_factory=list)
    """Tests that pass at base+test_patch and must keep passing."""
    version: str = ""
    """The repo version (SWE-bench's environment key)."""
    environment_setup_commit: str = ""
    """Commit whose dependencies the environment is built from (SWE-bench)."""
    hints_text: str = ""
    created_at: str = ""
    repo_path: str | None = None
    """Local git repository holding `base_commit` (bundled and local tasks)."""
    repos: str | None = None
    """Where `repo` is looked for when `repo_path` is not set: a directory of git mirrors or a
    URL template (`dataset.repos`, see `mirrors.py`); set by the loader, not by rows."""
    test_command: str = DEFAULT_TEST_COMMAND
    """Command the evaluator runs, followed by the test ids."""
    image: str = ""
    """The official harness's instance image (SWE-bench 5 rows; `TestSpec.image`)."""
    eval_script: str = ""
    """The official harness's eval script for this instance (SWE-bench 5 rows carry it):
    with `log_parser` it makes the harness's test spec, which then judges the instance."""
    log_parser: str = ""
    """Name of the harness's log parser (`swebench.harness.log_parsers.PARSER_REGISTRY`)."""
    eval_type: str = ""
    """The harness's grading mode: `pass_and_fail` or `fail_only`."""
    environment: dict[str, Any] | None = None
    """This row's own environment spec fields (`producers.environments.EnvironmentSpec`),
    applied over the dataset's environment table (`dataset.environments`)."""

    @field_validator("instance_id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _INSTANCE_ID.match(v):
            raise ValueError(f"not a valid instance id: {v!r}")
        return v

    @field_validator("repo")
    @classmethod
    def _repo(cls, v: str) -> str:
        if not _REPO.match(v):
            raise ValueError(f"repo must be 'owner/name', got {v!r}")
        return v

    @field_validator("base_commit")
    @classmethod
    def _commit(cls, v: str) -> str:
        if not _COMMIT.match(v):
            raise ValueError(f"base_commit must be 7-40 lowercase hex chars, got {v!r}")
        return v

    @field_validator("problem_statement")
    @classmethod
    def _statement(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("problem_statement is empty")
        return v

    @field_validator("patch")
    @classmethod
    def _gold(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the gold patch is empty")
        return _check_patch(v)

    @field_validator("test_patch")
    @classmethod
    def _tests(cls, v: str) -> str:
        return _check_patch(v) if v.strip() else v

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", mode="before")
    @classmethod
    def _decode_list(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                v = json.loads(v) if v.strip() else []
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list of test ids: {exc}") from None
        if v is None:
            return []
        if isinstance(v, (list, tuple)):
            for i, test_id in enumerate(v):
                if not isinstance(test_id, str):
                    raise ValueError(f"test id #{i} is not a string: {test_id!r}")
                check_test_id(test_id)
        return v

    @field_validator("FAIL_TO_PASS")
    @classmethod
    def _non_empty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("FAIL_TO_PASS is empty: nothing would judge a fix")
        return v


def check_test_id(test_id: str) -> None:
    """Raise ValueError if `test_id` is empty, multi-line, or its path escapes the repo."""
    if not test_id.strip() or test_id != test_id.strip():
        raise ValueError(f"test id is empty or padded: {test_id!r}")
    if any(c in test_id for c in "\n\r\0"):
        raise ValueError(f"test id spans lines: {test_id!r}")
    if "::" in test_id:
        path, _, name = test_id.partition("::")
        if not path or not name:
            raise ValueError(f"test id must be 'path::name': {test_id!r}")
        _check_relpath(path, f"test id {test_id!r}")


def _check_relpath(path: str, what: str) -> None:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or path.startswith("~"):
        raise ValueError(f"{what}: path {path!r} escapes the repository")


def patch_paths(patch: str) -> list[str]:
    """Every file path a diff names: its `diff --git`/rename headers, or for a plain
    unified diff its `---`/`+++` lines."""
    pattern = _GIT_PATHS if "diff --git" in patch else _PLAIN_PATHS
    paths = []
    for match in pattern.finditer(patch):
        paths += [p for p in match.groups() if p and p != "/dev/null"]
    return paths


def _check_patch(patch: str) -> str:
    if "diff --git" not in patch and "\n+++ " not in patch and not patch.startswith("--- "):
        raise ValueError("not a unified diff (no 'diff --git' or '+++' header)")
    for path in patch_paths(patch):
        _check_relpath(path, "patch")
    return patch
