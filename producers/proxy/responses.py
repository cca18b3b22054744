"""OpenAI-format bodies the agent receives, built from Generations (one per choice).

Token ids and logprobs are included only when the client asked for them
(`return_token_ids`, `logprobs`), in vLLM's shapes. Logprobs carry each
token's text and UTF-8 `bytes` (from the upstream's detokeniser; `token_id:N`
when it gave none) and, when asked (`top_logprobs`, or `logprobs: K` on
/v1/completions), the upstream's alternatives (none when it gave none).
`Detail` is what the agent received of those, so the recorded response holds
exactly that.
"""
from __future__ import annotations

from typing import Any

import orjson

from producers.inference.base import Generation, TopLogprobs

__all__ = ["Shape", "Detail", "completion_body", "chunk_bytes", "final_chunks", "error_body", "sse",
           "token_bytes", "merged_usage"]


class Detail:
    """Token texts and alternatives of one choice, as sent to the agent (None: not asked)."""

    __slots__ = ("tokens", "top")

    def __init__(self, tokens: list[str] | None, top: TopLogprobs | None):
        self.tokens = tokens
        self.top = top


class Shape:
    """What one request's responses look like: endpoint, ids, model and the client's options."""

    __slots__ = ("endpoint", "rid", "model", "created", "want_logprobs", "top_k", "want_ids", "want_usage")

    def __init__(self, endpoint: str, rid: str, model: str, created: int, body: dict[str, Any]):
        self.endpoint = endpoint
        self.rid = ("chatcmpl-" if endpoint == "chat" else "cmpl-") + rid
        self.model = model
        self.created = created
        lp = body.get("logprobs")
        if endpoint == "chat":
            self.want_logprobs = bool(lp)
            self.top_k = int(body.get("top_logprobs") or 0)
        else:
            self.want_logprobs = lp is not None
            self.top_k = int(lp or 0)
        self.want_ids = bool(body.get("return_token_ids"))
        opts = body.get("stream_options")
        self.want_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))

    def _object(self, stream: bool) -> str:
        if self.endpoint == "chat":
            return "chat.completion.chunk" if stream else "chat.completion"
        return "text_completion"

    def detail(self, ids: list[int] | None, lps: list[float] | None, tokens: list[str] | None,
               top: TopLogprobs | None) -> Detail:
        """What the agent gets of token texts and alternatives for these tokens."""
        if not self.want_logprobs or lps is None:
            return Detail(None, None)
        if tokens is None or len(tokens) != len(lps):
            tokens = [f"token_id:{i}" for i in ids] if ids is not None and len(ids) == len(lps) else [""] * len(lps)
        alts = None
        if self.top_k and top is not None and len(top) == len(lps):
            alts = [a[:self.top_k] for a in top]
        return Detail(tokens, alts)

    def logprobs(self, lps: list[float] | None, d: Detail) -> dict | None:
        if d.tokens is None or lps is None:
            return None
        tops = d.top if d.top is not None else ([[]] * len(lps) if self.top_k else None)
        if self.endpoint == "chat":
            return {"content": [
                {"token": t, "logprob": lp, "bytes": token_bytes(t),
                 "top_logprobs": [{"token": a, "logprob": alp, "bytes": token_bytes(a)} for a, alp in alts]
                 if tops is not None else []}
                for t, lp, alts in zip(d.tokens, lps, tops or [()] * len(lps))]}
        return {"tokens": d.tokens, "token_logprobs": lps,
                "top_logprobs": [dict(alts) for alts in tops] if tops is not None else None,
                "text_offset": None}


def token_bytes(token: str) -> list[int] | None:
    """UTF-8 bytes of a token's text; `bytes:\\xNN...` spelled out; None for `token_id:N`."""
    if token.startswith("bytes:"):
        try:
            return list(token[6:].encode("latin-1").decode("unicode_escape").encode("latin-1"))
        except (UnicodeEncodeError, UnicodeDecodeError):  # not the \\xNN form after all
            pass
    elif token.startswith("token_id:"):
        return None
    return list(token.encode("utf-8", "surrogatepass"))


def merged_usage(gens: list[Generation]) -> dict[str, int] | None:
    """The response's usage: the one choice's, or the prompt once and every choice's completion."""
    first = gens[0].usage
    if len(gens) == 1 or all(g.usage == first for g in gens):
        return first or None
    completion = sum(g.usage.get("completion_tokens", 0) for g in gens)
    prompt = first.get("prompt_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion_body(shape: Shape, gens: list[Generation], details: list[Detail]) -> bytes:
    choices = []
    for i, (gen, d) in enumerate(zip(gens, details)):
        choice: dict[str, Any] = {"index": i, "finish_reason": gen.finish_reason,
                                  "logprobs": shape.logprobs(gen.logprobs, d)}
        if shape.endpoint == "chat":
            message: dict[str, Any] = {"role": "assistant", "content": gen.text}
            if gen.tool_calls:
                message["tool_calls"] = gen.tool_calls
            choice["message"] = message
        else:
            choice["text"] = gen.text
        if shape.want_ids:
            choice["token_ids"] = gen.completion_token_ids
            if shape.endpoint != "chat":
                choice["prompt_token_ids"] = gen.prompt_token_ids
        choices.append(choice)
    body: dict[str, Any] = {"id": shape.rid, "object": shape._object(False), "created": shape.created,
                            "model": shape.model, "choices": choices, "usage": merged_usage(gens)}
    if shape.want_ids and shape.endpoint == "chat":
        body["prompt_token_ids"] = gens[0].prompt_token_ids
    return orjson.dumps(body)


def sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def chunk_bytes(shape: Shape, text: str, ids: list[int], lps: list[float], *, first: bool = False,
                finish: str | None = None, tool_calls: list[dict] | None = None,
                prompt_ids: list[int] | None = None, index: int = 0, detail: Detail | None = None) -> bytes:
    logprobs = shape.logprobs(lps, detail) if lps and detail is not None else None
    choice: dict[str, Any] = {"index": index, "finish_reason": finish, "logprobs": logprobs}
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


def final_chunks(shape: Shape, gens: list[Generation], first: list[bool], prompt_ids: list[int] | None) -> bytes:
    """The held-back end of a stream: each choice's finish_reason (+ tool calls), usage, [DONE]."""
    out = b"".join(chunk_bytes(shape, "", [], [], first=first[i], finish=gen.finish_reason,
                               tool_calls=gen.tool_calls, prompt_ids=prompt_ids if i == 0 else None, index=i)
                   for i, gen in enumerate(gens))
    if shape.want_usage:
        out += sse({"id": shape.rid, "object": shape._object(True), "created": shape.created,
                    "model": shape.model, "choices": [], "usage": merged_usage(gens)})
    return out + b"data: [DONE]\n\n"


def error_body(status: int, message: str, code: str, param: str | None = None) -> bytes:
    kind = "invalid_request_error" if status < 500 else "server_error" if code == "log_unavailable" \
        else "upstream_error"
    return orjson.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})
