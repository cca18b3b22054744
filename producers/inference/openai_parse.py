"""Reading OpenAI-compatible responses (vLLM's token-id extensions included) into Generations."""
from __future__ import annotations

from typing import Any

import orjson

from .base import Chunk, Generation, UpstreamError

__all__ = ["generation_from_body", "StreamAccumulator"]


def _logprobs(choice: dict, endpoint: str) -> list[float] | None:
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return None
    if endpoint == "chat":
        content = lp.get("content")
        if not isinstance(content, list):
            return None
        return [float(c["logprob"]) for c in content]
    values = lp.get("token_logprobs")
    return [float(v) for v in values] if isinstance(values, list) else None


def _prompt_ids(body: dict, choice: dict) -> list[int] | None:
    ids = body.get("prompt_token_ids")
    if ids is None:
        ids = choice.get("prompt_token_ids")
    return list(ids) if isinstance(ids, list) else None


def generation_from_body(body: Any, endpoint: str) -> Generation:
    """One non-streamed response (first choice) as a Generation."""
    try:
        choice = body["choices"][0]
        if endpoint == "chat":
            message = choice.get("message") or {}
            text = message.get("content") or ""
            tool_calls = message.get("tool_calls") or None
        else:
            text, tool_calls = choice.get("text") or "", None
        ids = choice.get("token_ids")
        return Generation(
            text=text, finish_reason=choice.get("finish_reason") or "stop",
            prompt_token_ids=_prompt_ids(body, choice),
            completion_token_ids=list(ids) if isinstance(ids, list) else None,
            logprobs=_logprobs(choice, endpoint), usage=dict(body.get("usage") or {}),
            tool_calls=tool_calls)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise UpstreamError(f"upstream response is not an OpenAI completion: {type(exc).__name__}: {exc}") from exc


class StreamAccumulator:
    """Feeds SSE lines of a streamed completion; collects what the final Generation needs."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.done = False
        self.saw_finish = False
        self.text: list[str] = []
        self.token_ids: list[int] = []
        self.has_ids = False
        self.logprobs: list[float] = []
        self.has_logprobs = False
        self.prompt_ids: list[int] | None = None
        self.finish_reason: str | None = None
        self.usage: dict[str, int] = {}
        self._tools: dict[int, dict] = {}

    def feed_line(self, line: bytes) -> Chunk | None:
        line = line.strip()
        if not line.startswith(b"data:"):
            return None
        data = line[5:].strip()
        if data == b"[DONE]":
            self.done = True
            return None
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"upstream sent a stream line that is not JSON: {data[:200]!r}") from exc
        if isinstance(obj, dict) and "error" in obj:
            raise UpstreamError(f"upstream stream error: {obj['error']}")
        return self._feed(obj)

    def _feed(self, obj: dict) -> Chunk | None:
        if obj.get("usage"):
            self.usage = dict(obj["usage"])
        choices = obj.get("choices") or []
        if not choices:
            return None
        choice = choices[0]
        if self.prompt_ids is None:
            self.prompt_ids = _prompt_ids(obj, choice)
        if self.endpoint == "chat":
            delta = choice.get("delta") or {}
            text = delta.get("content") or ""
            for tc in delta.get("tool_calls") or []:
                self._merge_tool(tc)
        else:
            text = choice.get("text") or ""
        ids = choice.get("token_ids")
        ids = list(ids) if isinstance(ids, list) else []
        if isinstance(choice.get("token_ids"), list):
            self.has_ids = True
        lps = _logprobs(choice, self.endpoint)
        if lps is not None:
            self.has_logprobs = True
        lps = lps or []
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
            self.saw_finish = True
        self.text.append(text)
        self.token_ids.extend(ids)
        self.logprobs.extend(lps)
        if text or ids:
            return Chunk(text=text, token_ids=ids, logprobs=lps)
        return None

    def _merge_tool(self, tc: dict) -> None:
        slot = self._tools.setdefault(int(tc.get("index", 0)),
                                      {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        if tc.get("id"):
            slot["id"] = tc["id"]
        fn = tc.get("function") or {}
        if fn.get("name"):
            slot["function"]["name"] += fn["name"]
        if fn.get("arguments"):
            slot["function"]["arguments"] += fn["arguments"]

    def generation(self) -> Generation:
        return Generation(
            text="".join(self.text), finish_reason=self.finish_reason or "stop",
            prompt_token_ids=self.prompt_ids,
            completion_token_ids=self.token_ids if self.has_ids else None,
            logprobs=self.logprobs if self.has_logprobs else None, usage=self.usage,
            tool_calls=[self._tools[i] for i in sorted(self._tools)] or None)
