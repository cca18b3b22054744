"""The event lake's schema, derived from the payload models' field annotations.

Every file of the event lake has the same columns, so any glob over it reads
without options (Polars requires identical schemas; DuckDB and pyarrow are
happy either way):

- the envelope: `id`, `type`, `schema_version` (the event's `v`), `ts`
  (Datetime us UTC), `date` (its UTC day, a Date), `run_id`, `key`, `parent`,
  `producer`;
- the position: `log_name` (the name under which the lake follows the log the
  row came from), `log_partition`, `log_offset`;
- one struct column per event type, named after it (`eval_result`,
  `proxy_request`, ...), holding the typed payload; null in rows of other types.

The mapping rule for payload fields (one place, applied recursively):

| annotation                         | lake type                                         |
|------------------------------------|---------------------------------------------------|
| `int` / `float` / `bool` / `str`   | Int64 / Float64 / Boolean / String                |
| `Literal[...]` of str (of int)     | String (Int64)                                    |
| `datetime`                         | Datetime(us, UTC)                                 |
| `X | None`                         | the type of X, nullable                           |
| `list[X]`                          | List(type of X)                                   |
| a nested model (Blob, SandboxInfo) | Struct of its fields                              |
| `dict[str, X]`, X a scalar         | List(Struct{key, value}) ("entries"; named per field, e.g. `test`, `status`) |
| an open shape with a typed form    | the form in `shapes.OPEN_SHAPES` (messages, sampling, usage, tools, tool_calls, config) |
| any other `dict` / `Any`           | String holding the value as JSON                  |

Adding an optional field to a payload adds a struct field; adding an event type
adds a column. The manifest records the schema's fingerprint, and a projector
that finds an older one rewrites the lake's files to the new schema before it
writes (`lake.migrate`), so every file keeps the same schema.
"""
from __future__ import annotations

import hashlib
import types
import typing
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, Union

import polars as pl
from pydantic import BaseModel

from .shapes import ENTRY_NAMES, OPEN_SHAPES

__all__ = ["ENVELOPE_COLUMNS", "POSITION_COLUMNS", "column_of", "lake_dtype", "payload_dtype",
           "event_schema", "fingerprint", "read_schema", "field_kinds", "flat_columns",
           "required_fields", "entry_names", "FieldKind"]

ENVELOPE_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(), "type": pl.String(), "schema_version": pl.Int64(),
    "ts": pl.Datetime("us", "UTC"), "date": pl.Date(), "run_id": pl.String(), "key": pl.String(),
    "parent": pl.String(), "producer": pl.String(),
}
POSITION_COLUMNS: dict[str, pl.DataType] = {"log_name": pl.String(), "log_partition": pl.Int64(),
                                            "log_offset": pl.Int64()}
_RESERVED = set(ENVELOPE_COLUMNS) | set(POSITION_COLUMNS) | {"v", "payload", "day"}

_SCALARS: dict[Any, pl.DataType] = {
    int: pl.Int64(), float: pl.Float64(), bool: pl.Boolean(), str: pl.String(),
    datetime: pl.Datetime("us", "UTC"),
}
FieldKind = Literal["plain", "map", "shaped"]
"""How a payload field reaches the lake: read as is, decoded from a JSON object into
entries (vectorised), or shaped from its decoded JSON value in Python."""


def column_of(event_type: str) -> str:
    """The struct column of an event type: `eval.result` -> `eval_result`."""
    return event_type.replace(".", "_")


def _optional(annotation: Any) -> Any:
    """`X | None` -> X; anything else unchanged."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _scalar(annotation: Any) -> pl.DataType | None:
    annotation = _optional(annotation)
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if typing.get_origin(annotation) is Literal:
        args = typing.get_args(annotation)
        ints = all(isinstance(a, int) and not isinstance(a, bool) for a in args)
        return pl.Int64() if ints else pl.String()
    return None


def entry_names(owner: str, field: str) -> tuple[str, str]:
    return ENTRY_NAMES.get((owner, field), ("key", "value"))


def lake_dtype(annotation: Any, owner: str = "", field: str = "") -> pl.DataType:
    """The lake type of one field annotation (the rule in the module docstring)."""
    shape = OPEN_SHAPES.get((owner, field))
    if shape is not None:
        return shape.dtype
    scalar = _scalar(annotation)
    if scalar is not None:
        return scalar
    annotation = _optional(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args:
        return pl.List(lake_dtype(args[0]))
    if origin is dict and len(args) == 2 and args[0] is str and _scalar(args[1]) is not None:
        k, v = entry_names(owner, field)
        return pl.List(pl.Struct({k: pl.String(), v: _scalar(args[1])}))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pl.Struct({name: lake_dtype(f.annotation, annotation.__name__, name)
                          for name, f in annotation.model_fields.items()})
    return pl.String()


def _kind(annotation: Any, owner: str, field: str) -> FieldKind:
    if (owner, field) in OPEN_SHAPES:
        return "shaped"
    bare = _optional(annotation)
    args = typing.get_args(bare)
    if typing.get_origin(bare) is dict and len(args) == 2 and args[0] is str and _scalar(args[1]) is not None:
        return "map"
    return "shaped" if _has_entries_or_json(annotation, owner, field) else "plain"


def _has_entries_or_json(annotation: Any, owner: str, field: str) -> bool:
    """True when the value is not readable as is by a JSON reader with the lake type."""
    if (owner, field) in OPEN_SHAPES:
        return True
    if _scalar(annotation) is not None:
        return False
    annotation = _optional(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args:
        return _has_entries_or_json(args[0], "", "")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(_has_entries_or_json(f.annotation, annotation.__name__, n)
                   for n, f in annotation.model_fields.items())
    return True  # dicts and open shapes


@lru_cache(maxsize=None)
def field_kinds(event_type: str) -> dict[str, FieldKind]:
    """Payload field -> how it is read (see FieldKind). A map is decoded vectorised only when
    no earlier field can hold a JSON object (its key is then found by its first occurrence:
    a map of scalars has no object after any of its keys, a JSON string no unescaped quote)."""
    from events.registry import SPECS

    payload = SPECS[event_type].payload
    kinds: dict[str, FieldKind] = {}
    objects_before = False
    for name, f in payload.model_fields.items():
        kind = _kind(f.annotation, payload.__name__, name)
        if kind == "map" and objects_before:
            kind = "shaped"
        dtype = lake_dtype(f.annotation, payload.__name__, name)
        nested = isinstance(dtype, pl.Struct) or (isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct))
        objects_before = objects_before or kind == "shaped" or (kind == "plain" and nested)
        kinds[name] = kind
    return kinds


@lru_cache(maxsize=None)
def payload_dtype(event_type: str) -> pl.Struct:
    from events.registry import SPECS

    return lake_dtype(SPECS[event_type].payload)  # type: ignore[return-value]


@lru_cache(maxsize=None)
def event_schema() -> dict[str, pl.DataType]:
    """The columns of every event-lake file, in order."""
    from events.registry import SPECS

    cols = dict(ENVELOPE_COLUMNS)
    cols.update(POSITION_COLUMNS)
    cols.update({column_of(t): payload_dtype(t) for t in SPECS})
    return cols


@lru_cache(maxsize=None)
def fingerprint() -> str:
    """A digest of `event_schema()`: it changes whenever a column or struct field does."""
    text = ";".join(f"{name}:{dtype!r}" for name, dtype in event_schema().items())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@lru_cache(maxsize=None)
def read_schema(event_type: str) -> dict[str, pl.DataType]:
    """The schema to read an encoded event with: the envelope and the payload's plain fields
    (the others are decoded from the record separately). `ts` is read as text and parsed
    afterwards: the JSON reader's own datetime parsing is several times slower."""
    plain = {name: dtype for name, dtype in payload_fields(event_type).items()
             if field_kinds(event_type)[name] == "plain"}
    return {"id": pl.String(), "type": pl.String(), "v": pl.Int64(), "ts": pl.String(),
            "run_id": pl.String(), "key": pl.String(), "parent": pl.String(), "producer": pl.String(),
            "payload": pl.Struct(plain or {"_": pl.Null()})}


def payload_fields(event_type: str) -> dict[str, pl.DataType]:
    return {f.name: f.dtype for f in payload_dtype(event_type).fields}


@lru_cache(maxsize=None)
def flat_columns(event_type: str) -> dict[str, str]:
    """Payload field -> its column name in a flat table of one type (`lake.table`): the field's
    own name, or `payload_<name>` when an envelope or position column has that name."""
    return {name: (f"payload_{name}" if name in _RESERVED else name) for name in payload_fields(event_type)}


@lru_cache(maxsize=None)
def required_fields(event_type: str) -> list[str]:
    """Payload fields that are never null in a valid event (the model does not admit None)."""
    from events.registry import SPECS

    payload = SPECS[event_type].payload
    return [n for n, f in payload.model_fields.items() if not _admits_none(f.annotation)]


def _admits_none(annotation: Any) -> bool:
    if annotation is Any:
        return True
    return typing.get_origin(annotation) in (Union, types.UnionType) and type(None) in typing.get_args(annotation)
