"""The closed loop learns: proxy (hf:tiny) -> events -> rollouts processor -> trainer -> reload."""
from __future__ import annotations

from pathlib import Path

from events.log import open_log
from producers.orchestrator.config import load_config as load_run_config
from producers.orchestrator.rl import load_config, reward_lift, run_loop

ROOT = Path(__file__).resolve().parents[2]


def test_toy_loop_learns_through_the_real_parts(tmp_path):
    cfg = load_config(load_run_config(ROOT / "configs" / "demo-rl.yaml"))  # as `ledger run` parses it
    cfg = cfg.model_copy(update={"log": f"sqlite:///{tmp_path}/rl.db",
                                 "trainer": cfg.trainer | {"checkpoint_dir": str(tmp_path / "ck")}})
    steps = run_loop(cfg)
    rewards = [s.reward_mean for s in steps]
    assert [s.step for s in steps] == list(range(1, cfg.steps + 1))
    lift = reward_lift(rewards)
    assert lift >= 0.3, f"reward did not improve enough: lift {lift:.3f}, curve {rewards}"

    log = open_log(cfg.log)
    responses = [r.event.payload for r in log.read("proxy") if r.event.type == "proxy.response"]
    groups = [r.event.payload for r in log.read("rollouts")]
    policies = [r.event.payload for r in log.read("trainer") if r.event.type == "policy.updated"]
    log.close()
    per_step = cfg.env.prompts_per_step * cfg.env.samples_per_prompt
    assert len(responses) == cfg.steps * per_step and all(r.trainable for r in responses)
    # The sampler followed the trainer: responses of round k (episode "RUN.sK.pI.iJ") carry version k.
    assert all(r.policy_version.step == int(r.episode_id.split(".")[1][1:]) for r in responses)
    assert {r.policy_version.trainer_id for r in responses} == {f"{cfg.run.id}.trainer"}
    assert {r.policy_version.step for r in responses} == set(range(cfg.steps))
    assert len(groups) == cfg.steps * cfg.env.prompts_per_step
    assert all(len(g.samples) == cfg.env.samples_per_prompt for g in groups)
    assert [p.version for p in policies] == list(range(1, cfg.steps + 1))
    assert all(s.dropped_stale == 0 and s.staleness == {"0": per_step} for s in steps)
