"""Reading OpenAI-compatible responses (vLLM's token-id extensions included) into Generations.

The upstream is outside the proxy's control, and what it returns is recorded,
so every field taken from it is checked for its type here: a malformed
response is an `UpstreamError` naming the field (the agent gets 502 and a
proxy.error is recorded), never an event that cannot be read back. Fields
outside the OpenAI shape are dropped (`usage` keeps its integer counts only).
"""
from __future__ import annotations

from operator import itemgetter
from typing import Any

import orjson

from .base import Chunk, Generation, TopLogprobs, UpstreamError

__all__ = ["generation_from_body", "generations_from_body", "StreamAccumulator"]


class _Bad(Exception):
    """A field of the upstream's response with the wrong shape: `where` and what it is."""


_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
          dict: "an object", type(None): "null"}


Where = str | tuple[str, ...]
"""A field's location; a tuple is joined only when an error names it (the common path builds no strings)."""


def _at(where: Where) -> str:
    return where if isinstance(where, str) else "".join(where)


def _need(value: Any, kinds: tuple[type, ...], where: Where, nullable: bool = True) -> Any:
    if value is None and nullable:
        return None
    if type(value) not in kinds or (type(value) is bool and bool not in kinds):
        raise _Bad(f"{_at(where)} is {_NAMES.get(type(value), 'something else')}")
    return value


def _ints(value: Any, where: Where) -> list[int] | None:
    if _need(value, (list,), where) is None:
        return None
    if not set(map(type, value)) <= _INT:
        raise _Bad(f"{_at(where)} holds something other than integers")
    return list(value)


_INT = {int}


def _usage(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if type(v) is int and len(k) <= 64}


def _tool_calls(value: Any, where: Where) -> list[dict] | None:
    if _need(value, (list,), where) is None or not value:
        return None
    out = []
    for i, tc in enumerate(value):
        at = f"{_at(where)}[{i}]"
        _need(tc, (dict,), at, nullable=False)
        fn = _need(tc.get("function"), (dict,), f"{at}.function", nullable=False)
        out.append({"id": _need(tc.get("id"), (str,), f"{at}.id") or "",
                    "type": _need(tc.get("type"), (str,), f"{at}.type") or "function",
                    "function": {"name": _need(fn.get("name"), (str,), f"{at}.function.name") or "",
                                 "arguments": _need(fn.get("arguments"), (str,), f"{at}.function.arguments") or ""}})
    return out


_NUMBERS = (float, int)
_NUMBER_TYPES = {float, int}
_STR = {str}
_FLOAT = {float}
_LOGPROB, _TOKEN = itemgetter("logprob"), itemgetter("token")


def _numbers(values: list, where: Where) -> list[float]:
    kinds = set(map(type, values))
    if kinds <= _FLOAT:
        return values
    if not kinds <= _NUMBER_TYPES:
        raise _Bad(f"{_at(where)} holds something other than numbers")
    return list(map(float, values))


def _texts(values: list, where: Where) -> list[str] | None:
    """The token texts, None when the upstream gave none."""
    kinds = set(map(type, values))
    if kinds <= _STR:
        return values
    if kinds == {type(None)}:
        return None
    raise _Bad(f"{_at(where)} holds something other than strings")


def _alternatives(alts: list, where: Where) -> TopLogprobs | None:
    """Per token [(text, logprob), ...] from OpenAI's [{token, logprob, bytes}, ...] lists."""
    if not any(alts):
        return None
    try:
        out = [[(a["token"], a["logprob"]) for a in per] if per else [] for per in alts]
    except (KeyError, TypeError):
        raise _Bad(f"{_at(where)} holds something other than {{token, logprob}} objects") from None
    for per in out:
        if not all(type(t) is str and type(lp) in _NUMBERS for t, lp in per):
            raise _Bad(f"{_at(where)} holds a token that is not a string or a logprob that is not a number")
    return out


def _logprobs(choice: dict, endpoint: str, where: str, detail: bool) -> tuple[list[float] | None, list[str] | None,
                                                                              TopLogprobs | None]:
    """(logprob per token, token texts, alternatives per token) of one choice, each None when absent
    (texts and alternatives only with `detail`: the agent asked for them)."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return None, None, None
    if endpoint == "chat":
        content = _need(lp.get("content"), (list,), (where, ".logprobs.content"))
        if content is None:
            return None, None, None
        try:
            lps = list(map(_LOGPROB, content))
            if not detail:
                return _numbers(lps, (where, ".logprobs.content[].logprob")), None, None
            tokens = [c.get("token") for c in content]
            alts = [c.get("top_logprobs") for c in content]
        except (KeyError, TypeError, AttributeError):
            raise _Bad(f"{where}.logprobs.content holds something other than {{token, logprob, top_logprobs}} "
                       "objects") from None
        return _numbers(lps, (where, ".logprobs.content[].logprob")), \
            _texts(tokens, (where, ".logprobs.content[].token")), \
            _alternatives(alts, (where, ".logprobs.content[].top_logprobs"))
    values = _need(lp.get("token_logprobs"), (list,), (where, ".logprobs.token_logprobs"))
    if values is None:
        return None, None, None
    if not detail:
        return _numbers(values, (where, ".logprobs.token_logprobs")), None, None
    tokens = _need(lp.get("tokens"), (list,), (where, ".logprobs.tokens"))
    top = _need(lp.get("top_logprobs"), (list,), (where, ".logprobs.top_logprobs"))
    if top is not None and not all(d is None or type(d) is dict for d in top):
        raise _Bad(f"{where}.logprobs.top_logprobs holds something other than objects")
    tops = _alternatives([[{"token": k, "logprob": v} for k, v in d.items()] if d else [] for d in top],
                         (where, ".logprobs.top_logprobs")) if top is not None else None
    return _numbers(values, (where, ".logprobs.token_logprobs")), \
        _texts(tokens, (where, ".logprobs.tokens")) if tokens is not None else None, tops


def _choice(body: dict, choice: Any, endpoint: str, where: str, usage: dict[str, int], detail: bool) -> Generation:
    _need(choice, (dict,), where, nullable=False)
    if endpoint == "chat":
        message = _need(choice.get("message"), (dict,), (where, ".message")) or {}
        text = _need(message.get("content"), (str,), (where, ".message.content")) or ""
        tool_calls = _tool_calls(message.get("tool_calls"), (where, ".message.tool_calls"))
    else:
        text, tool_calls = _need(choice.get("text"), (str,), (where, ".text")) or "", None
    prompt = body.get("prompt_token_ids")
    prompt_ids = _ints(prompt if prompt is not None else choice.get("prompt_token_ids"), "prompt_token_ids")
    lps, tokens, tops = _logprobs(choice, endpoint, where, detail)
    return Generation(
        text=text, finish_reason=_need(choice.get("finish_reason"), (str,), (where, ".finish_reason")) or "stop",
        prompt_token_ids=prompt_ids, completion_token_ids=_ints(choice.get("token_ids"), (where, ".token_ids")),
        logprobs=lps, usage=usage, tool_calls=tool_calls, tokens=tokens, top_logprobs=tops)


_CHOICE = [f"choices[{i}]" for i in range(8)]


def generations_from_body(body: Any, endpoint: str, n: int = 1, detail: bool = True) -> list[Generation]:
    """The `n` choices of one non-streamed response, in index order; token texts and
    alternatives only with `detail` (the agent asked for logprobs)."""
    try:
        _need(body, (dict,), "the response", nullable=False)
        choices = _need(body.get("choices"), (list,), "choices", nullable=False)
        if len(choices) != n:
            raise _Bad(f"choices has {len(choices)} entries, {n} were asked for")
        usage = _usage(body.get("usage"))
        if n > 1:
            choices = sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
        gens = [_choice(body, c, endpoint, _CHOICE[i] if i < len(_CHOICE) else f"choices[{i}]", usage, detail)
                for i, c in enumerate(choices)]
    except _Bad as exc:
        raise UpstreamError(f"upstream response is not an OpenAI completion: {exc}") from None
    if n > 1:
        for gen in gens:  # the body's usage covers every choice: give each its own count
            if gen.completion_token_ids is not None and "prompt_tokens" in usage:
                c = len(gen.completion_token_ids)
                gen.usage = {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": c,
                             "total_tokens": usage["prompt_tokens"] + c}
    return gens


def generation_from_body(body: Any, endpoint: str, detail: bool = True) -> Generation:
    """One non-streamed response with one choice as a Generation."""
    return generations_from_body(body, endpoint, 1, detail)[0]


class _ChoiceState:
    """What one choice of a stream has sent so far."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.token_ids: list[int] = []
        self.has_ids = False
        self.logprobs: list[float] = []
        self.has_logprobs = False
        self.tokens: list[str] = []
        self.tops: TopLogprobs = []
        self.finish_reason: str | None = None
        self.tools: dict[int, dict] = {}

    def generation(self, prompt_ids: list[int] | None, usage: dict[str, int]) -> Generation:
        return Generation(
            text="".join(self.text), finish_reason=self.finish_reason or "stop", prompt_token_ids=prompt_ids,
            completion_token_ids=self.token_ids if self.has_ids else None,
            logprobs=self.logprobs if self.has_logprobs else None, usage=usage,
            tool_calls=[self.tools[i] for i in sorted(self.tools)] or None,
            tokens=self.tokens if self.has_logprobs and len(self.tokens) == len(self.logprobs) else None,
            top_logprobs=self.tops if any(self.tops) and len(self.tops) == len(self.logprobs) else None)


class StreamAccumulator:
    """Feeds SSE lines of a streamed completion; collects what each choice's final Generation needs."""

    def __init__(self, endpoint: str, n: int = 1, detail: bool = True):
        self.endpoint = endpoint
        self.n = n
        self.detail = detail
        self.done = False
        self.choices = [_ChoiceState() for _ in range(n)]
        self.prompt_ids: list[int] | None = None
        self.usage: dict[str, int] = {}

    @property
    def saw_finish(self) -> bool:
        return all(c.finish_reason is not None for c in self.choices)

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
        except orjson.JSONDecodeError:
            raise UpstreamError(f"upstream sent a stream line that is not JSON: {data[:200]!r}") from None
        if isinstance(obj, dict) and "error" in obj:
            raise UpstreamError(f"upstream stream error: {str(obj['error'])[:500]}")
        try:
            return self._feed(obj)
        except _Bad as exc:
            raise UpstreamError(f"upstream stream chunk is not an OpenAI chunk: {exc}") from None

    def _feed(self, obj: Any) -> Chunk | None:
        _need(obj, (dict,), "the chunk", nullable=False)
        if obj.get("usage"):
            self.usage = _usage(obj["usage"])
        choices = _need(obj.get("choices"), (list,), "choices") or []
        out = None
        for choice in choices:
            chunk = self._feed_choice(obj, choice)
            out = chunk if out is None else out  # vLLM sends one choice per chunk
        return out

    def _feed_choice(self, obj: dict, choice: Any) -> Chunk | None:
        _need(choice, (dict,), "choices[]", nullable=False)
        index = _need(choice.get("index"), (int,), "choices[].index") or 0
        if not 0 <= index < self.n:
            raise _Bad(f"choices[].index {index} is outside the {self.n} choices asked for")
        state = self.choices[index]
        if self.prompt_ids is None:
            prompt = obj.get("prompt_token_ids")
            self.prompt_ids = _ints(prompt if prompt is not None else choice.get("prompt_token_ids"),
                                    "prompt_token_ids")
        if self.endpoint == "chat":
            delta = _need(choice.get("delta"), (dict,), "choices[].delta") or {}
            text = _need(delta.get("content"), (str,), "choices[].delta.content") or ""
            for tc in _need(delta.get("tool_calls"), (list,), "choices[].delta.tool_calls") or []:
                _merge_tool(state.tools, tc)
        else:
            text = _need(choice.get("text"), (str,), "choices[].text") or ""
        ids = _ints(choice.get("token_ids"), "choices[].token_ids")
        state.has_ids = state.has_ids or ids is not None
        lps, tokens, tops = _logprobs(choice, self.endpoint, "choices[]", self.detail)
        if lps is not None:
            state.has_logprobs = True
            if self.detail:  # keep texts and alternatives aligned with the logprobs
                tokens = tokens if tokens is not None and len(tokens) == len(lps) else [""] * len(lps)
                tops = tops if tops is not None and len(tops) == len(lps) else [[] for _ in lps]
        finish = _need(choice.get("finish_reason"), (str,), "choices[].finish_reason")
        if finish:
            state.finish_reason = finish
        state.text.append(text)
        state.token_ids.extend(ids or [])
        state.logprobs.extend(lps or [])
        state.tokens.extend(tokens or [])
        state.tops.extend(tops or [])
        if text or ids:
            return Chunk(text=text, token_ids=ids or [], logprobs=lps or [], index=index,
                         tokens=tokens or [], top_logprobs=tops or [])
        return None

    def generations(self) -> list[Generation]:
        return [c.generation(self.prompt_ids, self.usage) for c in self.choices]

    def generation(self) -> Generation:
        return self.generations()[0]


def _merge_tool(tools: dict[int, dict], tc: Any) -> None:
    _need(tc, (dict,), "choices[].delta.tool_calls[]", nullable=False)
    index = _need(tc.get("index"), (int,), "choices[].delta.tool_calls[].index") or 0
    slot = tools.setdefault(index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
    if tc.get("id"):
        slot["id"] = _need(tc["id"], (str,), "tool_calls[].id")
    fn = _need(tc.get("function"), (dict,), "tool_calls[].function") or {}
    if fn.get("name"):
        slot["function"]["name"] += _need(fn["name"], (str,), "tool_calls[].function.name")
    if fn.get("arguments"):
        slot["function"]["arguments"] += _need(fn["arguments"], (str,), "tool_calls[].function.arguments")
