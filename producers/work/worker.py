"""`Worker`: `ledger worker` — runs the episodes of distributed runs, from any machine.

    follower ──▶ WorkIndex (runs, work, episodes, evals)      which runs have work; what an item needs
    per run:  group member of `work` ──▶ buffered items ──▶ decide ──▶ slot (agent + sandbox + evaluator)
              slot result ──▶ append work.done ──▶ commit the partition's offset

The worker serves every run in `batch.mode: distributed` that has open items
(or only `--run`). It joins a run's group when the run has work and leaves it
when the run has none, so runs come and go without restarting workers. Free
slots are handed to the runs in turn, so several runs share the worker's
slots evenly. For each run it starts its own proxy (loopback only) in front of
the run's upstream, as recorded in `run.started`: model traffic goes straight
from the worker to the model server, and nothing ever connects to a worker.

Stopping: SIGINT/SIGTERM stops taking items, lets the running ones finish,
acknowledges them and leaves the groups; a second signal aborts what runs
(those attempts are closed as `interrupted` by whoever runs the items next).
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TextIO

import events
from events.log import EventLog, open_log
from events.payloads import WorkDone

from .decide import Decision, decide, interrupted_finish
from .follower import LogFollower, end_offsets
from .index import WORK_TOPICS, Item, WorkIndex
from .member import Pending, RunMember, take_in_turn
from .queue import open_queue
from .setup import RunRefused, RunSetup, prepare_run
from .slots import SlotResult, Slots

__all__ = ["Worker", "WorkerOptions"]

_LEAVE_AFTER_IDLE_S = 10.0
_SYNC_TOPICS = ("work", "episodes", "evals")


@dataclass(frozen=True)
class WorkerOptions:
    log_url: str
    run_id: str | None = None
    """Serve only this run (and exit once it has finished)."""
    slots: int = 1
    name: str = ""
    max_idle_s: float | None = None
    """Exit after this many seconds with nothing to do (None: run until stopped)."""
    trace: bool = False
    """Print each run's partitions, buffered and running items every 5 s."""


@dataclass
class _Token:
    """What a slot carries for the worker: where the item came from and what was decided."""

    pending: Pending
    decision: Decision
    item: Item
    started: float
    interrupted: list[str]


class Worker:
    def __init__(self, options: WorkerOptions, out: TextIO | None = None):
        self.options = options
        self.name = options.name or f"{socket.gethostname()}-{os.getpid()}"
        self.out = out or sys.stderr
        self.log: EventLog = open_log(options.log_url)
        self.index = WorkIndex()
        self.workflows: list[Any] = []
        self.follower = LogFollower(options.log_url, (*WORK_TOPICS, "workflows"), self._apply)
        self.members: dict[str, RunMember] = {}
        self.refused: dict[str, str] = {}
        self._preparing: dict[str, Future] = {}
        self._prep_pool = ThreadPoolExecutor(2, thread_name_prefix="prepare")
        self.slots: Slots | None = None
        self._signals = 0
        self._turn = 0
        self._settling: list[_Token] = []
        """Tokens of jobs collected but not yet acknowledged (their slots are already free)."""
        self._last_trace = 0.0
        self.stats = {"ran": 0, "evaluated": 0, "already_done": 0, "failed": 0, "skipped": 0,
                      "interrupted_closed": 0, "aborted": 0}

    # -- output ------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} worker {self.name}: {text}", file=self.out, flush=True)

    def _apply(self, ev) -> None:
        self.index.apply(ev)
        if ev.type.startswith("workflow."):
            self.workflows.append(ev)

    # -- lifecycle ---------------------------------------------------------------------------
    def run(self) -> int:
        self.follower.start()
        self.slots = Slots(self.options.slots)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        self.say(f"{self.options.slots} slot(s) on {self.options.log_url}"
                 + (f", run {self.options.run_id}" if self.options.run_id else ", every distributed run"))
        try:
            return self._loop()
        finally:
            self._shutdown()

    def _on_signal(self, signum, frame) -> None:
        self._signals += 1
        if self._signals == 1:
            self.say("stopping: finishing the running items (signal again to abort them)")

    def _loop(self) -> int:
        idle_since = time.monotonic()
        while True:
            self.follower.check()
            if self._signals >= 2:
                self._abort_all("the worker was stopped")
                return 0
            self._refresh_members()
            self._poll()
            self._dispatch()
            self._collect()
            self._flush()
            if any(m.busy for m in self.members.values()) or self._preparing:
                idle_since = time.monotonic()
            self._trace()
            if self._signals and not any(m.inflight for m in self.members.values()):
                return 0
            done = self._finished_run()
            if done is not None:
                return done
            if self.options.max_idle_s is not None and time.monotonic() - idle_since > self.options.max_idle_s:
                self.say(f"idle for {self.options.max_idle_s:g}s; exiting")
                return 0

    def _trace(self) -> None:
        now = time.monotonic()
        if not self.options.trace or now - self._last_trace < 5:
            return
        self._last_trace = now
        for member in self.members.values():
            self.say(f"{self.slots.free()} free slot(s); {member.describe()}")

    def _finished_run(self) -> int | None:
        rid = self.options.run_id
        if rid is None:
            return None
        if rid in self.refused:
            return 2
        run = self.index.runs.get(rid)
        if run is not None and run.finished and run.open_items == 0 and rid not in self.members:
            self.say(f"run {rid} has finished")
            return 0
        return None

    def _shutdown(self) -> None:
        for rid in list(self.members):
            try:
                self._leave(rid)
            except Exception as exc:  # the items stay uncommitted: the next holder runs them
                self.say(f"could not leave run {rid} cleanly: {type(exc).__name__}: {exc}")
        self._prep_pool.shutdown(wait=False, cancel_futures=True)
        for fut in self._preparing.values():
            if fut.done() and fut.exception() is None:
                fut.result().proxy.stop()
        if self.slots is not None:
            self.slots.close()
        self.follower.stop()
        self.log.close()
        self.say("stopped · " + " · ".join(f"{k} {v}" for k, v in self.stats.items()))

    # -- runs: join, leave -------------------------------------------------------------------
    def _wanted(self) -> list[str]:
        """Runs with open items (a run started on the local pool and resumed distributed has them
        too); with `--run`, a distributed run from its start until it has finished."""
        only = self.options.run_id
        with self.index.lock:
            return [rid for rid, run in self.index.runs.items()
                    if run.manifest is not None and rid not in self.refused and only in (None, rid)
                    and (run.open_items > 0 or (rid == only and run.distributed and not run.finished))]

    def _refresh_members(self) -> None:
        if self._signals:
            return
        wanted = self._wanted()
        for rid in wanted:
            if rid not in self.members and rid not in self._preparing:
                run = self.index.run(rid)
                self._preparing[rid] = self._prep_pool.submit(prepare_run, run.config, run.manifest, rid,
                                                              self.options.log_url)
        for rid, fut in list(self._preparing.items()):
            if fut.done():
                del self._preparing[rid]
                self._join(rid, fut)
        now = time.monotonic()
        for rid, member in list(self.members.items()):
            if rid in wanted or member.busy:
                member.idle_since = None
            elif member.idle_since is None:
                member.idle_since = now
            elif now - member.idle_since > _LEAVE_AFTER_IDLE_S:
                self._leave(rid)

    def _join(self, rid: str, fut: Future) -> None:
        try:
            setup = fut.result()
        except RunRefused as exc:
            self.refused[rid] = str(exc)
            self.say(f"cannot serve run {rid}: {exc}")
            return
        member = RunMember(setup)
        member.queue = open_queue(self.log, rid, lambda parts, m=member: self._assigned(m, parts),
                                  lambda parts, m=member: self._revoked(m, parts))
        self.members[rid] = member
        self.slots.prepare(setup.config)
        self.say(f"joined run {rid} (group {member.queue.group})")

    def _leave(self, rid: str) -> None:
        member = self.members.pop(rid)
        self._flush_member(member)
        member.queue.close()
        member.setup.proxy.stop()
        self.say(f"left run {rid}")

    def _assigned(self, member: RunMember, parts: set[int]) -> None:
        member.assigned(parts)
        if parts:
            self.say(f"holds partitions {sorted(member.held)} of run {member.run_id}'s work")

    def _revoked(self, member: RunMember, parts: set[int]) -> None:
        """Partitions moving to another worker: abort their running items now, before the new holder
        can be given them (it closes those attempts as interrupted and runs the items again)."""
        if not parts:
            return
        aborted = self.slots.abort(lambda t: t.pending.run_id == member.run_id and t.pending.partition in parts)
        member.inflight -= len(aborted)
        self.stats["aborted"] += len(aborted)
        member.revoked(parts)
        self.say(f"gave up partitions {sorted(parts)} of run {member.run_id}'s work")
        for token in aborted:
            self.say(f"aborted {token.decision.episode_id}: partition {token.pending.partition} "
                     f"of run {member.run_id} moved to another worker")

    def _abort_all(self, why: str) -> None:
        aborted = self.slots.abort(lambda t: True)
        for token in aborted:
            self.members[token.pending.run_id].inflight -= 1
            self.say(f"aborted {token.decision.episode_id}: {why}")
        self.stats["aborted"] += len(aborted)

    # -- items in ----------------------------------------------------------------------------
    def _poll(self) -> None:
        members = list(self.members.values())
        if not members:
            time.sleep(0.05)
            return
        free = 0 if self._signals else self.slots.free()
        for member in members:
            room = 0 if self._signals else max(0, self.options.slots - len(member.buffer))
            member.queue.pause(room == 0)
            timeout = 0.05 / len(members) if free and room else 0.0
            for rec in member.queue.poll(max_records=room or 1, timeout_s=timeout):
                ev = rec.event
                mine = ev.type == "episode.scheduled" and ev.run_id == member.run_id
                member.polled(rec.partition, rec.offset, ev if mine else None)
            self._sync(member)

    def _sync(self, member: RunMember) -> None:
        """Newly held partitions become ready once the index has caught up with the log as it is
        now; the end offsets are read off the main loop (slow on a loaded broker) and waited for."""
        if member.unsynced:
            ends = self._prep_pool.submit(end_offsets, self.log, _SYNC_TOPICS)
            for p in member.unsynced:
                member.ready_after[p] = ends
            member.unsynced.clear()

    def _dispatch(self) -> None:
        if self._signals:
            return
        members = list(self.members.values())
        while self.slots.free() and members:
            picked = take_in_turn(members, self._turn, self.follower.caught_up)
            if picked is None:
                return
            self._turn, member, pending = picked
            self._take(member, pending)

    def _take(self, member: RunMember, pending: Pending) -> None:
        p = pending.event.payload
        if any(t.pending.run_id == member.run_id and t.item.pair == (p.instance_id, p.sample_idx)
               for t in [*self.slots.busy_tokens(), *self._settling]):
            # a repeated delivery of an item running here, or whose result is being acknowledged (a
            # pair never has two open items): that one acknowledges it; deciding now would take its
            # live attempt for a dead one, or run the pair again before its result is in the index
            self.stats["skipped"] += 1
            member.settled(pending.partition, pending.offset)
            return
        run = self.index.run(member.run_id)
        with self.index.lock:
            item = run.items.get(p.episode_id) or Item(pending.event.id, p.episode_id, p.instance_id,
                                                       p.sample_idx, p.attempt, p.seed, p.seq, p.planned)
            max_interrupted = (run.config.get("batch") or {}).get("max_interrupted", 10)
            decision = decide(member.run_id, item, run.pair(item.pair), max_interrupted)
        started = time.monotonic()
        interrupted = self._close_dead(member.run_id, item, decision)
        if decision.action == "skip":
            self.stats["skipped"] += 1
            member.settled(pending.partition, pending.offset)
        elif decision.action in ("already_done", "fail"):
            outcome = "failed" if decision.action == "fail" else "already_done"
            self._done(member, pending, item, outcome, started, interrupted, error=decision.error)
        else:
            token = _Token(pending, decision, item, started, interrupted)
            slot = self.slots.submit(self._job(member.setup, item, decision), token)
            member.inflight += 1
            self.say(f"running {decision.episode_id} ({'evaluate ' if decision.action == 'evaluate' else ''}"
                     f"{item.instance_id} sample {item.sample_idx} attempt {decision.attempt}) "
                     f"of run {member.run_id} in slot {slot}")

    def _close_dead(self, run_id: str, item: Item, decision: Decision) -> list[str]:
        closed = [interrupted_finish(run_id, item.instance_id, item.sample_idx, attempt, episode_id,
                                     producer=f"worker.{self.name}",
                                     why="its worker or orchestrator died before it finished")
                  for attempt, episode_id in decision.interrupt]
        if closed:
            self.log.append("episodes", closed)
            for ev in closed:
                self.index.apply(ev)
                self.say(f"closed {ev.payload.episode_id} as interrupted")
            self.stats["interrupted_closed"] += len(closed)
        return [ev.payload.episode_id for ev in closed]

    def _job(self, setup: RunSetup, item: Item, decision: Decision):
        from producers.orchestrator.worker import WorkerJob

        return WorkerJob(config=setup.config, kind="episode" if decision.action == "run" else "evaluate",
                         instance_id=item.instance_id, sample_idx=item.sample_idx, seed=item.seed,
                         attempt=decision.attempt, episode_id=decision.episode_id,
                         finished_event_id=decision.finished_id, patch=decision.patch,
                         proxy_url=setup.proxy.base_url(decision.episode_id), proxy_token=setup.proxy.token,
                         memory=self._memory(setup, item.instance_id))

    def _memory(self, setup: RunSetup, instance_id: str) -> str:
        from projections.memory import WorkflowMemory

        awm = setup.config.get("awm") or {}
        if not awm.get("enabled", True) or not self.workflows:
            return ""
        memory = WorkflowMemory(max_workflows=awm.get("max_workflows", 50))
        for ev in list(self.workflows):
            memory.apply_event(ev)
        scope = (setup.config.get("agent") or {}).get("memory_scope") or setup.repos.get(instance_id, "")
        return memory.render(scope)

    # -- results out -------------------------------------------------------------------------
    def _collect(self) -> None:
        """Results of finished jobs; the freed slots get their next items before the results are
        acknowledged (the acknowledgement's round trips are not on the next episode's path)."""
        busy = self.slots.free() < self.slots.size
        results = self.slots.collect(0.1 if busy else 0.0)
        self.slots.respawn()
        if not results:
            return
        self._settling = [r.token for r in results]
        try:
            self._dispatch()
            for result in results:
                self._finish(result)
        finally:
            self._settling = []

    def _finish(self, result: SlotResult) -> None:
        token: _Token = result.token
        member = self.members.get(token.pending.run_id)
        if member is None:
            return
        member.inflight -= 1
        if token.pending.partition not in member.held:
            return  # revoked meanwhile: the next holder acknowledges it
        d = token.decision
        if result.ok:
            outcome = "ran" if d.action == "run" else "evaluated"
            verdict = "resolved" if result.value["resolved"] else "not resolved"
            if result.value.get("status") == "infra":
                verdict = f"infrastructure error ({result.value.get('infra_cause') or 'unknown'})"
            self.say(f"done {d.episode_id}: {verdict}")
            self._done(member, token.pending, token.item, outcome, token.started, token.interrupted,
                       ran=d.episode_id, attempt=d.attempt)
        else:
            self.say(f"failed {d.episode_id}: {str(result.value).strip().splitlines()[0]}")
            self._done(member, token.pending, token.item, "failed", token.started, token.interrupted,
                       error=str(result.value)[:4000])

    def _done(self, member: RunMember, pending: Pending, item: Item, outcome: str, started: float,
              interrupted: list[str], *, ran: str = "", attempt: int = 0, error: str = "") -> None:
        done = events.new(WorkDone(
            episode_id=item.episode_id, instance_id=item.instance_id, sample_idx=item.sample_idx,
            outcome=outcome, ran=ran, attempt=attempt, interrupted=interrupted, worker=self.name,
            duration_s=round(time.monotonic() - started, 6), error=error),
            producer=f"worker.{self.name}", run_id=member.run_id, parent=item.event_id or None)
        self.stats[outcome] += 1
        member.settled(pending.partition, pending.offset)
        self.index.apply(done)
        self._flush_member(member, [done])

    def _flush(self) -> None:
        for member in self.members.values():
            if member.dirty:
                self._flush_member(member)

    def _flush_member(self, member: RunMember, outputs: list | None = None) -> None:
        offsets = member.committable()
        if outputs or offsets:
            if member.queue.ack(offsets, outputs or []):
                member.dirty.clear()
