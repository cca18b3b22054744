"""OpenAI-format bodies the agent receives, built from a Generation.

Token ids and logprobs are included only when the client asked for them
(`return_token_ids`, `logprobs`), in vLLM's shapes.
"""
from __future__ import annotations

from typing import Any

import orjson

from producers.inference.base import Generation

__all__ = ["Shape", "completion_body", "chunk_bytes", "final_chunks", "error_body", "sse"]


class Shape:
    """What one request's responses look like: endpoint, ids, model and the client's options."""

    __slots__ = ("endpoint", "rid", "model", "created", "want_logprobs", "want_ids", "want_usage")

    def __init__(self, endpoint: str, rid: str, model: str, created: int, body: dict[str, Any]):
        self.endpoint = endpoint
        self.rid = ("chatcmpl-" if endpoint == "chat" else "cmpl-") + rid
        self.model = model
        self.created = created
        lp = body.get("logprobs")
        self.want_logprobs = bool(lp) if endpoint == "chat" else lp is not None
        self.want_ids = bool(body.get("return_token_ids"))
        opts = body.get("stream_options")
        self.want_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))

    def _object(self, stream: bool) -> str:
        if self.endpoint == "chat":
            return "chat.completion.chunk" if stream else "chat.completion"
        return "text_completion"

    def logprobs(self, ids: list[int] | None, lps: list[float] | None) -> dict | None:
        if not self.want_logprobs or lps is None:
            return None
        tokens = [f"token_id:{i}" for i in ids] if ids and len(ids) == len(lps) else [""] * len(lps)
        if self.endpoint == "chat":
            return {"content": [{"token": t, "logprob": lp, "bytes": None, "top_logprobs": []}
                                for t, lp in zip(tokens, lps)]}
        return {"tokens": tokens, "token_logprobs": lps, "top_logprobs": None, "text_offset": None}


def completion_body(shape: Shape, gen: Generation) -> bytes:
    choice: dict[str, Any] = {"index": 0, "finish_reason": gen.finish_reason,
                              "logprobs": shape.logprobs(gen.completion_token_ids, gen.logprobs)}
    if shape.endpoint == "chat":
        message: dict[str, Any] = {"role": "assistant", "content": gen.text}
        if gen.tool_calls:
            message["tool_calls"] = gen.tool_calls
        choice["message"] = message
    else:
        choice["text"] = gen.text
    body: dict[str, Any] = {"id": shape.rid, "object": shape._object(False), "created": shape.created,
                            "model": shape.model, "choices": [choice], "usage": gen.usage or None}
    if shape.want_ids:
        choice["token_ids"] = gen.completion_token_ids
        if shape.endpoint == "chat":
            body["prompt_token_ids"] = gen.prompt_token_ids
        else:
            choice["prompt_token_ids"] = gen.prompt_token_ids
    return orjson.dumps(body)


def sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def chunk_bytes(shape: Shape, text: str, ids: list[int], lps: list[float], *, first: bool = False,
                finish: str | None = None, tool_calls: list[dict] | None = None,
                prompt_ids: list[int] | None = None) -> bytes:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish,
                              "logprobs": shape.logprobs(ids, lps) if lps else None}
    if shape.endpoint == "chat":
        delta: dict[str, Any] = {"content": text}
        if first:
            delta["role"] = "assistant"
        if tool_calls:
            delta["tool_calls"] = [{"index": i, **tc} for i, tc in enumerate(tool_calls)]
        choice["delta"] = delta
    else:
        choice["text"] = text
    obj: dict[str, Any] = {"id": shape.rid, "object": shape._object(True), "created": shape.created,
                           "model": shape.model, "choices": [choice]}
    if shape.want_ids:
        choice["token_ids"] = ids
        if prompt_ids is not None:
            if shape.endpoint == "chat":
                obj["prompt_token_ids"] = prompt_ids
            else:
                choice["prompt_token_ids"] = prompt_ids
    return sse(obj)


def final_chunks(shape: Shape, gen: Generation, rest_ids: list[int], rest_lps: list[float],
                 first: bool, prompt_ids: list[int] | None) -> bytes:
    """The held-back end of a stream: finish_reason (+ tool calls), usage, [DONE]."""
    out = chunk_bytes(shape, "", rest_ids, rest_lps, first=first, finish=gen.finish_reason,
                      tool_calls=gen.tool_calls, prompt_ids=prompt_ids)
    if shape.want_usage:
        out += sse({"id": shape.rid, "object": shape._object(True), "created": shape.created,
                    "model": shape.model, "choices": [], "usage": gen.usage or None})
    return out + b"data: [DONE]\n\n"


def error_body(status: int, message: str, code: str) -> bytes:
    kind = "invalid_request_error" if status < 500 else "upstream_error"
    return orjson.dumps({"error": {"message": message, "type": kind, "code": code, "param": None}})
