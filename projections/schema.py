"""Lake row schemas, derived from the payload models' field annotations.

The mapping rule (one place, applied recursively):

| annotation                         | column type                         |
|------------------------------------|-------------------------------------|
| `int` / `float` / `bool` / `str`   | Int64 / Float64 / Boolean / String  |
| `Literal[...]` of str (of int)     | String (Int64)                      |
| `datetime`                         | Datetime(us, UTC)                   |
| `X | None`                         | the type of X, nullable             |
| `list[X]` (X not open)             | List(type of X)                     |
| a nested model (Blob, SandboxInfo) | Struct of its fields                |
| `dict[...]`, `Any`, mixed unions   | String holding the value as JSON    |

Open shapes (dicts, whose keys vary per event) are JSON text rather than
structs so that a table's schema never depends on the data. Envelope fields
keep their names (`v` is stored as `schema_version`); a payload field whose
name collides with an envelope or position column is stored as
`payload_<name>`. Each row also carries its log position (`log_partition`,
`log_offset`); hive partitioning adds `date` (UTC day of `ts`).
"""
from __future__ import annotations

import types
import typing
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, Union

import polars as pl
from pydantic import BaseModel

__all__ = ["dtype_for", "read_schema", "ENVELOPE_COLUMNS", "POSITION_COLUMNS", "payload_columns",
           "row_schema", "required_columns"]

ENVELOPE_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(), "type": pl.String(), "schema_version": pl.Int64(),
    "ts": pl.Datetime("us", "UTC"), "run_id": pl.String(), "key": pl.String(),
    "parent": pl.String(), "producer": pl.String(),
}
POSITION_COLUMNS: dict[str, pl.DataType] = {"log_partition": pl.Int64(), "log_offset": pl.Int64()}
_RESERVED = set(ENVELOPE_COLUMNS) | set(POSITION_COLUMNS) | {"date", "v", "payload"}

_SCALARS: dict[Any, pl.DataType] = {
    int: pl.Int64(), float: pl.Float64(), bool: pl.Boolean(), str: pl.String(),
    datetime: pl.Datetime("us", "UTC"),
}


def dtype_for(annotation: Any) -> pl.DataType:
    """The column type of one field annotation (the rule in the module docstring)."""
    dtype = _structured(annotation)
    return pl.String() if dtype is None else dtype


def _structured(annotation: Any) -> pl.DataType | None:
    """The typed column for an annotation, or None where the shape is open (JSON text)."""
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        ints = all(isinstance(a, int) and not isinstance(a, bool) for a in args)
        return pl.Int64() if ints else pl.String()
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return _structured(rest[0]) if len(rest) == 1 else None
    if origin is list and args:
        inner = _structured(args[0])
        return None if inner is None else pl.List(inner)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pl.Struct({name: dtype_for(f.annotation) for name, f in annotation.model_fields.items()})
    return None


def payload_columns(payload: type[BaseModel]) -> dict[str, str]:
    """Payload field -> column name (collisions get the `payload_` prefix)."""
    return {name: (f"payload_{name}" if name in _RESERVED else name) for name in payload.model_fields}


@lru_cache(maxsize=None)
def read_schema(event_type: str) -> dict[str, pl.DataType]:
    """The schema to read an encoded event of this type with (envelope + payload struct).

    `ts` is read as text and parsed afterwards: the JSON reader's own datetime
    parsing is several times slower."""
    from events.registry import SPECS

    payload = SPECS[event_type].payload
    return {
        "id": pl.String(), "type": pl.String(), "v": pl.Int64(), "ts": pl.String(),
        "run_id": pl.String(), "key": pl.String(), "parent": pl.String(), "producer": pl.String(),
        "payload": dtype_for(payload),
    }


@lru_cache(maxsize=None)
def row_schema(event_type: str) -> dict[str, pl.DataType]:
    """The columns of the event type's lake table, in order (without the hive `date`)."""
    from events.registry import SPECS

    payload = SPECS[event_type].payload
    struct = dtype_for(payload)
    fields = {f.name: f.dtype for f in struct.fields}  # type: ignore[attr-defined]
    cols = dict(ENVELOPE_COLUMNS)
    cols.update({col: fields[name] for name, col in payload_columns(payload).items()})
    cols.update(POSITION_COLUMNS)
    return cols


@lru_cache(maxsize=None)
def required_columns(event_type: str) -> list[str]:
    """Columns that are never null in a valid event (the model does not admit None)."""
    from events.registry import SPECS

    payload = SPECS[event_type].payload
    names = payload_columns(payload)
    cols = ["id", "type", "schema_version", "ts", "key", "producer"]
    cols += [names[n] for n, f in payload.model_fields.items() if not _admits_none(f.annotation)]
    return cols


def _admits_none(annotation: Any) -> bool:
    if annotation is Any:
        return True
    return typing.get_origin(annotation) in (Union, types.UnionType) and type(None) in typing.get_args(annotation)
