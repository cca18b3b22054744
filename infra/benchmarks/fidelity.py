"""fidelity: one token trajectory per episode, on a real model (forks, logprobs, storage).

`ledger bench fidelity [--log URL --run-id ID]` measures a recorded run; without
`--log` it first runs configs/demo-smol.yaml (bundled tasks, `hf:smollm2-135m`)
in a temporary directory, with `--runner`, `--limit` and `--samples` to size it.
Figures, per run:

- `episodes`, `multi_turn_episodes`, `turns`; `forks` (requests of turn > 0 that
  do not continue the previous turn's ids) by reason; `single_trajectory_share`
  (multi-turn episodes with no fork / multi-turn episodes);
- `logprob_max_abs_diff`: max |recorded - recomputed| over every sampled token of
  the rollout samples, recomputed with the same weights through the trainer's
  logprob path (`trainer.algorithms.token_logprobs`, fp32, CPU, the sampling
  temperature);
- `stored_tokens_ratio`: token ids stored per episode (proxy events: turn 0's
  prompt, prompt deltas, completions) / the sum of new tokens per turn (turn 0's
  prompt, then what each turn appended and sampled); `sample_tokens_ratio`: the
  same for the rollout samples; `whole_prompts_ratio`: what storing every turn's
  prompt whole would cost, for scale (the quadratic baseline).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run", "measure", "episode_tokens"]

ROOT = Path(__file__).resolve().parents[2]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log", default=None, help="measure this log (default: run configs/demo-smol.yaml first)")
    p.add_argument("--run-id", default=None, help="the run to measure (default: every run in the log)")
    p.add_argument("--model", default="smollm2-135m", help="weights to recompute logprobs with")
    p.add_argument("--runner", default="bash", help="agent runner for the run (bash, mini-swe-agent)")
    p.add_argument("--limit", type=int, default=None, help="bundled tasks in the run (default: all 13)")
    p.add_argument("--samples", type=int, default=None, help="samples per task (default: the config's)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.log:
        return measure(args.log, args.run_id, args.model)
    with tempfile.TemporaryDirectory(prefix="ledger-fidelity-") as tmp:
        url, seconds = _demo_smol(Path(tmp), args)
        out = measure(url, None, args.model)
        out["run_seconds"] = round(seconds, 1)
        return out


def _demo_smol(tmp: Path, args: argparse.Namespace) -> tuple[str, float]:
    import yaml

    cfg = yaml.safe_load((ROOT / "configs" / "demo-smol.yaml").read_text())
    cfg["agent"]["runner"] = args.runner
    if args.limit:
        cfg["dataset"]["limit"] = args.limit
    if args.samples:
        cfg["sampling"].update(n=args.samples, k=[1])
    url = f"sqlite:///{tmp / 'ledger.db'}"
    cfg.update(log=url, lake=str(tmp / "lake"), artifacts=str(tmp / "artifacts"))
    (tmp / "run.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "main", "run", str(tmp / "run.yaml")], cwd=tmp, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ledger run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return url, time.perf_counter() - start


def episode_tokens(requests: list[Any], responses: dict[str, Any]) -> dict[str, int]:
    """Token counts of one episode's turns: stored, new per turn, and whole prompts (for scale)."""
    stored = new = whole = 0
    prev_len = 0
    for req in sorted(requests, key=lambda p: p.turn):
        comp = len(responses[req.request_id].completion_token_ids or []) if req.request_id in responses else 0
        if req.prompt_token_ids is not None:
            prompt_len, appended = len(req.prompt_token_ids), len(req.prompt_token_ids)
        else:
            prompt_len = req.prompt_delta.prefix_len + len(req.prompt_delta.ids)
            appended = prompt_len - prev_len
        stored += (len(req.prompt_token_ids) if req.prompt_token_ids is not None else len(req.prompt_delta.ids))
        stored += comp
        new += appended + comp
        whole += prompt_len + comp
        prev_len = prompt_len + comp
    return {"stored": stored, "new": new, "whole": whole}


def _proxy_by_episode(log, run_id: str | None) -> tuple[dict[str, list], dict[str, Any]]:
    requests: dict[str, list] = {}
    responses: dict[str, Any] = {}
    for rec in log.read("proxy"):
        ev = rec.event
        if run_id is not None and ev.run_id != run_id:
            continue
        if ev.type == "proxy.request":
            requests.setdefault(ev.payload.episode_id, []).append(ev.payload)
        elif ev.type == "proxy.response" and ev.payload.reason == "done":
            responses[ev.payload.request_id] = ev.payload
    return requests, responses


def measure(log_url: str, run_id: str | None, model: str) -> dict[str, Any]:
    from events.log import open_log

    log = open_log(log_url)
    try:
        requests, responses = _proxy_by_episode(log, run_id)
        samples = [s for r in log.read("rollouts") if run_id is None or r.event.run_id == run_id
                   for s in r.event.payload.samples]
    finally:
        log.close()
    forks = Counter(req.fork_reason.split(":")[0] if req.fork_reason else "unrecorded"
                    for reqs in requests.values() for req in reqs
                    if req.turn > 0 and req.prompt_delta is None)
    forked = {ep for ep, reqs in requests.items() if any(r.turn > 0 and r.prompt_delta is None for r in reqs)}
    multi = [ep for ep, reqs in requests.items() if len(reqs) > 1]
    tokens = {ep: episode_tokens(reqs, responses) for ep, reqs in requests.items()}
    by_episode = {s.episode_id: 0 for s in samples}
    for s in samples:
        by_episode[s.episode_id] += len(s.token_ids)
    temps = {float(r.sampling.get("temperature", 1.0)) for reqs in requests.values() for r in reqs}
    return {
        "episodes": len(requests), "multi_turn_episodes": len(multi),
        "turns": sum(len(r) for r in requests.values()), "forks": dict(forks),
        "single_trajectory_share": round(1 - len(forked & set(multi)) / len(multi), 4) if multi else None,
        "stored_tokens_ratio": _max_ratio({e: (t["stored"], t["new"]) for e, t in tokens.items()}),
        "sample_tokens_ratio": _max_ratio({e: (n, tokens[e]["new"]) for e, n in by_episode.items()}),
        "whole_prompts_ratio": _max_ratio({e: (t["whole"], t["new"]) for e, t in tokens.items()}),
        "rollout_samples": len(samples), "sampled_tokens": sum(sum(s.loss_mask) for s in samples),
        "logprob_max_abs_diff": recompute_max_diff(samples, model, temps) if samples else None,
    }


def _max_ratio(pairs: dict[str, tuple[int, int]]) -> float | None:
    ratios = [a / b for a, b in pairs.values() if b]
    return round(max(ratios), 4) if ratios else None


def recompute_max_diff(samples: list[Any], model: str, temperatures: set[float]) -> float:
    """Max |recorded - recomputed| logprob over the sampled tokens (trainer's logprob path)."""
    import torch

    from trainer.algorithms import token_logprobs
    from trainer.model import load_policy

    if len(temperatures) != 1:
        raise ValueError(f"samples were drawn at several temperatures {sorted(temperatures)}")
    temperature = next(iter(temperatures)) or 1.0
    policy = load_policy(model)
    worst = 0.0
    with torch.no_grad():
        for s in samples:
            ids = torch.tensor([s.token_ids])
            got = token_logprobs(policy.model, ids, torch.ones_like(ids), temperature)[0]
            mask = torch.tensor(s.loss_mask[1:], dtype=torch.bool)
            recorded = torch.tensor(s.logprobs[1:], dtype=torch.float32)
            if mask.any():
                worst = max(worst, float((got[mask] - recorded[mask]).abs().max()))
    return worst
