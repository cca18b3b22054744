"""How the proxy decides, on the message structure alone, whether a turn continues the previous one."""
from __future__ import annotations

from producers.proxy.capture import Turn
from producers.proxy.continuation import plan_prompt, returned_message, tools_id

TOOLS = tools_id(None, {})
FIRST = [{"role": "system", "content": "s"}, {"role": "user", "content": "a"}]


def _last(reply: str = "hi") -> Turn:
    return Turn(0, "req-0", [1, 2], [3], messages=FIRST, reply=returned_message(reply, None), tools_id=TOOLS)


def test_previous_messages_then_the_returned_reply_then_new_ones_continue():
    sent_back = {"role": "assistant", "content": "hi", "extra": {"agent": "bookkeeping"}, "tool_calls": None}
    plan = plan_prompt(_last(), 1, "chat", [*FIRST, sent_back, {"role": "user", "content": "b"}], TOOLS)
    assert plan.fork_reason is None and plan.known == 3 and plan.base.request_event_id == "req-0"


def test_a_dropped_reply_an_edited_reply_and_changed_tools_fork_with_reasons():
    dropped = plan_prompt(_last(), 1, "chat", [*FIRST, {"role": "user", "content": "cut off, again"}], TOOLS)
    assert dropped.fork_reason == "assistant_dropped: messages[2] is a user message where the reply to turn 0 belongs"
    edited = plan_prompt(_last(), 1, "chat", [*FIRST, {"role": "assistant", "content": "hi!"},
                                              {"role": "user", "content": "b"}], TOOLS)
    assert edited.fork_reason.startswith("assistant_edited: messages[2]")
    tools = plan_prompt(_last(), 1, "chat", [*FIRST, {"role": "assistant", "content": "hi"}],
                        tools_id([{"type": "function"}], {}))
    assert tools.fork_reason.startswith("tools_changed")
    assert plan_prompt(None, 1, "chat", FIRST, TOOLS).fork_reason.startswith("previous_turn_unrecorded")
    assert plan_prompt(None, 0, "chat", FIRST, TOOLS).fork_reason is None
