"""SmolLM2's tool-call format: parsing completions into OpenAI tool calls, rendering them back,
and refusing what the format cannot produce."""
from __future__ import annotations

import json

import pytest

from producers.inference.base import UpstreamError
from producers.inference.tool_calls import (check_tool_request, parse_tool_calls, render_tool_calls,
                                            system_with_tools)

BASH = {"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}


def test_a_block_becomes_tool_calls_and_the_rest_is_content():
    text = 'Let me look.<tool_call>[{"name": "bash", "arguments": {"command": "ls -la"}}]</tool_call>'
    content, calls = parse_tool_calls(text, turn=3)
    assert content == "Let me look."
    assert calls == [{"id": "call_3_0", "type": "function",
                      "function": {"name": "bash", "arguments": json.dumps({"command": "ls -la"})}}]
    assert parse_tool_calls(render_tool_calls(content, calls), 3) == (content, calls)  # round trip


def test_one_object_string_arguments_and_an_unclosed_block():
    content, calls = parse_tool_calls('<tool_call>{"name": "bash", "arguments": "{\\"command\\": \\"pwd\\"}"}', 0)
    assert content is None and calls[0]["function"] == {"name": "bash", "arguments": '{"command": "pwd"}'}


@pytest.mark.parametrize("text", ["no call at all", "<tool_call>[not json]</tool_call>", "<tool_call>[]</tool_call>",
                                  '<tool_call>[{"arguments": {}}]</tool_call>'])
def test_anything_else_is_plain_content(text):
    assert parse_tool_calls(text, 0) == (text, None)


def test_tools_go_into_the_system_prompt_after_the_callers_own():
    system = system_with_tools("Be careful.", [BASH])
    assert system.startswith("Be careful.\n\n") and '<tools>[{"name": "bash"' in system
    assert "<tool_call>[" in system


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "bash"}}])
def test_forcing_a_call_is_refused_with_400(choice):
    with pytest.raises(UpstreamError) as exc:
        check_tool_request([BASH], {"tool_choice": choice}, "hf:smollm2-135m")
    assert exc.value.status == 400 and "cannot be honoured" in str(exc.value)
    check_tool_request([BASH], {"tool_choice": "auto"}, "hf:smollm2-135m")


def test_non_function_tools_are_refused_with_400():
    with pytest.raises(UpstreamError) as exc:
        check_tool_request([{"type": "retrieval"}], {}, "hf:smollm2-135m")
    assert exc.value.status == 400 and "tools[0]" in str(exc.value)
