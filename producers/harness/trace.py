"""The evaluation's log: each command and its output, in order."""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Trace"]


@dataclass
class Trace:
    parts: list[str] = field(default_factory=list)

    def add(self, command: str, output: str, exit_code: int | None) -> None:
        newline = "" if output.endswith("\n") else "\n"
        self.parts.append(f"$ {command}\n{output}{newline}[exit code: {exit_code}]\n")

    def text(self) -> str:
        return "".join(self.parts)

    def first_error(self) -> str:
        """git apply's own verdict lines (`error: patch failed: calc.py:3; ...`), else patch's."""
        lines = [line.strip() for line in self.text().splitlines()]
        errors = [line for line in lines if line.startswith("error:") and not line.endswith(":")]
        if not errors:
            errors = [line for line in lines if "FAILED" in line or "malformed" in line.lower()]
        return "; ".join(errors[:2])[:300] or "see the log"
