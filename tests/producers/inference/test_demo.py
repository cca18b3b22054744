"""The scripted demo upstream: recognition, deterministic solve/wrong choice, turns, tool calls, ids."""
from __future__ import annotations

import asyncio
import json
import math

from producers.inference.base import GenerateRequest
from producers.inference.demo import SUBMIT, UNRECOGNISED_REPLY, DemoScript, DemoUpstream
from producers.inference.tokenizer import BOS, IM_END, ByteTokenizer

SCRIPT = DemoScript("demo__calc-1", solve=["sed -i s/-/+/ calc.py", "pytest -q"], wrong=["echo nope"])
TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {}}}]


def _req(messages, seed=None, tools=None, endpoint="chat", prompt=None) -> GenerateRequest:
    sampling = {} if seed is None else {"seed": seed}
    return GenerateRequest(episode_id="e", turn=0, endpoint=endpoint, messages=messages, prompt=prompt,
                           sampling=sampling, tools=tools)


def _run(up, req):
    return asyncio.run(up.generate(req))


def _conversation(assistant_turns: int) -> list[dict]:
    msgs = [{"role": "user", "content": "Please solve demo__calc-1"}]
    for i in range(assistant_turns):
        msgs += [{"role": "assistant", "content": f"a{i}"}, {"role": "user", "content": "ok"}]
    return msgs


def test_plays_the_chosen_script_then_submits():
    up = DemoUpstream({SCRIPT.instance_id: SCRIPT})
    seed = next(s for s in range(50) if SCRIPT.picks_solve(s))
    commands = []
    for t in range(4):
        text = _run(up, _req(_conversation(t), seed=seed)).text
        assert text.count("```bash\n") == 1
        commands.append(text.split("```bash\n")[1].split("\n```")[0])
    assert commands == [*SCRIPT.solve, SUBMIT, SUBMIT]
    wrong_seed = next(s for s in range(50) if not SCRIPT.picks_solve(s))
    assert SUBMIT not in _run(up, _req(_conversation(0), seed=wrong_seed)).text
    assert "echo nope" in _run(up, _req(_conversation(0), seed=wrong_seed)).text


def test_solve_rate_is_roughly_honoured_and_no_seed_means_seed_zero():
    picks = [SCRIPT.picks_solve(s) for s in range(400)]
    assert 0.65 < sum(picks) / len(picks) < 0.85
    up = DemoUpstream({SCRIPT.instance_id: SCRIPT})
    assert _run(up, _req(_conversation(0))).text == _run(up, _req(_conversation(0), seed=0)).text


def test_tool_call_reply_when_a_bash_tool_is_offered():
    gen = _run(DemoUpstream({SCRIPT.instance_id: SCRIPT}), _req(_conversation(1), seed=1, tools=TOOLS))
    (call,) = gen.tool_calls
    assert call["function"]["name"] == "bash" and gen.finish_reason == "tool_calls"
    assert json.loads(call["function"]["arguments"])["command"] in (SCRIPT.solve[1], SUBMIT)


def test_unrecognised_prompt_and_token_contract():
    tok = ByteTokenizer()
    up = DemoUpstream({})
    msgs = [{"role": "user", "content": "what is this?"}]
    gen = _run(up, _req(msgs))
    assert gen.text == UNRECOGNISED_REPLY and gen.scripted and gen.logprobs_mode == "scripted"
    assert gen.prompt_token_ids == tok.apply_chat_template(msgs)
    assert gen.completion_token_ids == [*tok.encode(gen.text), IM_END]
    assert not gen.trainable and gen.untrainable_reason == "scripted"  # ids, but never trainable
    assert all(math.isfinite(x) and x < 0 for x in gen.logprobs)
    assert _run(up, _req(msgs)).logprobs == gen.logprobs
    cmpl = _run(up, _req(None, endpoint="completions", prompt="hi"))
    assert cmpl.prompt_token_ids == [BOS, *tok.encode("hi")]


def test_stream_chunks_add_up_to_the_generation():
    up = DemoUpstream({SCRIPT.instance_id: SCRIPT})

    async def collect():
        return [c async for c in up.stream(_req(_conversation(0), seed=3))]

    chunks = asyncio.run(collect())
    final = chunks[-1].final
    assert "".join(c.text for c in chunks) == final.text
    assert [i for c in chunks for i in c.token_ids] == final.completion_token_ids
    assert [x for c in chunks for x in c.logprobs] == final.logprobs


def test_honours_max_tokens_and_stop_like_a_model():
    up = DemoUpstream({SCRIPT.instance_id: SCRIPT})
    msgs = _conversation(0)
    whole = _run(up, _req(msgs, seed=1))
    for limit in (1, 5, len(whole.completion_token_ids) - 1):
        cut = _run(up, GenerateRequest(episode_id="e", turn=0, messages=msgs, sampling={"seed": 1, "max_tokens": limit}))
        assert cut.completion_token_ids == whole.completion_token_ids[:limit] and cut.finish_reason == "length"
        assert len(cut.logprobs) == limit and cut.usage["completion_tokens"] == limit
    roomy = _run(up, GenerateRequest(episode_id="e", turn=0, messages=msgs, sampling={"seed": 1, "max_tokens": 10_000}))
    assert roomy.completion_token_ids == whole.completion_token_ids and roomy.finish_reason == "stop"
    stopped = _run(up, GenerateRequest(episode_id="e", turn=0, messages=msgs, sampling={"seed": 1, "stop": ["step", "```"]}))
    assert stopped.text == whole.text[:whole.text.index("step")] and stopped.finish_reason == "stop"
    assert stopped.completion_token_ids == ByteTokenizer().encode(stopped.text)  # no end-of-message token
    tools = _run(up, GenerateRequest(
        episode_id="e", turn=0, messages=msgs, tools=TOOLS, sampling={"seed": 1, "max_tokens": 3}))
    assert tools.tool_calls is None and tools.finish_reason == "length"


def test_token_texts_and_alternatives():
    up = DemoUpstream({})
    gen = _run(up, GenerateRequest(episode_id="e", turn=0, messages=[{"role": "user", "content": "x"}],
                                   sampling={"top_logprobs": 3}))
    assert "".join(gen.tokens[:-1]) == gen.text and gen.tokens[-1] == "<|im_end|>"
    assert all(len(alts) == 3 and alts[0] == (tok, lp) for alts, tok, lp in zip(gen.top_logprobs, gen.tokens,
                                                                                gen.logprobs))
    assert _run(up, _req([{"role": "user", "content": "x"}])).top_logprobs is None
