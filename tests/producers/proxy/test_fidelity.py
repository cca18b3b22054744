"""The real openai SDK against the proxy in front of a real HTTP upstream: what the
client received and what the log holds match byte for byte and id for id."""
from __future__ import annotations

from openai import OpenAI

from infra.openai_stub import completion_ids, logprob_of, prompt_ids
from producers.inference.tokenizer import IM_END

from .conftest import Stub, proxy_events

IDS = {"return_token_ids": True}


def _full_prompts(events: list) -> dict[str, list[int]]:
    """request event id -> full prompt ids, following prompt deltas."""
    prompts, completions = {}, {}
    for ev in events:
        p = ev.payload
        if ev.type == "proxy.request":
            if p.prompt_token_ids is not None:
                prompts[ev.id] = list(p.prompt_token_ids)
            else:
                d = p.prompt_delta
                base = prompts[d.base_request] + completions[d.base_request]
                prompts[ev.id] = base[:d.prefix_len] + list(d.ids)
        elif ev.type == "proxy.response":
            completions[ev.parent] = list(p.completion_token_ids or [])
    return prompts


def test_chat_non_streaming_matches_log(proxy, log_url):
    client = OpenAI(base_url=proxy.base_url("ep-chat"), api_key=proxy.token)
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "héllo wörld"}]
    r = client.chat.completions.create(model="m", messages=messages, temperature=0.7, seed=3,
                                       logprobs=True, extra_body=IDS)
    text = r.choices[0].message.content
    req, resp = proxy_events(log_url, "ep-chat")
    assert (req.type, resp.type) == ("proxy.request", "proxy.response")
    assert resp.payload.text == text and text.encode() == resp.payload.text.encode()
    assert resp.parent == req.id and req.run_id == "run-1"
    body = r.model_dump()
    assert resp.payload.completion_token_ids == body["choices"][0]["token_ids"] == completion_ids(text)
    assert req.payload.prompt_token_ids == body["prompt_token_ids"] == prompt_ids({"messages": messages}, "chat")
    got_lps = [c.logprob for c in r.choices[0].logprobs.content]
    assert resp.payload.logprobs == got_lps == [logprob_of(t, i) for i, t in enumerate(completion_ids(text))]
    assert resp.payload.trainable and resp.payload.logprobs_mode == "raw"
    assert req.payload.sampling["temperature"] == 0.7 and req.payload.sampling["seed"] == 3
    assert req.payload.messages == messages and req.payload.raw.complete
    assert resp.payload.usage["completion_tokens"] == len(completion_ids(text))


def test_chat_streaming_matches_log(proxy, log_url):
    client = OpenAI(base_url=proxy.base_url("ep-stream"), api_key=proxy.token)
    messages = [{"role": "user", "content": "stream me ✓ please"}]
    pieces, ids = [], []
    finish = None
    for chunk in client.chat.completions.create(model="m", messages=messages, stream=True,
                                                stream_options={"include_usage": True},
                                                extra_body={**IDS, "stub_pieces": 7}):
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            ids.extend(chunk.model_dump()["choices"][0].get("token_ids") or [])
            finish = chunk.choices[0].finish_reason or finish
    text = "".join(pieces)
    req, resp = proxy_events(log_url, "ep-stream")
    assert resp.payload.text == text and resp.payload.stream and resp.payload.reason == "done"
    assert resp.payload.completion_token_ids == ids == completion_ids(text)
    assert ids[-1] == IM_END and finish == "stop" == resp.payload.finish_reason
    assert req.payload.prompt_token_ids == prompt_ids({"messages": messages}, "chat")
    assert resp.payload.ttft_ms is not None and resp.payload.ttft_ms <= resp.payload.latency_ms
    assert len(resp.payload.logprobs) == len(ids) and resp.payload.trainable


def test_completions_both_modes_match_log(proxy, log_url):
    client = OpenAI(base_url=proxy.base_url("ep-cmpl"), api_key=proxy.token)
    r = client.completions.create(model="m", prompt="def f(x):", logprobs=0, extra_body=IDS)
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="m", prompt="def g(y):", stream=True, extra_body={"stub_pieces": 5}) if c.choices)
    req0, resp0, req1, resp1 = proxy_events(log_url, "ep-cmpl")
    assert resp0.payload.text == r.choices[0].text and resp1.payload.text == streamed
    assert resp0.payload.completion_token_ids == r.model_dump()["choices"][0]["token_ids"]
    assert r.choices[0].logprobs.token_logprobs == resp0.payload.logprobs
    assert req0.payload.prompt == "def f(x):" and req1.payload.endpoint == "completions"
    assert req1.payload.prompt_token_ids == prompt_ids({"prompt": "def g(y):"}, "completions")
    assert resp1.payload.completion_token_ids == completion_ids(streamed)
    assert [e.payload.turn for e in (req0, req1)] == [0, 1]


def test_multi_turn_prompts_are_stored_as_deltas(proxy, log_url):
    client = OpenAI(base_url=proxy.base_url("ep-multi"), api_key=proxy.token)
    messages = [{"role": "user", "content": "start"}]
    for turn in range(4):
        r = client.chat.completions.create(model="m", messages=messages, stream=turn % 2 == 1)
        text = "".join(c.choices[0].delta.content or "" for c in r if c.choices) if turn % 2 else \
            r.choices[0].message.content
        messages = [*messages, {"role": "assistant", "content": text}, {"role": "user", "content": f"obs {turn}"}]
    messages = [messages[0], {"role": "user", "content": "compacted"}]  # a context reset
    client.chat.completions.create(model="m", messages=messages)
    evs = proxy_events(log_url, "ep-multi")
    reqs = [e for e in evs if e.type == "proxy.request"]
    assert [r.payload.turn for r in reqs] == [0, 1, 2, 3, 4]
    assert reqs[0].payload.prompt_token_ids is not None
    for prev, cur in zip(reqs[:3], reqs[1:4]):
        assert cur.payload.prompt_token_ids is None and cur.payload.prompt_delta.base_request == prev.id
    assert reqs[4].payload.prompt_token_ids is not None and reqs[4].payload.prompt_delta is None
    full = _full_prompts(evs)
    for req in reqs:
        assert full[req.id] == prompt_ids({"messages": req.payload.messages}, "chat")


def test_text_only_upstream_is_recorded_as_not_trainable(log_url):
    from producers.proxy.server import ProxyServer

    text_only = Stub("--text-only")
    try:
        with ProxyServer(log_url, f"openai:{text_only.url}") as p:
            client = OpenAI(base_url=p.base_url("ep-text"), api_key=p.token)
            r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    finally:
        text_only.kill()
    req, resp = proxy_events(log_url, "ep-text")
    assert resp.payload.text == r.choices[0].message.content
    assert resp.payload.trainable is False and resp.payload.completion_token_ids is None
    assert resp.payload.logprobs_mode == "none" and req.payload.prompt_token_ids is None


def test_idle_episodes_drop_their_token_ids_and_store_full_prompts(log_url, stub):
    """Only `keep_turns` episodes keep their last turn's ids; the others' next prompts are full."""
    import httpx

    from producers.proxy.config import ProxyConfig
    from producers.proxy.server import ProxyServer

    with ProxyServer(log_url, f"openai:{stub.url}", run_id="run-1", config=ProxyConfig(keep_turns=1),
                     upstream_opts={"retries": 1, "backoff_s": 0.01, "timeout_s": 30}) as proxy:
        history = {ep: [{"role": "user", "content": f"start {ep}"}] for ep in ("ep-a", "ep-b")}

        def turn(ep: str) -> None:
            client = OpenAI(base_url=proxy.base_url(ep), api_key=proxy.token)
            text = client.chat.completions.create(model="m", messages=history[ep]).choices[0].message.content
            history[ep] += [{"role": "assistant", "content": text}, {"role": "user", "content": "next"}]

        for ep in ("ep-a", "ep-b", "ep-a", "ep-b", "ep-b"):
            turn(ep)
        auth = {"Authorization": f"Bearer {proxy.token}"}
        status_a = httpx.get(f"http://127.0.0.1:{proxy.port}/e/ep-a/status", headers=auth).json()
        metrics = httpx.get(f"http://127.0.0.1:{proxy.port}/metrics").text
    reqs = {ep: [e for e in proxy_events(log_url, ep) if e.type == "proxy.request"] for ep in ("ep-a", "ep-b")}
    a, b = reqs["ep-a"], reqs["ep-b"]
    assert [r.payload.turn for r in a] == [0, 1] and [r.payload.turn for r in b] == [0, 1, 2]
    # ep-b's first turn pushed ep-a's ids out: ep-a's second prompt is stored whole
    assert a[1].payload.prompt_delta is None and a[1].payload.prompt_token_ids is not None
    # ep-a's second turn pushed ep-b's out in turn; ep-b's third turn follows its second
    assert b[1].payload.prompt_delta is None
    assert b[2].payload.prompt_token_ids is None and b[2].payload.prompt_delta.base_request == b[1].id
    assert status_a["known"] and status_a["turns"] == 2 and status_a["recorded"] == 2
    assert "proxy_episodes_holding_turns 1" in metrics
    assert "proxy_turns_dropped_total 3" in metrics
