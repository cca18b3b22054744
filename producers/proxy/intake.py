"""Validating what an agent sent, before anything is forwarded or recorded.

A body is read as JSON (orjson), bounded in depth (`BODY_DEPTH`, derived from
events.bounds.MAX_DEPTH so that the stored events decode in every reader), then
checked against the request models of `schema`. Every rejection is a `Rejected`
with an HTTP status, an OpenAI error `code`, the `param` path and a message
naming it (`messages[0].content[1].text: expected string, got integer`); a
rejected request is never forwarded and leaves no event.
"""
from __future__ import annotations


from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from events.bounds import MAX_DEPTH, depth_beyond, json_path
from events.ids import NAME_CHARS, NAME_RULE

from .schema import ChatRequest, CompletionRequest, is_tag

__all__ = ["Rejected", "Parsed", "parse_body", "check_id", "check_episode_id", "ID_RULE", "BODY_DEPTH"]

ID_RULE = NAME_RULE
"""Episode and run ids (`events.ids.NAME_RULE`)."""

BODY_DEPTH = MAX_DEPTH - 2
"""Deepest nesting of a request body: a top-level field's value sits two levels
deeper in its proxy.request event (envelope, payload, `sampling`)."""

_MODELS: dict[str, type[BaseModel]] = {"chat": ChatRequest, "completions": CompletionRequest}


class Rejected(Exception):
    """A request refused before forwarding: `status`, OpenAI `code`, the offending `param`, a clear `message`."""

    def __init__(self, status: int, message: str, code: str = "invalid_request", param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers


@dataclass(slots=True)
class Parsed:
    body: dict[str, Any]
    model: str
    stream: bool
    messages: list[dict[str, Any]] | None
    prompt: str | None
    tools: list[dict[str, Any]] | None
    n: int = 1


def check_id(value: str, what: str) -> str:
    """`value` if it is a whole valid id (no trailing newline, no other characters), else 400."""
    if ID_RULE.fullmatch(value) is None:
        raise Rejected(400, f"bad {what} {value[:80]!r}: use {NAME_CHARS}", f"bad_{what.replace(' ', '_')}")
    return value


def check_episode_id(episode_id: str) -> str:
    return check_id(episode_id, "episode id")


def parse_body(raw: bytes, endpoint: str) -> Parsed:
    """The checked request, or `Rejected` naming the first thing wrong with it."""
    if not raw:
        raise Rejected(400, "empty request body: expected a JSON object", "invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected(400, f"request body is not valid JSON: {exc}", "invalid_json") from None
    if type(body) is not dict:
        raise Rejected(400, f"request body must be a JSON object, got {json_type(body)}", "invalid_type")
    if raw.count(b"[") + raw.count(b"{") > BODY_DEPTH:  # fewer brackets cannot nest that deep
        path = depth_beyond(body, BODY_DEPTH)
        if path is not None:
            where = json_path(path[:6]) + ("…" if len(path) > 6 else "")
            raise Rejected(400, f"{where}: nested deeper than {BODY_DEPTH} levels (the limit that keeps "
                           "every recorded event readable)", "too_deep", json_path(path[:1]))
    try:
        _MODELS[endpoint].__pydantic_validator__.validate_python(body)
    except ValidationError as exc:
        param, message = explain(exc, body)
        raise Rejected(400, message, _code(exc), param) from None
    stream = bool(body.get("stream"))
    n = body.get("n") or 1
    if endpoint == "chat":
        return Parsed(body, body["model"], stream, body["messages"], None, body.get("tools"), n)
    prompt = body["prompt"]
    return Parsed(body, body["model"], stream, None, prompt if isinstance(prompt, str) else prompt[0], None, n)


# -- wording pydantic's errors ---------------------------------------------------------
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
               dict: "object", type(None): "null"}
_EXPECTED = {"string_type": "string", "int_type": "integer", "float_type": "number", "bool_type": "boolean",
             "list_type": "array", "dict_type": "object", "model_type": "object",
             "model_attributes_type": "object", "int_from_float": "integer"}
_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"), "less_than_equal": ("<=", "le"),
           "less_than": ("<", "lt")}


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def explain(exc: ValidationError, body: Any) -> tuple[str, str]:
    """(param path, message) for the first error of a validation."""
    err = exc.errors(include_url=False)[0]
    path = _path(err["loc"], body)
    kind, value = err["type"], err.get("input")
    if kind.startswith("tag:"):  # a union told apart by one field (`role`, `type`)
        field = kind[4:]
        if isinstance(value, dict):
            path = f"{path}.{field}"
            got = f"got {_show(value[field])}" if field in value else "it is missing"
            return path, f"{path}: expected one of {err['msg']}; {got}"
        return path, f"{path}: expected object, got {json_type(value)}"
    if kind == "value_error":  # the models' own checks name their field first
        message = str(err["ctx"]["error"])
        return message.split(":", 1)[0], message
    key = "[key]" in err["loc"]
    return path, f"{path}: {'key ' if key else ''}{_wording(kind, err, value)}"


def _wording(kind: str, err: dict, value: Any) -> str:
    ctx = err.get("ctx") or {}
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {json_type(value)}"
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        return f"must be {op} {ctx[key]}, got {_show(value)}"
    if kind == "missing":
        return "missing required field"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "literal_error":
        return f"expected one of {ctx['expected']}, got {_show(value)}"
    if kind in ("too_short", "too_long"):
        word = "at least" if kind == "too_short" else "at most"
        return f"must have {word} {ctx.get('min_length', ctx.get('max_length'))} item(s)"
    if kind in ("string_too_short", "string_too_long"):
        word = "at least" if kind == "string_too_short" else "at most"
        return f"must be {word} {ctx.get('min_length', ctx.get('max_length'))} character(s) long"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx['pattern']}, got {_show(value)}"
    if kind in ("text_or_parts", "mode_or_object"):
        return f"{err['msg']}, got {json_type(value)}"
    return err["msg"][0].lower() + err["msg"][1:]


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float)) else json_type(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _path(loc: tuple, body: Any) -> str:
    """The JSON path of an error location, union tags left out, guided by the body itself."""
    parts: list[str | int] = []
    node = body
    for part in loc:
        if part == "[key]" or (is_tag(part) and not (isinstance(node, dict) and part in node)):
            continue
        parts.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return json_path(parts)


def _code(exc: ValidationError) -> str:
    kind = exc.errors(include_url=False)[0]["type"]
    if kind == "missing":
        return "missing_required_parameter"
    if kind in _EXPECTED or kind in ("text_or_parts", "mode_or_object"):
        return "invalid_type"
    if kind == "extra_forbidden":
        return "unknown_parameter"
    return "invalid_value"
