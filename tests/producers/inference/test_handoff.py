"""The hand-off upstream behind the real proxy: a request reaches whoever serves its episode and the
answer goes back to the agent and into the log; nobody serving is a 404, a channel closed while a
request waits is a 503 — each recorded as proxy.error, none hanging."""
from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from events.log import open_log
from producers.inference.base import Generation
from producers.inference.handoff import HandoffUpstream
from producers.proxy.server import ProxyServer


class _Server:
    """An event loop in a thread serving one episode's channel (as the agent loop does)."""

    def __init__(self, upstream: HandoffUpstream, episode: str, answer: bool):
        self.loop = asyncio.new_event_loop()
        self.channel = upstream.open(episode, self.loop)
        self.seen: list = []
        self.answer = answer
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),), daemon=True)
        self.thread.start()

    async def _serve(self) -> None:
        handoff = await self.channel.get_request()
        self.seen.append(handoff.request)
        if self.answer:
            self.channel.send_response(handoff, Generation(text="ls", prompt_token_ids=[1, 2],
                                                           completion_token_ids=[7, 8], logprobs=[-0.5, -0.25],
                                                           upstream="verl"))


def _chat(proxy: ProxyServer, episode: str, timeout: float = 60) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    return httpx.post(f"{proxy.base_url(episode)}/chat/completions", json=body, timeout=timeout,
                      headers={"Authorization": f"Bearer {proxy.token}"})


@pytest.fixture
def proxy(tmp_path):
    upstream = HandoffUpstream("verl")
    with ProxyServer(f"sqlite:///{tmp_path}/log.db", upstream) as server:
        yield server, upstream, f"sqlite:///{tmp_path}/log.db"


def _errors(url: str) -> list:
    log = open_log(url)
    try:
        return [r.event.payload for r in log.read("proxy") if r.event.type == "proxy.error"]
    finally:
        log.close()


def test_a_served_episode_gets_the_servers_answer_recorded(proxy):
    server, upstream, url = proxy
    serving = _Server(upstream, "ep-a", answer=True)
    r = _chat(server, "ep-a")
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "ls"
    assert serving.seen[0].episode_id == "ep-a" and serving.seen[0].messages[-1]["content"] == "hi"
    log = open_log(url)
    responses = [x.event.payload for x in log.read("proxy") if x.event.type == "proxy.response"]
    log.close()
    assert [(x.completion_token_ids, x.logprobs, x.upstream) for x in responses] == [([7, 8], [-0.5, -0.25], "verl")]


def test_an_episode_nobody_serves_is_a_recorded_404(proxy):
    server, _, url = proxy
    r = _chat(server, "ep-nobody")
    assert r.status_code == 404 and "no agent loop serves episode 'ep-nobody'" in r.text
    assert [e.status for e in _errors(url)] == [404]


def test_closing_a_channel_fails_the_waiting_request_with_503(proxy):
    server, upstream, url = proxy
    serving = _Server(upstream, "ep-b", answer=False)
    result: list = []
    caller = threading.Thread(target=lambda: result.append(_chat(server, "ep-b")))
    caller.start()
    for _ in range(1200):  # the request reaches the server (at most a minute on a loaded machine)
        if serving.seen:
            break
        caller.join(0.05)
    upstream.close("ep-b", "the episode is over")
    caller.join(60)
    assert result and result[0].status_code == 503 and "the episode is over" in result[0].text
    assert [e.status for e in _errors(url)] == [503]
    assert upstream.served == 0
