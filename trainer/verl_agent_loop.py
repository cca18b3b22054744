"""`SWEAgentLoop`: verl's agent loop for SWE tasks, with the event log as the record.

Registered as `swe_agent` (`verl.experimental.agent_loop.register`). verl's
trainer (`python -m verl.trainer.main_ppo`) calls `run()` once per sample of a
dataset row that names an instance (`extra_info.instance_id`; rows written by
`python -m trainer.verl_data`). For each call:

1. a new episode is opened on the ledger's model proxy, whose upstream is a
   `HandoffUpstream`: every model call the agent makes is recorded by the proxy
   as usual and handed to this loop (control inversion, as in the SWE Agent
   Recipe's ModelProxy: `get_request()` / `send_response()`);
2. the configured agent runner (bash, mini-swe-agent, SWE-agent) runs in the
   ledger's sandbox, in a worker thread, while this coroutine serves its calls
   with `server_manager.generate(request_id, prompt_ids=..., sampling_params=...)`
   on the exact prompt ids the proxy built (token in, token out) and returns the
   sampled ids and logprobs to the proxy;
3. the patch is judged (`eval.result`) and rewarded (`reward.assigned`);
4. the `AgentLoopOutput` is built from the episode's events read back from the
   log, assembled by the rollouts processor's rules: prompt ids, response ids
   (sampled tokens and the template/observation tokens between them),
   response_mask (1 exactly on sampled tokens), the sampler's logprobs, the
   reward and the number of turns. What verl trains on is what the log holds.

An episode the log cannot turn into one trajectory (a proxy error, an
infrastructure failure, a conversation the agent edited into several forks, a
response without logprobs) is returned with a one-token response whose mask is
0 and reward 0, and the reason in `extra_fields["excluded"]` — never a made-up
trajectory. verl keeps such a sample in its group's reward statistics.

Lengths: the prompt is the first call's prompt and must fit
`rollout.prompt_length`; each call's `max_tokens` is the agent's, capped by what
is left of `rollout.response_length` (observations count too); a call with
nothing left is refused (HTTP 400 to the agent, a `proxy.error`), which
excludes the episode. Size `response_length` to the agent's limits.

Settings (keys of the agent-loop entry in `agent_loop_config_path`, passed here
by hydra): `ledger_config` (a run config: log, dataset, agent, sandbox,
`sampling.max_tokens`; its `model.upstream` and sampling temperature are
verl's here, not read), `reward` (binary@1), `max_parallel_episodes` (8 per
worker process). Without an entry (the decorator's registration alone) the run
config is `$LEDGER_AGENT_LOOP_CONFIG`.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from verl.experimental.agent_loop.agent_loop import (
    AgentLoopBase,
    AgentLoopMetrics,
    AgentLoopOutput,
    register,
)

from events.payloads import UNKNOWN_POLICY, PolicyVersion
from producers.inference.base import GenerateRequest, Generation, UpstreamError

from .swe_episodes import Played, SweEpisodes

__all__ = ["CONFIG_ENV", "VERL_LINEAGE", "AgentLoopSettings", "SWEAgentLoop", "episodes_for"]

logger = logging.getLogger(__name__)

VERL_LINEAGE = "verl"
"""trainer_id of the policy versions verl's servers sample with (PolicyVersion `verl@<global step>`)."""
CONFIG_ENV = "LEDGER_AGENT_LOOP_CONFIG"
"""Run config used when the agent-loop entry names none."""


class AgentLoopSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ledger_config: str
    """The run config (YAML) the episodes follow: log, dataset, agent runner and limits, sandbox."""
    reward: str = "binary@1"
    """Reward function NAME@VERSION (processors/reward_fns.py), as `ledger process rewards --reward`."""
    max_parallel_episodes: int = Field(8, ge=1)
    """Episodes one agent-loop worker process plays at once (agent, commands and evaluation run in threads)."""


_hosts: dict[AgentLoopSettings, SweEpisodes] = {}
_hosts_lock = threading.Lock()


def episodes_for(settings: AgentLoopSettings, chat_tokens: Any) -> SweEpisodes:
    """The process's `SweEpisodes` for these settings (one proxy, one log connection), made once."""
    from producers.orchestrator.config import load_config

    with _hosts_lock:
        host = _hosts.get(settings)
        if host is None:
            cfg = load_config(settings.ledger_config)
            host = SweEpisodes(cfg, reward=settings.reward, chat_tokens=chat_tokens,
                               workers=settings.max_parallel_episodes)
            _hosts[settings] = host
            atexit.register(host.close)
        return host


@register("swe_agent")
class SWEAgentLoop(AgentLoopBase):
    """One SWE episode per verl sample; the output is the episode's trajectory in the log."""

    def __init__(self, *args: Any, ledger_config: str | None = None, reward: str = "binary@1",
                 max_parallel_episodes: int = 8, hf_model_type: str | None = None, **kwargs: Any):
        super().__init__(*args, hf_model_type=hf_model_type, **kwargs)
        ledger_config = ledger_config or os.environ.get(CONFIG_ENV)
        if not ledger_config:
            raise ValueError(f"swe_agent needs a run config: set `ledger_config` in the agent loop entry "
                             f"(actor_rollout_ref.rollout.agent.agent_loop_config_path) or ${CONFIG_ENV}")
        self.settings = AgentLoopSettings(ledger_config=str(ledger_config), reward=reward,
                                          max_parallel_episodes=max_parallel_episodes)
        self.eos_ids = _eos_ids(self.tokenizer, self.config.actor_rollout_ref.model.get("path"))
        self.episodes = episodes_for(self.settings, _chat_tokens(self.tokenizer, self.eos_ids, hf_model_type))
        self.prompt_length = int(self.rollout_config.prompt_length)
        self.response_length = int(self.rollout_config.response_length)

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        from producers.agents.base import Sampling

        host = self.episodes
        instance = host.instance(_instance_id(kwargs))
        episode_id, sample_idx = host.new_episode()
        sampling = Sampling(temperature=float(sampling_params.get("temperature", 1.0)),
                            top_p=float(sampling_params.get("top_p", 1.0)), max_tokens=host.cfg.sampling.max_tokens)
        turns = _Turns(self, dict(sampling_params), episode_id)
        loop = asyncio.get_running_loop()
        channel = host.upstream.open(episode_id, loop)
        try:
            work = loop.run_in_executor(host.executor, host.play, instance, episode_id, sample_idx, sampling)
            await _serve(channel, work, turns)
            played = await work
        finally:
            host.upstream.close(episode_id)
        return self.output(played, turns)

    # -- the output ------------------------------------------------------------------------
    def output(self, played: Played, turns: _Turns) -> AgentLoopOutput:
        metrics = AgentLoopMetrics(generate_sequences=turns.generate_s, compute_score=played.eval_s,
                                   tool_calls=max(0.0, played.duration_s - turns.generate_s))
        extra = {"episode_id": played.episode_id, "instance_id": played.instance_id,
                 "sample_idx": played.sample_idx, "eval_status": played.status, "resolved": played.resolved,
                 "excluded": _excluded(played, self.response_length), "turn_scores": [], "tool_rewards": []}
        if extra["excluded"] is not None:
            logger.warning("swe_agent: episode %s (%s) not trained on: %s", played.episode_id,
                           played.instance_id, extra["excluded"])
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_ids[0]
            return AgentLoopOutput(prompt_ids=[pad], response_ids=[self.eos_ids[0]], response_mask=[0],
                                   response_logprobs=[0.0], reward_score=0.0, num_turns=0, metrics=metrics,
                                   extra_fields=extra)
        sample = played.samples[0]
        p = sample.prompt_len
        return AgentLoopOutput(prompt_ids=list(sample.token_ids[:p]), response_ids=list(sample.token_ids[p:]),
                               response_mask=list(sample.loss_mask[p:]), response_logprobs=list(sample.logprobs[p:]),
                               reward_score=float(played.reward), num_turns=2 * len(sample.spans),
                               metrics=metrics, extra_fields=extra)


async def _serve(channel: Any, work: asyncio.Future, turns: _Turns) -> None:
    """Answer the episode's model calls until its work (agent, evaluation) is done."""
    while not work.done():
        get = asyncio.ensure_future(channel.get_request())
        await asyncio.wait({get, work}, return_when=asyncio.FIRST_COMPLETED)
        if not get.done():
            get.cancel()
            break
        handoff = get.result()
        try:
            channel.send_response(handoff, await turns.answer(handoff.request))
        except UpstreamError as exc:
            channel.send_error(handoff, exc)
        except Exception as exc:  # noqa: BLE001 - reaches the agent as a 502 and the log as proxy.error
            channel.send_error(handoff, UpstreamError(f"verl generate failed: {type(exc).__name__}: {exc}"))


class _Turns:
    """The episode's model calls, answered by verl's server manager."""

    def __init__(self, loop: SWEAgentLoop, sampling_params: dict[str, Any], episode_id: str):
        self.loop = loop
        self.sampling_params = sampling_params
        self.episode_id = episode_id
        self.first_prompt: int | None = None
        self.generate_s = 0.0
        mode = str(loop.rollout_config.get("logprobs_mode", "processed_logprobs") or "")
        self.logprobs_mode = mode.removesuffix("_logprobs") or "processed"

    def budget(self, prompt: list[int]) -> int:
        """Response tokens left; refuses a first prompt longer than rollout.prompt_length."""
        loop = self.loop
        if self.first_prompt is None:
            if len(prompt) > loop.prompt_length:
                raise UpstreamError(f"the prompt has {len(prompt)} tokens; rollout.prompt_length is "
                                    f"{loop.prompt_length}", status=400)
            self.first_prompt = len(prompt)
        left = loop.response_length - (len(prompt) - self.first_prompt)
        if left <= 0:
            raise UpstreamError(f"rollout.response_length ({loop.response_length} tokens) is spent: the "
                                f"conversation already holds {len(prompt) - self.first_prompt} response "
                                "tokens", status=400)
        return left

    async def answer(self, request: GenerateRequest) -> Generation:
        from producers.inference.tool_calls import (
            check_tool_request,
            offered_tools,
            parse_tool_calls,
        )

        check_tool_request(request.tools, request.sampling, "verl")
        prompt = list(request.prompt_token_ids) if request.prompt_token_ids is not None else self.render(request)
        s = request.sampling
        left = self.budget(prompt)
        wanted = s.get("max_tokens") or s.get("max_completion_tokens")
        max_tokens = min(int(wanted), left) if wanted else left
        params = {**self.sampling_params, "logprobs": True, "max_tokens": max_tokens}
        if s.get("stop"):
            params["stop"] = [s["stop"]] if isinstance(s["stop"], str) else list(s["stop"])
        t0 = time.perf_counter()
        out = await self.loop.server_manager.generate(request_id=self.episode_id, prompt_ids=prompt,
                                                      sampling_params=params)
        self.generate_s += time.perf_counter() - t0
        if out.stop_reason in ("aborted", "abort"):
            raise UpstreamError("verl aborted this generation", status=503)
        ids = [int(t) for t in out.token_ids]
        text, tool_calls = self.loop.tokenizer.decode(ids, skip_special_tokens=True), None
        stopped = bool(ids) and ids[-1] in self.loop.eos_ids
        finish = "length" if len(ids) >= max_tokens and not stopped else "stop"
        if request.endpoint == "chat" and offered_tools(request.tools, s):
            content, tool_calls = parse_tool_calls(text, request.turn)
            if tool_calls:
                text, finish = content or "", "tool_calls"
        return Generation(text=text, finish_reason=finish, prompt_token_ids=prompt, completion_token_ids=ids,
                          logprobs=None if out.log_probs is None else [float(x) for x in out.log_probs],
                          logprobs_mode=self.logprobs_mode,
                          usage={"prompt_tokens": len(prompt), "completion_tokens": len(ids),
                                 "total_tokens": len(prompt) + len(ids)},
                          policy_version=_policy_version(out), tool_calls=tool_calls, upstream="verl")

    def render(self, request: GenerateRequest) -> list[int]:
        """A completions prompt (the proxy builds chat prompts itself)."""
        if request.endpoint == "chat":
            tokens = self.loop.episodes.upstream.chat_tokens
            return tokens.render(request.messages or [], request.tools, request.sampling)
        return list(self.loop.tokenizer.encode(request.prompt or "", add_special_tokens=False))


def _policy_version(out: Any) -> PolicyVersion:
    """`verl@STEP`: verl's weights after its global step STEP when the server reports it; unknown
    otherwise (recorded as such; verl trains on its own samples whatever the ledger's trainer would)."""
    step = (out.extra_fields or {}).get("global_steps")
    return PolicyVersion.of(VERL_LINEAGE, int(step)) if isinstance(step, int) and step >= 0 else UNKNOWN_POLICY


def _excluded(played: Played, response_length: int) -> str | None:
    if played.excluded is not None:
        return played.excluded
    if len(played.samples) != 1:
        reasons = "; ".join(s.fork_reason or "" for s in played.samples[1:])
        return f"forked: {len(played.samples)} trajectories ({reasons})"
    sample = played.samples[0]
    if not sample.trainable:
        return f"untrainable: {sample.untrainable_reason}"
    if len(sample.token_ids) - sample.prompt_len > response_length:
        return f"over rollout.response_length: {len(sample.token_ids) - sample.prompt_len} response tokens"
    return None


def _instance_id(row: dict[str, Any]) -> str:
    extra = row.get("extra_info")
    if isinstance(extra, dict) and extra.get("instance_id"):
        return str(extra["instance_id"])
    if row.get("instance_id"):
        return str(row["instance_id"])
    raise ValueError("a swe_agent row needs extra_info.instance_id (write the dataset with "
                     f"`python -m trainer.verl_data`); this row has {sorted(row)}")


def _eos_ids(tokenizer: Any, model_path: str | None) -> list[int]:
    """The ids that end a message: the model's generation config's, else the tokenizer's."""
    eos = None
    if model_path:
        try:
            from transformers import GenerationConfig

            eos = GenerationConfig.from_pretrained(model_path).eos_token_id
        except (OSError, ValueError):
            eos = None
    eos = eos if eos is not None else tokenizer.eos_token_id
    return [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])]


def _chat_tokens(tokenizer: Any, eos_ids: list[int], model_type: str | None) -> Any:
    from producers.inference.chat_tokens import HfChatTokens

    template = str(getattr(tokenizer, "chat_template", "") or "")
    return HfChatTokens(tokenizer, eos_ids, model_type=model_type, tools_in_system="tools" not in template)
