"""The trainer as a consumer: staleness, dead letters, events and checkpoints."""
from __future__ import annotations

import json

from events.log import open_log
from tests.trainer.synthetic import group_event, make_group, write_groups
from trainer.checkpoint import latest_checkpoint
from trainer.config import TrainerConfig
from trainer.loop import Trainer


def _cfg(tmp_path, **kw) -> TrainerConfig:
    base = dict(log=f"sqlite:///{tmp_path}/log.db", checkpoint_dir=str(tmp_path / "ck"), batch_groups=2,
                idle_exit_s=1.0, lr=1e-2)
    return TrainerConfig(**(base | kw))


def _steps(log):
    return [r.event.payload for r in log.read("trainer") if r.event.type == "trainer.step"]


def test_stale_samples_are_dropped_counted_and_never_trained_on(tmp_path, log_url):
    cfg = _cfg(tmp_path, log=log_url, max_staleness=0, idle_exit_s=15.0)
    log = open_log(cfg.log)
    write_groups(log, [make_group("a", version=0, reward=1.0), make_group("b", version=0, reward=0.0)])
    trainer = Trainer(cfg)
    assert trainer.run(until_step=1) == 1
    # At version 1 with max_staleness 0, version-0 samples are stale; reward 100 would show in reward_mean.
    stale = make_group("c", version=0, reward=100.0)
    mixed = make_group("d", version=1, reward=0.0)
    mixed = mixed.model_copy(update={"samples": [mixed.samples[0].model_copy(
        update={"policy_version": 0, "reward": 100.0}), *mixed.samples[1:]]})
    write_groups(log, [stale, mixed, make_group("e", version=1, reward=1.0)])
    assert trainer.run(until_step=2) == 2
    trainer.close()
    first, second = _steps(log)
    assert first.samples == 8 and first.dropped_stale == 0 and first.staleness == {"0": 8}
    assert second.dropped_stale == 4 + 1
    assert second.samples == 3 + 4 and second.staleness == {"0": 7}
    assert second.reward_mean < 1.0  # no reward-100 sample reached the batch
    policies = [r.event.payload for r in log.read("trainer") if r.event.type == "policy.updated"]
    assert [p.version for p in policies] == [1, 2]
    assert latest_checkpoint(cfg.checkpoint_dir).name == "step-00000002"


def test_malformed_groups_go_to_deadletter_and_training_continues(tmp_path, log_url):
    cfg = _cfg(tmp_path, log=log_url, idle_exit_s=15.0)
    log = open_log(cfg.log)
    good = make_group("good1")
    s = good.samples[0]
    bad_mask = make_group("m", n=2).model_copy(update={"samples": [s.model_copy(update={"loss_mask": [0, 1]})]})
    bad_lps = make_group("l", n=2).model_copy(update={"samples": [s.model_copy(update={"logprobs": [-1.0]})]})
    empty = make_group("x").model_copy(update={"samples": []})
    write_groups(log, [good, bad_mask, bad_lps, empty])
    nan_event = json.loads(group_event(make_group("nan", reward=0.5)).model_dump_json())
    raw = json.dumps(nan_event, separators=(",", ":")).replace('"reward":0.5', '"reward":NaN')
    assert "NaN" in raw
    log.append_raw("rollouts", [("nan", raw.encode())])
    write_groups(log, [make_group("good2")])
    trainer = Trainer(cfg)
    assert trainer.run(until_step=1) == 1
    trainer.close()
    reasons = sorted(r.event.payload.reason for r in log.read("deadletter"))
    assert len(reasons) == 4 and trainer.deadlettered == 4
    for expected in ("empty group", "loss_mask has 2 entries", "logprobs has 1 entries", "reward is nan"):
        assert any(expected in r for r in reasons), (expected, reasons)
    assert all(r.event.payload.consumer == "trainer" for r in log.read("deadletter"))
    (step,) = _steps(log)
    assert step.samples == 8


def test_step_metrics_and_group_offsets_follow_the_checkpoint(tmp_path):
    cfg = _cfg(tmp_path, kl_coef=0.1, adv="rloo", checkpoint_every=2, max_staleness=10)
    log = open_log(cfg.log)
    write_groups(log, [make_group(f"g{i}") for i in range(6)])
    trainer = Trainer(cfg)
    trainer.run(until_step=3)
    committed = trainer.consumer.committed()
    trainer.close()
    steps = _steps(log)
    assert [s.step for s in steps] == [1, 2, 3]
    assert all(s.kl >= 0 and s.grad_norm > 0 and s.tokens_per_s > 0 for s in steps)
    assert steps[1].kl > 0  # the policy moved away from the reference
    # All 6 groups were polled; the final checkpoint holds no pending ones and the group is committed.
    assert sum(committed.values()) == 6
    assert json.loads((latest_checkpoint(cfg.checkpoint_dir) / "state.json").read_text())["pending"] == []


def test_checkpoint_offsets_win_over_a_group_that_is_ahead(tmp_path):
    import shutil

    import torch

    cfg = _cfg(tmp_path, max_staleness=10, poll_records=2)
    log = open_log(cfg.log)
    write_groups(log, [make_group(f"g{i}") for i in range(6)])
    trainer = Trainer(cfg)
    trainer.run(until_step=2)
    trainer.close()
    ck = tmp_path / "ck"
    step2 = torch.load(ck / "step-00000002" / "model.pt", weights_only=True)
    ahead = log.consumer(cfg.group, ["rollouts"]).committed()
    shutil.rmtree(ck / "step-00000002")  # the group's offsets are now ahead of the newest checkpoint
    resumed = Trainer(cfg)
    assert resumed.step == 1
    assert resumed.run(until_step=2) == 2
    resumed.close()
    again = torch.load(ck / "step-00000002" / "model.pt", weights_only=True)
    assert all(torch.equal(step2[k], again[k]) for k in step2)
    assert [s.step for s in _steps(log)] == [1, 2]  # re-emitted events are the same events
    assert log.consumer(cfg.group, ["rollouts"]).committed() == ahead
