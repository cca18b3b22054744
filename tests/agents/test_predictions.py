"""Predictions files in and out of the ledger (SWE-bench format), through the real CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import events
from events.log import open_log
from events.payloads import EpisodeFinished, EpisodeStarted
from producers.predictions import (PredictionsError, export_predictions, import_predictions,
                                   read_predictions)
from producers.predictions.format import parse_predictions

from tests.conftest import REPO_ROOT


def _finished(log, run_id, iid, idx, patch, attempt=1, model="m1"):
    ep = f"{iid}-{idx}-{attempt}"
    s = events.new(EpisodeStarted(episode_id=ep, instance_id=iid, sample_idx=idx, attempt=attempt,
                                  model=model), producer="t", run_id=run_id)
    f = events.new(EpisodeFinished(episode_id=ep, instance_id=iid, sample_idx=idx, attempt=attempt,
                                   patch=patch, reason="submitted"), producer="t", run_id=run_id,
                   parent=s.id)
    log.append("episodes", [s, f])


def test_export_takes_the_last_attempt_per_sample(sqlite_url):
    log = open_log(sqlite_url)
    _finished(log, "r1", "a__b-1", 0, "old", attempt=1)
    _finished(log, "r1", "a__b-1", 0, "new", attempt=2)
    _finished(log, "r1", "a__b-1", 1, "s1")
    _finished(log, "r2", "a__b-1", 0, "other run")
    rows = export_predictions(log, "r1")
    assert [(r["instance_id"], r["model_patch"], r["model_name_or_path"]) for r in rows] == [
        ("a__b-1", "new", "m1")]
    assert len(export_predictions(log, "r1", sample_idx=None)) == 2
    log.close()


def test_import_is_idempotent_and_linked(sqlite_url):
    log = open_log(sqlite_url)
    preds = parse_predictions('{"instance_id": "x-1", "model_name_or_path": "gpt", "model_patch": "P"}\n'
                              '{"instance_id": "x-1", "model_name_or_path": "gpt", "model_patch": null}\n')
    first = import_predictions(log, preds, "imp")
    again = import_predictions(log, preds, "imp")
    assert [e.episode_id for e in first] == [e.episode_id for e in again]
    evs = [r.event for r in log.read("episodes")]
    assert len(evs) == 4
    fin = [e for e in evs if e.type == "episode.finished"]
    assert sorted((e.payload.sample_idx, e.payload.patch, e.payload.reason) for e in fin) == [
        (0, "P", "submitted"), (1, "", "submitted")]
    starts = {e.id: e for e in evs if e.type == "episode.started"}
    assert all(starts[f.parent].payload.agent == "import" for f in fin)
    log.close()


@pytest.mark.parametrize("text, where", [
    ('{"instance_id": "a", "model_patch": "p"}\nnot json\n', "line 2: not valid JSON"),
    ('{"instance_id": "", "model_patch": "p"}\n', "line 1: instance_id: Value error, must not be empty"),
    ('{"model_patch": "p"}\n', "line 1: instance_id: Field required"),
    ('[{"instance_id": "a", "model_patch": 3}]', "record 0: model_patch"),
])
def test_bad_records_are_named(text, where):
    with pytest.raises(PredictionsError, match=where):
        parse_predictions(text)


def test_json_list_and_dict_forms(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(json.dumps({"a": {"instance_id": "a", "model_name_or_path": "m", "model_patch": "x"}}))
    assert read_predictions(p)[0].model_patch == "x"


def _ledger(*args, env):
    return subprocess.run([sys.executable, str(REPO_ROOT / "main.py"), *args], capture_output=True,
                          text=True, env=env, cwd=REPO_ROOT)


def test_cli_round_trip(sqlite_url, tmp_path, subprocess_env):
    log = open_log(sqlite_url)
    _finished(log, "r1", "a__b-1", 0, "diff --git a/x b/x\n")
    _finished(log, "r1", "c__d-2", 0, "")
    log.close()
    out = tmp_path / "preds.jsonl"
    res = _ledger("export-predictions", "r1", "--out", str(out), "--log", sqlite_url, env=subprocess_env)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["instance_id"] for r in rows} == {"a__b-1", "c__d-2"}
    assert all(set(r) >= {"instance_id", "model_name_or_path", "model_patch"} for r in rows)
    res = _ledger("import-predictions", str(out), "--log", sqlite_url, "--run-id", "back",
                  env=subprocess_env)
    assert res.returncode == 0 and res.stdout.strip() == "back", res.stderr
    log = open_log(sqlite_url)
    assert export_predictions(log, "back")[0]["model_patch"] == rows[0]["model_patch"]
    log.close()


def test_cli_rejects_a_bad_file_and_appends_nothing(sqlite_url, tmp_path, subprocess_env):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instance_id": "a", "model_patch": ""}\n{"instance_id": 5}\n')
    res = _ledger("import-predictions", str(bad), "--log", sqlite_url, env=subprocess_env)
    assert res.returncode == 2 and "line 2: instance_id" in res.stderr and "nothing imported" in res.stderr
    log = open_log(sqlite_url)
    assert list(log.read("episodes")) == []
    log.close()
    res = _ledger("export-predictions", "nope", "--out", str(tmp_path / "o"), "--log", sqlite_url,
                  env=subprocess_env)
    assert res.returncode == 1 and "no finished episodes" in res.stderr


def test_cli_import_and_evaluate_bundled(sqlite_url, tmp_path, subprocess_env, bundled_cache):
    from producers.datasets.bundled import ensure_bundled_tasks

    a, b = ensure_bundled_tasks(bundled_cache)[:2]
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps(p) + "\n" for p in [
        {"instance_id": a.instance.instance_id, "model_name_or_path": "gold", "model_patch": a.instance.patch},
        {"instance_id": b.instance.instance_id, "model_name_or_path": "gold", "model_patch": ""},
        {"instance_id": "not__there-1", "model_name_or_path": "gold", "model_patch": "x"}]))
    env = {**subprocess_env, "LEDGER_CACHE_DIR": str(bundled_cache)}
    res = _ledger("import-predictions", str(preds), "--log", sqlite_url, "--run-id", "imp",
                  "--evaluate", "--dataset", "bundled", env=env)
    assert res.returncode == 0, res.stderr
    assert "not in dataset bundled: not__there-1" in res.stderr and "resolved 1/2" in res.stderr
    log = open_log(sqlite_url)
    finished = {r.event.payload.instance_id: r.event for r in log.read("episodes")
                if r.event.type == "episode.finished"}
    evals = {r.event.payload.instance_id: r.event for r in log.read("evals")}
    assert evals[a.instance.instance_id].payload.resolved
    assert evals[b.instance.instance_id].payload.status == "empty_patch"
    assert evals[a.instance.instance_id].parent == finished[a.instance.instance_id].id
    assert evals[a.instance.instance_id].run_id == "imp" and "not__there-1" not in evals
    runs = [r.event for r in log.read("runs")]
    assert [e.type for e in runs] == ["run.started", "run.finished"]
    assert runs[0].payload.mode == "import" and runs[0].payload.manifest.source == "bundled"
    assert runs[1].payload.evaluated == 2 and runs[1].parent == runs[0].id
    log.close()
    res = _ledger("import-predictions", str(preds), "--log", sqlite_url, "--evaluate", env=env)
    assert res.returncode == 2 and "--evaluate needs --dataset" in res.stderr
    res = _ledger("import-predictions", str(preds), "--log", sqlite_url, "--evaluate",
                  "--dataset", str(tmp_path / "missing.jsonl"), env=env)
    assert res.returncode == 2 and "missing.jsonl" in res.stderr and "nothing imported" in res.stderr
