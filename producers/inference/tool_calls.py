"""SmolLM2-Instruct's tool-call format: tools offered in the system prompt, calls
answered as one `<tool_call>[...]</tool_call>` block holding a JSON list.

SmolLM2's chat template has no `tools` branch; its model card gives the
function-calling prompt reproduced in `SYSTEM` (the APIGen format the model was
tuned on). A request's tools are folded into the system message in that form,
and a completion is parsed back into OpenAI `tool_calls`:

    THOUGHT text<tool_call>[{"name": "bash", "arguments": {"command": "ls"}}]</tool_call>

- the block is the first `<tool_call>` up to `</tool_call>` (or the end of the
  completion); its JSON is a list of `{"name", "arguments"}` objects or one such
  object; `arguments` may be an object or a JSON string;
- text outside the block is the message `content` (None when blank);
- a block that is not valid JSON, or an empty list, gives no tool calls and the
  whole text as content (the agent sees what the model wrote);
- ids are `call_<turn>_<index>`; `finish_reason` becomes `tool_calls`.

What the parser cannot produce is refused before sampling (HTTP 400):
`tool_choice` `required` or a named function (nothing forces the model to
call), and tools whose `type` is not `function`.
"""
from __future__ import annotations

import json
from typing import Any

from .base import UpstreamError

__all__ = ["SYSTEM", "OPEN", "CLOSE", "check_tool_request", "offered_tools", "system_with_tools",
           "parse_tool_calls", "render_tool_calls"]

OPEN, CLOSE = "<tool_call>", "</tool_call>"

SYSTEM = (
    "You are an expert in composing functions. You are given a question and a set of possible functions. "
    "Based on the question, you will need to make one or more function/tool calls to achieve the purpose. "
    "If none of the functions can be used, point it out and refuse to answer. If the given question lacks "
    "the parameters required by the function, also point it out.\n\n"
    "You have access to the following tools:\n<tools>{tools}</tools>\n\n"
    "The output MUST strictly adhere to the following format, and NO other text MUST be included.\n"
    "The example format is as follows. Please make sure the parameter type is correct. If no function call "
    "is needed, please make the tool calls an empty list '[]'.\n"
    "<tool_call>[\n"
    '{{"name": "func_name1", "arguments": {{"argument1": "value1", "argument2": "value2"}}}},\n'
    "... (more tool calls as required)\n"
    "]</tool_call>")


def check_tool_request(tools: list[dict[str, Any]] | None, sampling: dict[str, Any], upstream: str) -> None:
    """Raise a 400 `UpstreamError` for tool requests this format cannot honour."""
    choice = sampling.get("tool_choice")
    if choice is not None and choice not in ("auto", "none"):
        raise UpstreamError(f"{upstream}: tool_choice {choice!r} cannot be honoured: the model's tool-call "
                            "format (SmolLM2 <tool_call> blocks) has no way to force a call; use 'auto' or "
                            "'none'", status=400)
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function" \
                or not isinstance(tool.get("function"), dict) or not tool["function"].get("name"):
            raise UpstreamError(f"{upstream}: tools[{i}] is not a function tool with a name; the model's "
                                "tool-call format only produces function calls", status=400)


def offered_tools(tools: list[dict[str, Any]] | None, sampling: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The tools the model is told about (none when `tool_choice` is `none`)."""
    if not tools or sampling.get("tool_choice") == "none":
        return None
    return tools


def system_with_tools(system: str | None, tools: list[dict[str, Any]]) -> str:
    """The system message content: the caller's own system text, then the tool prompt."""
    block = SYSTEM.format(tools=json.dumps([t["function"] for t in tools], ensure_ascii=False))
    return f"{system}\n\n{block}" if system else block


def parse_tool_calls(text: str, turn: int) -> tuple[str | None, list[dict[str, Any]] | None]:
    """(content, tool_calls) of a completion; tool_calls None when it holds no valid block."""
    start = text.find(OPEN)
    if start < 0:
        return text, None
    end = text.find(CLOSE, start)
    body = text[start + len(OPEN): end if end >= 0 else len(text)]
    rest = text[end + len(CLOSE):] if end >= 0 else ""
    calls = _calls(body, turn)
    if not calls:
        return text, None
    content = (text[:start] + rest).strip()
    return content or None, calls


def _calls(body: str, turn: int) -> list[dict[str, Any]]:
    try:
        data = json.loads(body)
    except ValueError:
        return []
    items = data if isinstance(data, list) else [data]
    calls = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            return []
        args = item.get("arguments", {})
        args = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
        calls.append({"id": f"call_{turn}_{i}", "type": "function",
                      "function": {"name": item["name"], "arguments": args}})
    return calls


def render_tool_calls(content: str | None, tool_calls: list[dict[str, Any]]) -> str:
    """An assistant message with tool calls as the model writes it (for re-rendered history)."""
    items = []
    for call in tool_calls:
        fn = call.get("function") or {}
        args = fn.get("arguments", "{}")
        try:
            args = json.loads(args) if isinstance(args, str) else args
        except ValueError:
            pass
        items.append({"name": fn.get("name", ""), "arguments": args})
    return f"{content or ''}{OPEN}{json.dumps(items, ensure_ascii=False)}{CLOSE}"
