"""The analysts' guide: the README's Polars and DuckDB blocks, run verbatim in a fresh demo's
directory, each checked against numbers computed from the log itself (sqlite3 + JSON, no lake)."""
from __future__ import annotations

import os
import re
import sqlite3
from collections import defaultdict
from datetime import datetime
from math import comb
from pathlib import Path

import orjson
import pytest

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


@pytest.fixture(scope="module")
def log(fresh_demo) -> list[dict]:
    with sqlite3.connect(fresh_demo / ".ledger" / "ledger.db") as conn:
        return [orjson.loads(v) for (v,) in conn.execute("SELECT value FROM events ORDER BY seq")]


def _verdicts(log: list[dict], run: str) -> list[dict]:
    """The first verdict per (instance, sample) of a run, as the scorer counts them."""
    seen, out = set(), []
    for e in log:
        if e["type"] == "eval.result" and e["run_id"] == run:
            key = (e["payload"]["instance_id"], e["payload"]["sample_idx"])
            if key not in seen:
                seen.add(key)
                out.append(e)
    return out


def _per_instance(log: list[dict], run: str) -> dict[str, tuple[str, int, int]]:
    """instance -> (repo, samples, resolved)."""
    acc: dict[str, list] = {}
    for e in _verdicts(log, run):
        p = e["payload"]
        cur = acc.setdefault(p["instance_id"], [p["repo"], 0, 0])
        cur[1] += 1
        cur[2] += p["resolved"]
    return {k: tuple(v) for k, v in acc.items()}


def test_readme_has_the_six_examples():
    assert set(_examples()) == {"polars-repo-pass-at-1", "polars-resolved-by-repo", "polars-transcript",
                                "duckdb-pass-at-k-curve", "duckdb-resolved-by-run", "duckdb-action-to-model-call"}


def test_polars_repo_pass_at_1(fresh_demo, log):
    result = _run(_examples()["polars-repo-pass-at-1"], fresh_demo)
    by_repo: dict[str, list[float]] = defaultdict(list)
    for repo, n, c in _per_instance(log, "demo").values():
        by_repo[repo].append(c / n)
    got = dict(result.iter_rows())
    assert got.keys() == by_repo.keys() and len(got) == 2
    for repo, values in by_repo.items():
        assert got[repo] == pytest.approx(sum(values) / len(values))


def test_polars_resolved_by_repo(fresh_demo, log):
    result = _run(_examples()["polars-resolved-by-repo"], fresh_demo)
    want: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in log:
        if e["type"] == "eval.result" and e["run_id"] == "demo":
            want[e["payload"]["repo"]][0] += 1
            want[e["payload"]["repo"]][1] += e["payload"]["resolved"]
    assert [tuple(r) for r in result.iter_rows()] == [(k, *v) for k, v in sorted(want.items())]


def test_polars_transcript_reads_struct_fields_only(fresh_demo, log):
    result = _run(_examples()["polars-transcript"], fresh_demo)
    episode = min(e["key"] for e in log if e["type"] == "episode.finished" and e["run_id"] == "demo")
    last = max((e for e in log if e["type"] == "proxy.request" and e["key"] == episode),
               key=lambda e: e["payload"]["turn"])
    messages = last["payload"]["messages"]
    assert result.columns == ["role", "text"] and len(messages) >= 4
    assert result["role"].to_list() == [m["role"] for m in messages]
    assert result["text"].to_list() == [m["content"][:70] for m in messages]


def test_duckdb_pass_at_k_curve(fresh_demo, log):
    result = _run(_examples()["duckdb-pass-at-k-curve"], fresh_demo)
    inst = list(_per_instance(log, "demo").values())

    def pass_at(k: int) -> float:
        return sum(1.0 if n - c < k else 1 - comb(n - c, k) / comb(n, k) for _, n, c in inst) / len(inst)

    assert [k for k, _ in result] == [1, 2, 4]
    assert [v for _, v in result] == pytest.approx([round(pass_at(k), 4) for k in (1, 2, 4)])


def test_duckdb_resolved_by_run_over_the_whole_event_lake(fresh_demo, log):
    result = _run(_examples()["duckdb-resolved-by-run"], fresh_demo)
    want: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for e in log:
        if e["type"] == "eval.result":
            day = datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).date()
            want[(e["run_id"], day)][0] += 1
            want[(e["run_id"], day)][1] += e["payload"]["resolved"]
    assert sorted(result) == sorted((run, day, *v) for (run, day), v in want.items())
    assert {r[0] for r in result} == {"demo", "search.temperature=0.2", "search.temperature=0.9"}


def test_duckdb_joins_each_action_to_its_model_call(fresh_demo, log):
    result = _run(_examples()["duckdb-action-to-model-call"], fresh_demo)
    actions = [e for e in log if e["type"] == "agent.action" and e["run_id"] == "demo"]
    responses = {e["id"]: e["payload"] for e in log if e["type"] == "proxy.response"}
    assert len(result) == len(actions) > 0, "every action has the model call that proposed it"
    assert all(step == turn for _, step, turn, _, _ in result)
    want = sorted((a["key"], a["payload"]["step"], responses[a["parent"]]["usage"]["completion_tokens"])
                  for a in actions)
    assert sorted((ep, step, tokens) for ep, step, _, tokens, _ in result) == want
