"""Environment specs in the official SWE-bench harness's shape, and the table that
assigns them to instances.

The harness (swebench 4.x, `MAP_REPO_VERSION_TO_SPECS[repo][version]`) describes
a repository's test environment with `python`, `packages`, `pip_packages`,
`pre_install`, `install`, `eval_commands` and `test_cmd`; those fields keep its
names and meanings here. Two fields are ours, for a venv on the local machine
instead of a conda env in an image: `env` (variables the repository's commands
need) and `pythonpath` (where in the checkout the code under test is imported
from).

A table holds defaults, per-repository and per-(repository, version) specs, and
per-instance specs; later layers override earlier ones field by field:

    defaults  <  repos[repo]["*"]  <  repos[repo][version]  <  instances[instance_id]

An instance row may also carry its own `environment` mapping, which is applied last.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["EnvironmentSpec", "EnvironmentTable", "SpecError", "SPEC_SCHEMA"]

SPEC_SCHEMA = 1
"""Part of every digest: bump it when a field's meaning changes."""
_PYTHON = re.compile(r"^3\.\d{1,2}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_ENV = {"PATH", "PYTHONPATH", "HOME", "TMPDIR", "VIRTUAL_ENV", "PYTHONHOME"}


class SpecError(ValueError):
    """An environment spec or table is invalid; the message names the place and the field."""


def _default_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


class EnvironmentSpec(BaseModel):
    """How to build and use one repository's test environment (harness field names)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    python: str = Field(default_factory=_default_python)
    """Interpreter version `MAJOR.MINOR`; the builder uses `pythonMAJOR.MINOR` found on PATH."""
    packages: str = ""
    """Harness meaning: `requirements.txt` installs the repository's requirements file
    (`pip install -r requirements.txt` in the source tree); anything else is a
    space-separated list of requirement specifiers; empty: nothing."""
    pip_packages: list[str] = []
    """Requirement specifiers installed after `packages` (pin them: `pytest==8.3.5`)."""
    pre_install: list[str] = []
    """Shell commands run in the source tree before `install`."""
    install: str = ""
    """Shell command that installs the repository (e.g. `python -m pip install --no-deps .`),
    run in the source tree with the venv's `python` first on PATH; empty: not installed."""
    eval_commands: list[str] = []
    """Shell lines run before the test command (e.g. `export LANG=en_US.UTF-8`)."""
    test_cmd: str = "pytest -rA"
    """The test command; test files or ids are appended to it."""
    env: dict[str, str] = {}
    """Extra environment variables for the agent's commands and the tests."""
    pythonpath: list[str] = ["."]
    """Directories of the checkout (relative) put first on PYTHONPATH, so the code under
    test is always the sandbox's checkout (`["src"]` for a src layout)."""

    @field_validator("python")
    @classmethod
    def _python(cls, v: str) -> str:
        if not _PYTHON.match(v):
            raise ValueError(f"must be a MAJOR.MINOR version like '3.11', got {v!r}")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not _ENV_NAME.match(name):
                raise ValueError(f"not an environment variable name: {name!r}")
            if name in _RESERVED_ENV:
                raise ValueError(f"{name} is set by the sandbox and cannot be overridden")
        return v

    @field_validator("pythonpath")
    @classmethod
    def _pythonpath(cls, v: list[str]) -> list[str]:
        for entry in v:
            if entry.startswith(("/", "~")) or ".." in Path(entry).parts or ":" in entry:
                raise ValueError(f"pythonpath entries are directories inside the checkout, got {entry!r}")
        return v

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON of every field (defaults included) and the schema."""
        canonical = json.dumps({"schema": SPEC_SCHEMA, **self.model_dump()}, sort_keys=True,
                               separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def layered(self, overrides: Mapping[str, Any]) -> "EnvironmentSpec":
        """This spec with the fields of `overrides` replaced (validated)."""
        return EnvironmentSpec.model_validate({**self.model_dump(), **dict(overrides)})


class EnvironmentTable(BaseModel):
    """Specs for a dataset: defaults, per repo (`"*"` = every version), per instance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    defaults: dict[str, Any] = {}
    repos: dict[str, dict[str, dict[str, Any]]] = {}
    """`owner/name` -> version (or `"*"`) -> spec fields."""
    instances: dict[str, dict[str, Any]] = {}
    """instance_id -> spec fields."""

    @classmethod
    def load(cls, path: Path | str) -> "EnvironmentTable":
        """Read a YAML or JSON table; every layer is checked, errors name the layer."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SpecError(f"{path}: cannot read environment table: {exc}") from None
        return cls.from_dict(data, where=str(path))

    @classmethod
    def from_dict(cls, data: Any, where: str = "environment table") -> "EnvironmentTable":
        if not isinstance(data, dict):
            raise SpecError(f"{where}: expected a mapping with defaults/repos/instances")
        try:
            table = cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise SpecError(f"{where}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        table._check(where)
        return table

    def _check(self, where: str) -> None:
        layers = [("defaults", self.defaults)]
        layers += [(f"repos.{r}.{v}", f) for r, vs in self.repos.items() for v, f in vs.items()]
        layers += [(f"instances.{i}", f) for i, f in self.instances.items()]
        for name, fields in layers:
            _validated(EnvironmentSpec(), fields, f"{where}: {name}")

    def to_yaml(self) -> str:
        """Canonical YAML (sorted keys): the same table always gives the same bytes."""
        return yaml.safe_dump(self.model_dump(), sort_keys=True, allow_unicode=True)

    def spec_for(self, repo: str, version: str = "", instance_id: str = "",
                 row: Mapping[str, Any] | None = None) -> EnvironmentSpec:
        """The merged spec of one instance (`row`: the instance row's own `environment`)."""
        spec = _validated(EnvironmentSpec(), self.defaults, "defaults")
        per_repo = self.repos.get(repo, {})
        for name, fields in (("*", per_repo.get("*")), (version, per_repo.get(version)),
                             (instance_id, self.instances.get(instance_id)), ("row", row)):
            if fields:
                spec = _validated(spec, fields, f"{repo} {name}")
        return spec


def _validated(base: EnvironmentSpec, fields: Mapping[str, Any], where: str) -> EnvironmentSpec:
    if not isinstance(fields, Mapping):
        raise SpecError(f"{where}: expected a mapping of spec fields, got {type(fields).__name__}")
    try:
        return base.layered(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(map(str, err["loc"])) or "(spec)"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise SpecError(f"{where}: {field}: {msg.removeprefix('Value error, ')}") from None
