"""The two bounds every encoded event stays within, so that every reader decodes it.

Measured limits of the parts that write and read events (pydantic 2.14 /
pydantic-core 2.50, orjson 3, Polars 2.1, kafka-python 3):

| part                                   | nesting depth (containers) | size             |
|----------------------------------------|----------------------------|------------------|
| pydantic-core JSON parser (every `decode`: SQLite and Kafka reads, `ledger events`, processors, faust) | 200 | —   |
| pydantic serializer (`encode`, the log's own writes) | 254          | —                |
| orjson `dumps` / `loads`               | 254 / 1024                 | —                |
| Polars `read_ndjson` (the projector)   | over 500                   | —                |
| SQLite value                           | —                          | 1 GB             |
| Kafka producer request (`events.log.kafka`) | —                     | `max_request_size` |

`MAX_DEPTH` is the deepest nesting an encoded event may have (the envelope
object counts as 1), well inside the tightest reader (200). `MAX_EVENT_BYTES`
is the largest encoded event every backend takes: the Kafka backend sizes its
producer requests and its topics' `max.message.bytes` from it. Producers that
store values they did not make (the proxy stores what agents send) check them
against these bounds before acknowledging anything; `depth_beyond` finds the
first place a value nests too deep.
"""
from __future__ import annotations

from typing import Any

__all__ = ["MAX_DEPTH", "MAX_EVENT_BYTES", "KAFKA_MESSAGE_BYTES", "depth_beyond", "json_path"]

MAX_DEPTH = 128
"""Deepest container nesting of an encoded event, the envelope object counting as 1."""

MAX_EVENT_BYTES = 8 * 1024 * 1024
"""Largest encoded event (bytes) a producer may append."""

KAFKA_MESSAGE_BYTES = MAX_EVENT_BYTES + 64 * 1024
"""Kafka's per-message and per-request limits: one event plus the record batch's framing."""


def depth_beyond(value: Any, limit: int) -> list[str | int] | None:
    """The path to the first container nested deeper than `limit` levels, or None.

    A scalar has depth 0, `[]`/`{}` depth 1, `{"a": [1]}` depth 2. The walk
    stops at the first container past the limit, so it never recurses more than
    `limit + 1` frames however deep the value is.
    """
    if not isinstance(value, (dict, list)):
        return None
    path: list[str | int] = []
    return path if _beyond(value, limit, path) else None


def _beyond(value: Any, room: int, path: list[str | int]) -> bool:
    """True when `value` (a container) needs more than `room` levels; `path` then leads there."""
    if room < 1:
        return True
    items = value.items() if type(value) is dict else enumerate(value)
    for key, child in items:
        if type(child) is dict or type(child) is list:
            path.append(key)
            if _beyond(child, room - 1, path):
                return True
            path.pop()
    return False


def json_path(path: list[str | int], root: str = "") -> str:
    """`messages[0].content[1].text` for ["messages", 0, "content", 1, "text"]."""
    out = root
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(body)"
