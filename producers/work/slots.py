"""`Slots`: a worker's episode processes, each running one job at a time.

A slot is a spawned process that lives across jobs (imports and the dataset
are loaded once), dies with the worker (PR_SET_PDEATHSIG) and can be aborted
on its own: SIGTERM unwinds the job (its sandbox is closed, its commands
killed) without writing an end for the episode, then SIGKILL if it lingers.
A slot that dies by itself while running a job reports that job as failed.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

__all__ = ["Slots", "SlotResult"]

_ABORT_GRACE_S = 2.0


class SlotAborted(BaseException):
    """Raised inside a slot by SIGTERM: unwinds the job past every `except Exception`."""


def _on_term(signum, frame) -> None:
    raise SlotAborted()


@dataclass(frozen=True)
class _Prepare:
    config: dict


def _slot_main(conn: Connection) -> None:
    from producers.orchestrator.worker import init_worker, prepare, run_job

    init_worker()
    signal.signal(signal.SIGTERM, _on_term)
    _warm_up()
    try:
        while True:
            try:
                job = conn.recv()
            except EOFError:
                return
            try:
                conn.send(("ok", prepare(job.config) if isinstance(job, _Prepare) else run_job(job)))
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"))
    except SlotAborted:
        os._exit(0)


def _warm_up() -> None:
    """Import what every job needs now, so the first job of a fresh slot does not wait for it."""
    import producers.agents.registry
    import producers.evaluator
    import producers.orchestrator.components
    import producers.sandbox.local


@dataclass
class SlotResult:
    slot: int
    token: Any
    """What the caller handed in with the job."""
    ok: bool
    value: Any
    """run_job's return value, or the error text."""


class _Slot:
    def __init__(self, index: int, ctx):
        self.index = index
        self.parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_slot_main, args=(child,), name=f"slot-{index}", daemon=True)
        self.process.start()
        child.close()
        self.token: Any = None
        self.busy = False
        self.aborted = False


class Slots:
    """`n` slot processes; `submit` a job to a free one, `collect` what finished.

    Spawn, `submit`, `collect` and `respawn` are for the thread that made the
    Slots (the slots die with it); `abort` may be called from any thread."""

    def __init__(self, n: int):
        self._ctx = multiprocessing.get_context("spawn")
        self._slots = [_Slot(i, self._ctx) for i in range(n)]

    @property
    def size(self) -> int:
        return len(self._slots)

    def free(self) -> int:
        return sum(1 for s in self._slots if not s.busy and not s.aborted)

    def busy_tokens(self) -> list[Any]:
        return [s.token for s in self._slots if s.busy and s.token is not None]

    def prepare(self, config: dict) -> None:
        """Have every idle slot load what jobs of `config` need now (a run's first jobs start sooner)."""
        for s in self._slots:
            if not s.busy and not s.aborted:
                s.parent.send(_Prepare(config))
                s.token, s.busy = None, True

    def submit(self, job: Any, token: Any) -> int:
        slot = next(s for s in self._slots if not s.busy and not s.aborted)
        slot.parent.send(job)
        slot.token, slot.busy = token, True
        return slot.index

    def collect(self, timeout_s: float) -> list[SlotResult]:
        """Results of finished jobs (waiting up to `timeout_s` for the first one)."""
        busy = [s for s in self._slots if s.busy and not s.aborted]
        if not busy:
            if timeout_s > 0:
                time.sleep(timeout_s)
            return []
        ready = set(wait([s.parent for s in busy] + [s.process.sentinel for s in busy], timeout_s))
        out = []
        for s in busy:
            if s.parent in ready:
                try:
                    status, value = s.parent.recv()
                    out.append(SlotResult(s.index, s.token, status == "ok", value))
                except (EOFError, OSError):
                    out.append(self._died(s))
            elif s.process.sentinel in ready:
                out.append(self._died(s))
            else:
                continue
            s.busy, s.token = False, None
        return [r for r in out if r.token is not None]  # a finished `prepare` is no result

    def _died(self, s: _Slot) -> SlotResult:
        s.process.join(1)
        s.aborted = True  # replaced by respawn()
        return SlotResult(s.index, s.token, False, f"slot process died (exit code {s.process.exitcode})")

    def abort(self, predicate) -> list[Any]:
        """Abort every running job whose token matches; returns their tokens. Waits until they are gone."""
        victims = [s for s in self._slots if s.busy and not s.aborted and s.token is not None
                   and predicate(s.token)]
        for s in victims:
            s.aborted = True
            if s.process.is_alive():
                os.kill(s.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + _ABORT_GRACE_S
        for s in victims:
            s.process.join(max(0.0, deadline - time.monotonic()))
            if s.process.is_alive():
                s.process.kill()
                s.process.join()
        tokens = [s.token for s in victims]
        for s in victims:
            s.busy, s.token = False, None
        return tokens

    def respawn(self) -> None:
        """Replace aborted or dead slots (from the thread that made them)."""
        for i, s in enumerate(self._slots):
            if s.aborted and not s.busy:
                s.parent.close()
                self._slots[i] = _Slot(i, self._ctx)

    def close(self) -> None:
        for s in self._slots:
            if s.process.is_alive():
                s.process.kill()
            s.process.join(5)
            s.parent.close()
