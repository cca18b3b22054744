"""Payload fields the JSON reader cannot type by itself, brought into their lake types.

- `map` fields (`dict[str, scalar]`: per-test statuses, reward components, ...) are
  decoded vectorised from the encoded records: the field's object is found by its
  key (our codec writes compact JSON, and an unescaped `"name":{` cannot occur
  inside a JSON string), split into `"key":value` pairs and unquoted, all in
  Polars. A record where that does not match is decoded in Python instead.
- `shaped` fields (open shapes with a typed form, models holding maps, anything
  kept as JSON text) are decoded with orjson and shaped in Python, then built
  through Arrow (several times faster than building Polars series from objects).
"""
from __future__ import annotations

import re
import typing
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable

import orjson
import polars as pl
import pyarrow as pa
from pydantic import BaseModel

from .schema import _optional, _scalar, entry_names, field_kinds, lake_dtype, payload_dtype
from .shapes import OPEN_SHAPES, json_text

__all__ = ["typed_payload", "shaper_for"]

_STR = r'"(?:[^"\\]|\\.)*"'
_PAIR = _STR + r':(?:' + _STR + r'|[^,}]*)'

Shaper = Callable[[Any], Any]


def typed_payload(event_type: str, plain: pl.DataFrame, lines: list[bytes]) -> pl.DataFrame:
    """The payload's lake columns, in model order: `plain` (the reader's columns) with the
    map and shaped fields decoded from `lines` (the records, one per row)."""
    kinds = field_kinds(event_type)
    fields = {f.name: f.dtype for f in payload_dtype(event_type).fields}
    text: pl.Series | None = None
    decoded: list[dict[str, Any]] | None = None
    cols: list[pl.Series] = []
    for name, dtype in fields.items():
        kind = kinds[name]
        if kind == "plain":
            cols.append(plain.get_column(name))
            continue
        if kind == "map":
            if text is None:
                text = pl.Series("raw", lines, dtype=pl.Binary).cast(pl.String)
            col, misses = _entries(text, name, dtype)
            if misses:
                decoded = decoded if decoded is not None else _payloads(lines)
                col = col.scatter(misses, _build([_shaper(event_type, name)(decoded[i].get(name)) for i in misses],
                                                 dtype))
            cols.append(col.alias(name))
            continue
        decoded = decoded if decoded is not None else _payloads(lines)
        shape = _shaper(event_type, name)
        cols.append(_build([shape(p.get(name)) for p in decoded], dtype).alias(name))
    return pl.DataFrame(cols)


def _payloads(lines: list[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(line).get("payload") or {} for line in lines]


def _build(values: list[Any], dtype: pl.DataType) -> pl.Series:
    return pl.Series(pl.from_arrow(pa.array(values, type=_arrow_type(dtype))))


_ARROW: dict[str, pa.DataType] = {}


def _arrow_type(dtype: pl.DataType) -> pa.DataType:
    key = repr(dtype)
    found = _ARROW.get(key)
    if found is None:
        found = _ARROW[key] = pl.Series([], dtype=dtype).to_arrow().type
    return found


# -- maps, vectorised ---------------------------------------------------------------------------
def _entries(text: pl.Series, field: str, dtype: pl.DataType) -> tuple[pl.Series, list[int]]:
    """(entries column, indices of rows the pattern did not find)."""
    inner: pl.Struct = dtype.inner  # type: ignore[attr-defined]
    (k, _), (v, vtype) = [(f.name, f.dtype) for f in inner.fields]
    obj = text.str.extract(r'"' + re.escape(field) + r'":(\{(?:' + _STR + r'|[^"{}])*\})')
    pairs = obj.str.extract_all(_PAIR)
    key = pl.element().str.extract("^(" + _STR + "):")
    value = pl.element().str.extract("^" + _STR + ":(.*)$")
    col = pairs.list.eval(pl.struct(_unquote(key).alias(k), _value(value, vtype).alias(v)))
    misses = obj.is_null().arg_true().to_list()
    return col.cast(dtype), misses


def _unquote(expr: pl.Expr) -> pl.Expr:
    """A JSON string literal's text: sliced when it has no escapes, else JSON-decoded."""
    return (pl.when(expr.str.contains("\\", literal=True))
            .then(expr.str.json_decode(pl.String()))
            .otherwise(expr.str.slice(1, expr.str.len_bytes() - 2)))


def _value(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String():
        return _unquote(expr)
    if dtype == pl.Boolean():
        return pl.when(expr == "null").then(None).otherwise(expr == "true")
    return expr.cast(dtype, strict=False)


# -- shaped, in Python -------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _shaper(event_type: str, field: str) -> Shaper:
    from events.registry import SPECS

    payload = SPECS[event_type].payload
    return shaper_for(payload.model_fields[field].annotation, payload.__name__, field)


def shaper_for(annotation: Any, owner: str = "", field: str = "") -> Shaper:
    """A function from a decoded JSON value to a Python value of `lake_dtype(annotation)`."""
    shape = OPEN_SHAPES.get((owner, field))
    if shape is not None:
        return shape.shaper
    scalar = _scalar(annotation)
    if scalar is not None:
        return _scalar_shaper(scalar)
    bare = _optional(annotation)
    origin, args = typing.get_origin(bare), typing.get_args(bare)
    if origin is list and args:
        one = shaper_for(args[0])
        return lambda xs: None if xs is None else [one(x) for x in xs]
    if isinstance(lake_dtype(annotation, owner, field), pl.List) and origin is dict:
        k, v = entry_names(owner, field)
        val = _scalar_shaper(_scalar(args[1]))  # type: ignore[arg-type]
        return lambda d: None if d is None else [{k: key, v: val(x)} for key, x in d.items()]
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        inner = {n: shaper_for(f.annotation, bare.__name__, n) for n, f in bare.model_fields.items()}
        return lambda d: None if d is None else {n: s(d.get(n)) for n, s in inner.items()}
    return json_text


def _scalar_shaper(dtype: pl.DataType) -> Shaper:
    if dtype == pl.Float64():
        return lambda x: float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x
    if isinstance(dtype, pl.Datetime):
        return lambda x: datetime.fromisoformat(x.replace("Z", "+00:00")) if isinstance(x, str) else x
    return lambda x: x
