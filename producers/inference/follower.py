"""Following a trainer: each `policy.updated` of one trainer id reaches a sampler.

`PolicyFollower(log_url, trainer_id, apply)` tails the `trainer` topic and calls
`apply(checkpoint, version)` with the newest checkpoint of that trainer it has
not applied yet (older ones it skipped are never loaded: a sampler wants the
newest weights). `catch_up()` does one pass synchronously, so a sampler that
starts after the trainer serves the trainer's newest weights from its first
request; `start()` then keeps following in a background thread.

Only `policy.updated` events whose `trainer_id` is the followed one count:
another trainer's checkpoints are another lineage. A checkpoint that cannot be
loaded (pruned before the sampler got to it, unreadable) is reported on
stderr and skipped; the sampler keeps serving, and stamping, its current
weights until a newer checkpoint loads.
"""
from __future__ import annotations

import sys
import threading
from typing import Callable

from events.payloads import PolicyVersion

__all__ = ["PolicyFollower", "Apply"]

Apply = Callable[[str, PolicyVersion], None]
"""Load `checkpoint` (a trainer checkpoint directory) and stamp later samples with the version."""


class PolicyFollower:
    def __init__(self, log_url: str, trainer_id: str, apply: Apply, *, poll_s: float = 0.05):
        if not trainer_id:
            raise ValueError("following a policy needs the trainer id whose policy.updated events to load")
        self.log_url, self.trainer_id, self.apply, self.poll_s = log_url, trainer_id, apply, poll_s
        self.applied: PolicyVersion | None = None
        self.failures = 0
        """Checkpoints that could not be loaded (each reported on stderr)."""
        self._positions: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = None

    def _open(self):
        if self._log is None:
            from events.log import open_log

            self._log = open_log(self.log_url)
            self._positions = {p: 0 for p in range(self._log.partitions("trainer"))}
        return self._log

    def _newest_unseen(self):
        log, newest = self._open(), None
        for part in self._positions:
            for rec in log.read("trainer", start=self._positions[part], partition=part):
                self._positions[part] = rec.offset + 1
                p = rec.event.payload
                if rec.event.type == "policy.updated" and p.trainer_id == self.trainer_id:
                    if newest is None or p.step > newest.step:
                        newest = p
        return newest

    def catch_up(self) -> PolicyVersion | None:
        """Apply the newest checkpoint not applied yet, if any; returns the version applied."""
        newest = self._newest_unseen()
        if newest is None or (self.applied is not None and newest.step <= self.applied.step):
            return None
        version = PolicyVersion.of(self.trainer_id, newest.step)
        try:
            self.apply(newest.checkpoint, version)
        except Exception as exc:  # noqa: BLE001 - reported, the sampler keeps its weights
            self.failures += 1
            print(f"policy follower: could not load {version} from {newest.checkpoint}: "
                  f"{type(exc).__name__}: {exc}; still serving {self.applied or 'the weights it had'}",
                  file=sys.stderr, flush=True)
            return None
        self.applied = version
        return version

    def start(self) -> "PolicyFollower":
        self._thread = threading.Thread(target=self._run, name=f"follow-{self.trainer_id}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.catch_up()
            self._stop.wait(self.poll_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None
