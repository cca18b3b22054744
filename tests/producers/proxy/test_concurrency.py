"""Many concurrent episodes through one proxy: every call recorded once, in its episode's order."""
from __future__ import annotations

import asyncio
from collections import defaultdict

from openai import AsyncOpenAI

from .conftest import proxy_events

EPISODES, TURNS = 64, 10


async def _episode(proxy, i: int) -> list[str]:
    client = AsyncOpenAI(base_url=proxy.base_url(f"ep-{i:02d}"), api_key=proxy.token, max_retries=0)
    messages, texts = [{"role": "user", "content": f"task {i}"}], []
    try:
        for turn in range(TURNS):
            if turn % 3 == 2:
                stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
                text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            else:
                r = await client.chat.completions.create(model="m", messages=messages)
                text = r.choices[0].message.content
            texts.append(text)
            messages = [*messages, {"role": "assistant", "content": text},
                        {"role": "user", "content": f"observation {i}.{turn}"}]
    finally:
        await client.close()
    return texts


async def _all(proxy) -> list[list[str]]:
    return await asyncio.gather(*[_episode(proxy, i) for i in range(EPISODES)])


def test_64_episodes_x_10_turns_record_exactly_640_pairs_in_order(proxy, log_url):
    texts = asyncio.run(_all(proxy))
    evs = proxy_events(log_url)
    requests = [e for e in evs if e.type == "proxy.request"]
    responses = [e for e in evs if e.type == "proxy.response"]
    assert len(requests) == EPISODES * TURNS and len(responses) == EPISODES * TURNS
    assert not [e for e in evs if e.type == "proxy.error"]
    by_episode = defaultdict(list)
    for ev in evs:  # log order within a partition == order within an episode
        by_episode[ev.payload.episode_id].append(ev)
    assert len(by_episode) == EPISODES
    for i in range(EPISODES):
        seq = by_episode[f"ep-{i:02d}"]
        assert [e.type for e in seq] == ["proxy.request", "proxy.response"] * TURNS
        assert [e.payload.turn for e in seq] == [t for t in range(TURNS) for _ in (0, 1)]
        assert [e.payload.text for e in seq[1::2]] == texts[i]
        assert all(r.parent == q.id for q, r in zip(seq[::2], seq[1::2]))
        assert all(q.payload.prompt_delta is not None for q in seq[2::2])  # every later prompt extends
    assert proxy.writer.appended == 2 * EPISODES * TURNS and proxy.writer.failed == 0
