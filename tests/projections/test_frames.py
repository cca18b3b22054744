"""Chunks that look uniform but are not: the reader's own columns send them down the split path."""
from __future__ import annotations

import orjson
import polars as pl

import events
from events.log import open_log
from events.payloads import PolicyUpdated, ScoreUpdated, TrainerStep
from events.registry import SPECS
from projections import lake as lk
from projections.frames import prepare as prepare_typed
from projections.lake import flatten
from projections.projector import Projector
from projections.sources import Chunk


def _chunk(values: list[bytes], first: int = 0) -> Chunk:
    return Chunk(pl.Series("log_offset", range(first, first + len(values)), dtype=pl.Int64), values)


def prepare(topic: str, part: int, chunk: Chunk):
    """Frames by type, flattened (payload fields as columns) for the assertions."""
    prepared = prepare_typed(topic, part, chunk, "log")
    prepared.frames = {t: flatten(f, t) for t, f in prepared.frames.items()}
    return prepared


def _table(lake, event_type: str) -> pl.DataFrame:
    return lk.table(lake, event_type).collect().sort("log_offset")


def _step(s: int):
    return events.new(TrainerStep(trainer_id="t", step=s, loss=1.0), producer="trainer", run_id="r")


def test_another_type_between_the_sampled_records_is_split_out():
    policy = events.new(PolicyUpdated(trainer_id="t", version=1, checkpoint="c", step=1), producer="trainer",
                        run_id="r")
    evs = [_step(0), policy, _step(1), _step(2), _step(3)]  # first, middle and last are trainer.step
    prepared = prepare("trainer", 0, _chunk([events.encode(e) for e in evs], first=10))
    assert set(prepared.frames) == {"trainer.step", "policy.updated"} and prepared.rejected == 0
    steps = prepared.frames["trainer.step"]
    assert steps["step"].to_list() == [0, 1, 2, 3] and steps["log_offset"].to_list() == [10, 12, 13, 14]
    assert prepared.frames["policy.updated"]["log_offset"].to_list() == [11]
    assert prepared.frames["policy.updated"]["checkpoint"].to_list() == ["c"]


def test_a_record_with_line_breaks_is_still_one_row_at_its_offset(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/log.db")
    evs = [events.new(ScoreUpdated(scope="run", scope_key="r", metric="pass@k", k=k, value=0.5, n=1, samples=1),
                      producer="p", run_id="r") for k in range(1, 6)]
    values = [events.encode(e) for e in evs]
    values[2] = values[2][:-1].replace(b'"payload":', b'"payload":\n') + b"\n}"  # valid JSON on three lines
    assert values[2].count(b"\n") == 2 and orjson.loads(values[2])["id"] == evs[2].id
    log.append_raw("scores", [(e.key, v) for e, v in zip(evs, values)])
    Projector(log, tmp_path / "lake").run()
    frame = _table(tmp_path / "lake", "score.updated")
    assert frame["id"].to_list() == [e.id for e in evs]
    assert frame["log_offset"].to_list() == [0, 1, 2, 3, 4] and frame["k"].to_list() == [1, 2, 3, 4, 5]
    assert lk.Manifest.load(tmp_path / "lake").logs["log"].rejected == 0
    log.close()


def test_a_uniform_chunk_is_one_frame_with_the_chunk_offsets():
    prepared = prepare("trainer", 3, _chunk([events.encode(_step(s)) for s in range(4)], first=7))
    assert list(prepared.frames) == ["trainer.step"] and prepared.rejected == 0
    frame = prepared.frames["trainer.step"]
    assert frame["log_offset"].to_list() == [7, 8, 9, 10] and (frame["log_partition"] == 3).all()
    assert frame.schema["ts"] == pl.Datetime("us", "UTC") and (frame["schema_version"] == SPECS["trainer.step"].version).all()


def test_a_type_that_reads_cleanly_with_the_first_ones_schema_is_still_split_out():
    from events.payloads import AlertRaised, AlertResolved

    resolved = [events.new(AlertResolved(rule=f"r{i}", value=0.1, threshold=0.5, window_s=60.0), producer="alerts")
                for i in range(3)]
    raised = events.new(AlertRaised(rule="x", value=0.9, threshold=0.5, window_s=60.0), producer="alerts")
    evs = [resolved[0], raised, resolved[1], resolved[2]]  # raised has every field resolved requires
    prepared = prepare("alerts", 0, _chunk([events.encode(e) for e in evs]))
    assert prepared.frames["alert.resolved"]["log_offset"].to_list() == [0, 2, 3]
    assert prepared.frames["alert.raised"]["rule"].to_list() == ["x"]
    assert prepared.frames["alert.raised"]["log_offset"].to_list() == [1]


def test_an_empty_record_is_rejected_and_the_rest_keep_their_offsets():
    values = [events.encode(_step(s)) for s in range(4)]
    values[1] = b""
    prepared = prepare("trainer", 0, _chunk(values))
    assert prepared.rejected == 1
    assert prepared.frames["trainer.step"]["log_offset"].to_list() == [0, 2, 3]
    assert prepared.frames["trainer.step"]["step"].to_list() == [0, 2, 3]


def test_offsets_with_gaps_are_read_with_the_records(tmp_path):
    import sqlite3

    log = open_log(f"sqlite:///{tmp_path}/log.db")
    assert log.partitions("scores") == 1
    evs = [events.new(ScoreUpdated(scope="run", scope_key="r", metric="pass@k", k=k, value=0.5, n=1, samples=1),
                      producer="p", run_id="r") for k in (1, 2, 3)]
    raw = sqlite3.connect(tmp_path / "log.db")  # a log written by another tool, with holes in its offsets
    raw.executemany("INSERT INTO events (topic, partition, offset, id, key, value) VALUES ('scores', 0, ?, ?, ?, ?)",
                    [(o, e.id, e.key, events.encode(e)) for o, e in zip((0, 1, 5), evs)])
    raw.commit()
    raw.close()
    Projector(log, tmp_path / "lake").run()
    frame = _table(tmp_path / "lake", "score.updated")
    assert frame["log_offset"].to_list() == [0, 1, 5] and frame["k"].to_list() == [1, 2, 3]
    assert lk.Manifest.load(tmp_path / "lake").logs["log"].offsets == {"scores/0": 5}
    log.close()
