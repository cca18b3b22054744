"""Decoding fetched rows into records, in the two shapes callers consume them.

- Into a list (a consumer's poll): every decoded event stays alive, so the
  cyclic GC, which cannot free any of them, would run over and over (~3x
  slower). It is paused for the chunk; collection resumes right after.
- As a stream (`read`): records are handed over one at a time and usually
  dropped by the caller before the next is made, so allocations and frees
  balance and the GC rarely runs. Pausing it here would do harm: a whole chunk
  of objects would be alive when it resumes, and be traversed and promoted.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from pydantic import ValidationError

from ..codec import DecodeError, decode
from ..envelope import Envelope
from ..registry import EVENT_ADAPTER
from .base import Position, RawRecord, Record, dead_letter_for, decode_or_deadletter

__all__ = ["decode_chunk", "decode_rows", "gc_paused", "iter_records"]


_validate_json = EVENT_ADAPTER.validator.validate_json
"""pydantic-core's validator itself: codec.decode's fast path without TypeAdapter's Python wrapper."""


def _decode(value: bytes) -> Envelope:
    try:
        return _validate_json(value)
    except ValidationError:
        return decode(value)  # the codec's slow path: upcasts, or DecodeError with the reason


@contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def decode_chunk(raws: Iterable[RawRecord], dead: list[Envelope], consumer: str = "") -> list[Record]:
    with gc_paused():
        out = []
        for raw in raws:
            rec = decode_or_deadletter(raw, dead, consumer)
            if rec is not None:
                out.append(rec)
        return out


def decode_rows(topic: str, rows: Iterable[tuple[int, int, str | None, bytes]], dead: list[Envelope],
                consumer: str = "") -> list[Record]:
    """Decode (partition, offset, key, value) rows of one topic; call with the GC paused.

    The same as `decode_chunk` without building a RawRecord per row: only rows
    that fail to decode get one, for their deadletter event.
    """
    out = []
    for part, off, key, value in rows:
        try:
            out.append(Record(topic, part, off, _decode(value)))
        except DecodeError as exc:
            if topic != "deadletter":
                dead.append(dead_letter_for(RawRecord(topic, part, off, key, value), exc.reason, consumer))
    return out


def iter_records(topic: str, rows: Iterable[tuple[int, int, str | None, bytes]],
                 skipped: Callable[[Position, str], None]) -> Iterator[Record]:
    """Decode (partition, offset, key, value) rows lazily, GC left on (see the module doc);
    a row that does not decode goes to `skipped` with its position and the reason."""
    for part, off, _key, value in rows:
        try:
            event = _decode(value)
        except DecodeError as exc:
            skipped(Position(topic, part, off), exc.reason)
            continue
        yield Record(topic, part, off, event)
