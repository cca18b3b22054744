"""A hostile-input corpus for the proxy: several hundred distinct requests, as data.

Each `Case` is a request (well-formed HTTP sent with a client, or raw bytes on
a socket) and what must come back: the status, and for errors the `param` or a
fragment of the message. `events` is how many proxy events the request leaves
(0 for every rejection).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from events.bounds import MAX_DEPTH

__all__ = ["Case", "cases", "GOOD", "LIMIT", "BODY_DEPTH"]

LIMIT = 256 * 1024
"""The corpus server's --max-body-bytes."""
BODY_DEPTH = MAX_DEPTH - 2
GOOD: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
CHAT, CMPL = "/e/ep-hostile/v1/chat/completions", "/e/ep-hostile/v1/completions"


@dataclass
class Case:
    id: str
    status: int
    method: str = "POST"
    path: str = CHAT
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: bool = True
    raw: list[bytes] | None = None
    """Bytes sent as they are (the token placeholder `{TOKEN}` filled in)."""
    param: str | None = None
    fragment: str | None = None
    events: int = 0
    replies: int = 1


def _json(obj: Any) -> bytes:
    return orjson.dumps(obj)


def nested(levels: int, leaf: Any = "x") -> Any:
    value = leaf
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


def _field_cases() -> list[Case]:
    """Every top-level field of /v1/chat/completions with wrong types and out-of-range values."""
    bad: dict[str, list[Any]] = {
        "model": [1, 1.5, True, None, [], {}, ""],
        "messages": ["hi", 1, None, {}, [], [1], ["x"], [None], [[]]],
        "temperature": ["1", True, [], {}, -0.001, 2.001, -1],
        "top_p": ["0.5", False, 0, -0.5, 1.5, 5],
        "max_tokens": ["16", True, 1.5, -1, 0, 10 ** 12, 16777217, []],
        "max_completion_tokens": ["1", 0, -5, 1.0],
        "n": [True, "2", 0, -1, 1.5, 129],
        "logprobs": ["yes", 1, 0, []],
        "top_logprobs": [-5, 21, "3", True],
        "frequency_penalty": [-2.5, 3, "1"],
        "presence_penalty": [-3, 2.5],
        "logit_bias": ["x", [], {"abc": 1}, {"1": 101}, {"1": "a"}, {"1": True}],
        "seed": ["1", 1.5, True],
        "stop": [1, [1], {}, [None], [["a"]]],
        "stream": ["true", 1, []],
        "tools": ["bash", {}, [1], [{}], [{"type": "function"}], [{"type": "retrieval", "function": {"name": "a"}}],
                  [{"type": "function", "function": {}}], [{"type": "function", "function": {"name": "a b"}}],
                  [{"type": "function", "function": {"name": "a", "parameters": "x"}}],
                  [{"type": "function", "function": {"name": "a", "strict": "yes"}}],
                  [{"type": "function", "function": {"name": "a"}, "extra": 1}],
                  [{"type": "function", "function": {"name": f"t{i}"}} for i in range(129)]],
        "tool_choice": ["garbage", 1, {"type": "function"}, {"type": "function", "function": {}},
                        {"type": "function", "function": {"name": 1}}, {"type": "x", "function": {"name": "a"}}, []],
        "parallel_tool_calls": ["yes", 1],
        "response_format": ["json", {}, {"type": "xml"}, {"type": "json_schema"},
                            {"type": "json_schema", "json_schema": {}},
                            {"type": "json_schema", "json_schema": {"name": "a", "schema": "x"}},
                            {"type": "text", "extra": 1}],
        "metadata": ["x", {"a": 1}, {"k" * 65: "v"}, {"a": "v" * 513}, {f"k{i}": "v" for i in range(17)}],
        "user": [1, "u" * 513],
        "store": ["yes"], "service_tier": ["fast"], "reasoning_effort": ["max"], "verbosity": [1],
        "modalities": [["video"], "text"],
        "functions": ["x", [{"name": 1}]],
        "function_call": [1, {"name": 1}, "maybe"],
        "top_k": [-2, "5", 1.5], "min_p": [1.5, -0.1], "repetition_penalty": [0, -1, 11],
        "min_tokens": [-1], "stop_token_ids": [[-1], "x"], "return_token_ids": ["yes"], "ignore_eos": [1],
    }
    out = []
    for name, values in bad.items():
        for i, value in enumerate(values):
            out.append(Case(f"field-{name}-{i}", 400, body=_json({**GOOD, name: value}), param=name))
    out += [Case("field-model-missing", 400, body=_json({"messages": GOOD["messages"]}), param="model"),
            Case("field-messages-missing", 400, body=_json({"model": "m"}), param="messages"),
            Case("field-top_logprobs-without-logprobs", 400, body=_json({**GOOD, "top_logprobs": 3}),
                 param="top_logprobs"),
            Case("field-stream_options-without-stream", 400,
                 body=_json({**GOOD, "stream_options": {"include_usage": True}}), param="stream_options"),
            Case("field-stream_options-unknown", 400, body=_json({**GOOD, "stream": True, "stream_options": {"x": 1}}),
                 param="stream_options.x"),
            Case("field-stream_options-type", 400, body=_json({**GOOD, "stream": True, "stream_options": "yes"}),
                 param="stream_options"),
            Case("field-stream_options-value", 400,
                 body=_json({**GOOD, "stream": True, "stream_options": {"include_usage": "yes"}}),
                 param="stream_options.include_usage")]
    for i, raw in enumerate([b"18446744073709551616", b"-9223372036854775809", b"9223372036854775808"]):
        out.append(Case(f"field-seed-huge-{i}", 400, body=b'{"model":"m","messages":[{"role":"user","content":"x"}],'
                        b'"seed":' + raw + b"}", param="seed"))
    out.append(Case("field-max_tokens-2**63", 400, body=b'{"model":"m","messages":[{"role":"user","content":"x"}],'
                    b'"max_tokens":9223372036854775808}', param="max_tokens"))
    return out


def _message_cases() -> list[Case]:
    def msg(*messages: Any) -> bytes:
        return _json({"model": "m", "messages": list(messages)})

    user = {"role": "user", "content": "x"}
    bad_role = [["user"], 1, None, "wizard", "USER"]
    out = [Case(f"role-{i}", 400, body=msg({"role": r, "content": "x"}), param="messages[0].role")
           for i, r in enumerate(bad_role)]
    out.append(Case("role-missing", 400, body=msg({"content": "x"}), param="messages[0].role"))
    user_content = [5, None, {}, [1], [{}], [{"type": "text"}], [{"type": "text", "text": None}],
                    [{"type": "text", "text": {}}], [{"type": "text", "text": []}], [{"type": "image_url"}],
                    [{"type": "image_url", "image_url": "u"}], [{"type": "image_url", "image_url": {"url": 1}}],
                    [{"type": "image_url", "image_url": {"url": "u", "detail": "max"}}],
                    [{"type": "input_audio", "input_audio": {"data": "x", "format": "ogg"}}],
                    [{"type": "refusal", "refusal": "x"}], [{"type": "file", "file": {"file_id": 1}}]]
    for i, content in enumerate(user_content):
        out.append(Case(f"user-content-{i}", 400, body=msg({"role": "user", "content": content}),
                        fragment="messages[0].content"))
    out += [
        Case("user-content-missing", 400, body=msg({"role": "user"}), param="messages[0].content"),
        Case("user-text-part-integer", 400, body=msg({"role": "user", "content": [
            {"type": "text", "text": "a"}, {"type": "text", "text": 123}]}),
            fragment="messages[0].content[1].text: expected string, got integer"),
        Case("user-name", 400, body=msg({**user, "name": 1}), param="messages[0].name"),
        Case("system-content", 400, body=msg({"role": "system", "content": 1}, user), param="messages[0].content"),
        Case("system-image", 400, body=msg({"role": "system", "content": [
            {"type": "image_url", "image_url": {"url": "u"}}]}, user), param="messages[0].content[0].type"),
        Case("developer-content", 400, body=msg({"role": "developer", "content": None}, user),
             param="messages[0].content"),
        Case("later-message", 400, body=msg(user, user, user, {"role": "user", "content": 7}),
             param="messages[3].content"),
    ]
    assistant = [("content", 1), ("tool_calls", "garbage"), ("tool_calls", [1]), ("tool_calls", [{}]),
                 ("tool_calls", [{"id": "a", "type": "function", "function": {"name": "b"}}]),
                 ("tool_calls", [{"id": "a", "type": "function", "function": {"name": "b", "arguments": {}}}]),
                 ("tool_calls", [{"id": "a", "type": "x", "function": {"name": "b", "arguments": "{}"}}]),
                 ("refusal", 1), ("function_call", {"name": "a"}), ("audio", {"id": 1})]
    for i, (key, value) in enumerate(assistant):
        out.append(Case(f"assistant-{key}-{i}", 400, body=msg(user, {"role": "assistant", key: value}, user),
                        fragment=f"messages[1].{key}"))
    out += [
        Case("tool-no-call-id", 400, body=msg(user, {"role": "tool", "content": "x"}),
             param="messages[1].tool_call_id"),
        Case("tool-call-id-type", 400, body=msg(user, {"role": "tool", "content": "x", "tool_call_id": 1}),
             param="messages[1].tool_call_id"),
        Case("tool-content-null", 400, body=msg(user, {"role": "tool", "content": None, "tool_call_id": "a"}),
             param="messages[1].content"),
        Case("function-no-name", 400, body=msg(user, {"role": "function", "content": "x"}),
             param="messages[1].name"),
        Case("function-content", 400, body=msg(user, {"role": "function", "content": 1, "name": "f"}),
             param="messages[1].content"),
    ]
    return out


def _completion_cases() -> list[Case]:
    def cmpl(**fields: Any) -> bytes:
        return _json({"model": "m", "prompt": "x", **fields})

    out = [Case("cmpl-prompt-missing", 400, path=CMPL, body=_json({"model": "m"}), param="prompt")]
    for i, prompt in enumerate([1, None, [1, 2], [[1]], ["a", "b"], [], {}]):
        out.append(Case(f"cmpl-prompt-{i}", 400, path=CMPL, body=cmpl(prompt=prompt), fragment="prompt"))
    for i, (name, value) in enumerate([("logprobs", True), ("logprobs", -1), ("logprobs", 21), ("logprobs", "1"),
                                       ("echo", "x"), ("suffix", 1), ("best_of", 0), ("n", 0), ("max_tokens", 0),
                                       ("temperature", 9)]):
        out.append(Case(f"cmpl-{name}-{i}", 400, path=CMPL, body=cmpl(**{name: value}), param=name))
    out.append(Case("cmpl-model-missing", 400, path=CMPL, body=_json({"prompt": "x"}), param="model"))
    return out


def _json_cases() -> list[Case]:
    malformed = [b"{not json", b"{", b"[", b'{"model": }', b'{"model": "m",}', b"{'model': 'm'}",
                 b'{"model": NaN}', b'{"model": Infinity}', b'{"a": 1} // c', b"\xef\xbb\xbf{}", b"   ",
                 b'{"model": "\xff\xfe"}', b'{"model": "\\ud800"}', b'{"x": 1e400}', b'{"model": "a\x01b"}',
                 b'{"a":' * 30, b'{"model": "m"} {"model": "m"}', b'{"model": tru}', b'{"x": 01}', b'{"x": .5}',
                 b"\x00", b'{"x": "\\q"}']
    out = [Case(f"json-malformed-{i}", 400, body=b, fragment="not valid JSON") for i, b in enumerate(malformed)]
    out.append(Case("json-empty", 400, body=b"", fragment="empty request body"))
    for i, b in enumerate([b"[]", b'"text"', b"1", b"null", b"true", b"[1, 2]"]):
        out.append(Case(f"json-not-object-{i}", 400, body=b, fragment="must be a JSON object"))
    return out


def _depth_cases() -> list[Case]:
    at = BODY_DEPTH - 1  # the value sits one level below the body object
    out = [
        Case("depth-extra-at-bound", 200, body=_json({**GOOD, "extra": nested(at)}), events=2),
        Case("depth-extra-over", 400, body=_json({**GOOD, "extra": nested(at + 1)}), param="extra",
             fragment="nested deeper than"),
        Case("depth-extra-200", 400, body=_json({**GOOD, "extra": nested(200)}), param="extra"),
        Case("depth-extra-250", 400, body=_json({**GOOD, "extra": nested(250)}), param="extra"),
        Case("depth-raw-1000", 400, body=b'{"model":"m","x":' + b"[" * 1000 + b"]" * 1000 + b"}", param="x"),
        Case("depth-raw-5000", 400, body=b'{"model":"m","x":' + b"[" * 5000 + b"]" * 5000 + b"}",
             fragment="not valid JSON"),
        Case("depth-part-at-bound", 200, events=2, body=_json({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a", "extra": nested(BODY_DEPTH - 5)}]}]})),
        Case("depth-part-over", 400, param="messages", body=_json({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a", "extra": nested(BODY_DEPTH - 4)}]}]})),
        Case("depth-tool-parameters-over", 400, param="tools", body=_json({**GOOD, "tools": [
            {"type": "function", "function": {"name": "f", "parameters": nested(BODY_DEPTH)}}]})),
        Case("depth-metadata-over", 400, param="metadata", body=_json({**GOOD, "metadata": nested(BODY_DEPTH)})),
        Case("depth-schema-over", 400, param="response_format", body=_json({**GOOD, "response_format": {
            "type": "json_schema", "json_schema": {"name": "s", "schema": nested(BODY_DEPTH)}}})),
        Case("wide-object", 200, events=2, body=_json({**GOOD, "extra": {f"k{i}": i for i in range(5_000)}})),
        Case("wide-array", 200, events=2, body=_json({**GOOD, "extra": list(range(10_000))})),
        Case("wide-messages", 200, events=2,
             body=_json({"model": "m", "messages": [{"role": "user", "content": "x"}] * 2000})),
    ]
    return out


def _size_cases() -> list[Case]:
    big = _json({**GOOD, "pad": "x" * LIMIT})
    floats = b'{"model":"m","messages":[{"role":"user","content":"x"}],"f":[' + b",".join([b"1e15"] * 40_000) + b"]}"
    return [
        Case("size-declared-over", 413, body=big, fragment="exceeds the limit"),
        Case("size-chunked-over", 413, raw=[b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                                            b"Authorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n"
                                            + b"".join(b"8000\r\n" + b"x" * 0x8000 + b"\r\n" for _ in range(9))
                                            + b"0\r\n\r\n"], fragment="exceeds the limit"),
        Case("size-event-floats", 413, body=floats, fragment="proxy.request event"),
        Case("size-event-prompt-ids", 413, fragment="event",
             body=_json({"model": "m", "messages": [{"role": "user", "content": "y" * (LIMIT // 3)}]})),
        Case("size-under-limit", 200, events=2, body=_json({**GOOD, "pad": "x" * (LIMIT // 8)})),
    ]


def _id_cases() -> list[Case]:
    good = _json(GOOD)
    paths = ["ep%0A", "ep%00", "ep%20x", "-lead", ".x", "x" * 201, "%C3%A9", "ep%0D%0A"]
    out = [Case(f"id-path-{i}", 400, path=f"/e/{p}/v1/chat/completions", body=good, fragment="bad episode id")
           for i, p in enumerate(paths)]
    out += [Case("id-path-slash", 404, path="/e/a%2Fb/v1/chat/completions", body=good),
            Case("id-path-empty", 400, path="/e//v1/chat/completions", body=good, fragment="bad episode id")]
    for i, value in enumerate(["bad id", "x" * 201, "", "ep\x80", "ep;x"]):
        out.append(Case(f"id-episode-header-{i}", 400, path="/v1/chat/completions", body=good,
                        headers={"X-Episode-Id": value}, fragment="bad episode id"))
    for i, value in enumerate(["r" * 8192, "", "r\x80", "r id", "r/1", "-r", "é"]):
        out.append(Case(f"id-run-header-{i}", 400, body=good, headers={"X-Run-Id": value}, fragment="bad run id"))
    out.append(Case("id-run-header-good", 200, body=good, headers={"X-Run-Id": "run-B"}, events=2))
    return out


def _auth_cases() -> list[Case]:
    good = _json(GOOD)
    out = [Case("auth-none", 401, body=good, auth=False, fragment="bearer token")]
    for i, value in enumerate(["Bearer wrong", "{TOKEN}", "Basic eA==", "bearer {TOKEN}", "Bearer {TOKEN}x",
                               "Bearer  {TOKEN}"]):
        out.append(Case(f"auth-{i}", 401, body=good, auth=False, headers={"Authorization": value},
                        fragment="bearer token"))
    out += [Case("auth-models", 401, method="GET", path="/v1/models", auth=False, fragment="bearer token"),
            Case("auth-status", 401, method="GET", path="/e/ep-hostile/status", auth=False, fragment="bearer token"),
            Case("auth-model", 401, method="GET", path="/v1/models/demo", auth=False, fragment="bearer token")]
    return out


def _method_cases() -> list[Case]:
    out = []
    for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS"):
        out.append(Case(f"method-{method}-chat", 405, method=method, path=CHAT, fragment="use POST"))
    out += [Case("method-GET-completions", 405, method="GET", path="/v1/completions", fragment="use POST"),
            Case("method-POST-models", 405, path="/v1/models", body=b"{}", fragment="not allowed"),
            Case("method-PUT-models", 405, method="PUT", path="/e/ep/v1/models", fragment="not allowed"),
            Case("method-POST-healthz", 405, path="/healthz", body=b"{}", fragment="not allowed"),
            Case("method-DELETE-status", 405, method="DELETE", path="/e/ep/status", fragment="not allowed"),
            Case("path-unknown", 404, method="GET", path="/nope", fragment="no such endpoint"),
            Case("path-v2", 404, path="/v2/chat/completions", body=_json(GOOD), fragment="no such endpoint"),
            Case("path-trailing-slash", 404, path="/v1/chat/completions/", body=_json(GOOD)),
            Case("path-embeddings", 404, path="/v1/embeddings", body=_json(GOOD)),
            Case("model-unknown", 404, method="GET", path="/v1/models/gpt-9", fragment="does not exist"),
            Case("model-known", 200, method="GET", path="/e/ep/v1/models/demo"),
            Case("models-list", 200, method="GET", path="/v1/models")]
    return out


def _raw(head: bytes, body: bytes = b"") -> list[bytes]:
    return [head + body]


def _http_cases() -> list[Case]:
    tok = b"Authorization: Bearer {TOKEN}\r\n"
    post = b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: x\r\n"
    good = _json(GOOD)
    cl = b"Content-Length: %d\r\n" % len(good)
    bad = {
        "nul-method": b"G\x00T / HTTP/1.1\r\n\r\n",
        "unknown-method": b"FROB / HTTP/1.1\r\nHost: x\r\n\r\n",
        "nul-header": post + tok + b"X-A: a\x00b\r\n" + cl + b"\r\n" + good,
        "space-in-name": post + tok + b"X A: b\r\n" + cl + b"\r\n" + good,
        "cl-letters": post + tok + b"Content-Length: abc\r\n\r\n" + good,
        "cl-negative": post + tok + b"Content-Length: -5\r\n\r\n" + good,
        "cl-twice": post + tok + cl + b"Content-Length: 3\r\n\r\n" + good,
        "cl-and-te": post + tok + cl + b"Transfer-Encoding: chunked\r\n\r\n" + good,
        "bad-chunk": post + tok + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        "http-0.9": b"GET /healthz\r\n\r\n",
        "bad-version": b"GET /healthz HTTP/7.1\r\nHost: x\r\n\r\n",
        "utf8-path": "GET /é HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        "ctl-in-path": b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n",
        "obs-fold": post + tok + b"X-A: a\r\n b\r\n" + cl + b"\r\n" + good,
        "lf-only": b"GET /healthz HTTP/1.1\nHost: x\n\n",
        "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    }
    out = []
    for name, data in bad.items():
        status = 200 if name == "http-0.9" else 400  # llhttp answers HTTP/0.9, refuses bare LF
        out.append(Case(f"http-{name}", status, raw=[data]))
    out += [
        Case("http-long-url", 431, raw=[b"GET /" + b"a" * 40_000 + b" HTTP/1.1\r\n\r\n"]),
        Case("http-many-headers", 431, raw=[b"GET /healthz HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n"]),
        Case("http-big-header", 431, raw=[b"GET /healthz HTTP/1.1\r\nX-A: " + b"a" * 40_000 + b"\r\n\r\n"]),
        Case("http-big-header-unfinished", 431, raw=[b"GET /healthz HTTP/1.1\r\nX-A: " + b"a" * 300_000]),
        Case("http-pipelined", 200, replies=3, raw=[b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3]),
        Case("http-pipelined-posts", 200, replies=2, events=4, raw=[(post + tok + cl + b"\r\n" + good) * 2]),
        Case("http-pipelined-then-garbage", 400, replies=2,
             raw=[b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + b"G\x00T / HTTP/1.1\r\n\r\n"]),
        Case("http-expect-continue", 200, events=2,
             raw=[post + tok + cl + b"Expect: 100-continue\r\n\r\n", good]),
    ]
    return out


def _other_cases() -> list[Case]:
    ok = [
        ("ok-parts", {"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "data:,x"}}]}]}),
        ("ok-tool-round", {"model": "m", "tools": [{"type": "function", "function": {
            "name": "bash", "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}],
            "tool_choice": "auto", "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}]},
                {"role": "tool", "content": "done", "tool_call_id": "c1"}]}),
        ("ok-vllm-extras", {**GOOD, "top_k": 5, "min_p": 0.1, "repetition_penalty": 1.1, "chat_template_kwargs": {
            "enable_thinking": False}, "guided_json": {"type": "object"}, "priority": 3}),
        ("ok-message-extras", {"model": "m", "messages": [{"role": "user", "content": "x", "cache_control": {
            "type": "ephemeral"}}, {"role": "assistant", "content": "y", "reasoning_content": "z"},
            {"role": "user", "content": "w"}]}),
        ("ok-max-tokens", {**GOOD, "max_tokens": 3}),
        ("ok-stop", {**GOOD, "stop": ["demo", "policy"]}),
        ("ok-logprobs", {**GOOD, "logprobs": True, "top_logprobs": 3}),
        ("ok-nulls", {**GOOD, "temperature": None, "tools": None, "stop": None, "n": None, "seed": None}),
        ("ok-n-1", {**GOOD, "n": 1}),
        ("ok-nul-in-content", {"model": "m", "messages": [{"role": "user", "content": "a\u0000b\u2028c"}]}),
        ("ok-big-ints", {**GOOD, "seed": -(2 ** 63), "extra": 18446744073709551615}),
        ("ok-response-format", {**GOOD, "response_format": {"type": "json_schema", "json_schema": {
            "name": "s", "schema": {"type": "object"}, "strict": True}}}),
    ]
    out = [Case(name, 200, body=_json(body), events=2) for name, body in ok]
    out += [Case("ok-stream", 200, body=_json({**GOOD, "stream": True, "stream_options": {"include_usage": True}}),
                 events=2),
            Case("ok-cmpl-list-prompt", 200, path=CMPL, body=_json({"model": "m", "prompt": ["x"], "logprobs": 2}),
                 events=2),
            Case("n-refused-by-demo", 400, body=_json({**GOOD, "n": 2}), param="n", fragment="one choice"),
            Case("n-refused-by-demo-stream", 400, body=_json({**GOOD, "n": 3, "stream": True}), param="n")]
    return out


def cases() -> list[Case]:
    out = (_field_cases() + _message_cases() + _completion_cases() + _json_cases() + _depth_cases()
           + _size_cases() + _id_cases() + _auth_cases() + _method_cases() + _http_cases() + _other_cases())
    ids = [c.id for c in out]
    assert len(ids) == len(set(ids)), "case ids must be distinct"
    return out
