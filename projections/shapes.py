"""Typed forms of the payload fields whose JSON shape the event model leaves open.

The proxy must accept any OpenAI-style body, so `messages`, `tools`,
`tool_calls`, `sampling` and `usage` are `dict`/`list[dict]` in the events,
and `run.started.config` is whatever the producer's config was. In the lake
they are typed: the well-known keys become struct fields, and what a key
holds when it is not of the expected type (or a key nobody declared) is kept
in `other`, so nothing is lost:

| field | lake type |
|---|---|
| message | `struct<role, content, name, tool_call_id, tool_calls, other>`; `content` is the text (text parts joined when the client sent a list of parts, the parts then kept in `other`) |
| tool call | `struct<id, type, function: struct<name, arguments>>` (`arguments` is the JSON text the model wrote) |
| tool definition | `struct<type, function: struct<name, description, parameters>>` (`parameters`: its JSON schema as text) |
| sampling | `struct<temperature, top_p, max_tokens, seed, n, stop, other>` |
| usage | `struct<prompt_tokens, completion_tokens, total_tokens, other>` |
| config | `list<struct<key, value>>`: one entry per leaf, dotted keys (`sampling.n`), values as text (strings as they are, anything else as JSON) |

`other` is `list<struct<key, value>>` with the value as JSON text (as an
integer for usage, whose values are integers by the model). Each shape is
a Polars dtype plus a function from the decoded JSON value to a Python
value of exactly that dtype.
"""
from __future__ import annotations

from typing import Any, Callable

import orjson
import polars as pl

__all__ = ["Shape", "OPEN_SHAPES", "ENTRY_NAMES", "json_text"]

Shaper = Callable[[Any], Any]


class Shape:
    """A lake dtype and the function that brings a JSON value into it."""

    def __init__(self, dtype: pl.DataType, shaper: Shaper, doc: str):
        self.dtype, self.shaper, self.doc = dtype, shaper, doc


def json_text(value: Any) -> str | None:
    """A JSON value as compact text (None stays None)."""
    return None if value is None else orjson.dumps(value).decode()


_OTHER = pl.List(pl.Struct({"key": pl.String(), "value": pl.String()}))


def _other(items: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": json_text(v)} for k, v in items.items()]


def _typed(value: Any, kind: type | tuple[type, ...]) -> bool:
    return isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float, (int, float)))


def _known(obj: dict[str, Any], fields: dict[str, type | tuple[type, ...]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the declared keys whose value has the declared type, everything else)."""
    typed: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in obj.items():
        kind = fields.get(key)
        if kind is not None and (value is None or _typed(value, kind)):
            typed[key] = value
        else:
            rest[key] = value
    return typed, rest


# -- tool calls and tool definitions ---------------------------------------------------------
_FUNCTION_CALL = pl.Struct({"name": pl.String(), "arguments": pl.String()})
TOOL_CALL = pl.Struct({"id": pl.String(), "type": pl.String(), "function": _FUNCTION_CALL})


def _tool_call(call: Any) -> dict[str, Any] | None:
    if not isinstance(call, dict):
        return None
    fn = call.get("function") if isinstance(call.get("function"), dict) else {}
    args = fn.get("arguments")
    return {"id": _str(call.get("id")), "type": _str(call.get("type")),
            "function": {"name": _str(fn.get("name")),
                         "arguments": args if isinstance(args, str) or args is None else json_text(args)}}


TOOL = pl.Struct({"type": pl.String(), "function": pl.Struct(
    {"name": pl.String(), "description": pl.String(), "parameters": pl.String()})})


def _tool(tool: Any) -> dict[str, Any] | None:
    if not isinstance(tool, dict):
        return None
    fn = tool.get("function") if isinstance(tool.get("function"), dict) else {}
    return {"type": _str(tool.get("type")),
            "function": {"name": _str(fn.get("name")), "description": _str(fn.get("description")),
                         "parameters": json_text(fn.get("parameters"))}}


def _str(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json_text(value)


def _list_of(one: Shaper) -> Shaper:
    return lambda items: None if not isinstance(items, list) else [one(x) for x in items]


# -- messages --------------------------------------------------------------------------------
MESSAGE = pl.Struct({"role": pl.String(), "content": pl.String(), "name": pl.String(),
                     "tool_call_id": pl.String(), "tool_calls": pl.List(TOOL_CALL), "other": _OTHER})
_MESSAGE_KEYS = {"role", "content", "name", "tool_call_id", "tool_calls"}


def _message(msg: Any) -> dict[str, Any] | None:
    if not isinstance(msg, dict):
        return {"role": None, "content": None, "name": None, "tool_call_id": None, "tool_calls": None,
                "other": _other({"message": msg})}
    rest = {k: v for k, v in msg.items() if k not in _MESSAGE_KEYS}
    content = msg.get("content")
    if not (content is None or isinstance(content, str)):
        rest["content"] = content
        content = _text_of_parts(content)
    calls = msg.get("tool_calls")
    return {"role": _str(msg.get("role")), "content": content, "name": _str(msg.get("name")),
            "tool_call_id": _str(msg.get("tool_call_id")),
            "tool_calls": [_tool_call(c) for c in calls] if isinstance(calls, list) else None,
            "other": _other(rest) if rest else None}


def _text_of_parts(content: Any) -> str | None:
    if not isinstance(content, list):
        return json_text(content)
    texts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return "\n".join(texts)


# -- sampling, usage, config ----------------------------------------------------------------------
_SAMPLING_FIELDS: dict[str, type | tuple[type, ...]] = {
    "temperature": (int, float), "top_p": (int, float), "max_tokens": int, "seed": int, "n": int}
SAMPLING = pl.Struct({"temperature": pl.Float64(), "top_p": pl.Float64(), "max_tokens": pl.Int64(),
                      "seed": pl.Int64(), "n": pl.Int64(), "stop": pl.List(pl.String()), "other": _OTHER})


def _sampling(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict):
        return None
    typed, rest = _known({k: v for k, v in obj.items() if k != "stop"}, _SAMPLING_FIELDS)
    for key in ("temperature", "top_p"):
        if typed.get(key) is not None:
            typed[key] = float(typed[key])
    stop = obj.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    elif stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        rest["stop"], stop = stop, None
    return {**{k: typed.get(k) for k in _SAMPLING_FIELDS}, "stop": stop, "other": _other(rest) if rest else None}


_USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
USAGE = pl.Struct({**{k: pl.Int64() for k in _USAGE_FIELDS},
                   "other": pl.List(pl.Struct({"key": pl.String(), "value": pl.Int64()}))})


def _usage(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict):
        return None
    rest = [{"key": k, "value": v} for k, v in obj.items() if k not in _USAGE_FIELDS]
    return {**{k: obj.get(k) for k in _USAGE_FIELDS}, "other": rest or None}


CONFIG = pl.List(pl.Struct({"key": pl.String(), "value": pl.String()}))


def _config(obj: Any) -> list[dict[str, str | None]] | None:
    if obj is None:
        return None
    out: list[dict[str, str | None]] = []
    _flatten("", obj, out)
    return out


def _flatten(prefix: str, value: Any, out: list[dict[str, str | None]]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
        return
    text = value if isinstance(value, str) else json_text(value)
    out.append({"key": prefix, "value": text})


OPEN_SHAPES: dict[tuple[str, str], Shape] = {
    ("ProxyRequest", "messages"): Shape(pl.List(MESSAGE), _list_of(_message),
                                        "list<message>: role, content, name, tool_call_id, tool_calls, other"),
    ("ProxyRequest", "sampling"): Shape(SAMPLING, _sampling,
                                        "struct: temperature, top_p, max_tokens, seed, n, stop, other"),
    ("ProxyRequest", "tools"): Shape(pl.List(TOOL), _list_of(_tool),
                                     "list<struct<type, function: struct<name, description, parameters>>>"),
    ("ProxyResponse", "usage"): Shape(USAGE, _usage, "struct: prompt_tokens, completion_tokens, total_tokens, other"),
    ("ProxyResponse", "tool_calls"): Shape(pl.List(TOOL_CALL), _list_of(_tool_call),
                                           "list<struct<id, type, function: struct<name, arguments>>>"),
    ("RunStarted", "config"): Shape(CONFIG, _config, "list<struct<key, value>>: dotted keys, values as text"),
}
"""(payload model, field) -> its typed form."""

ENTRY_NAMES: dict[tuple[str, str], tuple[str, str]] = {
    ("EvalResult", "fail_to_pass"): ("test", "status"),
    ("EvalResult", "pass_to_pass"): ("test", "status"),
    ("RewardAssigned", "components"): ("name", "value"),
    ("TrainerStep", "staleness"): ("staleness", "samples"),
    ("RolloutGroup", "excluded_reasons"): ("reason", "episodes"),
    ("DatasetManifest", "repos"): ("repo", "instances"),
}
"""(payload model, field) of a `dict[str, X]` -> the names of its entries' two fields
(default `key`, `value`)."""
