"""`demo`: a scripted stand-in for a model, for the bundled demo tasks.

It is NOT a model: every Generation it makes says `scripted=True` and
`logprobs_mode="scripted"`, so its responses are `trainable: false`
(`untrainable_reason` `scripted`) and never reach a training step. It recognises a task by finding a script's
`instance_id` in the conversation, and at turn t (assistant messages already in
the conversation) answers with a short thought and the t-th bash command of
either the solving or the wrong script, then the submit command. Which script
is a deterministic function of (instance_id, sampling seed). A prompt it does
not recognise gets a short fixed reply. Token ids come from `ByteTokenizer`,
so its samples flow through the pipeline like a real model's.

Like a model it honours `max_tokens` (or `max_completion_tokens`): the reply is
cut to that many tokens, finish reason `length`, no tool call; and `stop`: the
reply ends before the first stop string, finish reason `stop`. Token texts are
the tokenizer's bytes (OpenAI's `bytes:\\xNN` for part of a character); asked
for `top_logprobs`, it lists the sampled token and scripted alternatives.
"""
from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator

from events.payloads.policy import UNKNOWN_POLICY

from .base import Chunk, GenerateRequest, Generation, TopLogprobs, token_text_of_bytes
from .tokenizer import BOS, IM_END, ByteTokenizer

__all__ = ["DemoScript", "DemoUpstream", "SUBMIT", "UNRECOGNISED_REPLY", "scripted_logprob"]

SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
UNRECOGNISED_REPLY = "This is the scripted demo policy; it has no script for this prompt."
_PIECE = 16
"""Characters per streamed chunk."""


@dataclass(frozen=True)
class DemoScript:
    instance_id: str
    solve: list[str]
    """Bash commands that solve the task."""
    wrong: list[str]
    """Bash commands that make a plausible but wrong attempt."""
    solve_rate: float = 0.75
    """Fraction of seeds for which the solving script is played."""

    def picks_solve(self, seed: int) -> bool:
        digest = hashlib.sha256(f"{self.instance_id}:{seed}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.solve_rate


def scripted_logprob(token: int, position: int) -> float:
    """A deterministic, finite, negative logprob for a scripted token."""
    return -0.01 - ((token * 31 + position * 17) % 97) / 100.0


class DemoUpstream:
    name = "demo"
    scripted = True

    def __init__(self, scripts: dict[str, DemoScript] | None = None, **_: Any):
        self._scripts = scripts
        self.tokenizer = ByteTokenizer()

    @property
    def scripts(self) -> dict[str, DemoScript]:
        if self._scripts is None:
            self._scripts = _bundled_scripts()
        return self._scripts

    async def generate(self, request: GenerateRequest) -> Generation:
        return self.reply(request)

    async def stream(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        gen = self.reply(request)
        ids, lps = gen.completion_token_ids or [], gen.logprobs or []
        tokens, tops = gen.tokens or [], gen.top_logprobs or []
        pos = 0
        for start in range(0, len(gen.text), _PIECE):
            piece = gen.text[start:start + _PIECE]
            n = min(len(self.tokenizer.encode(piece)), len(ids) - pos)
            yield Chunk(text=piece, token_ids=ids[pos:pos + n], logprobs=lps[pos:pos + n],
                        tokens=tokens[pos:pos + n], top_logprobs=tops[pos:pos + n])
            pos += n
        yield Chunk(token_ids=ids[pos:], logprobs=lps[pos:], tokens=tokens[pos:], top_logprobs=tops[pos:],
                    final=gen)

    async def aclose(self) -> None:
        pass

    # -- the script ------------------------------------------------------------------
    def reply(self, request: GenerateRequest) -> Generation:
        text_blob = _request_text(request)
        script = next((s for s in self.scripts.values() if s.instance_id in text_blob), None)
        tool_calls = None
        finish = "stop"
        if script is None:
            text = UNRECOGNISED_REPLY
        else:
            command, thought = self._next_command(script, request)
            if _has_bash_tool(request.tools):
                text = thought
                tool_calls = [{"id": f"call_{request.turn}_{_turn(request)}", "type": "function",
                               "function": {"name": "bash", "arguments": json.dumps({"command": command})}}]
                finish = "tool_calls"
            else:
                text = f"{thought}\n\n```bash\n{command}\n```"
        return self._generation(request, text, finish, tool_calls)

    def _next_command(self, script: DemoScript, request: GenerateRequest) -> tuple[str, str]:
        seed = request.sampling.get("seed")
        seed = seed if isinstance(seed, int) else 0
        commands = script.solve if script.picks_solve(seed) else script.wrong
        t = _turn(request)
        if t < len(commands):
            return commands[t], f"THOUGHT: step {t + 1} of my plan for {script.instance_id}."
        return SUBMIT, "THOUGHT: I am done; submitting."

    def _generation(self, request: GenerateRequest, text: str, finish: str,
                    tool_calls: list[dict] | None) -> Generation:
        tok = self.tokenizer
        if request.endpoint == "chat":
            prompt_ids = tok.apply_chat_template(request.messages or [])
        else:
            prompt_ids = [BOS, *tok.encode(request.prompt or "")]
        text, completion, finish, tool_calls = _limited(text, finish, tool_calls, request.sampling)
        logprobs = [scripted_logprob(t, i) for i, t in enumerate(completion)]
        return Generation(
            text=text, finish_reason=finish, prompt_token_ids=prompt_ids,
            completion_token_ids=completion, logprobs=logprobs, logprobs_mode="scripted",
            usage={"prompt_tokens": len(prompt_ids), "completion_tokens": len(completion),
                   "total_tokens": len(prompt_ids) + len(completion)},
            policy_version=UNKNOWN_POLICY, tool_calls=tool_calls, scripted=True, upstream=self.name,
            tokens=[_token_text(t) for t in completion], top_logprobs=_alternatives(completion, logprobs, request))


_TOK = ByteTokenizer()


def _limited(text: str, finish: str, tool_calls: list[dict] | None,
             sampling: dict) -> tuple[str, list[int], str, list[dict] | None]:
    """The reply cut before its first stop string, then to max_tokens: (text, ids, finish, tool calls)."""
    stops = sampling.get("stop") or []
    stopped = False
    for stop in [stops] if isinstance(stops, str) else stops:
        at = text.find(stop) if isinstance(stop, str) and stop else -1
        if at >= 0:
            text, stopped = text[:at], True
    if stopped:  # ended by a stop string: no end-of-message token was sampled
        completion, finish, tool_calls = _TOK.encode(text), "stop", None
    else:
        completion = [*_TOK.encode(text), IM_END]
    limit = sampling.get("max_tokens") or sampling.get("max_completion_tokens")
    if isinstance(limit, int) and 0 < limit < len(completion):
        completion = completion[:limit]
        return _TOK.decode(completion), completion, "length", None
    return text, completion, finish, tool_calls


def _token_text(token: int) -> str:
    return token_text_of_bytes(bytes([token])) if token < 256 else _TOK.decode([token], skip_special=False)


def _alternatives(completion: list[int], logprobs: list[float], request: GenerateRequest) -> TopLogprobs | None:
    """The sampled token first, then scripted others, each less likely than the one before."""
    k = request.sampling.get("top_logprobs") if request.endpoint == "chat" else request.sampling.get("logprobs")
    if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
        return None
    return [[(_token_text(t if j == 0 else (t + 7 * j) % 256), lp - j) for j in range(k)]
            for t, lp in zip(completion, logprobs)]


def _turn(request: GenerateRequest) -> int:
    return sum(1 for m in request.messages or [] if isinstance(m, dict) and m.get("role") == "assistant")


def _has_bash_tool(tools: list[dict] | None) -> bool:
    for tool in tools or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and fn.get("name") == "bash":
            return True
    return False


def _request_text(request: GenerateRequest) -> str:
    if request.prompt is not None:
        return request.prompt
    parts = []
    for m in request.messages or []:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)


def _bundled_scripts() -> dict[str, DemoScript]:
    try:
        module = importlib.import_module("producers.datasets")
    except ModuleNotFoundError:
        return {}
    load = getattr(module, "demo_scripts", None)
    if load is None:
        return {}
    scripts = load()
    if isinstance(scripts, dict):
        return dict(scripts)
    return {s.instance_id: s for s in scripts}
