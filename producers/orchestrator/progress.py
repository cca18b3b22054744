"""The run's progress bar: episodes done / failed / running, success so far, ETA."""
from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["RunProgress"]


class RunProgress:
    def __init__(self, console: Console, total: int, already: int = 0):
        self._bar = Progress(
            TextColumn("[bold]episodes"), BarColumn(), MofNCompleteColumn(),
            TextColumn("running {task.fields[running]} · failed {task.fields[failed]} · "
                       "resolved {task.fields[resolved]}/{task.fields[scored]}"),
            TimeRemainingColumn(), console=console, transient=False)
        self._task = self._bar.add_task("run", total=total, completed=already, running=0,
                                        failed=0, resolved=0, scored=0)
        self._counts = {"running": 0, "failed": 0, "resolved": 0, "scored": 0}

    def __enter__(self) -> "RunProgress":
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)

    def _update(self, advance: int = 0) -> None:
        self._bar.update(self._task, advance=advance, **self._counts)

    def started(self) -> None:
        self._counts["running"] += 1
        self._update()

    def done(self, resolved: bool) -> None:
        self._counts["running"] -= 1
        self._counts["scored"] += 1
        self._counts["resolved"] += resolved
        self._update(1)

    def failed(self) -> None:
        self._counts["running"] -= 1
        self._counts["failed"] += 1
        self._update(1)
