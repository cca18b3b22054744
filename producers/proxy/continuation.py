"""Token in, token out: the next chat prompt continues the previous turn's exact ids.

For an upstream with `chat_tokens` (hf:, openai: with a tokenizer), the proxy
builds every chat prompt itself. Turn t continues turn t-1 when, compared on the
message structure (role, content text, tool calls by name and arguments, tool
call ids), the new request's messages are the previous request's messages, then
the assistant message the proxy returned, then new messages. The prompt is then

    previous prompt ids + sampled completion ids + template ids of the new messages

so sampled tokens are never decoded and re-encoded, and the request stores only
the appended ids (a `prompt_delta`). Anything else is a fork: the prompt is the
whole conversation rendered again, stored whole, with `fork_reason`:

| fork_reason | when |
|---|---|
| `history_edited` | a message the previous request held changed (compaction, edits) |
| `history_shortened` | fewer messages than the previous request plus its reply |
| `assistant_dropped` | where the reply to turn t-1 belongs there is another role's message (mini-swe-agent drops a reply cut by `max_tokens` and asks again) |
| `assistant_edited` | the assistant message is not the one the proxy returned |
| `tools_changed` | the offered tools or tool_choice changed |
| `previous_turn_unrecorded` | turn t-1 failed, was not recorded, or its ids were dropped (`--keep-turns`) |
| `endpoint_changed` | a chat turn after a completions turn |
| `template` | the template cannot append these messages (e.g. they end with an assistant message) |
| `upstream_retokenized` | an upstream that renders prompts itself returned ids that do not extend turn t-1 |

Turn 0 has no previous turn and no fork reason.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from events.payloads import PromptDelta
from producers.inference.chat_tokens import CannotExtend, ChatTokens, text_of

__all__ = ["Plan", "plan_prompt", "build_prompt", "returned_message", "tools_id", "FORK_REASONS"]

FORK_REASONS = ("history_edited", "history_shortened", "assistant_dropped", "assistant_edited", "tools_changed",
                "previous_turn_unrecorded", "endpoint_changed", "template", "upstream_retokenized")


@dataclass(slots=True)
class Plan:
    """How this turn's prompt is made: continuing `base`, or whole with `fork_reason`."""

    base: Any = None
    """The previous capture.Turn to continue, or None."""
    known: int = 0
    """Messages the base turn's ids already hold (its request's messages + its reply)."""
    fork_reason: str | None = None
    delta: PromptDelta | None = None
    """Set by `build_prompt` when the prompt continues `base`."""


def plan_prompt(last: Any, turn: int, endpoint: str, messages: list[dict[str, Any]],
                tools_id: str) -> Plan:
    """Decide, on the message structure alone, whether `turn` continues `last`."""
    if turn == 0:
        return Plan()
    if last is None or last.turn != turn - 1:
        return Plan(fork_reason=f"previous_turn_unrecorded: turn {turn - 1} has no recorded ids to continue")
    if last.endpoint != endpoint or last.messages is None:
        return Plan(fork_reason=f"endpoint_changed: turn {turn - 1} was a {last.endpoint} call")
    if last.tools_id != tools_id:
        return Plan(fork_reason="tools_changed: the offered tools differ from the previous request")
    prev, n = last.messages, len(last.messages)
    if len(messages) < n + 1:
        return Plan(fork_reason=f"history_shortened: {len(messages)} messages, the previous request had "
                                f"{n} and its reply")
    for i in range(n):
        if messages[i] is not prev[i] and messages[i] != prev[i] and _shape(messages[i]) != _shape(prev[i]):
            return Plan(fork_reason=f"history_edited: messages[{i}] differs from the previous request")
    role = messages[n].get("role") if isinstance(messages[n], dict) else None
    if role != "assistant":
        return Plan(fork_reason=f"assistant_dropped: messages[{n}] is a {role} message where the reply to "
                                f"turn {turn - 1} belongs")
    if _shape(messages[n]) != last.reply:
        return Plan(fork_reason=f"assistant_edited: messages[{n}] is not the assistant message returned "
                                f"at turn {turn - 1}")
    return Plan(base=last, known=n + 1)


def build_prompt(tokens: ChatTokens, plan: Plan, messages: list[dict[str, Any]],
                 tools: list[dict[str, Any]] | None, sampling: dict[str, Any]) -> list[int]:
    """The prompt ids for `plan` (sets `plan.delta` when it continues; may turn into a fork)."""
    base = plan.base
    if base is not None:
        prefix = base.prompt_ids + base.completion_ids
        try:
            new = tokens.extend(prefix, messages, plan.known, tools, sampling)
        except CannotExtend as exc:
            plan.base, plan.fork_reason = None, f"template: {exc}"
        else:
            plan.delta = PromptDelta.model_construct(base_request=base.request_event_id,
                                                     prefix_len=len(prefix), ids=new)
            prefix.extend(new)
            return prefix
    return tokens.render(messages, tools, sampling)


def returned_message(text: str, tool_calls: list[dict[str, Any]] | None) -> tuple:
    """The structure of the assistant message the proxy returned for a generation."""
    return _shape({"role": "assistant", "content": text, "tool_calls": tool_calls})


def tools_id(tools: list[dict[str, Any]] | None, sampling: dict[str, Any]) -> str:
    return json.dumps([tools, sampling.get("tool_choice")], sort_keys=True, default=str)


def _shape(m: Any) -> tuple:
    """What of a message reaches the prompt: role, text, tool calls, tool call id, name."""
    if not isinstance(m, dict):
        return ("?", repr(m))
    return (m.get("role"), text_of(m.get("content")), _calls(m.get("tool_calls")),
            m.get("tool_call_id"), m.get("name") if m.get("role") == "tool" else None)


def _calls(calls: Sequence[Any] | None) -> tuple:
    out = []
    for c in calls or ():
        fn = c.get("function") if isinstance(c, dict) else None
        if not isinstance(fn, dict):
            out.append(repr(c))
            continue
        args = fn.get("arguments")
        try:
            args = json.dumps(json.loads(args), sort_keys=True) if isinstance(args, str) else \
                json.dumps(args, sort_keys=True)
        except ValueError:
            pass
        out.append((fn.get("name"), args))
    return tuple(out)
