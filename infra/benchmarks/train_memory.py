"""Trainer memory: peak RSS of one training step per 1k tokens, full-logits path vs chunked logprobs.

Each measurement runs in a fresh process: a small decoder (2 layers, hidden 64)
with a real vocabulary (SmolLM2's 49,152 ids, so the output projection and its
logits are real size) takes one step on one sequence of N tokens: token
logprobs and entropies, a PPO-shaped loss, backward, AdamW. Peak memory is the
process's peak resident set during the step (`VmHWM` after resetting it through
`/proc/self/clear_refs`) minus its resident set before the step. The row has no
padding and no attention mask, so attention is PyTorch's causal SDPA kernel on
both paths (an explicit (N, N) mask would cost 4 GB at 32k tokens and hide
what the logits cost), and glibc's mmap threshold is fixed at 1 MiB in both
(`MMAP_THRESHOLD`; set `MALLOC_MMAP_THRESHOLD_` the same way when training on
CPU with chunked logprobs).

Paths, side by side at each length:
- `old`: the trainer's full-logits forward (verl's `logprobs_from_logits` /
  `entropy_from_logits` on (1, N, V) fp32 logits);
- `chunked`: `trainer.logprobs.TokenLogprobs(chunk="auto")` (checkpointed
  chunks of the output projection) with gradient checkpointing of the decoder
  layers, fp32;
- `chunked-bf16`: the same under bf16 autocast.
`old` is skipped at lengths above `--old-max-tokens` (32k tokens x 49k x 4
bytes is 6.4 GB per copy of the logits; the machine is shared).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["add_arguments", "run", "measure"]

VOCAB = 49152
MMAP_THRESHOLD = 1 << 20
"""glibc's MALLOC_MMAP_THRESHOLD_ in the measuring processes (both paths): blocks of 1 MiB and more
are mmapped and given back when freed. With glibc's default (a threshold that grows to 32 MiB),
each chunk's freed 16 MB of logits stays in the heap behind small live tensors and the resident
set grows with every chunk (3.9 GB at 8k tokens for what peaks at 0.1 GB with the setting)."""
PATHS = ("old", "chunked", "chunked-bf16")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokens", default="1024,8192,32768", help="sequence lengths, comma separated")
    p.add_argument("--paths", default=",".join(PATHS), help=f"which of {', '.join(PATHS)}")
    p.add_argument("--vocab", type=int, default=VOCAB)
    p.add_argument("--old-max-tokens", type=int, default=8192, help="longest length the old path is run at")


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure(path: str, tokens: int, vocab: int) -> dict:
    """One step of `path` on `tokens` tokens in this process; the step's peak memory in MiB."""
    import time

    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from trainer.logprobs import TokenLogprobs

    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = Qwen2Config(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=tokens + 1,
                      tie_word_embeddings=True, attn_implementation="sdpa")
    model = Qwen2ForCausalLM(cfg)
    if path != "old":
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    module = TokenLogprobs(model, chunk=None if path == "old" else "auto",
                           autocast=torch.bfloat16 if path.endswith("bf16") else None)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, vocab, (1, tokens))
    old = torch.full((1, tokens - 1), -10.0)
    adv = torch.ones(1, tokens - 1)
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident set (VmHWM) to the current one
    base = _kib("VmRSS")
    t0 = time.perf_counter()
    lp, ent = module(ids, None, with_entropy=True)  # one unpadded row: causal SDPA, no (N, N) mask
    ratio = torch.exp(lp - old)
    loss = -(torch.minimum(ratio * adv, ratio.clamp(0.8, 1.2) * adv)).mean() - 0.01 * ent.mean()
    loss.backward()
    opt.step()
    seconds = time.perf_counter() - t0
    peak = _kib("VmHWM") - base
    return {"path": path, "tokens": tokens, "vocab": vocab, "peak_mib": round(peak / 1024, 1),
            "peak_mib_per_1k_tokens": round(peak / 1024 / (tokens / 1024), 1), "seconds": round(seconds, 2),
            "loss": float(loss.detach())}


def _child(path: str, tokens: int, vocab: int) -> dict:
    code = ("import json, sys; from infra.benchmarks.train_memory import measure; "
            f"print(json.dumps(measure({path!r}, {tokens}, {vocab})))")
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": os.environ.get("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"path": path, "tokens": tokens, "error": (done.stderr.strip().splitlines() or ["?"])[-1],
                "returncode": done.returncode}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict:
    lengths = [int(t) for t in str(args.tokens).split(",")]
    paths = [p for p in str(args.paths).split(",") if p]
    unknown = sorted(set(paths) - set(PATHS))
    if unknown:
        raise ValueError(f"unknown --paths {unknown}; choose from {list(PATHS)}")
    rows, ratios = [], {}
    for n in lengths:
        at = {}
        for path in paths:
            if path == "old" and n > args.old_max_tokens:
                rows.append({"path": path, "tokens": n, "skipped": f"longer than --old-max-tokens {args.old_max_tokens}"})
                continue
            at[path] = _child(path, n, args.vocab)
            rows.append(at[path])
        for path in paths[1:]:
            if "peak_mib" in at.get("old", {}) and "peak_mib" in at.get(path, {}):
                ratios[f"{path}_vs_old_at_{n}"] = round(at[path]["peak_mib"] / at["old"]["peak_mib"], 4)
    return {"rows": rows, "peak_ratio": ratios, "vocab": args.vocab,
            "loadavg": Path("/proc/loadavg").read_text().split()[:3]}
