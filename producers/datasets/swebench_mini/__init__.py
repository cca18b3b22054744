"""A mini SWE-bench: real small repositories in SWE-bench 5's row format, offline.

`ensure_swebench_mini(cache_dir)` builds, once per suite definition, under
`<cache>/swebench-mini/<digest>/`:

    rows.jsonl    16 SWE-bench rows (harness columns: eval_script, log_parser,
                  eval_type, image), FAIL_TO_PASS/PASS_TO_PASS derived by the harness
    mirrors/      one bare git mirror per repo: <owner>__<name>.git (`dataset.repos`)
    cases.jsonl   per instance: gold, partial, wrong and regression patches

Repositories: a Django-style project (`./tests/runtests.py`), a SymPy-style one
(`bin/test`), and a pytest project published as six repos with the test commands
and log parsers of astropy, requests, seaborn, matplotlib, sphinx and pytest.
`dataset.source: swebench-mini` loads it with its mirrors; the whole path (mirrors →
episode → the official harness's spec and parser → scores) runs without network.
"""
from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path

from ..lock import default_cache_dir, file_lock
from . import families, rows, runners

__all__ = ["MiniSuite", "ensure_swebench_mini", "suite_digest", "demo_scripts", "SOURCE"]

SOURCE = "swebench-mini"
_VERSION = 1


def suite_digest() -> str:
    """Changes whenever the suite's definition or its row layout changes."""
    text = "".join(inspect.getsource(m) for m in (families, rows, runners)) + str(_VERSION)
    tests = Path(__file__).with_name("tests.json")
    text += tests.read_text() if tests.is_file() else ""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MiniSuite:
    root: Path

    @property
    def rows_path(self) -> Path:
        return self.root / "rows.jsonl"

    @property
    def mirrors(self) -> Path:
        return self.root / "mirrors"

    def rows(self) -> list[dict]:
        return [json.loads(line) for line in self.rows_path.read_text().splitlines()]

    def cases(self) -> dict[str, dict]:
        """instance_id -> {"style", "kind", "gold", "wrong", "regression"[, "partial"]}."""
        out = {}
        for line in (self.root / "cases.jsonl").read_text().splitlines():
            case = json.loads(line)
            out[case["instance_id"]] = case
        return out


def ensure_swebench_mini(cache_dir: Path | str | None = None) -> MiniSuite:
    """The suite, built on first use (under a file lock; concurrent callers wait)."""
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root = base / SOURCE / suite_digest()
    if not (root / "rows.jsonl").is_file():
        with file_lock(root.parent / f"{root.name}.lock"):
            if not (root / "rows.jsonl").is_file():
                from .build import generate

                generate(root)
    return MiniSuite(root)


def demo_scripts() -> dict:
    """instance_id -> DemoScript: the scripted demo policy applies the gold fix (or the wrong one)."""
    from ..demo_script import DemoScript, edit_command

    scripts = {}
    for fam in families.FAMILIES:
        for flavour in fam.flavours:
            for task in fam.family.tasks:
                iid = f"{flavour.repo.replace('/', '__')}-{task.number}"
                scripts[iid] = DemoScript(instance_id=iid, solve=[*task.look, edit_command(task.fix), "git diff"],
                                          wrong=[task.look[0], edit_command(task.wrong), "git diff"],
                                          solve_rate=task.solve_rate)
    return scripts
