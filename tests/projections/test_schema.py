"""The lake type rule derived from payload annotations, and the one event schema."""
from __future__ import annotations

from typing import Any, Literal

import polars as pl
from pydantic import BaseModel

from events.registry import SPECS
from projections.schema import (
    column_of,
    event_schema,
    field_kinds,
    flat_columns,
    lake_dtype,
    payload_dtype,
    required_fields,
)
from projections.typed import shaper_for


class Inner(BaseModel):
    a: int
    b: list[float]
    m: dict[str, int] = {}


def test_rule():
    assert lake_dtype(int) == pl.Int64 and lake_dtype(float) == pl.Float64
    assert lake_dtype(bool) == pl.Boolean and lake_dtype(str) == pl.String
    assert lake_dtype(Literal["x", "y"]) == pl.String and lake_dtype(Literal[1, 2]) == pl.Int64
    assert lake_dtype(int | None) == pl.Int64
    assert lake_dtype(list[int]) == pl.List(pl.Int64)
    entries = pl.List(pl.Struct({"key": pl.String, "value": pl.Int64}))
    assert lake_dtype(dict[str, int]) == entries
    assert lake_dtype(Inner) == pl.Struct({"a": pl.Int64, "b": pl.List(pl.Float64), "m": entries})
    for open_shape in (dict[str, Any], Any, int | str):
        assert lake_dtype(open_shape) == pl.String  # JSON text
    assert lake_dtype(list[dict[str, Any]]) == pl.List(pl.String)


def test_structured_fields_are_typed_not_json():
    req, resp = payload_dtype("proxy.request"), payload_dtype("proxy.response")
    msg = {f.name: f.dtype for f in req.to_schema()["messages"].inner.fields}
    assert list(msg) == ["role", "content", "name", "tool_call_id", "tool_calls", "other"]
    assert msg["tool_calls"].inner.to_schema()["function"] == pl.Struct({"name": pl.String, "arguments": pl.String})
    assert req.to_schema()["sampling"].to_schema()["temperature"] == pl.Float64
    assert resp.to_schema()["usage"].to_schema()["completion_tokens"] == pl.Int64
    tests = pl.List(pl.Struct({"test": pl.String, "status": pl.String}))
    ev = payload_dtype("eval.result").to_schema()
    assert ev["fail_to_pass"] == tests and ev["pass_to_pass"] == tests
    assert payload_dtype("run.started").to_schema()["config"] == pl.List(pl.Struct({"key": pl.String,
                                                                                   "value": pl.String}))
    assert field_kinds("eval.result")["fail_to_pass"] == "map" and field_kinds("proxy.request")["messages"] == "shaped"


def test_one_schema_for_every_file():
    cols = event_schema()
    assert list(cols)[:12] == ["id", "type", "schema_version", "ts", "date", "run_id", "key", "parent", "producer",
                               "log_name", "log_partition", "log_offset"]
    assert cols["date"] == pl.Date and cols["ts"] == pl.Datetime("us", "UTC")
    for event_type in SPECS:
        assert cols[column_of(event_type)] == payload_dtype(event_type)
        assert set(required_fields(event_type)) <= set(flat_columns(event_type))
    assert flat_columns("rollout.group")["run_id"] == "payload_run_id"
    assert flat_columns("deadletter.record")["key"] == "payload_key"


def test_shapers_keep_what_the_typed_form_has_no_field_for():
    shape = shaper_for(list[dict[str, Any]], "ProxyRequest", "messages")
    msgs = shape([{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}],
                   "cache_control": {"type": "ephemeral"}},
                  {"role": "assistant", "content": None,
                   "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "bash",
                                                                                "arguments": '{"cmd": "ls"}'}}]}])
    assert msgs[0]["content"] == "hi"
    assert {o["key"] for o in msgs[0]["other"]} == {"content", "cache_control"}
    assert msgs[1]["tool_calls"][0]["function"] == {"name": "bash", "arguments": '{"cmd": "ls"}'}
    sampling = shaper_for(dict[str, Any], "ProxyRequest", "sampling")(
        {"temperature": 1, "stop": "\n", "logit_bias": {"1": 2}, "seed": True})
    assert sampling["temperature"] == 1.0 and sampling["stop"] == ["\n"] and sampling["seed"] is None
    assert {o["key"]: o["value"] for o in sampling["other"]} == {"logit_bias": '{"1":2}', "seed": "true"}
    config = shaper_for(dict[str, Any], "RunStarted", "config")({"sampling": {"n": 4, "k": [1, 2]}, "id": "x"})
    assert config == [{"key": "sampling.n", "value": "4"}, {"key": "sampling.k", "value": "[1,2]"},
                      {"key": "id", "value": "x"}]


def test_the_schema_reference_is_generated_from_the_catalog():
    """docs/lake-schema.md is what `python -m projections.schema_doc` writes (regenerate it after
    changing a payload)."""
    from pathlib import Path

    from projections.schema_doc import main, render

    doc = Path(__file__).resolve().parents[2] / "docs" / "lake-schema.md"
    assert main(["--check", str(doc)]) == 0, "python -m projections.schema_doc > docs/lake-schema.md"
    text = render()
    for event_type in SPECS:
        assert f"### `{event_type}`" in text
    assert "| `fail_to_pass` | `fail_to_pass` | `list<struct<test, status>>` |" in text
