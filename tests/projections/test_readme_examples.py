"""The analysts' guide: the README's Polars and DuckDB blocks, run verbatim against the demo lake."""
from __future__ import annotations

import os
import re
from datetime import date
from math import comb
from pathlib import Path

import pytest

from .synthetic import INSTANCES, REPOS, SAMPLES, resolved

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"```python\n(# analyst-example: (?P<name>[\w-]+)\n.*?)```", re.S)


def _examples() -> dict[str, str]:
    return {m["name"]: m.group(1) for m in _BLOCK.finditer(README.read_text())}


def _run(code: str, cwd: Path) -> object:
    here = os.getcwd()
    os.chdir(cwd)
    try:
        scope: dict = {"__name__": "__readme__"}
        exec(compile(code, "README.md", "exec"), scope)
        return scope["result"]
    finally:
        os.chdir(here)


def _correct(run: str, r: int) -> list[int]:
    return [sum(resolved(run, r, i, s) for s in range(SAMPLES)) for i in range(INSTANCES)]


def test_readme_has_the_four_examples():
    assert set(_examples()) == {"polars-repo-pass-at-1", "polars-resolved-by-repo",
                                "duckdb-pass-at-k-curve", "duckdb-resolved-by-run"}


def test_polars_repo_pass_at_1(demo_root):
    result = _run(_examples()["polars-repo-pass-at-1"], demo_root)
    expected = {repo: sum(_correct("demo", r)) / (INSTANCES * SAMPLES) for r, repo in enumerate(REPOS)}
    got = dict(result.iter_rows())
    assert got.keys() == expected.keys()
    for repo in expected:
        assert got[repo] == pytest.approx(expected[repo])
    assert got["astropy/astropy"] == pytest.approx(0.45) and got["django/django"] == pytest.approx(0.15)


def test_polars_resolved_by_repo_prunes_by_date_and_run(demo_root):
    result = _run(_examples()["polars-resolved-by-repo"], demo_root)
    expected = [(repo, INSTANCES * SAMPLES, sum(_correct("demo", r))) for r, repo in enumerate(REPOS)]
    assert [tuple(r) for r in result.iter_rows()] == expected == [("astropy/astropy", 20, 9),
                                                                  ("django/django", 20, 3)]


def test_duckdb_pass_at_k_curve(demo_root):
    result = _run(_examples()["duckdb-pass-at-k-curve"], demo_root)
    cs = [c for r in range(len(REPOS)) for c in _correct("demo", r)]

    def pass_at(k: int) -> float:
        return sum(1.0 if SAMPLES - c < k else 1 - comb(SAMPLES - c, k) / comb(SAMPLES, k) for c in cs) / len(cs)

    assert [k for k, _ in result] == [1, 2, 3, 4, 5]  # the superseded pass@1 update is not there
    assert [v for _, v in result] == pytest.approx([round(pass_at(k), 4) for k in range(1, 6)])


def test_duckdb_resolved_by_run(demo_root):
    result = _run(_examples()["duckdb-resolved-by-run"], demo_root)
    total = len(REPOS) * INSTANCES * SAMPLES
    assert result == [("demo", date(2026, 1, 15), total, 12), ("demo-b", date(2026, 1, 16), total, 16)]
    assert [r[3] for r in result] == [sum(sum(_correct(run, r)) for r in range(len(REPOS)))
                                      for run in ("demo", "demo-b")]
