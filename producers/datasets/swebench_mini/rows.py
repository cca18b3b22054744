"""SWE-bench 5 rows for the mini suite: the harness's columns, its eval-script shape.

`eval_script` is laid out as the published SWE-bench datasets lay theirs out:
conda activation, `cd /testbed`, git status/show/diff, the install step, the reset
of the test files to the base commit, the test patch from a heredoc, the test
command and its directives between the `>>>>> Start/End Test Output` markers,
and the final reset. The harness turns it into its `TestSpec` (`make_test_spec`).
"""
from __future__ import annotations

import json
from pathlib import PurePosixPath

from ..instance import patch_paths
from .families import Flavour

__all__ = ["eval_script", "directives", "HEREDOC"]

HEREDOC = "EOF_114329324912"
_INSTALL = "python -m pip install -e ."


def directives(test_patch: str, style: str) -> list[str]:
    """The test files the patch touches, as the runner names them."""
    files = [p for p in dict.fromkeys(patch_paths(test_patch)) if p.endswith(".py")]
    if style == "dotted":
        return [str(PurePosixPath(f).relative_to("tests").with_suffix("")).replace("/", ".") for f in files]
    return files


def eval_script(base_commit: str, test_patch: str, flavour: Flavour, tests: list[str]) -> str:
    files = " ".join(dict.fromkeys(patch_paths(test_patch)))
    reset = f"git checkout {base_commit} {files}"
    lines = ["#!/bin/bash", "set -uxo pipefail", "source /opt/miniconda3/bin/activate", "conda activate testbed",
             "cd /testbed", "git config --global --add safe.directory /testbed", "cd /testbed", "git status",
             "git show", f"git -c core.fileMode=false diff {base_commit}", "source /opt/miniconda3/bin/activate",
             "conda activate testbed", _INSTALL, reset,
             f"git apply -v - <<'{HEREDOC}'\n{test_patch}\n{HEREDOC}",
             ": '>>>>> Start Test Output'", f"{flavour.test_cmd} {' '.join(tests)}",
             ": '>>>>> End Test Output'", reset]
    return "\n".join(lines) + "\n"


def row(instance: dict, flavour: Flavour, image: str, f2p: list[str], p2p: list[str]) -> dict:
    """The dataset row as the hub stores it (test lists as JSON strings)."""
    return {**instance, "repo": flavour.repo, "image": image, "log_parser": flavour.log_parser,
            "eval_type": "pass_and_fail", "FAIL_TO_PASS": json.dumps(f2p), "PASS_TO_PASS": json.dumps(p2p)}
