"""The bash agent's reply format: exactly one ```bash fenced block per reply.

`parse_command` raises `FormatError` (carrying the corrective message for the
model) when a reply has no block or several; `is_submission` recognises the
submit sentinel as mini-swe-agent does (first output line, exit code 0).
"""
from __future__ import annotations

import re

from producers.sandbox.base import CommandResult

__all__ = ["SUBMIT_SENTINEL", "SUBMIT_COMMAND", "FormatError", "parse_command", "is_submission",
           "format_observation"]

SUBMIT_SENTINEL = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
SUBMIT_COMMAND = f"echo {SUBMIT_SENTINEL}"

_BLOCK = re.compile(r"^```(?:bash|sh)[ \t]*\n(.*?)^```", re.DOTALL | re.MULTILINE)

_FORMAT_ERROR = (
    "Format error: your reply must contain EXACTLY ONE ```bash fenced block with the command "
    "to run; it contained {n}. Reply again with one short explanation and one ```bash block. "
    f"To submit, the block must contain only `{SUBMIT_COMMAND}`.")

_OBSERVATION_HEAD = 10_000
"""Characters of output shown to the model before eliding the middle."""


class FormatError(ValueError):
    """A reply the agent cannot act on; `message` is what the model is told."""

    def __init__(self, found: int):
        self.found = found
        self.message = _FORMAT_ERROR.format(n=found)
        super().__init__(self.message)


def parse_command(reply: str) -> str:
    blocks = [b.strip("\n") for b in _BLOCK.findall(reply)]
    if len(blocks) != 1 or not blocks[0].strip():
        raise FormatError(len(blocks) if len(blocks) != 1 else 0)
    return blocks[0]


def is_submission(result: CommandResult) -> bool:
    lines = result.output.lstrip().splitlines()
    return bool(lines) and lines[0].strip() == SUBMIT_SENTINEL and result.exit_code == 0


def format_observation(result: CommandResult) -> str:
    """What the model sees after a command: exit code and (possibly elided) output."""
    out = result.output
    notes = []
    if result.timed_out:
        notes.append("the command timed out and was killed")
    if result.output_capped:
        notes.append(f"output capped: the command wrote {result.output_size} bytes")
    if len(out) > 2 * _OBSERVATION_HEAD:
        elided = len(out) - 2 * _OBSERVATION_HEAD
        out = f"{out[:_OBSERVATION_HEAD]}\n... [{elided} characters elided] ...\n{out[-_OBSERVATION_HEAD:]}"
    note = "".join(f"<note>{n}</note>\n" for n in notes)
    return f"{note}<returncode>{result.exit_code}</returncode>\n<output>\n{out}</output>"
