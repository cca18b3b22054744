"""300 malformed requests: each gets a clear 4xx, none is forwarded or recorded, the proxy keeps serving."""
from __future__ import annotations

import httpx
import orjson
from openai import OpenAI

from producers.proxy.config import ProxyConfig
from producers.proxy.server import ProxyServer

from .conftest import proxy_events

LIMIT = 64 * 1024
GOOD = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _cases(token: str) -> list[tuple[str, str, dict, bytes, str]]:
    """(method path, episode path, headers, body, expected message fragment)."""
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    chat, cmpl = "/e/ep-bad/v1/chat/completions", "/e/ep-bad/v1/completions"
    bodies = [
        (chat, b"{not json", "not valid JSON"), (chat, b"", "empty request body"),
        (chat, b"[1, 2]", "must be a JSON object"), (chat, b'"text"', "must be a JSON object"),
        (chat, orjson.dumps({"model": "m"}), "missing required field 'messages'"),
        (chat, orjson.dumps({"messages": []}), "non-empty list"),
        (chat, orjson.dumps({"messages": "hi"}), "non-empty list"),
        (chat, orjson.dumps({"messages": [1]}), "messages[0] must be an object"),
        (chat, orjson.dumps({"messages": [{"role": "wizard", "content": "x"}]}), "messages[0].role"),
        (chat, orjson.dumps({"messages": [{"role": "user"}]}), "messages[0].content is missing"),
        (chat, orjson.dumps({"messages": [{"role": "user", "content": 5}]}), "messages[0].content must be"),
        (chat, orjson.dumps({**GOOD, "model": 7}), "'model' must be a string"),
        (chat, orjson.dumps({**GOOD, "temperature": "hot"}), "'temperature' must be a number"),
        (chat, orjson.dumps({**GOOD, "max_tokens": 1.5}), "'max_tokens' must be an integer"),
        (chat, orjson.dumps({**GOOD, "stream": "yes"}), "'stream' must be a boolean"),
        (chat, orjson.dumps({**GOOD, "n": 3}), "'n' must be 1"),
        (chat, orjson.dumps({**GOOD, "stop": [1]}), "'stop' must be a string"),
        (chat, orjson.dumps({**GOOD, "tools": "bash"}), "'tools' must be a list"),
        (cmpl, orjson.dumps({"model": "m"}), "missing required field 'prompt'"),
        (cmpl, orjson.dumps({"prompt": [1, 2, 3]}), "'prompt' must be a string"),
        (chat, b"x" * (LIMIT + 1), "exceeds the limit"),
    ]
    cases = [("POST " + path, auth, body, msg) for path, body, msg in bodies]
    good = orjson.dumps(GOOD)
    for bad in ("bad id", "x" * 300, "-lead", "a/b", "é"):
        cases.append((f"POST /e/{bad}/v1/chat/completions", auth, good, "episode"))
    cases.append(("POST /v1/chat/completions", {**auth, "X-Episode-Id": "bad id!"}, good, "bad episode id"))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}, {"Authorization": "Basic x"}):
        cases.append(("POST " + chat, headers, good, "bearer token"))
    cases.append(("GET /e/ep-bad/v1/models", {"Authorization": "Bearer nope"}, b"", "bearer token"))
    cases.append(("GET /e/ep-bad/status", {}, b"", "bearer token"))
    return cases


def test_300_malformed_requests_are_rejected_and_leave_no_event(log_url, stub):
    config = ProxyConfig(max_body_bytes=LIMIT)
    with ProxyServer(log_url, f"openai:{stub.url}", config=config) as p:
        cases = _cases(p.token)
        with httpx.Client(base_url=p.url) as http:
            for i in range(300):
                line, headers, body, fragment = cases[i % len(cases)]
                method, path = line.split(" ", 1)
                r = http.request(method, path, headers=headers, content=body or None)
                assert 400 <= r.status_code < 500, (line, r.status_code, r.text)
                if r.status_code != 404:  # unroutable paths get the framework's 404
                    assert fragment in r.json()["error"]["message"], (line, r.text)
            huge = http.post("/e/ep-bad/v1/chat/completions", headers={"Authorization": f"Bearer {p.token}"},
                             content=iter([b"x" * 40_000] * 3))  # chunked, no Content-Length
            assert huge.status_code == 413
        client = OpenAI(base_url=p.base_url("ep-ok"), api_key=p.token)
        assert client.chat.completions.create(**GOOD).choices[0].message.content
        metrics = httpx.get(f"{p.url}/metrics").text
    assert proxy_events(log_url, "ep-bad") == [] and len(proxy_events(log_url)) == 2
    assert 'proxy_errors_total{kind="rejected"}' in metrics
