"""The synthesis config (`configs/tasks/*.yaml`): which projects, how their tests run,
which modifiers, how many tasks.

Loaded from YAML and validated by pydantic; an error names the file, the line and
the field. Every field is documented below; `synth_config_digest` pins a config.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from producers.environments import EnvironmentSpec

__all__ = ["ProjectConfig", "SynthConfig", "SynthConfigError", "load_synth_config",
           "synth_config_digest"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class SynthConfigError(ValueError):
    """An invalid synthesis config; the message names the file, line and field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectConfig(_Section):
    name: str
    """PyPI project name (the sdist is `pip download --no-binary :all: --no-deps NAME==VERSION`)."""
    version: str
    """Pinned release."""
    sha256: str | None = None
    """Expected sha256 of the sdist; a download that differs is refused. Recommended."""
    tests: list[str] = ["tests"]
    """Test paths (files or directories) of the suite, relative to the sdist's root."""
    test_filter: str | None = None
    """Regular expression a test id must match (search) to be kept, e.g. to leave out a slow file."""
    source: list[str]
    """Files or directories where bugs are injected (test files inside them are skipped)."""
    environment: dict[str, Any] = {}
    """Environment spec fields for this project, over `environment` at the top."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"not a PyPI project name: {v!r}")
        return v

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not _VERSION.match(v):
            raise ValueError(f"pin an exact release like '1.2.3', got {v!r}")
        return v

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str | None) -> str | None:
        if v is not None and not _SHA256.match(v):
            raise ValueError("must be 64 lowercase hex characters")
        return v

    @field_validator("tests", "source")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("needs at least one path")
        for path in v:
            if path.startswith(("/", "~")) or ".." in Path(path).parts:
                raise ValueError(f"paths are relative to the sdist's root, got {path!r}")
        return v

    @field_validator("test_filter")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return v

    @property
    def slug(self) -> str:
        """The project's name in ids and paths (PEP 503 normalised, `_` for separators)."""
        return re.sub(r"[-_.]+", "_", self.name).lower()

    @property
    def commit_message(self) -> str:
        """The message of the pristine import and of every buggy commit."""
        return f"{self.name} {self.version}"

    @property
    def repo(self) -> str:
        return f"pypi/{re.sub(r'[-_.]+', '-', self.name).lower()}"


class SynthConfig(_Section):
    id: str
    """Synthesis id: reusing it with the same log resumes that synthesis."""
    projects: list[ProjectConfig]
    environment: dict[str, Any] = {}
    """Environment spec fields every project starts from (harness shape, see
    producers/environments); `env`/`pip_packages` are merged, not replaced, per project."""
    modifiers: list[str] = []
    """SWE-smith procedural modifier names (e.g. `func_pm_op_change`); empty: all of them."""
    max_per_project: int = Field(50, ge=1)
    """Tasks kept per project: the first ones in the seeded candidate order."""
    max_candidates_per_project: int = Field(400, ge=1)
    """Candidates validated per project at most (bounds the time on low-yield projects)."""
    seed: int = 0
    """Orders the candidates and seeds the modifiers' choices."""
    variants: int = Field(1, ge=1, le=16)
    """Seeded tries per (entity, modifier) pair: more candidates where a project has few
    functions (the same bug made twice is rejected as `duplicate`)."""
    pass_to_pass: Literal["files", "suite"] = "files"
    """PASS_TO_PASS: the kept tests in the test files holding FAIL_TO_PASS (`files`), or
    the whole kept suite (`suite`: every validation runs the whole suite)."""
    candidate_timeout: float = Field(180.0, gt=0)
    """Seconds one test run of a candidate may take; past it the candidate is rejected."""
    baseline_timeout: float = Field(900.0, gt=0)
    """Seconds one run of a project's whole suite at base may take."""
    workers: int = Field(2, ge=1, le=64)
    """Validation worker processes."""
    statements: Literal["template", "model"] = "template"
    """Problem statements: a template from the failing tests, or written by a model
    through the proxy (`model_upstream`), recorded as proxy events."""
    model_upstream: str = "demo"
    """Upstream for `statements: model` (same specs as a run's `model.upstream`)."""
    model_name: str = "demo-scripted"
    cache_dir: str = ".ledger/cache"
    """Where sdists, repositories and environments are kept between syntheses."""
    output: str = ".ledger/tasks"
    """Where the dataset is written (`<output>/<id>/`)."""

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("letters, digits, '.', '_', '-', starting with a letter or digit")
        return v

    @model_validator(mode="after")
    def _checks(self) -> "SynthConfig":
        slugs = [p.slug for p in self.projects]
        dupes = sorted({s for s in slugs if slugs.count(s) > 1})
        if dupes:
            raise ValueError(f"projects listed twice: {', '.join(dupes)}")
        if not self.projects:
            raise ValueError("projects: list at least one project")
        for project in self.projects:
            spec_fields(self, project)  # raises on a bad environment layer
        return self


def spec_fields(config: SynthConfig, project: ProjectConfig) -> EnvironmentSpec:
    """The project's environment: top-level fields, then the project's; `env` and
    `pip_packages` merge; SETUPTOOLS_SCM_PRETEND_VERSION is the pinned version (the
    repository has no tags for setuptools-scm to read)."""
    top, own = dict(config.environment), dict(project.environment)
    merged = {**top, **own}
    merged["pip_packages"] = [*top.get("pip_packages", []), *own.get("pip_packages", [])]
    merged["env"] = {"SETUPTOOLS_SCM_PRETEND_VERSION": project.version,
                     **top.get("env", {}), **own.get("env", {})}
    try:
        return EnvironmentSpec.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ValueError(f"{project.name}: environment.{'.'.join(map(str, err['loc']))}: "
                         f"{err['msg'].removeprefix('Value error, ')}") from None


_NOT_IDENTITY = ("output", "cache_dir", "workers")
"""Where things are kept and how many workers: not what the synthesis produces."""


def synth_config_digest(config: SynthConfig) -> str:
    """sha256 of what defines a synthesis's results (its identity for resuming)."""
    identity = {k: v for k, v in config.model_dump(mode="json").items() if k not in _NOT_IDENTITY}
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_synth_config(path: str | Path, overrides: dict[str, Any] | None = None) -> SynthConfig:
    path = Path(path)
    try:
        text = path.read_text()
        node, data = yaml.compose(text), yaml.safe_load(text)
    except OSError as exc:
        raise SynthConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SynthConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SynthConfigError(f"{path}: expected a mapping at the top level")
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return SynthConfig.model_validate(data)
    except ValidationError as exc:
        raise SynthConfigError(_describe(path, exc, node)) from None


def _describe(path: Path, exc: ValidationError, node: yaml.Node | None) -> str:
    err = exc.errors()[0]
    loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
    line = _line_of(node, loc) if node is not None else None
    msg = {"extra_forbidden": "unknown key", "missing": "required field is missing"}.get(
        err["type"], err["msg"].removeprefix("Value error, "))
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: {'.'.join(map(str, loc)) or '(config)'}: {msg}"


def _line_of(node: yaml.Node, loc: tuple) -> int:
    """1-based line of the deepest part of `loc` found in the YAML tree."""
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == part), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
