"""configs/demo-rl.yaml learns without collapsing: sampling and training at once through the real parts
(proxy with an hf:tiny upstream following the trainer, events, rollouts processor, trainer thread)."""
from __future__ import annotations

from pathlib import Path

from events.log import open_log
from producers.orchestrator.config import load_config as load_run_config
from producers.orchestrator.rl import load_config, reward_lift, run_loop

ROOT = Path(__file__).resolve().parents[2]


def test_demo_rl_learns_the_rule_without_collapsing(tmp_path):
    cfg = load_config(load_run_config(ROOT / "configs" / "demo-rl.yaml"))  # as `ledger run` parses it
    rl = cfg.rl.model_copy(update={"trainer": cfg.rl.trainer | {"checkpoint_dir": str(tmp_path / "ck")}})
    cfg = cfg.model_copy(update={"log": f"sqlite:///{tmp_path}/rl.db", "rl": rl})
    steps = run_loop(cfg)
    assert steps.status == 0, steps.message
    assert [s.step for s in steps] == list(range(1, cfg.rl.steps + 1))
    rewards = [s.reward_mean_sampled for s in steps]
    lift, final = reward_lift(rewards), sum(rewards[-5:]) / 5
    # 0.55 is the collapse: one digit for every prompt (right on half of them, 0.1 on the other half).
    assert lift >= 0.3 and final >= 0.8, f"lift {lift:.3f}, final {final:.3f}, curve {rewards}"
    assert steps[0].entropy > 5.0  # near uniform over 261 ids at the start, reported every step

    log = open_log(cfg.log)
    responses = [r.event.payload for r in log.read("proxy") if r.event.type == "proxy.response"]
    log.close()
    assert all(r.trainable for r in responses)
    # The sampler followed the trainer: every response is of its lineage and versions rose step by step.
    assert {r.policy_version.trainer_id for r in responses} == {cfg.trainer_id}
    served = {r.policy_version.step for r in responses}
    assert served <= set(range(cfg.rl.steps + 1)) and len(served) >= cfg.rl.steps // 2
    assert all(int(k) <= 1 for s in steps for k in s.staleness)
    assert sum(s.filtered_groups for s in steps) > 0  # dynamic sampling at work, counted
