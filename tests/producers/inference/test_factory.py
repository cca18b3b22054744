"""make_upstream: every spec kind dispatches; bad specs fail with a message naming the problem."""
from __future__ import annotations

import asyncio
import importlib.util

import pytest

from producers.inference.base import GenerateRequest, Generation, Upstream
from producers.inference.callable import FunctionUpstream
from producers.inference.demo import DemoUpstream
from producers.inference.factory import make_upstream
from producers.inference.openai_http import OpenAIUpstream
from producers.inference.replay import ReplayUpstream


async def echo(request: GenerateRequest) -> Generation:
    """Used as `callable:tests.producers.inference.test_factory:echo`."""
    return Generation(text=f"echo {request.turn}", prompt_token_ids=[1], completion_token_ids=[2], logprobs=[-0.5])


def test_every_kind_dispatches():
    assert isinstance(make_upstream("demo"), DemoUpstream)
    up = make_upstream("openai:http://127.0.0.1:9/v1", retries=0)
    assert isinstance(up, OpenAIUpstream) and up.name == "openai:http://127.0.0.1:9/v1"
    assert isinstance(make_upstream("replay:sqlite:///x.db#episode=e1"), ReplayUpstream)
    assert make_upstream("replay:sqlite:///x.db#episode=e1").episode == "e1"
    fn = make_upstream("callable:tests.producers.inference.test_factory:echo")
    assert isinstance(fn, FunctionUpstream) and isinstance(fn, Upstream)
    gen = asyncio.run(fn.generate(GenerateRequest(episode_id="e", turn=4)))
    assert gen.text == "echo 4" and gen.trainable and gen.upstream.startswith("callable:")


@pytest.mark.parametrize("spec, message", [
    ("gpt", "unknown upstream 'gpt'"),
    ("openai:", "needs a target"),
    ("callable:nomodule_xyz:f", "cannot import nomodule_xyz"),
    ("callable:tests.producers.inference.test_factory:missing", "has no attribute missing"),
    ("callable:no_colon", "expected module:attr"),
])
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        make_upstream(spec)


def test_hf_dispatches_lazily_or_says_it_is_missing():
    if importlib.util.find_spec("producers.inference.hf") is None:
        with pytest.raises(ValueError, match="hf: upstream is not available"):
            make_upstream("hf:tiny")
    else:
        assert make_upstream("hf:tiny").name
