"""Events at the bounds of events.bounds decode in every reader of the log.

One event nests exactly MAX_DEPTH levels, one is MAX_EVENT_BYTES long; both
are appended to each backend and read back by the log's own reader,
`ledger events`, the processors' runtime and the projector (Polars).
"""
from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest
from pydantic import ValidationError

import events
from events.bounds import MAX_DEPTH, MAX_EVENT_BYTES, depth_beyond, json_path
from events.codec import decode, encode
from events.log import open_log
from events.log.decoding import _validate_json
from events.payloads import ProxyRequest
from processors.runtime import Runtime
from projections.lake import table
from projections.projector import project
from tests.conftest import REPO_ROOT


def nested(levels: int) -> object:
    value: object = "leaf"
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


def deep_event(depth: int) -> events.Envelope:
    """A proxy.request whose encoding nests `depth` levels (envelope, payload, sampling, value)."""
    payload = ProxyRequest(episode_id="ep-deep", request_id="r", turn=0, sampling={"x": nested(depth - 3)})
    return events.new(payload, producer="proxy")


def big_event(size: int) -> events.Envelope:
    base = events.new(ProxyRequest(episode_id="ep-big", request_id="r", turn=0, prompt=""), producer="proxy")
    room = size - len(encode(base))
    ev = base.model_copy(update={"payload": ProxyRequest(episode_id="ep-big", request_id="r", turn=0,
                                                         prompt="é" * (room // 2) + "x" * (room % 2))})
    assert len(encode(ev)) == size
    return ev


class CountProxy:
    """A reducer that only counts what it is given."""

    name, version, inputs = "bounds-count", 1, ("proxy",)

    def initial_state(self) -> int:
        return 0

    def apply(self, state: int, record) -> tuple[int, list]:
        return state + 1, []


def test_depth_is_measured_as_the_readers_count_it():
    assert depth_beyond(nested(5), 5) is None and depth_beyond("x", 0) is None
    assert depth_beyond({"a": [1, {"b": nested(4)}]}, 6) == ["a", 1, "b", 0, "k", 0]
    assert json_path(["messages", 0, "content", 1, "text"]) == "messages[0].content[1].text"
    ev = deep_event(MAX_DEPTH)
    assert depth_beyond(orjson_loads(encode(ev)), MAX_DEPTH) is None
    assert depth_beyond(orjson_loads(encode(ev)), MAX_DEPTH - 1) is not None


def orjson_loads(data: bytes):
    import orjson

    return orjson.loads(data)


def test_the_bound_lies_inside_the_tightest_reader():
    """pydantic-core's parser (every decode) stops at 200 levels; MAX_DEPTH must stay below."""
    import orjson

    assert decode(encode(deep_event(MAX_DEPTH))).payload.sampling["x"] == nested(MAX_DEPTH - 3)
    _validate_json(encode(deep_event(190)))  # the margin: still fine well past the bound
    with pytest.raises(ValidationError, match="recursion limit"):
        _validate_json(orjson.dumps(nested(201)))


@pytest.mark.timeout(300)
def test_events_at_the_bounds_decode_in_every_reader(log_url, tmp_path, subprocess_env):
    evs = [deep_event(MAX_DEPTH), big_event(MAX_EVENT_BYTES)]
    log = open_log(log_url)
    try:
        log.append("proxy", evs)
        back = [r.event for r in log.read("proxy")]
        assert sorted(back, key=lambda e: e.id) == sorted(evs, key=lambda e: e.id)
        stats = Runtime(log, [CountProxy()]).run()
        assert stats["processor.bounds-count@1"].records == 2
        assert stats["processor.bounds-count@1"].deadletters == 0
        assert list(log.read("deadletter")) == []
    finally:
        log.close()
    printed = subprocess.run([sys.executable, "main.py", "events", "--log", log_url, "--topic", "proxy"],
                             cwd=REPO_ROOT, env=subprocess_env, capture_output=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    assert sorted(decode(line).id for line in printed.stdout.splitlines()) == sorted(e.id for e in evs)
    assert project(log_url, tmp_path / "lake", views=False) >= 2
    rows = table(tmp_path / "lake", "proxy.request").collect()
    assert rows.height == 2 and set(rows["episode_id"]) == {"ep-deep", "ep-big"}
    assert rows.filter(pl.col("episode_id") == "ep-big")["prompt"].str.len_bytes()[0] > MAX_EVENT_BYTES - 1024
