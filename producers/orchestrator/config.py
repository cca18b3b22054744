"""RunConfig: the one file that describes a run (seed 002, R1-1).

Loaded from YAML and validated by pydantic. Every error names the field and the
line of the file it came from; an invalid config exits with code 2 before
anything is written to the log.
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from events.ids import NAME_CHARS, is_name

__all__ = ["RunConfig", "ConfigError", "load_config", "expand_param_search"]

_KAFKA = re.compile(r"^kafka://[A-Za-z0-9_.-]+:\d{1,5}(,[A-Za-z0-9_.-]+:\d{1,5})*(\?.*)?$")


class ConfigError(ValueError):
    """An invalid run config; the message names the file, line and field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunSection(_Section):
    id: str
    """Run id: letters, digits, `_`, `.`, `-`; reusing an id resumes that run."""
    mode: Literal["eval", "param_search", "rl"] = "eval"
    """`eval` runs the dataset once; `param_search` expands `param_search.grid` into sub-runs;
    `rl` runs the toy RL loop (configs/demo-rl.yaml)."""

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not is_name(v):
            raise ValueError(f"must be {NAME_CHARS}")
        return v


class ModelSection(_Section):
    upstream: str = "demo"
    """Upstream spec: `demo`, `openai:URL`, `hf:PATH|tiny`, `callable:module:attr`, `replay:LOG_URL`."""
    name: str = "demo-scripted"
    """Model name sent to the upstream and recorded in events and the score index."""
    follow_policy: str | None = None
    """Trainer id whose `policy.updated` checkpoints the run's proxy loads (hf:, or openai: on a vLLM
    server in dev mode); responses are stamped {trainer_id, step}. `run.mode: rl` sets it to its trainer."""

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, v: str) -> str:
        head = v.split(":", 1)[0]
        if head not in ("demo", "openai", "hf", "callable", "replay"):
            raise ValueError(f"unknown upstream kind {head!r}; expected demo, openai:URL, hf:PATH, "
                             "callable:module:attr or replay:LOG_URL")
        if head == "openai" and not re.match(r"^openai:https?://", v):
            raise ValueError("openai upstream needs an http(s) URL, e.g. openai:http://127.0.0.1:8000/v1")
        return v


class DatasetSection(_Section):
    source: str = "bundled"
    """`bundled`, `swebench-mini` (a mini SWE-bench, offline), a local .json/.jsonl/.parquet file, or a
    hub name like princeton-nlp/SWE-bench_Lite."""
    split: str = "test"
    revision: str | None = None
    """Hub revision to pin (recorded in the manifest either way)."""
    instance_filter: str | None = None
    """Regular expression an instance id must match (search, not full match)."""
    limit: int | None = Field(None, ge=1)
    """Take at most this many instances (after the filter)."""
    cache_dir: str = ".ledger/cache"
    """Where datasets and bundled repositories are prepared."""
    repos: str | None = None
    """Where the repositories of rows without a local `repo_path` are: a directory of git
    mirrors (`<owner>__<name>.git` or `<owner>/<name>`) or a URL template such as
    `https://github.com/{repo}.git`; each episode fetches only its base commit."""
    environments: str | None = None
    """An environment table (YAML/JSON: defaults, per repo/version, per instance; see
    producers/environments): each instance's tests run in its venv, built once per (repo,
    version, spec digest), in the episode and in the evaluation (local sandboxes)."""
    validation: Literal["off", "skip", "refuse"] = "off"
    """Before any model call, check that each instance can be judged (its tests fail at base
    and pass with the gold patch, `ledger datasets validate`): `skip` records the ones that
    cannot as infrastructure errors and runs the rest; `refuse` runs nothing if any cannot."""

    @field_validator("environments")
    @classmethod
    def _environments(cls, v: str | None) -> str | None:
        if v is not None:
            from producers.environments import EnvironmentTable, SpecError

            try:
                EnvironmentTable.load(v)
            except SpecError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("instance_filter")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class AgentSection(_Section):
    runner: Literal["bash", "mini-swe-agent", "swe-agent"] = "bash"
    """Which agent runs the episodes."""
    max_steps: int = Field(30, ge=1)
    """Model calls per episode (the recipe's max_steps)."""
    max_turns: int = Field(30, ge=1)
    """Agent turns per episode (the recipe's max_turns)."""
    execution_timeout: float = Field(30.0, gt=0)
    """Seconds one command may run."""
    swe_agent_timeout: float = Field(600.0, gt=0)
    """Seconds a whole episode may run."""
    memory_scope: str | None = None
    """Inject workflow memory of this scope (default: the instance's repo) when memory exists."""


class SandboxSection(_Section):
    kind: Literal["local", "docker"] = "local"
    """`local` (temp git checkout, rlimits, unshare -n) or `docker`."""
    image: str | None = None
    """Docker image (docker only); `swebench`: each instance's own image from the official
    harness (its test spec's name), the agent and the evaluation each in a fresh container."""
    build_images: bool = False
    """With `image: swebench`: build a missing image with the harness's builder (docker buildx)
    from `task_repo`; otherwise a missing image is pulled."""
    task_repo: str | None = None
    """A harness task repo (`tasks/<instance_id>/Dockerfile`) to build images from."""
    memory: str = "2g"
    """Memory limit (docker; the local sandbox maps it to RLIMIT_AS)."""
    startup_timeout: float = Field(120.0, gt=0)
    """Seconds to wait for a docker container to start."""
    output_cap: int = Field(1_000_000, ge=1024)
    """Bytes of command output kept per command (the rest is counted, not kept)."""


class SamplingSection(_Section):
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(1024, ge=1)
    n: int = Field(1, ge=1)
    """Samples per instance."""
    k: list[int] = [1]
    """k values for pass@k / avg@k; each must be <= n."""

    @field_validator("k")
    @classmethod
    def _k(cls, v: list[int]) -> list[int]:
        if not v or any(k < 1 for k in v):
            raise ValueError("k values must be positive integers")
        return sorted(set(v))

    @model_validator(mode="after")
    def _k_le_n(self) -> "SamplingSection":
        too_big = [k for k in self.k if k > self.n]
        if too_big:
            raise ValueError(f"k={too_big} larger than n={self.n}: pass@k needs at least k samples")
        return self


class BatchSection(_Section):
    workers: int = Field(2, ge=1, le=64)
    """Episode worker processes."""
    max_consecutive_infra_errors: int = Field(5, ge=0)
    """Stop the run after this many pairs in a row ended in infrastructure errors (upstream
    unreachable, repository missing...) instead of burning the whole dataset; 0 never stops."""


class ResumePolicy(_Section):
    on_unfinished: Literal["retry", "skip", "fail"] = "retry"
    """What to do with an episode that started and never finished."""
    max_attempts: int = Field(3, ge=1)
    """Attempts per (instance, sample) before it is given up (retry only)."""


class AwmSection(_Section):
    """Agent Workflow Memory online loop (seed 004)."""

    enabled: bool = True
    """Induce workflows from successes and inject them into the agent's system prompt."""
    induction_trigger_count: int = Field(10, ge=1)
    """Successes per memory scope between two inductions (the seed's default 10)."""
    max_workflows: int = Field(50, ge=1)
    """Workflows kept per memory scope; older ones are evicted."""
    inducer: Literal["heuristic", "model"] = "heuristic"
    """`model` asks the run's model (through the proxy) to induce; `heuristic` needs no model."""


class ParamSearch(_Section):
    grid: dict[Literal["temperature", "top_p", "max_tokens"], list[float | int]] = {}
    """Sampling fields to sweep; every combination becomes a sub-run `<id>.<field>=<value>...`."""


class RunConfig(_Section):
    run: RunSection
    model: ModelSection = ModelSection()
    dataset: DatasetSection = DatasetSection()
    agent: AgentSection = AgentSection()
    sandbox: SandboxSection = SandboxSection()
    sampling: SamplingSection = SamplingSection()
    batch: BatchSection = BatchSection()
    resume_policy: ResumePolicy = ResumePolicy()
    awm: AwmSection = AwmSection()
    param_search: ParamSearch | None = None
    log: str = "sqlite:///.ledger/ledger.db"
    """Log URL: sqlite:///PATH or kafka://HOST:PORT[,HOST:PORT]."""
    lake: str = ".ledger/lake"
    """Parquet lake directory (projections, score index)."""
    artifacts: str = ".ledger/artifacts"
    """Where trajectories, memory.json and other files go."""
    rl: dict[str, Any] | None = None
    """Options of the toy RL loop (run.mode: rl)."""

    @field_validator("resume_policy", mode="before")
    @classmethod
    def _policy_shorthand(cls, v: Any) -> Any:
        return {"on_unfinished": v} if isinstance(v, str) else v

    @field_validator("log")
    @classmethod
    def _log_url(cls, v: str) -> str:
        if v.startswith("sqlite:///") and len(v) > len("sqlite:///"):
            return v
        if _KAFKA.match(v):
            return v
        raise ValueError("must be sqlite:///PATH or kafka://HOST:PORT[,HOST:PORT]")

    @model_validator(mode="after")
    def _modes(self) -> "RunConfig":
        if self.run.mode == "param_search" and not (self.param_search and self.param_search.grid):
            raise ValueError("run.mode param_search needs a non-empty param_search.grid")
        if self.sandbox.kind == "docker" and not self.sandbox.image:
            raise ValueError("sandbox.kind docker needs sandbox.image")
        if self.sandbox.kind != "docker" and self.sandbox.image == "swebench":
            raise ValueError("sandbox.image swebench (the harness's per-instance images) needs sandbox.kind docker")
        return self


def _line_index(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map every key path in a YAML document to its 1-based line."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, key.value)
            out[sub] = key.start_mark.line + 1
            _line_index(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), out)
    return out


def _where(lines: dict[tuple, int], loc: tuple) -> int | None:
    path = tuple(x for x in loc if not (isinstance(x, str) and x.startswith("function-")))
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate a RunConfig; ConfigError names file, line and field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for dotted, value in (overrides or {}).items():
        _set(data, dotted.split("."), value)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc, _line_index(node) if node else {})) from None


def _set(data: dict, keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        data = data.setdefault(key, {})
    data[keys[-1]] = value


def _describe(path: Path, exc: ValidationError, lines: dict[tuple, int]) -> str:
    err = exc.errors()[0]
    loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
    field = ".".join(str(x) for x in loc) or "(config)"
    line = _where(lines, loc)
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required field is missing"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: {field}: {msg}{more}"


def expand_param_search(config: RunConfig) -> list[RunConfig]:
    """One sub-run config per grid point, ids `<id>.<field>=<value>...`; eval mode each."""
    if config.run.mode != "param_search" or not config.param_search:
        return [config]
    grid = config.param_search.grid
    fields = sorted(grid)
    subs = []
    for values in itertools.product(*(grid[f] for f in fields)):
        suffix = ".".join(f"{f}={v}" for f, v in zip(fields, values))
        sampling = config.sampling.model_copy(update=dict(zip(fields, values)))
        run = config.run.model_copy(update={"id": f"{config.run.id}.{suffix}", "mode": "eval"})
        subs.append(config.model_copy(update={"run": run, "sampling": sampling, "param_search": None}))
    return subs
