"""The column-type rule derived from payload annotations."""
from __future__ import annotations

from typing import Any, Literal

import polars as pl
from pydantic import BaseModel

from events.registry import SPECS
from projections.schema import dtype_for, required_columns, row_schema


class Inner(BaseModel):
    a: int
    b: list[float]


def test_rule():
    assert dtype_for(int) == pl.Int64 and dtype_for(float) == pl.Float64
    assert dtype_for(bool) == pl.Boolean and dtype_for(str) == pl.String
    assert dtype_for(Literal["x", "y"]) == pl.String and dtype_for(Literal[1, 2]) == pl.Int64
    assert dtype_for(int | None) == pl.Int64
    assert dtype_for(list[int]) == pl.List(pl.Int64)
    assert dtype_for(Inner) == pl.Struct({"a": pl.Int64, "b": pl.List(pl.Float64)})
    assert dtype_for(list[Inner]) == pl.List(pl.Struct({"a": pl.Int64, "b": pl.List(pl.Float64)}))
    for open_shape in (dict[str, int], dict[str, Any], list[dict[str, Any]], Any, int | str):
        assert dtype_for(open_shape) == pl.String


def test_every_event_type_has_a_table_schema():
    for event_type in SPECS:
        cols = row_schema(event_type)
        assert list(cols)[:8] == ["id", "type", "schema_version", "ts", "run_id", "key", "parent", "producer"]
        assert list(cols)[-2:] == ["log_partition", "log_offset"]
        assert set(required_columns(event_type)) <= set(cols)
    assert row_schema("rollout.group")["payload_run_id"] == pl.String
    assert row_schema("deadletter.record")["payload_key"] == pl.String
    assert row_schema("proxy.request")["prompt_token_ids"] == pl.List(pl.Int64)
