"""`ledger compact`: fewer files, the same rows, and a crash mid-merge is finished on restart."""
from __future__ import annotations

import json
import os
import shutil

import polars as pl

from events.log import open_log
from projections import lake as lk
from projections.compact import JOURNAL, compact, repair
from projections.projector import Projector

from .bulk import write_bulk


def _all_rows(lake) -> pl.DataFrame:
    frames = [pl.read_parquet(f.path, hive_partitioning=False).with_columns(day=pl.lit(f.date))
              for f in lk.data_files(lake)]
    return pl.concat(frames, how="diagonal_relaxed").sort(["type", "log_partition", "log_offset"])


def _small_files_lake(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/log.db")
    write_bulk(log, 800)
    lake = tmp_path / "lake"
    Projector(log, lake, batch=25).run()
    log.close()
    return lake


def test_compact_merges_files_without_changing_rows(tmp_path):
    lake = _small_files_lake(tmp_path)
    before_rows, before_files = _all_rows(lake), list(lk.data_files(lake))
    groups = {(f.path.parent, f.partition) for f in before_files}
    report = compact(lake)
    after_files = list(lk.data_files(lake))
    assert report.files_before == len(before_files) > len(groups)
    assert report.files_after == len(after_files) == len(groups), "one file per day and topic-partition"
    assert _all_rows(lake).equals(before_rows)
    assert compact(lake).groups == 0


def test_compaction_interrupted_after_the_rename_is_finished(tmp_path):
    lake = _small_files_lake(tmp_path)
    before = _all_rows(lake)
    files = sorted((f for f in lk.data_files(lake, "scores")), key=lambda f: f.first_offset)
    day = [f for f in files if f.path.parent == files[0].path.parent]
    merged = pl.concat([pl.read_parquet(f.path, hive_partitioning=False) for f in day])
    plan = {"target": str(day[0].path), "tmp": str(day[0].path) + ".compacting",
            "replaces": [str(f.path) for f in day]}
    (lake / JOURNAL).write_text(json.dumps(plan))
    merged.write_parquet(day[0].path)  # crashed after the rename, before deleting the rest
    assert repair(lake)
    assert not (lake / JOURNAL).exists()
    assert _all_rows(lake).equals(before)


def test_compaction_interrupted_before_the_rename_is_rolled_back(tmp_path):
    lake = _small_files_lake(tmp_path)
    before = _all_rows(lake)
    first = next(lk.data_files(lake, "evals"))
    tmp = first.path.with_name(first.path.name + ".compacting")
    shutil.copy(first.path, tmp)
    (lake / JOURNAL).write_text(json.dumps({"target": str(first.path), "tmp": str(tmp),
                                            "replaces": [str(first.path)]}))
    Projector(open_log(f"sqlite:///{tmp_path}/log.db"), lake)  # a starting projector repairs too
    assert not tmp.exists() and not (lake / JOURNAL).exists()
    assert _all_rows(lake).equals(before)


def test_compact_cli(tmp_path):
    lake = _small_files_lake(tmp_path)
    from main import main

    assert main(["compact", "--lake", str(lake)]) == 0
    files = list(lk.data_files(lake))
    assert len(files) == len({(f.path.parent, f.partition) for f in files})
    assert all(not name.endswith(".compacting") for _, _, names in os.walk(lake) for name in names)
