"""Encoded events of one type -> a typed frame of lake rows.

The fast path hands the batch's JSON lines to Polars' NDJSON reader with the
type's schema (no per-event pydantic work, no per-event Python at all when a
chunk holds one type at its current version, the usual case: the whole chunk
is read at once and the reader's own `type` and `v` columns confirm it).
Otherwise the chunk is split by type first; records of an older schema
version are upcast; if the reader rejects a batch (a record that is valid
JSON but not a valid event), each line is checked with the codec and the bad
ones are dropped and counted.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import orjson
import polars as pl
import pyarrow as pa

from events.codec import DecodeError, decode, encode
from events.registry import SPECS
from events.upcasters import upcast

from .schema import column_of, event_schema, read_schema, required_fields
from .sources import Chunk
from .typed import typed_payload

__all__ = ["header", "classify", "current_line", "to_frame", "Batch", "Prepared", "prepare"]

_ZULU = "%Y-%m-%dT%H:%M:%S%.fZ"
_ANY_OFFSET = "%Y-%m-%dT%H:%M:%S%.f%#z"
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


_HEAD = r'^\{"id":"[^"]*","type":"([^"]+)","v":(\d+)[,}]'


def classify(values: list[bytes]) -> dict[tuple[str, int] | None, list[int]]:
    """Indices of `values` grouped by (type, v), in order; None collects what the
    vectorised pattern (the codec's field order) did not recognise."""
    text = pl.Series("raw", values, dtype=pl.Binary).cast(pl.String, strict=False)
    heads = text.str.extract_groups(_HEAD).struct.unnest().with_row_index("i")
    groups = heads.group_by(["1", "2"], maintain_order=True).agg("i")
    out: dict[tuple[str, int] | None, list[int]] = {}
    for event_type, v, idx in groups.iter_rows():
        key = None if event_type is None or v is None else (event_type, int(v))
        out.setdefault(key, []).extend(idx)
    return out


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
    """Lines of one event type from one topic-partition of the log named `log`, with their offsets."""

    event_type: str
    log: str
    partition: int
    lines: list[bytes]
    offsets: list[int]


def to_frame(batch: Batch) -> tuple[pl.DataFrame, int]:
    """Lake rows (the event schema) and the number of lines rejected."""
    try:
        frame = _shape(_read(batch.event_type, batch.lines), batch)
        if not _has_null_required(frame, batch.event_type):
            return frame, 0
    except (pl.exceptions.PolarsError, ValueError, TypeError, pa.ArrowException):
        pass
    batch, rejected = _valid_only(batch)
    frame = _shape(_read(batch.event_type, batch.lines), batch)
    return frame, rejected


_ENVELOPE_REQUIRED = ["id", "type", "schema_version", "ts", "key", "producer"]


def _has_null_required(frame: pl.DataFrame, event_type: str) -> bool:
    """The reader fills missing fields with null; a null where the model forbids one
    means a line that is not a valid event."""
    col = pl.col(column_of(event_type))
    exprs = [pl.col(c) for c in _ENVELOPE_REQUIRED] + [col.struct.field(f) for f in required_fields(event_type)]
    counts = frame.select(e.null_count() for e in exprs).row(0)
    return any(counts)


def _read(event_type: str, lines: list[bytes] | bytes) -> pl.DataFrame:
    schema = read_schema(event_type)
    if not lines:
        return pl.DataFrame(schema=schema)
    return pl.read_ndjson(io.BytesIO(lines if isinstance(lines, bytes) else b"\n".join(lines)), schema=schema)


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
    return (Batch(batch.event_type, batch.log, batch.partition, lines, offsets),
            len(batch.lines) - len(lines))


def _shape(raw: pl.DataFrame, batch: Batch) -> pl.DataFrame:
    """Reader rows -> lake rows: typed payload in its type's column, the others null."""
    event_type = batch.event_type
    own = column_of(event_type)
    payload = typed_payload(event_type, raw.get_column("payload").struct.unnest(), batch.lines)
    ts = _utc(raw["ts"])
    frame = raw.drop("payload").rename({"v": "schema_version"}).with_columns(
        ts=ts, date=ts.dt.date(), log_name=pl.lit(batch.log, pl.String),
        log_partition=pl.lit(batch.partition, pl.Int64),
        log_offset=pl.Series("log_offset", batch.offsets, dtype=pl.Int64),
        **{own: payload.to_struct(own)})
    schema = event_schema()
    return frame.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in schema.items()
                              if name not in frame.columns).select(list(schema))


def _utc(text: pl.Series) -> pl.Series:
    """ISO-8601 text -> Datetime(us, UTC); the common `...Z` form on the fast path (no
    parse cache: timestamps rarely repeat)."""
    ts = text.str.to_datetime(_ZULU, time_unit="us", time_zone="UTC", strict=False, cache=False)
    if ts.null_count() > text.null_count():
        other = (text.str.to_datetime(_ANY_OFFSET, time_unit="us", strict=False, cache=False)
                 .dt.convert_time_zone("UTC"))
        ts = ts.fill_null(other)
    return ts


@dataclass
class Prepared:
    """Typed frames of one topic-partition chunk, by event type, and what was rejected."""

    frames: dict[str, pl.DataFrame]
    rejected: int


def prepare(topic: str, part: int, chunk: Chunk, log: str = "") -> Prepared:
    """Typed frames of a chunk by event type: read whole when it is uniform, else split by
    event type (upcasting old versions) and read each type's frame. `log` is the name of
    the log in the lake (the rows' `log_name` column)."""
    uniform = _uniform(topic, part, chunk, log)
    if uniform is not None:
        return Prepared({uniform[0]: uniform[1]}, 0)
    values, offsets = chunk.values, chunk.offsets.to_list()
    batches: dict[str, Batch] = {}
    groups: dict[str, int] = {}
    rejected = 0
    for head, idx in classify(values).items():
        for i in idx if head is None else [None]:
            one = head if i is None else header(values[i])
            rejected += _add(batches, topic, log, part, values, offsets, idx if i is None else [i], one)
            if one is not None and one[0] in batches:
                groups[one[0]] = groups.get(one[0], 0) + 1
    frames = {}
    for event_type, b in batches.items():
        if groups.get(event_type, 0) > 1:  # several versions (or unrecognised heads): restore log order
            pairs = sorted(zip(b.offsets, b.lines))
            b.offsets, b.lines = [o for o, _ in pairs], [line for _, line in pairs]
        frames[event_type], bad = to_frame(b)
        rejected += bad
    return Prepared(frames, rejected)


def _uniform(topic: str, part: int, chunk: Chunk, log: str) -> tuple[str, pl.DataFrame] | None:
    """(type, frame) when every record of the chunk is a valid current-version event of the
    first record's type; None when the chunk needs the split path."""
    head = header(chunk.values[0]) if chunk.values else None
    spec = SPECS.get(head[0]) if head else None
    if head is None or spec is None or spec.topic != topic or head[1] != spec.version:
        return None
    event_type, n = head[0], len(chunk.values)
    if any(header(chunk.values[i]) != head for i in (n // 2, n - 1)):
        return None  # a cheap look first; the rows' own type and version below decide
    try:
        raw = _read(event_type, b"\n".join(chunk.values))
    except (pl.exceptions.PolarsError, ValueError):
        return None
    # one row per record (no value held a line break) and each row's own type and version
    if raw.height != n or not raw.select(((pl.col("type") == event_type) & (pl.col("v") == spec.version))
                                         .fill_null(False).all()).item():
        return None
    try:
        frame = _shape(raw, Batch(event_type, log, part, chunk.values, chunk.offsets))  # type: ignore[arg-type]
    except (pl.exceptions.PolarsError, ValueError, TypeError, pa.ArrowException):
        return None
    return None if _has_null_required(frame, event_type) else (event_type, frame)


def _add(batches: dict[str, Batch], topic: str, log: str, part: int, values: list[bytes], offsets: list[int],
         idx: list[int], head: tuple[str, int] | None) -> int:
    """Append records `idx` (all of type/version `head`) to their type's batch; returns rejects."""
    spec = SPECS.get(head[0]) if head else None
    if head is None or spec is None or spec.topic != topic or head[1] > spec.version:
        return len(idx)
    event_type, v = head
    if v == spec.version:
        lines, offs = [values[i] for i in idx], [offsets[i] for i in idx]
    else:
        upcast = [(current_line(values[i], event_type, v), offsets[i]) for i in idx]
        lines = [line for line, _ in upcast if line is not None]
        offs = [o for line, o in upcast if line is not None]
    b = batches.setdefault(event_type, Batch(event_type, log, part, [], []))
    b.lines += lines
    b.offsets += offs
    return len(idx) - len(lines)
