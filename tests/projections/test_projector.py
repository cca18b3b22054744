"""The projector: exactly-once under SIGKILL, identical rebuilds, dedupe, rejects, upcasts."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import polars as pl

import events
from events.blob import make_blob
from events.log import open_log
from events.payloads import AgentAction, ScoreUpdated
from events.registry import SPECS
from projections import lake as lk
from projections.projector import Projector

from .bulk import lake_ids, log_ids, write_bulk

ROOT = Path(__file__).resolve().parents[2]


def _tables(lake: Path) -> dict[str, pl.DataFrame]:
    out = {}
    for f in lk.data_files(lake):
        out.setdefault(f"{f.topic}/{f.event_type}", []).append(pl.read_parquet(f.path, hive_partitioning=False)
                                                               .with_columns(day=pl.lit(f.date)))
    return {k: pl.concat(v).sort("id") for k, v in out.items()}


def _project_cmd(url: str, lake: Path, batch: int) -> list[str]:
    return [sys.executable, "-m", "main", "project", "--log", url, "--lake", str(lake), "--batch", str(batch)]


def _progress(lake: Path) -> int:
    try:
        logs = json.loads((lake / lk.MANIFEST).read_text()).get("logs", {})
        return sum(sum(e["offsets"].values()) for e in logs.values())
    except (FileNotFoundError, ValueError):
        return -1


def _entry(lake: Path) -> lk.LogEntry:
    """The manifest entry of the one log a lake follows."""
    (entry,) = lk.Manifest.load(lake).logs.values()
    return entry


def _rows(lake: Path, event_type: str) -> pl.DataFrame:
    return lk.table(lake, event_type).collect()


def test_sigkill_at_ten_points_leaves_every_event_exactly_once(log_url, tmp_path):
    url = log_url
    sqlite = url.startswith("sqlite")
    log = open_log(url)
    write_bulk(log, 6000 if sqlite else 2000)
    expected = log_ids(log)
    lake = tmp_path / "lake"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(11)
    kills, points = 0, 10 if sqlite else 4  # Kafka restarts cost seconds each: fewer points there
    for _ in range(points):
        before = _progress(lake)
        proc = subprocess.Popen(_project_cmd(url, lake, 40), cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while proc.poll() is None and _progress(lake) == before:
            time.sleep(0.01)  # wait until it is projecting, then kill at a random point
        time.sleep(rng.uniform(0.0, 0.05))  # short: a fast machine finishes the rest quickly
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        proc.stderr.close()
    assert kills >= points - 2, "the projector finished too early for the kills to land mid-projection"
    done = subprocess.run(_project_cmd(url, lake, 40), cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = lake_ids(lake)
    assert len(got) == len(set(got)), "an event is in the lake twice"
    assert sorted(got) == sorted(set(expected))
    assert len(expected) - len(set(expected)) == 25  # the log really held duplicates
    assert _entry(lake).duplicates == 25
    clean = tmp_path / "clean"
    Projector(log, clean).run()
    assert _tables(lake).keys() == _tables(clean).keys()
    for name, frame in _tables(clean).items():
        assert _tables(lake)[name].drop("log_offset", "log_partition").equals(
            frame.drop("log_offset", "log_partition")), name
    log.close()


def test_rebuild_from_scratch_gives_identical_tables(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/log.db")
    write_bulk(log, 1200)
    Projector(log, tmp_path / "a", batch=300).run()
    Projector(log, tmp_path / "b", batch=300).run()
    a, b = _tables(tmp_path / "a"), _tables(tmp_path / "b")
    assert set(a) == {"evals/eval.result", "proxy/proxy.response", "scores/score.updated",
                      "actions/agent.action", "trainer/trainer.step"}
    for name in a:
        assert a[name].equals(b[name]), name
    assert lk.Manifest.load(tmp_path / "a") == lk.Manifest.load(tmp_path / "b")
    log.close()


def test_rows_are_typed_and_partitioned_by_event_day(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/log.db")
    write_bulk(log, 400)
    Projector(log, tmp_path / "lake").run()
    days = sorted(p.name for p in (tmp_path / "lake/events/proxy/proxy.response").iterdir())
    assert days == ["day=2026-03-01", "day=2026-03-02"]
    frame = pl.scan_parquet(tmp_path / "lake/events/proxy/proxy.response", hive_partitioning=True).collect()
    assert frame.schema["day"] == pl.Date and frame.schema["date"] == pl.Date
    assert (frame["day"] == frame["date"]).all() and (frame["date"] == frame["ts"].dt.date()).all()
    resp = frame["proxy_response"].struct.unnest()
    assert resp.schema["completion_token_ids"] == pl.List(pl.Int64)
    assert resp.schema["logprobs"] == pl.List(pl.Float64)
    assert frame.schema["ts"] == pl.Datetime("us", "UTC")
    assert resp["usage"][0] == {"prompt_tokens": None, "completion_tokens": 8, "total_tokens": None, "other": None}
    assert (frame["schema_version"] == SPECS["proxy.response"].version).all() and frame["eval_result"].is_null().all()
    assert resp.schema["policy_version"] == pl.Struct({"trainer_id": pl.String, "step": pl.Int64,
                                                       "unknown": pl.Boolean})
    names = [p.name for p in (tmp_path / "lake/events/proxy/proxy.response/day=2026-03-01").iterdir()]
    assert all(n.startswith("log.proxy-") and n.endswith(".parquet") for n in names)
    log.close()


def test_old_versions_are_upcast_and_garbage_is_rejected_not_fatal(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/log.db")
    v1 = {"id": events.uuid7(), "type": "agent.action", "v": 1, "ts": "2026-01-02T03:04:05Z", "run_id": "r",
          "key": "ep", "parent": None, "producer": "agent",
          "payload": {"episode_id": "ep", "step": 0, "command": "ls", "output": "a b"}}
    v2 = events.new(AgentAction(episode_id="ep", step=1, command="pwd", observation=make_blob("/")),
                    producer="agent", run_id="r")
    log.append_raw("actions", [("ep", orjson.dumps(v1)), ("ep", b"not json"),
                               ("ep", b'{"type":"agent.action","v":2,"payload":{}}'),
                               ("ep", events.encode(v2))])
    Projector(log, tmp_path / "lake").run()
    frame = _rows(tmp_path / "lake", "agent.action").sort("step")
    assert frame["id"].to_list() == [v1["id"], v2.id]
    assert frame["observation"][0]["text"] == "a b"
    assert frame["schema_version"].to_list() == [2, 2]
    assert _entry(tmp_path / "lake").rejected == 2
    log.close()


def test_restart_sweeps_files_past_the_manifest(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/log.db")
    evs = [events.new(ScoreUpdated(scope="run", scope_key="r", metric="pass@k", k=1, value=0.5, n=1, samples=1),
                      producer="p", run_id="r") for _ in range(10)]
    log.append("scores", evs)
    lake = tmp_path / "lake"
    Projector(log, lake).run()
    day = next((lake / "events/scores/score.updated").iterdir())
    orphan = day / lk.file_name("log", "scores", 0, 10)  # as if a batch died before its manifest
    orphan.write_bytes((day / lk.file_name("log", "scores", 0, 0)).read_bytes())
    (day / "x.parquet.tmp").write_bytes(b"half")
    fresh = events.new(evs[0].payload, producer="p", run_id="r")
    log.append("scores", evs[:1] + [fresh])
    Projector(log, lake).run()
    assert not (day / "x.parquet.tmp").exists()
    assert sorted(lake_ids(lake)) == sorted({e.id for e in evs} | {fresh.id})
    log.close()


def test_every_backend_projects_exactly_once_and_commits_group_offsets(log_url, tmp_path):
    from projections.projector import GROUP

    log = open_log(log_url)
    write_bulk(log, 300)
    lake = tmp_path / "lake"
    projector = Projector(log, lake, batch=64)
    assert projector.run() == len(log_ids(log))
    assert sorted(lake_ids(lake)) == sorted(set(log_ids(log)))
    more = [events.new(ScoreUpdated(scope="run", scope_key="r", metric="pass@k", k=1, value=0.5, n=1, samples=1),
                       producer="p", run_id="r") for _ in range(5)]
    log.append("scores", more)
    assert projector.run() == 5
    projector.close()
    assert sorted(lake_ids(lake)) == sorted(set(log_ids(log)))
    consumer = log.consumer(GROUP, ["scores", "evals"])
    try:
        committed = consumer.committed()
    finally:
        consumer.close()
    ends = {("scores", p): o for p, o in log.end_offsets("scores").items()}
    ends.update({("evals", p): o for p, o in log.end_offsets("evals").items()})
    assert committed == ends
    log.close()


def test_follow_projects_new_events_and_refreshes_views(tmp_path):
    url = f"sqlite:///{tmp_path}/log.db"
    log = open_log(url)
    lake = tmp_path / "lake"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*_project_cmd(url, lake, 100), "--follow"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        evs = [events.new(ScoreUpdated(scope="run", scope_key="r", metric="pass@k", k=k, value=k / 10, n=5, samples=1),
                          producer="p", run_id="r") for k in (1, 2, 3)]
        log.append("scores", evs)
        index = lake / "views" / "scores.parquet"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (index.exists() and pl.read_parquet(index).height == 3):
            time.sleep(0.1)
        assert pl.read_parquet(index)["value"].to_list() == [0.1, 0.2, 0.3]
        assert sorted(lake_ids(lake)) == sorted(e.id for e in evs)
        assert proc.poll() is None, "a follower keeps running"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "projected 3 records" in err
    log.close()


class _FailingFetchLog:
    """The SQLite log, except that one `fetch` call fails as an unreachable backend would."""

    def __init__(self, log, fail_on_call: int):
        self._log, self._fail_on, self._calls = log, fail_on_call, 0

    def fetch(self, *args, **kwargs):
        from events.log import LogUnavailable

        self._calls += 1
        if self._calls == self._fail_on:
            raise LogUnavailable("backend went away")
        return self._log.fetch(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._log, name)


def test_a_failed_round_can_be_retried_without_loss_or_duplicates(tmp_path):
    from events.log import LogUnavailable

    log = open_log(f"sqlite:///{tmp_path}/log.db")
    write_bulk(log, 400)
    projector = Projector(_FailingFetchLog(log, fail_on_call=26), tmp_path / "lake")
    try:
        projector.step()
    except LogUnavailable:
        pass
    else:
        raise AssertionError("the round should have failed")
    projector.run()
    assert sorted(lake_ids(tmp_path / "lake")) == sorted(set(log_ids(log)))
    assert len(lake_ids(tmp_path / "lake")) == len(set(log_ids(log)))
    log.close()


def test_repeats_inside_one_batch_keep_the_first_copy(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/log.db")
    evs = [events.new(ScoreUpdated(scope="run", scope_key="r", metric="pass@k", k=k, value=0.5, n=1, samples=1),
                      producer="p", run_id="r") for k in (1, 2)]
    raw = [(e.key, events.encode(e)) for e in evs]
    log.append_raw("scores", raw + raw[:1] + raw)
    Projector(log, tmp_path / "lake").run()
    frame = _rows(tmp_path / "lake", "score.updated")
    assert frame["id"].to_list() == [evs[0].id, evs[1].id] and frame["log_offset"].to_list() == [0, 1]
    assert _entry(tmp_path / "lake").duplicates == 3
    log.close()


def test_rebuilt_views_are_identical(demo_root, demo_lake, tmp_path):
    from projections.views import refresh_all

    log = open_log(f"sqlite:///{demo_root}/.ledger/ledger.db")
    Projector(log, tmp_path / "lake").run()
    refresh_all(tmp_path / "lake")
    log.close()
    assert _tables(tmp_path / "lake").keys() == _tables(demo_lake).keys()
    for name, frame in _tables(demo_lake).items():
        assert _tables(tmp_path / "lake")[name].equals(frame), name
    views = sorted(p.relative_to(demo_lake) for p in (demo_lake / "views").rglob("*") if p.is_file())
    assert views == sorted(p.relative_to(tmp_path / "lake") for p in (tmp_path / "lake/views").rglob("*")
                           if p.is_file())
    for rel in views:
        if rel.suffix == ".parquet":
            assert pl.read_parquet(demo_lake / rel).equals(pl.read_parquet(tmp_path / "lake" / rel))
        else:
            assert (demo_lake / rel).read_bytes() == (tmp_path / "lake" / rel).read_bytes(), rel
