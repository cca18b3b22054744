"""Whether a call's events stay within the bounds every reader of the log handles.

Size: every event a call writes is at most `max_body_bytes` long when encoded
(413 otherwise, nothing written). Encoding an event only to measure it would
cost about 5 us per event, so each event first gets a cheap upper bound of its
encoded size; only an event whose bound passes the limit is encoded and
measured. The bounds, per part of the event:

- values parsed from the body (messages, prompt, sampling, tools, model): at
  most 4x their raw bytes (the serializer writes strings no longer than JSON
  allows them to be sent; a float may grow, `1e15,` into `1000000000000000.0,`);
- the raw body blob: at most 2x its stored bytes (quotes and backslashes escaped);
- an integer: 21 bytes, a float: 25 bytes, a character of text: 6 bytes
  (`\\u001f`), plus 4 KiB for the envelope and the fixed fields.

Depth: what the agent sent is bounded at intake; what the upstream made is
checked here (tool calls are the only free-form part of a response).
"""
from __future__ import annotations

from events.bounds import MAX_DEPTH, depth_beyond, json_path
from events.codec import encode
from events.envelope import Envelope
from producers.inference.base import Generation

from .responses import Detail

__all__ = ["request_bound", "response_bound", "encoded_size_over", "tool_calls_too_deep"]

_FIXED = 4096


def request_bound(raw_len: int, raw_cap: int, prompt_ids: list[int] | None, names: int) -> int:
    """Upper bound of a proxy.request's encoded size; `names`: length of ids and upstream name."""
    return _FIXED + 4 * raw_len + 2 * min(raw_len, raw_cap) + 21 * len(prompt_ids or ()) + 6 * names


def response_bound(gen: Generation, detail: Detail) -> int | None:
    """Upper bound of a proxy.response's encoded size, or None when only encoding tells."""
    if gen.tool_calls or len(gen.usage) > 16:
        return None
    size = _FIXED + 6 * (len(gen.text) + len(gen.upstream) + len(gen.finish_reason or ""))
    size += 21 * len(gen.completion_token_ids or ()) + 25 * len(gen.logprobs or ())
    size += 6 * sum(len(k) for k in gen.usage) + 21 * len(gen.usage)
    if detail.tokens is not None:
        size += sum(6 * len(t) + 3 for t in detail.tokens)
    if detail.top is not None:
        size += sum(6 * len(a) + 32 for alts in detail.top for a, _ in alts)
    return size


def encoded_size_over(event: Envelope, limit: int, bound: int | None) -> int | None:
    """The event's encoded size when it is over `limit`, else None (encoding only if `bound` can't tell)."""
    if bound is not None and bound <= limit:
        return None
    size = len(encode(event))
    return size if size > limit else None


_TOOL_CALLS_DEPTH = MAX_DEPTH - 2
"""proxy.response keeps `tool_calls` two levels in (envelope, payload)."""


def tool_calls_too_deep(gens: list[Generation]) -> str | None:
    """Where an upstream's tool calls nest past the bound, or None."""
    for i, gen in enumerate(gens):
        if gen.tool_calls:
            path = depth_beyond(gen.tool_calls, _TOOL_CALLS_DEPTH)
            if path is not None:
                return json_path(path[:4], f"choices[{i}].tool_calls")
    return None
