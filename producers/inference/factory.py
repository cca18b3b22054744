"""`make_upstream(spec)`: the one place an `--upstream` string becomes an `Upstream`.

| spec | upstream |
|---|---|
| `openai:URL[#tokenizer=SPEC]` | any OpenAI-compatible server (vLLM: token ids + logprobs captured; with a tokenizer, token in, token out) |
| `callable:module:attr` | an in-process async generate function or Upstream object |
| `hf:smollm2-135m`, `hf:PATH`, `hf:tiny` | an in-process Hugging Face model (`producers/inference/hf.py`); token in, token out |
| `demo` | the scripted stand-in policy for the bundled demo tasks |
| `replay:LOG_URL[#episode=ID]` | the recorded responses of an episode, turn by turn |
"""
from __future__ import annotations

import importlib
from typing import Any

from .base import Upstream

__all__ = ["make_upstream", "KINDS"]

KINDS = ("openai", "callable", "hf", "demo", "replay")


def make_upstream(spec: str, **opts: Any) -> Upstream:
    """Build the upstream named by `spec`; `opts` go to its constructor."""
    kind, _, rest = spec.partition(":")
    if kind == "openai":
        from .openai_http import OpenAIUpstream

        return OpenAIUpstream(_need(rest, spec), **opts)
    if kind == "callable":
        from .callable import CallableUpstream

        return CallableUpstream(_need(rest, spec), **opts)
    if kind == "hf":
        return _hf(_need(rest, spec), **opts)
    if kind == "demo":
        from .demo import DemoUpstream

        return DemoUpstream(**opts)
    if kind == "replay":
        from .replay import ReplayUpstream

        return ReplayUpstream(_need(rest, spec), **opts)
    raise ValueError(f"unknown upstream {spec!r}: expected one of "
                     "openai:URL, callable:module:attr, hf:PATH_OR_TINY, demo, replay:LOG_URL")


def _need(rest: str, spec: str) -> str:
    if not rest:
        raise ValueError(f"upstream {spec!r} needs a target after the colon")
    return rest


def _hf(target: str, **opts: Any) -> Upstream:
    try:
        module = importlib.import_module("producers.inference.hf")
    except ModuleNotFoundError as exc:
        raise ValueError(f"the hf: upstream is not available ({exc}); it needs "
                         "producers/inference/hf.py and the `train` extra (torch, transformers)") from exc
    cls = getattr(module, "HfUpstream", None)
    if cls is None:
        raise ValueError("producers/inference/hf.py has no HfUpstream class")
    return cls(target, **opts)
