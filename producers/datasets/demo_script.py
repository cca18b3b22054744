"""Shell commands that play a scripted fix, for the demo policy.

`DemoScript` is the demo upstream's own class (`producers.inference.demo`)
where that module exists; the stand-in below has the same fields, so the
bundled suite works with or without it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .suite import Edit

__all__ = ["DemoScript", "edit_command"]

_EOF = "LEDGER_EDIT_EOF"

try:
    from producers.inference.demo import DemoScript
except ImportError:
    @dataclass(frozen=True)
    class DemoScript:  # type: ignore[no-redef]
        instance_id: str
        solve: list[str]
        """Bash commands that solve the task."""
        wrong: list[str]
        """Bash commands that make a plausible but wrong attempt."""
        solve_rate: float = 0.75
        """Fraction of seeds for which the solving script is played."""


def edit_command(edits: tuple[Edit, ...]) -> str:
    """One `bash -c`-able command: a python heredoc that makes each replacement
    (exactly once) or append, failing loudly when the target text is not there."""
    lines = ["python - <<'%s'" % _EOF, "from pathlib import Path",
             f"edits = {[(e.path, e.old, e.new) for e in edits]!r}",
             "for path, old, new in edits:",
             "    p = Path(path)",
             "    text = p.read_text() if p.exists() else ''",
             "    if old and text.count(old) != 1:",
             "        raise SystemExit(f'{path}: text to replace not found once')",
             "    p.write_text(text.replace(old, new) if old else text + new)",
             "    print('edited', path)",
             _EOF]
    return "\n".join(lines)
