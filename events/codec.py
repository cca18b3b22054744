"""The wire format: UTF-8 JSON bytes in, typed events out.

Decoding has a fast path (pydantic's Rust validator on the bytes) for events of
the current schema, and a slow path that upcasts older versions. Anything that
is not a known event raises `DecodeError` with the reason; consumers route it
to `deadletter` and keep going.

Every reader decodes events within `events.bounds` (`MAX_DEPTH` levels of
nesting, `MAX_EVENT_BYTES`); producers storing values they did not make keep
their events inside them.
"""
from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from .envelope import Envelope
from .registry import EVENT_ADAPTER, SPECS
from .upcasters import upcast

__all__ = ["encode", "decode", "decode_obj", "DecodeError"]


class DecodeError(ValueError):
    """Bytes that are not a valid event of a known type; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def encode(event: Envelope) -> bytes:
    return event.__pydantic_serializer__.to_json(event)


def decode(data: bytes | str) -> Envelope:
    try:
        return EVENT_ADAPTER.validate_json(data)
    except ValidationError as fast_error:
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecodeError(f"not JSON: {exc}") from None
        return _decode_slow(obj, fast_error)


def decode_obj(obj: Any) -> Envelope:
    """Decode an already-parsed JSON object (e.g. a line the user typed)."""
    try:
        return EVENT_ADAPTER.validate_python(obj)
    except ValidationError as fast_error:
        return _decode_slow(obj, fast_error)


def _decode_slow(obj: Any, fast_error: ValidationError) -> Envelope:
    if not isinstance(obj, dict) or "type" not in obj:
        raise DecodeError("not an event: expected a JSON object with a 'type' field")
    event_type = obj["type"]
    spec = SPECS.get(event_type) if isinstance(event_type, str) else None
    if spec is None:
        raise DecodeError(f"unknown event type {event_type!r}")
    v = obj.get("v")
    if not isinstance(v, int) or v < 1:
        raise DecodeError(f"{event_type}: bad schema version {v!r}")
    if v > spec.version:
        raise DecodeError(f"{event_type} v{v} is newer than this reader (v{spec.version})")
    if v == spec.version:
        raise DecodeError(f"invalid {event_type}: {_summary(fast_error)}")
    try:
        return EVENT_ADAPTER.validate_python(upcast(obj, spec.version))
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"cannot upcast {event_type} v{v}: {exc}") from None


def _summary(error: ValidationError) -> str:
    parts = []
    for err in error.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"][1:]) or "(event)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
