"""`ledger run` with a real model (configs/demo-smol.yaml, made smaller): for the bash runner every
proxy turn of every episode continues one trajectory (0 forks) — for mini-swe-agent too, whose
replies cut by max_tokens (every one at 8 tokens) the runner keeps in its history; the rollout samples' logprobs recompute within 1e-4 through the trainer's logprob path with the
same weights, and each episode stores its tokens once (no prefix copies)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from events.log import open_log
from infra.benchmarks.fidelity import measure

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("runner", ["bash", "mini-swe-agent"])
def test_a_real_model_run_is_one_trajectory_per_episode(tmp_path, runner):
    cfg = yaml.safe_load((ROOT / "configs" / "demo-smol.yaml").read_text())
    cfg["run"]["id"] = f"smol-{runner}"
    cfg["dataset"].update(limit=1, cache_dir=str(tmp_path / "cache"))
    cfg["agent"].update(runner=runner, max_steps=2, max_turns=2)
    cfg["sampling"].update(max_tokens=8, n=2, k=[1])
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    cfg.update(log=url, lake=str(tmp_path / "lake"), artifacts=str(tmp_path / "artifacts"))
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEDGER_HF_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "main", "run", str(tmp_path / "run.yaml")], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    responses = [r.event.payload for r in open_log(url).read("proxy") if r.event.type == "proxy.response"]
    assert responses and all(r.upstream == "hf:smollm2-135m" and r.trainable for r in responses)
    figures = measure(url, cfg["run"]["id"], "smollm2-135m")
    assert figures["episodes"] == 2 and figures["multi_turn_episodes"] >= 1, figures
    if runner == "mini-swe-agent":  # the replies it could not parse were cut and kept, not dropped
        assert any(r.finish_reason == "length" and r.turn == 0 for r in responses), responses
    assert figures["forks"] == {}, figures
    assert figures["rollout_samples"] == 2 and figures["sampled_tokens"] == \
        sum(len(r.completion_token_ids) for r in responses)
    assert figures["logprob_max_abs_diff"] <= 1e-4, figures
    assert figures["stored_tokens_ratio"] <= 1.05 and figures["sample_tokens_ratio"] <= 1.05, figures
    assert figures["whole_prompts_ratio"] > 1.3  # what storing every prompt whole would have cost
