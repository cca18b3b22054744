"""The official eval script, adapted to run outside the harness's image.

The harness's eval script assumes its image: a conda env named `testbed`
activated from /opt/miniconda3, the checkout at /testbed, and an install step
(`pip install -e .`, ...) that writes into that env. In our sandboxes the
checkout lives elsewhere and the environment is prepared beforehand (the
dataset's environment, else the sandbox's interpreter), read-only to the
tests. So, line by line, outside heredocs:

- conda activation lines (`source .../miniconda3/bin/activate`, `conda
  activate|deactivate ...`) are dropped; the environment's own lines (PATH,
  PYTHONPATH with the checkout first, standing in for the editable install)
  are put at the top instead;
- the install step (the commands between the last activation and the reset of
  the test files / the test patch / the start marker) is dropped: the
  environment was built with it once, not per evaluation;
- `/testbed` becomes the sandbox's checkout.

Everything else is the harness's, verbatim and in order: the git status/show/
diff lines, the reset of the test files to the base commit, the test patch
applied from its heredoc, the start/end markers around the test command and
its directives, the exit-code capture, the final reset. Each dropped line
stays in the script as a comment (`# ledger: dropped (...)`), so the log shows
what was adapted. Inside the harness's image (`sandbox.image: swebench`) the
script runs unchanged.
"""
from __future__ import annotations

import re
import shlex

__all__ = ["local_script", "ACTIVATION", "TESTBED"]

TESTBED = "/testbed"
ACTIVATION = re.compile(r"^\s*(?:source\s+\S*conda\S*/bin/activate\b|conda\s+(?:activate|deactivate)\b)")
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
_TESTBED = re.compile(r"(?<![\w/.-])/testbed(?=[/\s'\";]|$)")
_INSTALL_END = re.compile(r"^\s*(?:git\s+checkout\b|git\s+apply\b|:\s+'>>>>> Start Test Output')")


def local_script(lines: list[str], workdir: str, setup: list[str] | None = None) -> str:
    """The eval script (`TestSpec.eval_script_list`) adapted for a checkout at `workdir`;
    `setup` are the environment's shell lines (run right after `set -uxo pipefail`)."""
    install = _install_region(lines)
    out = ["#!/bin/bash", "set -uxo pipefail", *(setup or [])]
    delimiter = None
    for i, line in enumerate(lines):
        if delimiter is not None:
            out.append(line)
            if line == delimiter:
                delimiter = None
            continue
        if ACTIVATION.match(line):
            out.append(f"# ledger: dropped (the environment is set up above): {line}")
        elif i in install:
            out.append(f"# ledger: dropped (install step; done when the environment was built): {line}")
        else:
            out.append(_TESTBED.sub(lambda _m: shlex.quote(workdir), line))
        heredoc = _HEREDOC.search(line)
        if heredoc and not line.lstrip().startswith("#"):
            delimiter = heredoc.group(2)
    return "\n".join(out) + "\n"


def _install_region(lines: list[str]) -> set[int]:
    """Indices of the install step: after the last activation line that precedes the start
    marker, up to the first reset/apply/marker line."""
    start = next((i for i, line in enumerate(lines) if ">>>>> Start Test Output" in line), len(lines))
    activations = [i for i in range(start) if ACTIVATION.match(lines[i])]
    if not activations:
        return set()
    region: set[int] = set()
    for i in range(activations[-1] + 1, start):
        if _INSTALL_END.match(lines[i]):
            break
        region.add(i)
    return region
