"""The synthesis driver: prepare projects and validate candidates in a worker pool, then
write the dataset from the events.

    synthesis.started ─▶ per project: synthesis.baseline (sdist, repo, env, suite x2)
                      ─▶ candidates in seeded order ─▶ task.synthesized | task.rejected
                      ─▶ dataset (first max_per_project accepted per project) ─▶ synthesis.finished

Resuming is the same path: what has an event is not done again, and the candidate
order is recomputed from the seed, so a synthesis killed any number of times ends
with the same tasks as one that never was.
"""
from __future__ import annotations

import fcntl
import multiprocessing
import os
import shutil
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

import events
from events.log import EventLog
from events.payloads import SynthesisBaseline, SynthesisFinished, SynthesisStarted, TaskRejected

from .baseline import project_repo
from .candidates import Candidate, candidate_stream, resolve_modifiers
from .config import ProjectConfig, SynthConfig, synth_config_digest
from .dataset import select_tasks, write_dataset
from .state import SynthState, read_state
from .worker import PrepareJob, ValidateJob, event_id, prepare_job, sandbox_root, validate_job

__all__ = ["Synthesis", "SynthesisResult", "SynthesisMismatch", "SynthesisBusy"]


class SynthesisMismatch(RuntimeError):
    """The synthesis id exists in the log with a different config."""


class SynthesisBusy(RuntimeError):
    """Another process is running this synthesis."""


@dataclass
class SynthesisResult:
    synth_id: str
    out_dir: Path | None = None
    count: int = 0
    manifest_sha256: str = ""
    per_project: dict[str, int] = field(default_factory=dict)
    per_modifier: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    candidates: int = 0
    errors: list[str] = field(default_factory=list)
    duration_s: float = 0.0


class _Queue:
    """One project's candidates: the seeded stream, what is decided, what is in flight."""

    def __init__(self, project: ProjectConfig, stream: Iterator[Candidate], decided: dict[str, bool],
                 config: SynthConfig, baseline: SynthesisBaseline):
        self.project, self.stream, self.decided = project, stream, decided
        self.passed = frozenset(baseline.passed)
        self.coverage = baseline.coverage
        self.max_tasks, self.max_candidates = config.max_per_project, config.max_candidates_per_project
        self.sequence: list[str] = []
        self.inflight: set[str] = set()
        self.patches: dict[str, str] = {}
        self.exhausted = False

    def _accepted(self) -> int:
        return sum(1 for cid in self.sequence if self.decided.get(cid))

    def wants_more(self) -> bool:
        """More candidates are needed even if everything in flight is accepted."""
        return (not self.exhausted and len(self.sequence) < self.max_candidates
                and self._accepted() + len(self.inflight) < self.max_tasks)

    def pull(self) -> tuple[str, Candidate] | None:
        """("validate" | "duplicate", candidate), or None when no more is wanted now."""
        while self.wants_more():
            try:
                cand = next(self.stream)
            except StopIteration:
                self.exhausted = True
                return None
            self.sequence.append(cand.candidate_id)
            first = self.patches.setdefault(cand.patch_sha256, cand.candidate_id)
            if cand.candidate_id in self.decided:
                continue
            if first != cand.candidate_id:
                return "duplicate", cand
            return "validate", cand
        return None

    @property
    def done(self) -> bool:
        return not self.inflight and not self.wants_more()


class Synthesis:
    def __init__(self, config: SynthConfig, log: EventLog, log_url: str, console: Console | None = None):
        resolve_modifiers(config.modifiers)  # an unknown name fails before anything runs
        self.config, self.log, self.log_url = config, log, log_url
        self.console = console or Console(stderr=True)
        self.out_dir = Path(config.output) / config.id
        self.work_dir = Path(config.output) / f".{config.id}.work"
        self.snapshot = config.model_dump(mode="json")
        self.errors: list[str] = []

    def run(self) -> SynthesisResult:
        start = time.monotonic()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.work_dir / "lock", self.config.id):
            self._start()
            _reap_sandboxes(sandbox_root(self.work_dir))
            state = read_state(self.log, self.config.id)
            proxy = self._proxy() if self.config.statements == "model" else None
            try:
                self._pool(state)
            finally:
                if proxy is not None:
                    proxy.stop()
            return self._finish(read_state(self.log, self.config.id), time.monotonic() - start)

    # -- start -------------------------------------------------------------------------
    def _start(self) -> None:
        digest = synth_config_digest(self.config)
        state = read_state(self.log, self.config.id)
        if state.started is not None:
            if state.started.config_sha256 != digest:
                raise SynthesisMismatch(f"synthesis {self.config.id!r} already exists in the log with a "
                                        "different config; use a new id or the original config")
            self.console.print(f"resuming synthesis [bold]{self.config.id}[/] from the log")
            return
        payload = SynthesisStarted(synth_id=self.config.id, config=self.snapshot, config_sha256=digest)
        self.log.append("synthesis", [events.new(payload, producer="synthesis", run_id=self.config.id,
                                                 id=event_id(self.config.id, "started"))])

    def _proxy(self):
        from producers.proxy.server import ProxyServer

        self._proxy_server = ProxyServer(self.log_url, self.config.model_upstream, run_id=self.config.id).start()
        return self._proxy_server

    # -- the pool ------------------------------------------------------------------------
    def _pool(self, state: SynthState) -> None:
        from producers.orchestrator.worker import init_worker

        ctx = multiprocessing.get_context("spawn")
        queues: dict[str, _Queue] = {}
        pending: dict[Future, tuple[str, str, str]] = {}
        with ProcessPoolExecutor(self.config.workers, mp_context=ctx, initializer=init_worker) as pool:
            for project in self.config.projects:
                if project.slug in state.baselines:
                    queues[project.slug] = self._queue(project, state.baselines[project.slug], state)
                else:
                    job = PrepareJob(self.snapshot, self.log_url, project.slug, str(self.work_dir))
                    pending[pool.submit(prepare_job, job)] = ("prepare", project.slug, "")
            while True:
                self._fill(pool, pending, queues, state)
                if not pending:
                    break
                finished, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in finished:
                    self._observe(fut, pending.pop(fut), queues, state)

    def _queue(self, project: ProjectConfig, baseline: SynthesisBaseline, state: SynthState) -> _Queue:
        repo = project_repo(self.config, project)
        stream = candidate_stream(repo.path, project.source, baseline.coverage, self.config.modifiers,
                                  self.config.seed, project.slug, self.config.variants)
        return _Queue(project, stream, state.decided(project.slug), self.config, baseline)

    def _fill(self, pool: ProcessPoolExecutor, pending: dict, queues: dict[str, _Queue],
              state: SynthState) -> None:
        limit = self.config.workers * 2
        progressed = True
        while progressed and len(pending) < limit:
            progressed = False
            for slug, queue in queues.items():
                if len(pending) >= limit:
                    break
                item = queue.pull()
                if item is None:
                    continue
                progressed = True
                kind, cand = item
                if kind == "duplicate":
                    self._duplicate(queue, cand)
                    continue
                queue.inflight.add(cand.candidate_id)
                pending[pool.submit(validate_job, self._job(queue, cand))] = ("validate", slug, cand.candidate_id)

    def _job(self, queue: _Queue, cand: Candidate) -> ValidateJob:
        passed = queue.passed
        if self.config.pass_to_pass == "suite":
            files = sorted({t.split("::", 1)[0] for t in passed})
        else:
            files = queue.coverage[cand.key]
        proxy = getattr(self, "_proxy_server", None)
        return ValidateJob(self.snapshot, self.log_url, queue.project.slug, str(self.work_dir), cand,
                           passed, files, proxy_url=proxy.base_url("{episode}") if proxy else "",
                           proxy_token=proxy.token if proxy else "")

    def _duplicate(self, queue: _Queue, cand: Candidate) -> None:
        first = queue.patches[cand.patch_sha256]
        payload = TaskRejected(synth_id=self.config.id, project=queue.project.slug,
                               candidate_id=cand.candidate_id, order=cand.order, modifier=cand.modifier,
                               file=cand.file, entity=cand.entity, reason="duplicate",
                               detail=f"the same patch as candidate {first}", patch_sha256=cand.patch_sha256)
        self.log.append("synthesis", [events.new(payload, producer="synthesis", run_id=self.config.id,
                                                 id=event_id(self.config.id, queue.project.slug,
                                                             cand.candidate_id))])
        queue.decided[cand.candidate_id] = False

    def _observe(self, fut: Future, what: tuple[str, str, str], queues: dict[str, _Queue],
                 state: SynthState) -> None:
        kind, slug, cid = what
        try:
            result = fut.result()
        except Exception as exc:  # reported; the step has no event, so a rerun retries it
            self.errors.append(f"{slug}{' ' + cid if cid else ''}: {type(exc).__name__}: {exc}")
            self.console.print(f"[red]{kind} {slug} {cid} failed:[/] {type(exc).__name__}: {exc}")
            if kind == "validate":
                queues[slug].inflight.discard(cid)
                queues[slug].exhausted = True  # its order prefix cannot complete this time
            return
        if kind == "prepare":
            baseline = SynthesisBaseline.model_validate(result)
            state.baselines[slug] = baseline
            project = next(p for p in self.config.projects if p.slug == slug)
            queues[slug] = self._queue(project, baseline, state)
            self.console.print(f"{slug}: {len(baseline.passed)} tests kept, {len(baseline.flaky)} flaky, "
                               f"{len(baseline.failing)} failing at base, "
                               f"{len(baseline.coverage)} covered entities ({baseline.duration_s:.0f}s)")
            return
        queue = queues[slug]
        queue.inflight.discard(cid)
        queue.decided[cid] = bool(result["accepted"])

    # -- finish ----------------------------------------------------------------------------
    def _finish(self, state: SynthState, duration: float) -> SynthesisResult:
        result = SynthesisResult(self.config.id, errors=list(self.errors), duration_s=round(duration, 3))
        missing = [p.slug for p in self.config.projects if p.slug not in state.baselines]
        if missing:
            result.errors.append(f"projects not prepared: {', '.join(missing)}")
        rejected = [r for per in state.rejected.values() for r in per.values()]
        result.rejected = dict(sorted(Counter(r.reason for r in rejected).items()))
        result.candidates = len(rejected) + sum(len(a) for a in state.accepted.values())
        if result.errors:
            return result
        tasks = select_tasks(state, self.config)
        repos = {p.slug: project_repo(self.config, p) for p in self.config.projects}
        manifest = write_dataset(self.out_dir, tasks, state, self.config, repos)
        result.out_dir, result.count, result.manifest_sha256 = self.out_dir, len(tasks), manifest.sha256
        result.per_project = dict(Counter(t.project for t in tasks))
        result.per_modifier = dict(sorted(Counter(t.modifier for t in tasks).items()))
        payload = SynthesisFinished(synth_id=self.config.id, dataset_sha256=manifest.sha256, count=len(tasks),
                                    per_project=result.per_project, per_modifier=result.per_modifier,
                                    rejected=result.rejected, candidates=result.candidates,
                                    duration_s=result.duration_s)
        self.log.append("synthesis", [events.new(payload, producer="synthesis", run_id=self.config.id,
                                                 id=event_id(self.config.id, "finished", manifest.sha256))])
        return result


class _exclusive:
    """A non-blocking flock held for the synthesis's lifetime (released by the kernel if killed)."""

    def __init__(self, path: Path, synth_id: str):
        self.path, self.synth_id = path, synth_id

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise SynthesisBusy(f"synthesis {self.synth_id!r} is already running ({self.path})") from None

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _reap_sandboxes(root: Path) -> None:
    """Sandboxes left by a killed synthesis: their test processes (own sessions, so they
    outlived the workers) are killed by their sandbox's HOME, then the directories go."""
    if not root.is_dir():
        return
    dirs = [d for d in root.iterdir() if d.is_dir()]
    homes = {f"HOME={path}/home".encode() for d in dirs for path in (d, d.resolve(), d.absolute())}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if environ & homes:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    time.sleep(0.1)
    for d in root.iterdir():
        shutil.rmtree(d, ignore_errors=True)
