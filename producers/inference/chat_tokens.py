"""Chat prompts as token ids, built turn by turn (token in, token out).

An upstream that samples from token ids exposes one of these as `chat_tokens`;
the proxy then builds every chat prompt itself (producers/proxy/continuation.py):

- `render(messages, tools)`: the whole conversation through the chat template,
  with the generation prompt (turn 0, and after a real history edit);
- `extend(prefix, messages, known, tools)`: the ids to append to `prefix` (the
  previous prompt + the sampled completion, never re-tokenised) so that the
  prompt also holds `messages[known:]` and the generation prompt.

`HfChatTokens` builds on verl's Continuous Token builder
(`verl.utils.tokenizer.continuous_token_wiring.create_continuous_token_builder`),
with three adjustments where it did not fit:

1. the builder family is chosen by verl from `config.json`'s `model_type`, which
   maps SmolLM2 (`llama`) to the generic builder; that one appends context right
   after `<|im_end|>`, while a ChatML template renders `<|im_end|>\\n`. A ChatML
   template (it uses `<|im_start|>`/`<|im_end|>`) therefore gets verl's `qwen`
   builder, which inserts the newline;
2. a completion cut short (max_tokens, a stop string) has no end-of-message
   token; verl appends the next message straight after the cut text. Here the
   tokenizer's end-of-sequence id is inserted first (a template token, loss
   mask 0), so the model sees a closed message, as the template would render it;
3. templates without a `tools` branch (SmolLM2's) get the tools folded into the
   system message by `tool_calls.system_with_tools`, and assistant messages
   with tool calls rendered as `<tool_call>` blocks, before verl sees them.

`ByteChatTokens` does the same for the ByteTokenizer of `hf:tiny`.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence

from .tool_calls import offered_tools, render_tool_calls, system_with_tools

__all__ = ["ChatTokens", "CannotExtend", "HfChatTokens", "ByteChatTokens", "text_of", "load_chat_tokens"]


class CannotExtend(ValueError):
    """The new messages cannot be appended as tokens (the reason is the message)."""


class ChatTokens(Protocol):
    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
               sampling: dict[str, Any]) -> list[int]: ...

    def extend(self, prefix: Sequence[int], messages: list[dict[str, Any]], known: int,
               tools: list[dict[str, Any]] | None, sampling: dict[str, Any]) -> list[int]: ...


def text_of(content: Any) -> str:
    """A message's content as text (OpenAI content parts joined; None is empty)."""
    if content is None:
        return ""
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


class HfChatTokens:
    """A Hugging Face tokenizer's chat template, continued through verl's builder."""

    def __init__(self, tokenizer: Any, eos_ids: Sequence[int], *, model_type: str | None = None,
                 tools_in_system: bool = False):
        from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder

        template = str(getattr(tokenizer, "chat_template", "") or "")
        chatml = "<|im_start|>" in template and "<|im_end|>" in template
        self.builder = create_continuous_token_builder(
            tokenizer, model_family="qwen" if chatml else "auto", hf_model_type=model_type)
        self.tokenizer = tokenizer
        self.eos_ids = tuple(int(i) for i in eos_ids)
        self.close_id = int(tokenizer.eos_token_id) if tokenizer.eos_token_id is not None else self.eos_ids[0]
        self.tools_in_system = tools_in_system
        """True for templates without a tools branch: tools go into the system message (SmolLM2)."""

    def prepare(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                sampling: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
        """(messages, tools) as the template takes them."""
        offered = offered_tools(tools, sampling)
        if not self.tools_in_system:
            return [_plain(m) for m in messages], offered
        out = [_plain(m, as_text_calls=True) for m in messages]
        if offered:
            if out and out[0]["role"] == "system":
                out[0] = {**out[0], "content": system_with_tools(out[0]["content"], offered)}
            else:
                out.insert(0, {"role": "system", "content": system_with_tools(None, offered)})
        return out, None

    def render(self, messages, tools, sampling) -> list[int]:
        prepared, tools = self.prepare(messages, tools, sampling)
        return list(self.builder.build_initial_tokens(prepared, tools=tools))

    def extend(self, prefix, messages, known, tools, sampling) -> list[int]:
        prepared, tools = self.prepare(messages, tools, sampling)
        shift = len(prepared) - len(messages)  # a system message the tools added
        closing = [] if prefix and prefix[-1] in self.eos_ids else [self.close_id]
        runtime = [*prefix, *closing]
        try:
            merged = self.builder.merge_context_tokens(prepared[:known + shift], prepared, runtime, tools=tools)
        except ValueError as exc:
            raise CannotExtend(f"template: {exc}") from exc
        if merged.removed_prefix_token_count:
            raise CannotExtend("template: continuing would drop sampled tokens")
        return closing + merged.token_ids[len(runtime):]


def _plain(m: dict[str, Any], as_text_calls: bool = False) -> dict[str, Any]:
    out = {"role": str(m.get("role", "user")), "content": text_of(m.get("content"))}
    calls = m.get("tool_calls")
    if calls and as_text_calls:
        out["content"] = render_tool_calls(out["content"], calls)
    elif calls:
        out["tool_calls"] = calls
    for key in ("tool_call_id", "name"):
        if m.get(key) is not None:
            out[key] = m[key]
    return out


class ByteChatTokens:
    """The ByteTokenizer's template (`<|im_start|>role\\ncontent<|im_end|>\\n`), continued."""

    def __init__(self, tokenizer: Any):
        from .tokenizer import IM_END, IM_START

        self.tokenizer = tokenizer
        self.im_start, self.im_end = IM_START, IM_END

    def render(self, messages, tools, sampling) -> list[int]:
        return list(self.tokenizer.apply_chat_template([_plain(m, True) for m in messages]))

    def extend(self, prefix, messages, known, tools, sampling) -> list[int]:
        tok = self.tokenizer
        ids = [] if prefix and prefix[-1] == self.im_end else [self.im_end]
        ids.extend(tok.encode("\n"))
        for m in messages[known:]:
            m = _plain(m, True)
            ids.extend(tok.render_message(m["role"], m["content"]))
        ids.extend([self.im_start, *tok.encode("assistant\n")])
        return ids


def load_chat_tokens(spec: str, cache_dir: str | None = None) -> "HfChatTokens | ByteChatTokens":
    """The ChatTokens of a model spec without loading its weights: `tiny`, a packaged model's
    name (`smollm2-135m`) or a local Hugging Face directory."""
    if spec == "tiny":
        from .tokenizer import ByteTokenizer

        return ByteChatTokens(ByteTokenizer())
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    from trainer.model import model_dir

    path = model_dir(spec, cache_dir)
    tok = AutoTokenizer.from_pretrained(path)
    config = AutoConfig.from_pretrained(path)
    try:
        eos = GenerationConfig.from_pretrained(path).eos_token_id
    except OSError:
        eos = None
    eos = eos if eos is not None else tok.eos_token_id
    eos_ids = list(eos) if isinstance(eos, (list, tuple)) else [eos]
    template = str(getattr(tok, "chat_template", "") or "")
    return HfChatTokens(tok, eos_ids, model_type=config.model_type, tools_in_system="tools" not in template)
