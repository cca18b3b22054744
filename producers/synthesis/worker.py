"""The synthesis's units of work, run in worker processes (spawned, dying with the parent).

Each worker opens the log itself and appends the event of the step it finished,
with the step's deterministic id: a step done twice (the parent was killed after
the append) is appended once. Nothing but a short summary goes back to the parent.
"""
from __future__ import annotations

import hashlib
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import events
from events.log import EventLog, open_log
from events.payloads import SynthesisBaseline, TaskRejected, TaskSynthesized

from .baseline import Prepared, prepare, run_baseline
from .candidates import Candidate
from .config import SynthConfig
from .statement import model_statement
from .validate import Accepted, ValidationInput, validate

__all__ = ["PrepareJob", "ValidateJob", "event_id", "prepare_job", "validate_job", "sandbox_factory",
           "sandbox_root"]

_NS = uuid.UUID("5d0c1f4e-7c1b-4f55-8a53-3b1e2f6a9c20")
_cache: dict[str, Any] = {}


def event_id(synth_id: str, *parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join([synth_id, *parts])))


@dataclass(frozen=True)
class PrepareJob:
    config: dict[str, Any]
    log_url: str
    project: str
    """The project's slug."""
    work_dir: str


@dataclass(frozen=True)
class ValidateJob:
    config: dict[str, Any]
    log_url: str
    project: str
    work_dir: str
    candidate: Candidate
    passed: frozenset[str]
    test_files: list[str]
    proxy_url: str = ""
    """For `statements: model`: the proxy's base URL with `{episode}` to fill in."""
    proxy_token: str = ""


def _setup(config: dict[str, Any], log_url: str) -> tuple[SynthConfig, EventLog]:
    key = repr((sorted(config.items()), log_url))
    if _cache.get("key") != key:
        if "log" in _cache:
            _cache["log"].close()
        _cache.clear()
        _cache.update(key=key, config=SynthConfig.model_validate(config), log=open_log(log_url))
    return _cache["config"], _cache["log"]


def sandbox_root(work_dir: str | Path) -> Path:
    """Where a synthesis's sandboxes live: under the system temp dir, one folder per work
    directory. Not inside the output: a pytest config in a directory above a checkout (the
    output is often inside a project, this one included) would become the suite's config."""
    digest = hashlib.sha256(str(Path(work_dir).resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"ledger-synth-{digest}"


def sandbox_factory(config: SynthConfig, work_dir: str):
    from producers.sandbox.isolation import Rlimits
    from producers.sandbox.local import LocalSandboxFactory

    timeout = int(config.candidate_timeout) + 60
    return LocalSandboxFactory(root=sandbox_root(work_dir), output_cap=1 << 20,
                               rlimits=Rlimits(cpu_s=timeout, memory_bytes=4 << 30), network=False)


def _prepared(config: SynthConfig, slug: str) -> Prepared:
    key = f"prepared:{slug}"
    if key not in _cache:
        project = next(p for p in config.projects if p.slug == slug)
        _cache[key] = prepare(config, project)
    return _cache[key]


def prepare_job(job: PrepareJob) -> dict[str, Any]:
    """Sdist, repository, environment and the suite at base; appends `synthesis.baseline`."""
    config, log = _setup(job.config, job.log_url)
    start = time.monotonic()
    prepared = _prepared(config, job.project)
    baseline = run_baseline(prepared, sandbox_factory(config, job.work_dir), config.baseline_timeout)
    project = prepared.project
    payload = SynthesisBaseline(
        synth_id=config.id, project=project.slug, version=project.version, repo=project.repo,
        sdist_sha256=prepared.sdist.sha256, base_commit=prepared.repo.pristine,
        environment_digest=prepared.environment.digest, passed=baseline.passed, flaky=baseline.flaky,
        failing=baseline.failing, coverage=baseline.coverage,
        duration_s=round(time.monotonic() - start, 3))
    event = events.new(payload, producer="synthesis", run_id=config.id,
                       id=event_id(config.id, project.slug, "baseline"))
    log.append("synthesis", [event])
    return payload.model_dump()


def validate_job(job: ValidateJob) -> dict[str, Any]:
    """Validate one candidate; appends `task.synthesized` or `task.rejected`."""
    config, log = _setup(job.config, job.log_url)
    start = time.monotonic()
    prepared = _prepared(config, job.project)
    project, cand = prepared.project, job.candidate
    files = job.test_files
    verdict = validate(ValidationInput(
        candidate=cand, repo=prepared.repo, environment=prepared.environment, passed=job.passed,
        test_files=files, scope=config.pass_to_pass, timeout_s=config.candidate_timeout,
        commit_message=project.commit_message), sandbox_factory(config, job.work_dir))
    common = dict(synth_id=config.id, project=project.slug, candidate_id=cand.candidate_id,
                  order=cand.order, modifier=cand.modifier, file=cand.file, entity=cand.entity,
                  patch_sha256=cand.patch_sha256)
    if isinstance(verdict, Accepted):
        instance_id = f"{project.slug}__{cand.modifier}-{cand.patch_sha256[:8]}"
        statement, source = _statement(config, job, instance_id, verdict)
        payload: Any = TaskSynthesized(
            **common, instance_id=instance_id, repo=project.repo, base_commit=verdict.base_commit,
            environment_setup_commit=prepared.repo.pristine, version=project.version,
            patch=verdict.patch, FAIL_TO_PASS=verdict.fail_to_pass, PASS_TO_PASS=verdict.pass_to_pass,
            problem_statement=statement, statement_source=source,
            duration_s=round(time.monotonic() - start, 3))
    else:
        payload = TaskRejected(**common, reason=verdict.reason, detail=verdict.detail,
                               duration_s=round(time.monotonic() - start, 3))
    event = events.new(payload, producer="synthesis", run_id=config.id,
                       id=event_id(config.id, project.slug, cand.candidate_id))
    log.append("synthesis", [event])
    return {"project": project.slug, "candidate_id": cand.candidate_id, "order": cand.order,
            "accepted": isinstance(verdict, Accepted),
            "reason": "" if isinstance(verdict, Accepted) else verdict.reason}


def _statement(config: SynthConfig, job: ValidateJob, instance_id: str,
               verdict: Accepted) -> tuple[str, str]:
    if config.statements != "model":
        return verdict.problem_statement, "template"
    episode = f"synth.{instance_id}"
    try:
        text = model_statement(job.proxy_url.format(episode=episode), job.proxy_token,
                               config.model_name, verdict.problem_statement)
    except Exception as exc:  # the openai SDK raises many types; the task stays valid
        return verdict.problem_statement, f"template (model call failed: {type(exc).__name__})"
    if not text:
        return verdict.problem_statement, "template (the model wrote nothing)"
    return text, f"model:{episode}"
