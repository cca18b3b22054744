"""Property: whatever JSON body an agent sends, the proxy either acknowledges it and its
proxy.request + proxy.response decode back equal to what was sent and received, or rejects it
with a 4xx in the OpenAI shape and leaves nothing in the log. Never a 5xx."""
from __future__ import annotations

from typing import Any, Iterator

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from events.bounds import MAX_DEPTH
from producers.proxy.config import ProxyConfig
from producers.proxy.server import ProxyServer

from .harness import LogWatch, Reply, check_error

BODY_DEPTH = MAX_DEPTH - 2
OWN_FIELDS = {"chat": ("model", "messages", "stream", "tools"), "completions": ("model", "prompt", "stream")}
KNOWN = {"temperature", "top_p", "max_tokens", "n", "seed", "stop", "logprobs", "top_logprobs", "tools",
         "tool_choice", "response_format", "metadata", "user", "stream", "stream_options", "model", "messages",
         "prompt", "frequency_penalty", "presence_penalty", "logit_bias", "top_k", "min_p"}


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[ProxyServer, LogWatch, httpx.Client]]:
    db = tmp_path_factory.mktemp("prop") / "ledger.db"
    with ProxyServer(f"sqlite:///{db}", "demo", config=ProxyConfig(max_body_bytes=512 * 1024)) as proxy:
        with httpx.Client(base_url=proxy.url, timeout=30,
                          headers={"Authorization": f"Bearer {proxy.token}"}) as http:
            yield proxy, LogWatch(db), http


def nested(levels: int) -> Any:
    value: Any = "deep"
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


scalars = (st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
deep_values = st.integers(BODY_DEPTH - 4, BODY_DEPTH + 2).map(nested)
any_value = st.one_of(json_values, json_values, json_values, deep_values)

texts = st.text(max_size=40)
text_parts = st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": texts},
                                            optional={"x_extra": any_value}), min_size=1, max_size=3)
tool_call = st.fixed_dictionaries({"id": texts, "type": st.just("function"), "function": st.fixed_dictionaries(
    {"name": texts, "arguments": texts})})
valid_messages = st.lists(st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "developer"]), "content": texts | text_parts},
                          optional={"name": texts, "x_extra": any_value}),
    st.fixed_dictionaries({"role": st.just("assistant")}, optional={
        "content": texts | st.none(), "tool_calls": st.lists(tool_call, max_size=2), "reasoning_content": texts}),
    st.fixed_dictionaries({"role": st.just("tool"), "content": texts, "tool_call_id": texts})), min_size=1, max_size=4)
tools = st.lists(st.fixed_dictionaries({"type": st.just("function"), "function": st.fixed_dictionaries(
    {"name": st.from_regex(r"[a-z_]{1,10}", fullmatch=True)}, optional={"parameters": st.dictionaries(
        st.text(max_size=5), json_values, max_size=3)})}), max_size=2)
valid_sampling = st.fixed_dictionaries({}, optional={
    "temperature": st.floats(0, 2), "top_p": st.floats(0.01, 1), "max_tokens": st.integers(1, 40),
    "seed": st.integers(-(2 ** 63), 2 ** 63 - 1), "stop": texts.filter(bool) | st.lists(texts, max_size=3),
    "stream": st.booleans(), "metadata": st.dictionaries(
        st.text(max_size=8), st.text(max_size=20), max_size=4), "user": texts, "top_k": st.integers(-1, 50),
    "frequency_penalty": st.floats(-2, 2), "presence_penalty": st.floats(-2, 2), "n": st.just(1)})
extras = st.dictionaries(st.text(min_size=1, max_size=10).map(lambda k: "x-" + k), any_value, max_size=3)
MUTABLE = ["model", "messages", "prompt", "temperature", "top_p", "max_tokens", "n", "seed", "stop", "logprobs",
           "top_logprobs", "stream", "stream_options", "tools", "tool_choice", "metadata", "response_format", "top_k"]


@st.composite
def bodies(draw) -> tuple[str, bytes]:
    """A valid request, sometimes with one field replaced by arbitrary JSON, sometimes not an object."""
    endpoint = draw(st.sampled_from(["chat", "chat", "chat", "completions"]))
    body: dict[str, Any] = {"model": draw(st.text(min_size=1, max_size=12))}
    if endpoint == "chat":
        body["messages"] = draw(valid_messages)
        if draw(st.booleans()):
            body["tools"] = draw(tools)
    else:
        body["prompt"] = draw(texts | st.lists(texts, min_size=1, max_size=1))
    body.update(draw(valid_sampling))
    if endpoint == "chat" and draw(st.booleans()):
        body["logprobs"] = True
        if draw(st.booleans()):
            body["top_logprobs"] = draw(st.integers(0, 5))
    elif endpoint == "completions" and draw(st.booleans()):
        body["logprobs"] = draw(st.integers(0, 5))
    body.update(draw(extras))
    mutation = draw(st.integers(0, 9))
    if mutation < 2:
        body[draw(st.sampled_from(MUTABLE))] = draw(any_value)
    elif mutation == 2:
        return endpoint, orjson.dumps(draw(json_values))
    return endpoint, orjson.dumps(body)


def _received(reply: httpx.Response, stream: bool) -> tuple[str, str | None]:
    """(text, finish reason) of choice 0 as the client got it."""
    if not stream:
        choice = reply.json()["choices"][0]
        return choice.get("message", choice).get("content") if "message" in choice else choice["text"], \
            choice["finish_reason"]
    text, finish = "", None
    for line in reply.text.split("\n\n"):
        if not line.startswith("data: {"):
            continue
        for choice in orjson.loads(line[6:]).get("choices", []):
            text += (choice.get("delta") or {}).get("content") or choice.get("text") or ""
            finish = choice.get("finish_reason") or finish
    return text, finish


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=bodies())
def test_acknowledged_reads_back_equal_and_rejected_leaves_nothing(served, case):
    proxy, watch, http = served
    endpoint, raw = case
    watch.new()
    path = "/e/ep-prop/v1/chat/completions" if endpoint == "chat" else "/e/ep-prop/v1/completions"
    reply = http.post(path, content=raw)
    assert reply.status_code < 500, reply.text
    event(f"status {reply.status_code}")
    evs = watch.new()
    if reply.status_code != 200:
        check_error(Reply(reply.status_code, {k.lower(): v for k, v in reply.headers.items()}, reply.content))
        assert evs == []
        return
    body = orjson.loads(raw)
    req, resp = evs
    assert (req.type, resp.type, resp.parent, req.id) == ("proxy.request", "proxy.response", req.id,
                                                           reply.headers["x-request-id"])
    assert req.payload.model == body["model"]
    assert req.payload.sampling == {k: v for k, v in body.items() if k not in OWN_FIELDS[endpoint]}
    assert req.payload.tools == (body.get("tools") if endpoint == "chat" else None)
    if endpoint == "chat":
        assert req.payload.messages == body["messages"]
    else:
        assert req.payload.prompt == (body["prompt"] if isinstance(body["prompt"], str) else body["prompt"][0])
    assert orjson.loads(req.payload.raw.text) == body
    text, finish = _received(reply, bool(body.get("stream")))
    assert resp.payload.text == text and resp.payload.finish_reason == finish
    assert resp.payload.scripted and resp.payload.completion_token_ids is not None
