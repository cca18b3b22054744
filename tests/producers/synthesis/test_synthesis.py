"""The task factory end to end: real sdists, real environments, SWE-smith's modifiers,
validation by the projects' own suites in sandboxes, events, dataset, mirrors."""
from __future__ import annotations

import json
import re
from collections import Counter
from typing import get_args

import polars as pl
import pytest

from events.log import open_log
from events.payloads import TaskRejected, TaskSynthesized
from events.payloads.synthesis import RejectReason
from producers.datasets import load_dataset
from producers.datasets.instance import Instance
from projections import lake as lk
from projections.projector import project

from .conftest import SMALL

pytestmark = pytest.mark.timeout(1800)  # a real synthesis: minutes on a loaded machine

SMALL_DATASET_SHA256 = "63d1ba3fcb10e9b412c91ecbd87b38a7936bd230b368b1d93927235c8b23310f"
"""The content digest configs/tasks/small.yaml gave where this test was written (two runs,
two sessions): the same inputs and seed must give these bytes on any machine."""

MODIFIERS = {"func_pm_remove_assign", "func_pm_remove_loop", "func_pm_op_change", "func_pm_op_swap",
             "func_pm_ctrl_invert_if"}


def _rows(out):
    return [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]


def test_small_synthesis_writes_a_swebench_dataset(small_run):
    rows = _rows(small_run.out)
    assert len(rows) >= 20, small_run.proc.stderr[-2000:]
    assert [r["instance_id"] for r in rows] == sorted(r["instance_id"] for r in rows)
    per_project = Counter(r["repo"] for r in rows)
    assert per_project == {"pypi/parse": 20}
    for row in rows:
        inst = Instance(**row)
        project, modifier = re.fullmatch(r"(\w+)__(\w+)-[0-9a-f]{8}", inst.instance_id).groups()
        assert modifier in MODIFIERS and inst.repo == f"pypi/{project}"
        assert inst.FAIL_TO_PASS and not set(inst.FAIL_TO_PASS) & set(inst.PASS_TO_PASS)
        assert inst.base_commit != inst.environment_setup_commit and inst.test_patch == ""
        assert "diff --git" in inst.patch and inst.problem_statement.strip()
        assert inst.FAIL_TO_PASS[0] in inst.problem_statement or len(inst.FAIL_TO_PASS) > 3
    manifest = json.loads((small_run.out / "manifest.json").read_text())
    loaded = load_dataset(small_run.out / "dataset.jsonl")
    assert not loaded.errors and manifest["dataset"]["sha256"] == loaded.manifest.sha256
    assert manifest["dataset"]["sha256"] == SMALL_DATASET_SHA256, "not the bytes this config gave elsewhere"
    assert manifest["dataset"]["instance_ids"] == [r["instance_id"] for r in rows]
    assert {p["sdist_sha256"] for p in manifest["projects"].values()} == {
        "706d458feed5a81b02768d3156e8070baf6cee7d150a3a3c0cd43101a875c3b5"}
    assert (small_run.out / "mirrors" / "pypi__parse.git" / "HEAD").is_file()
    assert small_run.out.stat().st_mode & 0o777 == 0o755


def test_every_step_is_an_event_and_the_yield_is_queryable_in_the_lake(small_run, tmp_path):
    log = open_log(small_run.log_url)
    try:
        payloads = [r.event.payload for r in log.read("synthesis")]
    finally:
        log.close()
    types = Counter(type(p).__name__ for p in payloads)
    assert types["SynthesisStarted"] == 1 and types["SynthesisBaseline"] == 1
    assert types["SynthesisFinished"] == 1
    accepted = [p for p in payloads if isinstance(p, TaskSynthesized)]
    rejected = [p for p in payloads if isinstance(p, TaskRejected)]
    assert len(accepted) >= len(_rows(small_run.out))
    assert {r.reason for r in rejected} <= set(get_args(RejectReason)) and rejected
    assert all(r.detail for r in rejected)
    finished = next(p for p in payloads if type(p).__name__ == "SynthesisFinished")
    assert finished.dataset_sha256 == json.loads((small_run.out / "manifest.json").read_text())["dataset"]["sha256"]
    assert finished.candidates == len(accepted) + len(rejected)
    lake = tmp_path / "lake"
    project(small_run.log_url, lake)
    synthesized = lk.table(lake, "task.synthesized").collect()
    rejections = lk.table(lake, "task.rejected").collect()
    per_modifier = synthesized.group_by("modifier").len().sort("modifier")
    assert dict(per_modifier.iter_rows()) == dict(Counter(p.modifier for p in accepted))
    by_reason = rejections.group_by("project", "reason").len()
    assert by_reason["len"].sum() == len(rejected)
    assert set(synthesized["project"]) == {"parse"}
    assert synthesized.filter(pl.col("FAIL_TO_PASS").list.len() == 0).is_empty()


def test_config_is_checked_before_anything_runs(tmp_path):
    import subprocess

    from .conftest import synth_argv, synth_env

    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.read_text().replace("max_per_project: 20", "max_per_project: 0"))
    proc = subprocess.run(synth_argv(bad, tmp_path / "o", f"sqlite:///{tmp_path}/l.db", tmp_path / "c"),
                          env=synth_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and re.search(r"bad\.yaml:\d+: max_per_project: ", proc.stderr)
    proc = subprocess.run(synth_argv(SMALL, tmp_path / "o", f"sqlite:///{tmp_path}/l.db", tmp_path / "c",
                                     "--modifiers", "func_pm_nope"),
                          env=synth_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown modifier(s) func_pm_nope" in proc.stderr
    assert not (tmp_path / "o").exists()
