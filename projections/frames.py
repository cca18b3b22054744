"""Encoded events of one type -> a typed frame of lake rows.

The fast path hands the batch's JSON lines to Polars' NDJSON reader with the
type's schema (no per-event pydantic work). Records of an older schema
version are upcast first; if the reader rejects the batch (a record that is
valid JSON but not a valid event), each line is checked with the codec and
the bad ones are dropped and counted.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import orjson
import polars as pl

from events.codec import DecodeError, decode, encode
from events.registry import SPECS
from events.upcasters import upcast

from .schema import payload_columns, read_schema, required_columns, row_schema

__all__ = ["header", "current_line", "to_frame", "Batch"]

_TYPE = b'"type":"'
_V = b'"v":'


def header(value: bytes) -> tuple[str, int] | None:
    """(type, v) of an encoded event without parsing it all; None when not found."""
    i = value.find(_TYPE)
    if i < 0:
        return None
    start = i + len(_TYPE)
    end = value.find(b'"', start)
    j = value.find(_V, end)
    if end < 0 or j < 0:
        return None
    k = j + len(_V)
    stop = k
    while stop < len(value) and 48 <= value[stop] <= 57:
        stop += 1
    if stop == k:
        return None
    return value[start:end].decode("utf-8", "replace"), int(value[k:stop])


def current_line(value: bytes, event_type: str, v: int) -> bytes | None:
    """The record as a current-version JSON line, or None if it is not a valid event."""
    if v == SPECS[event_type].version:
        return value
    try:
        return orjson.dumps(upcast(orjson.loads(value), SPECS[event_type].version))
    except (KeyError, TypeError, ValueError):
        return None


@dataclass
class Batch:
    """Lines of one event type from one topic-partition, with their offsets."""

    event_type: str
    partition: int
    lines: list[bytes]
    offsets: list[int]


def to_frame(batch: Batch) -> tuple[pl.DataFrame, int]:
    """Typed lake rows (with a `date` column) and the number of lines rejected."""
    try:
        frame = _shape(_read(batch.event_type, batch.lines), batch)
        if not _has_null_required(frame, batch.event_type):
            return frame, 0
    except (pl.exceptions.PolarsError, ValueError):
        pass
    batch, rejected = _valid_only(batch)
    return _shape(_read(batch.event_type, batch.lines), batch), rejected


def _has_null_required(frame: pl.DataFrame, event_type: str) -> bool:
    """The reader fills missing fields with null; a null where the model forbids one
    means a line that is not a valid event."""
    counts = frame.select(required_columns(event_type)).null_count().row(0)
    return any(counts)


def _read(event_type: str, lines: list[bytes]) -> pl.DataFrame:
    schema = read_schema(event_type)
    if not lines:
        return pl.DataFrame(schema=schema)
    return pl.read_ndjson(io.BytesIO(b"\n".join(lines)), schema=schema)


def _valid_only(batch: Batch) -> tuple[Batch, int]:
    lines, offsets = [], []
    for line, off in zip(batch.lines, batch.offsets):
        try:
            event = decode(line)
        except DecodeError:
            continue
        if event.type == batch.event_type:
            lines.append(encode(event))
            offsets.append(off)
    return Batch(batch.event_type, batch.partition, lines, offsets), len(batch.lines) - len(lines)


def _shape(raw: pl.DataFrame, batch: Batch) -> pl.DataFrame:
    payload = SPECS[batch.event_type].payload
    names = list(payload_columns(payload).values())
    cols = row_schema(batch.event_type)
    frame = raw.with_columns(
        pl.col("payload").struct.rename_fields(names),
        log_partition=pl.lit(batch.partition, pl.Int64),
        log_offset=pl.Series(batch.offsets, dtype=pl.Int64),
    ).rename({"v": "schema_version"}).unnest("payload")
    return frame.select(list(cols)).with_columns(date=pl.col("ts").dt.date())
