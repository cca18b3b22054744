"""Infrastructure errors are never scored as model failures (`ledger run` end to end).

The demo job with an upstream nothing listens on: every episode's first model
call gets the proxy's 502 after its retries, so every pair is an infra error.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from events.log import open_log

from .test_run import ROOT, ledger_run


def _config(tmp: Path, **dataset) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["run"]["id"] = "outage"
    cfg["model"]["upstream"] = "openai:http://127.0.0.1:1/v1"
    cfg["dataset"].update(cache_dir=str(tmp / "cache"), **dataset)
    cfg["log"], cfg["lake"], cfg["artifacts"] = f"sqlite:///{tmp / 'ledger.db'}", str(tmp / "lake"), str(tmp / "art")
    path = tmp / "outage.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_unreachable_upstream_stops_early_and_exits_3(tmp_path):
    proc = ledger_run(_config(tmp_path), tmp_path)
    assert proc.returncode == 3, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ledger run: ") and "of 52 pairs hit infrastructure errors: upstream unreachable (" in last
    assert "stopped after 5 consecutive infrastructure errors" in last and last.endswith(
        "see ledger events --topic evals")
    log = open_log(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        evals = [r.event.payload for r in log.read("evals") if r.event.run_id == "outage"]
        finished = [r.event.payload for r in log.read("runs") if r.event.type == "run.finished"]
        episodes = [r.event.payload for r in log.read("episodes") if r.event.type == "episode.finished"]
        scores = [r.event.payload for r in log.read("scores") if r.event.run_id == "outage"]
        rewards = list(log.read("rewards"))
    finally:
        log.close()
    # stopped early: the 5 that tripped the limit plus what was already in flight, far from 52
    assert 5 <= len(evals) <= 5 + 2 * 2
    assert {e.status for e in evals} == {"infra"} and {e.infra_cause for e in evals} == {"upstream unreachable"}
    assert not any(e.resolved for e in evals) and {e.harness for e in evals} == {"none"}
    assert all(ep.infra_cause == "upstream unreachable" and "502" in ep.error for ep in episodes)
    [fin] = finished
    assert fin.infra_errors == len(evals) and fin.infra_causes == {"upstream unreachable": len(evals)}
    assert fin.not_run == 52 - len(evals) and fin.message == last.removeprefix("ledger run: ")
    # nothing was judged, so nothing is scored: no value, not 0.000; no reward either
    assert scores == [] and rewards == []
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in proc.stdout.splitlines() if "│" in line]
    header = next(line for line in proc.stdout.splitlines() if "┃" in line)
    assert [c.strip() for c in header.split("┃")[1:-1]] == [
        "scope", "n", "samples", "pass@1", "pass@2", "pass@4", "avg@1", "infra"]
    run_row = next(r for r in rows if r[0] == "run outage")
    assert run_row[1:7] == ["—"] * 6 and run_row[7] == str(len(evals))
    assert not any("0.000" in cell for row in rows for cell in row)


def test_an_empty_plan_exits_1(tmp_path):
    proc = ledger_run(_config(tmp_path, instance_filter="^no-such-instance$"), tmp_path)
    assert proc.returncode == 1
    assert "ledger run: nothing to run: no instance matched in dataset 'bundled'" in proc.stderr
    assert "instance_filter '^no-such-instance$'" in proc.stderr
    db = tmp_path / "ledger.db"
    assert not db.exists() or not list(open_log(f"sqlite:///{db}").read("runs"))
