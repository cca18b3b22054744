"""Token in, token out through the real proxy, the real openai SDK and a real model (SmolLM2-135M):
each turn's prompt is the previous prompt + the sampled ids + the template ids of the new
messages; only a real history edit forks, with its reason; the rollouts processor assembles an
episode into one trajectory, even where decoding and re-encoding would have changed the tokens."""
from __future__ import annotations

import openai
import pytest
from openai import OpenAI

import events
from events.log import open_log
from events.payloads import EpisodeFinished
from processors.reducers.rewards import Rewards
from processors.reducers.rollouts import Rollouts
from processors.runtime import Runtime
from producers.proxy import ProxyServer
from tests.processors.synth import eval_result

FAST = {"max_tokens": 6, "temperature": 0.7, "seed": 3}


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('token-in')}/ledger.db"
    with ProxyServer(url, "hf:smollm2-135m", run_id="r") as proxy:
        yield proxy, url


def _chat(proxy, episode: str, messages: list[dict], **kw):
    client = OpenAI(base_url=proxy.base_url(episode), api_key=proxy.token, max_retries=0)
    return client.chat.completions.create(model="smol", messages=messages, extra_body={"return_token_ids": True},
                                          **{**FAST, **kw})


def _requests(url: str, episode: str) -> list:
    return [r.event.payload for r in open_log(url).read("proxy")
            if r.event.type == "proxy.request" and r.event.payload.episode_id == episode]


def _samples(url: str, episode: str) -> list:
    """Finish the episode, score it, and let the real rollouts processor assemble it."""
    log = open_log(url)
    log.append("episodes", [events.new(EpisodeFinished(episode_id=episode, instance_id=f"t__{episode}-1",
                                                       reason="submitted"), producer="test", run_id="r")])
    log.append("evals", [eval_result("r", f"t__{episode}-1", 0, False, episode_id=episode)])
    snapshots = url[len("sqlite:///"):] + ".snapshots"
    Runtime(log, [Rewards()], group_suffix=f"-{episode}", snapshot_dir=snapshots).run()
    Runtime(log, [Rollouts(group_size=1)], group_suffix=f"-{episode}", snapshot_dir=snapshots).run()
    return [s for r in log.read("rollouts") for s in r.event.payload.samples if s.episode_id == episode]


def _turn(messages: list[dict], reply, user: str) -> list[dict]:
    return messages + [{"role": "assistant", "content": reply.choices[0].message.content},
                       {"role": "user", "content": user}]


def test_each_turn_continues_the_previous_ids_exactly(smol):
    proxy, url = smol
    tok = proxy.upstream.policy.tokenizer
    messages = [{"role": "system", "content": "Answer with one bash command."}, {"role": "user", "content": "ls?"}]
    replies = []
    for user in ("exit code 0 ✓", "now count the files"):
        replies.append(_chat(proxy, "cont", messages))
        messages = _turn(messages, replies[-1], user)
    replies.append(_chat(proxy, "cont", messages))
    reqs = _requests(url, "cont")
    assert [r.fork_reason for r in reqs] == [None, None, None]
    assert reqs[0].prompt_token_ids is not None and all(r.prompt_delta is not None for r in reqs[1:])
    prompt, samples = list(reqs[0].prompt_token_ids), _samples(url, "cont")
    for req, reply in zip(reqs[1:], replies):
        completion = reply.model_dump()["choices"][0]["token_ids"]
        assert req.prompt_delta.prefix_len == len(prompt) + len(completion)
        closing = "" if completion[-1] == tok.convert_tokens_to_ids("<|im_end|>") else "<|im_end|>"
        prompt = prompt + completion + req.prompt_delta.ids
        # only the template's ids for the new user message, after the sampled ids
        assert tok.decode(req.prompt_delta.ids).startswith(f"{closing}\n<|im_start|>user\n")
        assert tok.decode(req.prompt_delta.ids).endswith("<|im_end|>\n<|im_start|>assistant\n")
    (sample,) = samples
    last = replies[-1].model_dump()["choices"][0]["token_ids"]
    assert sample.token_ids == prompt + last and sample.fork_reason is None and sample.trainable
    assert sum(sample.loss_mask) == sum(len(r.model_dump()["choices"][0]["token_ids"]) for r in replies)
    assert [s.start for s in sample.spans] == [i for i, (a, b) in enumerate(
        zip([0] + sample.loss_mask, sample.loss_mask)) if b and not a]


def test_a_real_history_edit_forks_with_its_reason(smol):
    proxy, url = smol
    messages = [{"role": "user", "content": "Say hi."}]
    messages = _turn(messages, _chat(proxy, "edit", messages), "again")
    reply = _chat(proxy, "edit", messages)                                   # turn 1 continues turn 0
    messages = _turn([{"role": "user", "content": "Say hello."}, *messages[1:]], reply, "more")
    reply = _chat(proxy, "edit", messages)                                   # turn 2: messages[0] edited
    messages = _turn(messages, reply, "last")
    messages[5] = {"role": "assistant", "content": "something else"}
    _chat(proxy, "edit", messages)                                           # turn 3: its reply edited
    _chat(proxy, "edit", messages[:1])                                       # turn 4: history dropped
    reasons = [r.fork_reason for r in _requests(url, "edit")]
    assert reasons[:2] == [None, None]
    assert reasons[2] == "history_edited: messages[0] differs from the previous request"
    assert reasons[3] == "assistant_edited: messages[5] is not the assistant message returned at turn 2"
    assert reasons[4].startswith("history_shortened: 1 messages")
    samples = _samples(url, "edit")
    assert [s.fork for s in samples] == [0, 1, 2, 3]
    assert [s.fork_reason.split(":")[0] if s.fork_reason else None for s in samples] == \
        [None, "history_edited", "assistant_edited", "history_shortened"]
    assert [len(s.spans) for s in samples] == [2, 1, 1, 1]


def test_a_partial_utf8_completion_is_never_re_encoded(smol):
    """Cut inside an emoji, the completion decodes to U+FFFD; encoding that text back gives other ids.
    The next turn still extends the sampled ids, and the episode is one trajectory."""
    proxy, url = smol
    tok = proxy.upstream.policy.tokenizer
    messages = [{"role": "system", "content": "You are a shell assistant. Reply with one bash block."},
                {"role": "user", "content": "List files ✓"}]
    reply = _chat(proxy, "utf8", messages, max_tokens=2, temperature=0)
    ids, text = reply.model_dump()["choices"][0]["token_ids"], reply.choices[0].message.content
    assert text.endswith("\ufffd"), f"precondition: the completion {ids} should end inside a character"
    assert tok.encode(text, add_special_tokens=False) != ids  # re-encoding would change the tokens
    messages = _turn(messages, reply, "go on")
    _chat(proxy, "utf8", messages)
    reqs = _requests(url, "utf8")
    assert reqs[1].prompt_delta is not None and reqs[1].fork_reason is None
    (sample,) = _samples(url, "utf8")
    start = len(reqs[0].prompt_token_ids)
    assert sample.token_ids[start:start + len(ids)] == ids and sample.loss_mask[start:start + len(ids)] == [1, 1]


def test_tools_are_offered_in_smollm2s_format_and_forcing_a_call_is_a_400(smol):
    proxy, url = smol
    tools = [{"type": "function", "function": {"name": "bash", "description": "run a command",
                                               "parameters": {"type": "object",
                                                              "properties": {"command": {"type": "string"}}}}}]
    messages = [{"role": "user", "content": "list the files"}]
    reply = _chat(proxy, "tools", messages, tools=tools, max_tokens=24)
    assert reply.choices[0].finish_reason in ("tool_calls", "length", "stop")
    (req,) = _requests(url, "tools")
    prompt = proxy.upstream.policy.tokenizer.decode(req.prompt_token_ids)
    assert '<tools>[{"name": "bash", "description": "run a command"' in prompt and "<tool_call>" in prompt
    with pytest.raises(openai.BadRequestError) as refused:
        _chat(proxy, "tools-forced", messages, tools=tools, tool_choice="required")
    assert "tool_choice 'required' cannot be honoured" in str(refused.value)


def test_special_tokens_in_a_completion_stay_in_the_trajectory(tmp_path):
    """The tiny model samples special ids, which decoding drops: re-encoding the text would lose them."""
    from producers.inference.tokenizer import ByteTokenizer, IM_END

    url, tok = f"sqlite:///{tmp_path}/ledger.db", ByteTokenizer()
    with ProxyServer(url, "hf:tiny", run_id="r") as proxy:
        for seed in range(64):
            episode = f"special{seed}"
            messages = [{"role": "user", "content": "x=1"}]
            reply = _chat(proxy, episode, messages, max_tokens=12, temperature=1.0, seed=seed)
            ids = reply.model_dump()["choices"][0]["token_ids"]
            if any(i >= 256 for i in ids[:-1] if i != IM_END):
                break
        else:
            pytest.fail("no seed in 0..63 sampled a special token")
        text = reply.choices[0].message.content
        assert tok.encode(text) != [i for i in ids if i != IM_END]  # decoding dropped the special ids
        _chat(proxy, episode, _turn(messages, reply, "x=2"), max_tokens=4, seed=seed)
    reqs = _requests(url, episode)
    assert reqs[1].prompt_delta is not None and reqs[1].fork_reason is None
    (sample,) = _samples(url, episode)
    start = len(reqs[0].prompt_token_ids)
    assert sample.token_ids[start:start + len(ids)] == ids
