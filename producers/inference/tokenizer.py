"""A small fixed byte-level tokenizer with a chat template.

Used by the `demo` upstream and by the tiny `hf` model, so their samples carry
real token ids that the trainer can learn from without any download. Ids 0-255
are bytes; special tokens follow. Decoding is lossless for any UTF-8 text, so a
completion re-rendered into the next prompt tokenizes to exactly the sampled ids.
"""
from __future__ import annotations

from typing import Any, Sequence

__all__ = ["ByteTokenizer", "BOS", "EOS", "IM_START", "IM_END", "VOCAB_SIZE"]

BOS, EOS, IM_START, IM_END, PAD = 256, 257, 258, 259, 260
VOCAB_SIZE = 261
_SPECIAL = {BOS: "<|bos|>", EOS: "<|eos|>", IM_START: "<|im_start|>", IM_END: "<|im_end|>", PAD: "<|pad|>"}


class ByteTokenizer:
    vocab_size = VOCAB_SIZE
    eos_token_id = IM_END
    """Generation stops at the end of the assistant message."""
    pad_token_id = PAD

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int], skip_special: bool = True) -> str:
        out = bytearray()
        for i in ids:
            if i < 256:
                out.append(i)
            elif not skip_special:
                out.extend(_SPECIAL[i].encode())
        return out.decode("utf-8", "replace")

    def render_message(self, role: str, content: str) -> list[int]:
        return [IM_START, *self.encode(f"{role}\n{content}"), IM_END, *self.encode("\n")]

    def apply_chat_template(self, messages: Sequence[dict[str, Any]], add_generation_prompt: bool = True) -> list[int]:
        """<|im_start|>role\\ncontent<|im_end|>\\n per message, then <|im_start|>assistant\\n.

        A sampled completion ends with <|im_end|>; the next prompt renders that
        assistant message as the same ids followed by "\\n", so multi-turn prompts
        extend the previous prompt + completion exactly.
        """
        ids = [BOS]
        for m in messages:
            content = m.get("content") or ""
            if isinstance(content, list):  # OpenAI content parts
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            ids.extend(self.render_message(str(m.get("role", "user")), str(content)))
        if add_generation_prompt:
            ids.extend([IM_START, *self.encode("assistant\n")])
        return ids
