"""Environment specs: harness-shaped fields, layered tables, stable digests, clear errors."""
from __future__ import annotations

import pytest

from producers.environments import EnvironmentSpec, EnvironmentTable, SpecError

TABLE = {
    "defaults": {"python": "3.11", "pip_packages": ["pytest==8.3.5"]},
    "repos": {"acme/calc": {"*": {"install": "python -m pip install --no-deps ."},
                            "2.0": {"pip_packages": ["pytest==7.4.4"], "env": {"CALC_MODE": "strict"}}}},
    "instances": {"acme__calc-7": {"test_cmd": "pytest -rA -x"}},
}


def test_layers_override_field_by_field():
    table = EnvironmentTable.from_dict(TABLE)
    spec = table.spec_for("acme/calc", "2.0", "acme__calc-7")
    assert spec.pip_packages == ["pytest==7.4.4"]
    assert spec.install == "python -m pip install --no-deps ."
    assert spec.env == {"CALC_MODE": "strict"}
    assert spec.test_cmd == "pytest -rA -x"
    other = table.spec_for("acme/calc", "1.0", "acme__calc-1")
    assert other.pip_packages == ["pytest==8.3.5"] and other.test_cmd == "pytest -rA"
    assert table.spec_for("acme/calc", "1.0", row={"packages": "requirements.txt"}).packages == "requirements.txt"


def test_digest_is_stable_and_content_addressed():
    a = EnvironmentSpec(python="3.11", pip_packages=["pytest==8.3.5"])
    b = EnvironmentSpec.model_validate({"pip_packages": ["pytest==8.3.5"], "python": "3.11"})
    assert a.digest == b.digest and len(a.digest) == 64
    assert a.digest != a.layered({"env": {"X": "1"}}).digest
    table = EnvironmentTable.from_dict(TABLE)
    assert EnvironmentTable.from_dict(__import__("yaml").safe_load(table.to_yaml())) == table


@pytest.mark.parametrize("layer, message", [
    ({"defaults": {"pyhton": "3.11"}}, "defaults: pyhton: unknown field"),
    ({"repos": {"a/b": {"1": {"python": "three"}}}}, "repos.a/b.1: python: must be a MAJOR.MINOR"),
    ({"instances": {"x": {"env": {"PATH": "/evil"}}}}, "instances.x: env: PATH is set by the sandbox"),
    ({"defaults": {"pythonpath": ["../outside"]}}, "pythonpath entries are directories inside"),
])
def test_bad_tables_name_the_layer_and_field(layer, message):
    with pytest.raises(SpecError, match=message.replace(".", r"\.").replace("(", r"\(")):
        EnvironmentTable.from_dict(layer, where="envs.yaml")


def test_load_reports_unreadable_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read environment table"):
        EnvironmentTable.load(tmp_path / "missing.yaml")
