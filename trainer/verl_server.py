"""verl's server-manager `generate` over an in-process model: the agent loop without Ray or vLLM.

verl's agent loops call `await server_manager.generate(request_id, prompt_ids=...,
sampling_params=...)` and get a `TokenOutput` (sampled ids, their logprobs, a stop
reason). `LocalServerManager` answers that call with the ledger's `hf:` sampler
(producers/inference/hf.py) on exactly the given prompt ids, so `SWEAgentLoop`
— or verl's own `AgentLoopWorker` — runs on a CPU for tests and debugging with a
real model behind it. Sampling parameters it cannot honour (top_k,
repetition_penalty) are refused, not ignored.
"""
from __future__ import annotations

from typing import Any

from verl.workers.rollout.replica import TokenOutput

from producers.inference.base import GenerateRequest

__all__ = ["LocalServerManager"]


class LocalServerManager:
    """`generate(request_id, prompt_ids=..., sampling_params=...)` of an `HfUpstream`.

    `global_steps`: the weight version reported in `extra_fields` (as verl's servers do)."""

    def __init__(self, upstream: Any, global_steps: int | None = None):
        self.upstream = upstream
        self.global_steps = global_steps
        self.calls = 0

    async def generate(self, request_id: str, *, prompt_ids: list[int], sampling_params: dict[str, Any],
                       **kwargs: Any) -> TokenOutput:
        s = dict(sampling_params)
        _refuse(s, kwargs)
        sampling = {"temperature": s.get("temperature", 1.0), "top_p": s.get("top_p", 1.0),
                    "max_tokens": s.get("max_tokens") or s.get("max_new_tokens"), "stop": s.get("stop"),
                    "seed": s.get("seed")}
        request = GenerateRequest(episode_id=str(request_id), turn=self.calls, endpoint="completions",
                                  sampling=sampling, prompt_token_ids=[int(t) for t in prompt_ids])
        self.calls += 1
        gen = await self.upstream.generate(request)
        return TokenOutput(token_ids=list(gen.completion_token_ids or []),
                           log_probs=list(gen.logprobs or []) if s.get("logprobs") else None,
                           stop_reason="completed", extra_fields={"global_steps": self.global_steps})


def _refuse(s: dict[str, Any], kwargs: dict[str, Any]) -> None:
    top_k = s.get("top_k")
    if top_k not in (None, -1, 0):
        raise ValueError(f"LocalServerManager: top_k={top_k} is not supported (the hf sampler has no top-k)")
    penalty = s.get("repetition_penalty")
    if penalty not in (None, 1.0):
        raise ValueError(f"LocalServerManager: repetition_penalty={penalty} is not supported")
    media = [k for k in ("image_data", "video_data", "audio_data") if kwargs.get(k) is not None]
    if media:
        raise ValueError(f"LocalServerManager: {', '.join(media)} not supported (text models only)")
