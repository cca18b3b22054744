"""Validating what an agent sent, before anything is forwarded or recorded.

Every rejection is a `Rejected` with an HTTP status and a message that names
what was wrong; a rejected request is never forwarded and leaves no event.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Rejected", "Parsed", "parse_body", "check_episode_id", "EPISODE_ID"]

EPISODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$")
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_NUMBERS = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "repetition_penalty", "min_p")
_INTS = ("max_tokens", "max_completion_tokens", "seed", "top_k")


class Rejected(Exception):
    """A request refused before forwarding: `status` and a clear `message`."""

    def __init__(self, status: int, message: str, code: str = "invalid_request"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass(slots=True)
class Parsed:
    body: dict[str, Any]
    model: str
    stream: bool
    messages: list[dict[str, Any]] | None
    prompt: str | None
    tools: list[dict[str, Any]] | None


def check_episode_id(episode_id: str) -> str:
    if not EPISODE_ID.match(episode_id):
        raise Rejected(400, f"bad episode id {episode_id[:80]!r}: use 1-200 characters from "
                       "letters, digits and . _ : @ -, starting with a letter or digit", "bad_episode_id")
    return episode_id


def parse_body(raw: bytes, endpoint: str) -> Parsed:
    if not raw:
        raise Rejected(400, "empty request body: expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise Rejected(400, f"request body must be a JSON object, got {type(body).__name__}")
    model = body.get("model", "")
    if not isinstance(model, str):
        raise Rejected(400, f"'model' must be a string, got {type(model).__name__}")
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise Rejected(400, f"'stream' must be a boolean, got {type(stream).__name__}")
    _check_sampling(body)
    if endpoint == "chat":
        messages = _messages(body)
        tools = _tools(body)
        return Parsed(body, model, bool(stream), messages, None, tools)
    return Parsed(body, model, bool(stream), None, _prompt(body), None)


def _check_sampling(body: dict[str, Any]) -> None:
    for name in _NUMBERS:
        v = body.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise Rejected(400, f"'{name}' must be a number, got {type(v).__name__}")
    for name in _INTS:
        v = body.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise Rejected(400, f"'{name}' must be an integer, got {type(v).__name__}")
    n = body.get("n")
    if n is not None and n != 1:
        raise Rejected(400, f"'n' must be 1 (one sample per call; the orchestrator runs samples "
                       f"as separate episodes), got {n!r}")
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str) and not (
            isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise Rejected(400, "'stop' must be a string or a list of strings")


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" not in body:
        raise Rejected(400, "missing required field 'messages'")
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise Rejected(400, "'messages' must be a non-empty list of message objects")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise Rejected(400, f"messages[{i}] must be an object, got {type(m).__name__}")
        role = m.get("role")
        if role not in _ROLES:
            raise Rejected(400, f"messages[{i}].role must be one of {sorted(_ROLES)}, got {role!r}")
        content = m.get("content")
        if content is None:
            if role != "assistant" and role != "tool":
                raise Rejected(400, f"messages[{i}].content is missing")
        elif isinstance(content, list):
            if not all(isinstance(p, dict) for p in content):
                raise Rejected(400, f"messages[{i}].content parts must be objects")
        elif not isinstance(content, str):
            raise Rejected(400, f"messages[{i}].content must be a string or a list of parts, "
                           f"got {type(content).__name__}")
    return messages


def _tools(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise Rejected(400, "'tools' must be a list of tool objects")
    return tools


def _prompt(body: dict[str, Any]) -> str:
    if "prompt" not in body:
        raise Rejected(400, "missing required field 'prompt'")
    prompt = body["prompt"]
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        return prompt[0]
    if not isinstance(prompt, str):
        raise Rejected(400, "'prompt' must be a string (or a list holding one string); "
                       "batched and token-id prompts are not supported")
    return prompt
