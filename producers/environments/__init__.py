"""Test environments for repositories: a spec in the SWE-bench harness's shape, built
once per (repo, version, spec digest) into a cached venv.

The whole API::

    from producers.environments import EnvironmentTable, EnvironmentSpec, ensure_environment

    table = EnvironmentTable.load("environments.yaml")   # defaults / repos / instances
    spec = table.spec_for(inst.repo, inst.version, inst.instance_id)   # merged, validated
    spec.digest                                          # sha256 of the resolved spec

    env = ensure_environment(spec, repo=inst.repo, version=inst.version,
                             source=repo_path, commit=inst.environment_setup_commit or inst.base_commit,
                             cache_dir=cache)            # built on first use, then reused
    sandbox = LocalSandboxFactory().create(repo_path, inst.base_commit, environment=env)
    sandbox.run(f"{env.test_command()} tests/test_x.py")  # the venv's python/pytest, no network

A table file (YAML or JSON; `EnvironmentTable.to_yaml()` writes it canonically)::

    defaults: {python: "3.11", pip_packages: ["pytest==8.3.5"], test_cmd: "pytest -rA"}
    repos:
      pallets/flask:
        "*":   {install: "python -m pip install --no-deps ."}
        "2.0": {pip_packages: ["pytest==7.4.4", "Werkzeug==2.3.7"]}
    instances:
      pallets__flask-4045: {env: {FLASK_DEBUG: "0"}}

Spec fields (`spec.EnvironmentSpec`): `python`, `packages`, `pip_packages`, `pre_install`,
`install`, `eval_commands`, `test_cmd` keep the harness's names and meanings (swebench
4.x `MAP_REPO_VERSION_TO_SPECS`); `env` (variables for commands and tests) and
`pythonpath` (checkout dirs imported first) are ours.

How the checkout's code is imported (the choice, and why): dependencies live in the
shared, read-only cached venv; the repository's code is imported from each sandbox's
own checkout, whose `pythonpath` directories lead PYTHONPATH. An editable install per
sandbox would write into the venv (read-only to sandboxed commands, and shared by
concurrent sandboxes) or cost a venv per sandbox; a path entry costs nothing and is
exact for pure-Python repositories. `install` may still install the project into the
venv (metadata, entry points); the builder verifies on a second checkout that every
top-level package resolves to the checkout, not to that copy.

Errors: `SpecError` (an invalid spec or table, naming the layer and field) and
`EnvironmentBuildError` (a failed build, naming the command, its exit code and the
build log). Every build leaves `environment.json` (spec, digest, each command with
its exit code, duration and output digest + tail, `pip freeze`) and `build.log`
(whole outputs) in its directory (`environment_dir`).
"""
from .builder import RECORD_FILE, Environment, EnvironmentBuildError, ensure_environment, environment_dir
from .spec import SPEC_SCHEMA, EnvironmentSpec, EnvironmentTable, SpecError

__all__ = ["Environment", "EnvironmentBuildError", "EnvironmentSpec", "EnvironmentTable",
           "RECORD_FILE", "SPEC_SCHEMA", "SpecError", "ensure_environment", "environment_dir"]
