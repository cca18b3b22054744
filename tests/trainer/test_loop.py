"""The trainer as a consumer: lineage, staleness, dynamic sampling, dead letters, stalls, checkpoints."""
from __future__ import annotations

import json

from events.log import open_log
from events.payloads import UNKNOWN_POLICY, PolicyVersion
from tests.trainer.synthetic import group_event, make_group, write_groups
from trainer.checkpoint import latest_checkpoint
from trainer.config import TrainerConfig
from trainer.consume import main as consume_main
from trainer.loop import STALLED_EXIT, Trainer


def _cfg(tmp_path, **kw) -> TrainerConfig:
    base = dict(log=f"sqlite:///{tmp_path}/log.db", checkpoint_dir=str(tmp_path / "ck"), batch_groups=2,
                idle_exit_s=1.0, lr=1e-2, threads=1)
    return TrainerConfig(**(base | kw))


def _of(log, kind: str):
    return [r.event.payload for r in log.read("trainer") if r.event.type == kind]


def test_stale_samples_are_dropped_with_events_counted_and_never_trained_on(tmp_path, log_url):
    cfg = _cfg(tmp_path, log=log_url, max_staleness=0, idle_exit_s=15.0)
    log = open_log(cfg.log)
    write_groups(log, [make_group("a", version=0), make_group("b", version=0)])
    trainer = Trainer(cfg)
    assert trainer.run(until_step=1) == 1
    # At step 1 with max_staleness 0, step-0 samples are stale; reward 100 would show in reward_mean.
    stale = make_group("c", version=0, reward=100.0)
    mixed = make_group("d", version=1, n=5)
    mixed = mixed.model_copy(update={"samples": [mixed.samples[0].model_copy(
        update={"policy_version": PolicyVersion.of("trainer", 0), "reward": 100.0}), *mixed.samples[1:]]})
    write_groups(log, [stale, mixed, make_group("e", version=1)])
    assert trainer.run(until_step=2) == 2
    trainer.close()
    first, second = _of(log, "trainer.step")
    assert first.samples == 8 and first.dropped == {} and first.staleness == {"0": 8}
    assert second.dropped_stale == 4 + 1 and second.dropped == {"stale": 5}
    assert second.samples == 4 + 4 and second.staleness == {"0": 8}
    assert second.reward_mean < 1.0  # no reward-100 sample reached the batch
    drops = _of(log, "trainer.dropped")
    assert sorted((d.group_ids[0], d.reason, d.samples, d.groups) for d in drops) == [
        ("c", "stale", 4, 0), ("d", "stale", 1, 0)]
    assert all(d.step == 1 and d.versions == {"trainer@0": d.samples} for d in drops)
    policies = _of(log, "policy.updated")
    assert [p.version for p in policies] == [1, 2]
    assert latest_checkpoint(cfg.checkpoint_dir).name == "step-00000002"


def test_another_lineage_and_unknown_versions_are_refused(tmp_path):
    cfg = _cfg(tmp_path, max_staleness=100, idle_exit_s=2.0)
    log = open_log(cfg.log)
    # Same step numbers, another trainer: "staleness 0" by integers, never trainable by lineage.
    write_groups(log, [make_group("x1", version=0, trainer="other", reward=50.0),
                       make_group("x2", version=0, trainer="other"),
                       make_group("u", version=UNKNOWN_POLICY),
                       make_group("mine1"), make_group("mine2")])
    trainer = Trainer(cfg)
    assert trainer.run(until_step=1) == 1
    trainer.close()
    (step,) = _of(log, "trainer.step")
    assert step.samples == 8 and step.reward_mean < 1.0
    assert step.dropped == {"lineage": 8, "unknown_version": 4}
    by_group = {d.group_ids[0]: d for d in _of(log, "trainer.dropped")}
    assert by_group["x1"].reason == by_group["x2"].reason == "lineage"
    assert by_group["x1"].versions == {"other@0": 4} and "--follow-policy trainer" in by_group["x1"].detail
    assert by_group["u"].reason == "unknown_version" and by_group["u"].versions == {"unknown": 4}


def test_zero_advantage_groups_are_filtered_and_counted(tmp_path):
    cfg = _cfg(tmp_path)
    log = open_log(cfg.log)
    write_groups(log, [make_group("all-right", reward=1.0), make_group("ok1"), make_group("all-right2", reward=1.0),
                       make_group("ok2")])
    trainer = Trainer(cfg)
    assert trainer.run(until_step=1) == 1
    trainer.close()
    (step,) = _of(log, "trainer.step")
    assert step.groups == 2 and step.samples == 8 and step.filtered_groups == 2
    assert step.dropped == {"zero_advantage": 8}
    # The trained batch's mean is biased by the filter; the sampled mean counts the dropped groups too.
    assert step.reward_mean == 0.5 and abs(step.reward_mean_sampled - 12 / 16) < 1e-9
    drops = _of(log, "trainer.dropped")
    assert sorted(d.group_ids[0] for d in drops) == ["all-right", "all-right2"]
    assert all(d.reason == "zero_advantage" and d.groups == 1 for d in drops)


def test_a_trainer_with_no_trainable_input_says_so_and_does_not_exit_0(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/log.db"
    log = open_log(url)
    write_groups(log, [make_group(f"o{i}", trainer="someone-else") for i in range(3)])
    status = consume_main(["--log", url, "--checkpoint-dir", str(tmp_path / "ck"), "--steps", "5",
                           "--stall-timeout", "0.5", "--idle-exit", "2", "--threads", "1"])
    err = capsys.readouterr().err
    assert status == STALLED_EXIT
    assert "no trainable input" in err and "lineage 12" in err and "--follow-policy trainer" in err
    assert "stopped at step 0 of 5" in err
    (stalled, *_) = _of(log, "trainer.stalled")
    assert stalled.step == 0 and stalled.records == 3 and stalled.dropped == {"lineage": 12}
    assert _of(log, "trainer.step") == []
    # Nothing at all arriving is reported too.
    empty = f"sqlite:///{tmp_path}/empty.db"
    open_log(empty).close()
    assert consume_main(["--log", empty, "--checkpoint-dir", str(tmp_path / "ck2"), "--stall-timeout", "0.5",
                         "--idle-exit", "1.5", "--threads", "1"]) == STALLED_EXIT
    assert "no rollout.group events arrived" in capsys.readouterr().err


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
    (step,) = _of(log, "trainer.step")
    assert step.samples == 8


def test_step_metrics_and_group_offsets_follow_the_checkpoint(tmp_path):
    cfg = _cfg(tmp_path, kl_coef=0.1, adv="rloo", checkpoint_every=2, max_staleness=10, ppo_epochs=2,
               mini_batch_samples=4, micro_batch_samples=2)
    log = open_log(cfg.log)
    write_groups(log, [make_group(f"g{i}") for i in range(6)])
    trainer = Trainer(cfg)
    trainer.run(until_step=3)
    committed = trainer.consumer.committed()
    trainer.close()
    steps = _of(log, "trainer.step")
    assert [s.step for s in steps] == [1, 2, 3]
    assert [s.policy_version for s in steps] == [PolicyVersion.of("trainer", i) for i in (1, 2, 3)]
    assert all(s.kl >= 0 and s.grad_norm > 0 and s.tokens_per_s > 0 and s.entropy > 0 for s in steps)
    assert all(s.optimizer_steps == 2 * 2 and s.micro_batches == 2 * 4 for s in steps)
    assert steps[1].kl > 0  # the policy moved away from the reference
    # Rollout correction is on by default exactly when the batch holds stale samples.
    assert [s.staleness for s in steps] == [{"0": 8}, {"1": 8}, {"2": 8}]
    assert steps[0].rollout_corr == {} and all("rollout_corr/kl" in s.rollout_corr for s in steps[1:])
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
    assert [s.step for s in _of(log, "trainer.step")] == [1, 2]  # re-emitted events are the same events
    assert log.consumer(cfg.group, ["rollouts"]).committed() == ahead


def test_after_its_bound_dynamic_sampling_trains_a_smaller_batch(tmp_path):
    cfg = _cfg(tmp_path, batch_groups=3, dynamic_sampling_max_groups=2)
    log = open_log(cfg.log)
    write_groups(log, [make_group("ok1"), make_group("same1", reward=1.0), make_group("same2", reward=0.0)])
    trainer = Trainer(cfg)
    assert trainer.run(until_step=1) == 1
    trainer.close()
    (step,) = _of(log, "trainer.step")
    assert step.filtered_groups == 2 and step.group_ids == ["ok1"]  # never the zero-advantage ones
