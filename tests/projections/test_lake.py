"""The lake as a whole: one schema for every file, several logs in one lake, schema evolution."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

import events
from events.log import open_log
from events.payloads import ScoreUpdated
from projections import lake as lk
from projections.projector import Projector
from projections.schema import event_schema, fingerprint
from tests.conftest import kafka_log_url

from .bulk import lake_ids, log_ids, write_bulk

ROOT = Path(__file__).resolve().parents[2]


def _project(url: str, lake: Path | None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`ledger project --log URL [--lake DIR]` (without --lake: the default lake under `cwd`)."""
    where = ["--lake", str(lake)] if lake is not None else []
    return subprocess.run([sys.executable, "-m", "main", "project", "--log", url, *where], cwd=cwd,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_the_whole_event_lake_reads_with_no_options(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/log.db")
    write_bulk(log, 400)
    Projector(log, tmp_path / "lake", batch=90).run()
    want = len(set(log_ids(log)))
    log.close()
    glob = lk.events_glob(tmp_path / "lake")
    assert pl.scan_parquet(glob).select(pl.len()).collect().item() == want
    rows = duckdb.sql(f"SELECT type, date, day, count(*) FROM read_parquet('{glob}', hive_partitioning=true, "
                      "union_by_name=true) GROUP BY ALL").fetchall()
    assert sum(r[3] for r in rows) == want and all(r[1] == r[2] for r in rows)
    table = pq.read_table(tmp_path / "lake" / lk.EVENTS)
    assert str(table.schema.field("date").type) == "date32[day]" and table.num_rows == want
    evals = pl.scan_parquet(tmp_path / "lake/events/evals/eval.result").collect()
    assert evals.schema == pl.Schema({**event_schema(), "day": pl.Date})
    f2p = evals["eval_result"].struct.field("fail_to_pass").to_list()
    assert f2p[0] == [{"test": "t", "status": "PASSED"}]


def test_two_logs_in_one_lake_are_followed_side_by_side_and_nothing_is_dropped(tmp_path, kafka_bootstrap):
    """The main log and the RL demo's log into the one default lake (.ledger/lake), then a Kafka log."""
    lake = tmp_path / ".ledger" / "lake"
    main, rl = f"sqlite:///{tmp_path}/ledger.db", f"sqlite:///{tmp_path}/demo-rl.db"
    kafka = kafka_log_url(kafka_bootstrap, prefix=f"t{tmp_path.name[-8:]}.")
    logs = {url: open_log(url) for url in (main, rl, kafka)}
    for i, log in enumerate(logs.values()):
        write_bulk(log, 120, seed=i)  # the same shapes, different events at the same offsets
    for url in logs:
        done = _project(url, None, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    manifest = lk.Manifest.load(lake)
    assert set(manifest.logs) == {"ledger", "demo-rl", f"kafka-t{tmp_path.name[-8:]}"}
    assert manifest.logs["ledger"].identity["kind"] == "sqlite"
    assert manifest.logs[f"kafka-t{tmp_path.name[-8:]}"].identity["cluster_id"]
    want = set().union(*(log_ids(log) for log in logs.values()))
    assert sorted(lake_ids(lake)) == sorted(want), "every event of every log, once"
    per_log = pl.scan_parquet(lk.events_glob(lake)).group_by("log_name").len().collect()
    assert dict(per_log.iter_rows()) == {name: sum(e.rows.values()) for name, e in manifest.logs.items()}
    # a copy of a log is the same log: nothing new, nothing twice
    with sqlite3.connect(tmp_path / "ledger.db") as src, sqlite3.connect(tmp_path / "copy.db") as dst:
        src.backup(dst)
    again = _project(f"sqlite:///{tmp_path}/copy.db", None, cwd=tmp_path)
    assert again.returncode == 0 and "as log 'ledger'" in again.stderr and "projected 0 records" in again.stderr
    assert set(lk.Manifest.load(lake).logs) == set(manifest.logs)
    for log in logs.values():
        log.close()


def test_an_added_field_migrates_every_file_to_the_new_schema(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/log.db")
    write_bulk(log, 200)
    lake = tmp_path / "lake"
    Projector(log, lake).run()
    before = {f.path: pl.read_parquet(f.path) for f in lk.data_files(lake)}
    score = pl.col("score_updated")
    fields = [f.name for f in event_schema()["score_updated"].fields if f.name != "samples"]
    for path, frame in before.items():  # as written before `samples` and the task.finished type existed
        old = frame.drop("task_finished").with_columns(
            pl.when(score.is_null()).then(None).otherwise(pl.struct(score.struct.field(*fields))).alias("score_updated"))
        old.write_parquet(path)
    manifest = lk.Manifest.load(lake)
    manifest.schema = "older"
    manifest.save(lake)
    projector = Projector(log, lake)
    assert projector.migrated == len(before)
    assert lk.Manifest.load(lake).schema == fingerprint()
    for path, frame in before.items():
        now = pl.read_parquet(path)
        assert now.schema == frame.schema, path
        assert now.drop("score_updated").equals(frame.drop("score_updated")), path
        kept = now.select(score.struct.field(*fields)), frame.select(score.struct.field(*fields))
        assert kept[0].equals(kept[1]) and now.select(score.struct.field("samples")).null_count().item() == now.height
    log.append("scores", [events.new(ScoreUpdated(scope="run", scope_key="r", metric="pass@k", k=1, value=1.0,
                                                  n=1, samples=1), producer="p", run_id="r")])
    projector.run()
    projector.close()
    assert pl.scan_parquet(lk.events_glob(lake)).select(pl.len()).collect().item() == len(set(log_ids(log)))
    log.close()


def test_a_lake_of_the_first_layout_is_projected_again(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/log.db")
    write_bulk(log, 80)
    lake = tmp_path / "lake"
    (lake / "evals/eval.result/date=2026-03-01").mkdir(parents=True)
    (lake / "evals/eval.result/date=2026-03-01/evals-0-00000000000000000000.parquet").write_bytes(b"old")
    (lake / lk.MANIFEST).write_text(json.dumps({"version": 1, "offsets": {"evals/0": 999}}))
    projector = Projector(log, lake)
    assert projector.rebuilt and not (lake / "evals").exists()
    projector.run()
    assert sorted(lake_ids(lake)) == sorted(set(log_ids(log)))
    log.close()


def test_a_lake_path_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "lake").write_text("not a directory")
    open_log(f"sqlite:///{tmp_path}/log.db").close()
    res = _project(f"sqlite:///{tmp_path}/log.db", tmp_path / "lake")
    assert res.returncode == 2 and res.stderr.strip().startswith("ledger project: the lake path")
    assert "Traceback" not in res.stderr
