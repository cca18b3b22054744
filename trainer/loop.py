"""The trainer as a consumer of `rollout.group` events (DESIGN.md §3-4).

Per step: poll rollout groups (malformed ones go to `deadletter` with the
reason); walk the polled groups oldest first (event time, then partition and
offset: "log order" across partitions) and judge each at the current step
(trainer.selection): samples of another lineage, of unknown version, too stale
or untrainable, and zero-advantage groups are dropped, each with a
`trainer.dropped` event; the first `batch_groups` groups left form the batch.
Train one PPO step (trainer.step), append `trainer.step`. Every
`checkpoint_every` steps, in this order:

1. write the checkpoint (weights, optimizer, RNG, consumed offsets, the
   polled-but-untrained groups, the drop counts not yet reported) atomically
   and durably;
2. append `policy.updated` and commit the group's offsets in one `transact`.

A crash anywhere resumes from the newest checkpoint: its offsets win over the
group's committed ones and its pending groups are restored, so no batch is
trained twice or skipped. Event ids are derived from (run, trainer, step[,
group, reason]), so events re-emitted by a resumed run are the same events.

No silent stall: without a step for `stall_timeout_s` the trainer says so on
stderr and in a `trainer.stalled` event (what it consumed, what it dropped and
why), again every period.
"""
from __future__ import annotations

import copy
import logging
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, TextIO

import torch

import events
from events.log import RawRecord, dead_letter_for, open_log
from events.payloads import PolicyUpdated, RolloutGroup, TrainerDropped, TrainerStalled, TrainerStep

from .batch import check_group, collate
from .checkpoint import (CheckpointState, checkpoint_path, export_hf_dir, latest_checkpoint, load_checkpoint, prune,
                         save_checkpoint)
from .config import TrainerConfig
from .lora import apply_lora, is_lora, merged_state, save_adapter
from .model import MODEL_FILE, load_policy
from .parallel import World, full_state, init_world, load_sharded, save_sharded
from .selection import Drops, Selector, untrainable
from .step import Learner, StepResult

__all__ = ["Trainer", "Pending", "Selected", "STALLED_EXIT", "WAIT", "nothing_trained"]

log_ = logging.getLogger("trainer")
TOPIC = "rollouts"
STALLED_EXIT = 4
"""Exit status of `ledger train` when it stops with input it could not train on (or none at all)."""
WAIT = "wait"
"""`next_batch(wait_s=...)`: no batch yet."""
_BROADCAST_EVERY_S = 30.0
"""Under torchrun, rank 0 tells the other ranks at least this often that it is still waiting for input."""

_HINTS = {
    "lineage": "samples come from another trainer's (or base) weights: samplers must follow this trainer "
               "(ledger proxy --follow-policy {trainer})",
    "unknown_version": "samplers could not know their weights (an openai: upstream without --follow-policy?)",
    "stale": "samples are older than --max-staleness {max_staleness}: sample faster or allow more staleness",
    "zero_advantage": "every group had equal rewards (dynamic sampling drops them): the task is too hard or "
                      "too easy for the policy",
    "untrainable": "samples were not exactly trainable (scripted, replayed or text-only upstreams)",
    "excluded": "every episode of the groups was excluded upstream (see rollout.group excluded_reasons)",
}


@dataclass
class Pending:
    partition: int
    offset: int
    ts: datetime
    group: RolloutGroup

    @property
    def order(self) -> tuple:
        return (self.ts, self.partition, self.offset)


@dataclass
class Selected:
    groups: list[RolloutGroup]
    staleness: dict[str, int]


class Trainer:
    """One trainer process: `run()` trains until `steps`/idle/stop; `on_step` sees each TrainerStep.

    The reference policy for `kl_coef` is the initial model (before any resume). Under torchrun
    (`parallel` ddp/fsdp) there is one Trainer per rank: rank 0 reads the log, judges and selects
    batches, writes every event and commits offsets; each batch it takes is broadcast and every rank
    trains on it (trainer.step.Learner); checkpoints are sharded and written by all ranks together.
    """

    def __init__(self, cfg: TrainerConfig, on_step: Callable[[TrainerStep], None] | None = None,
                 err: TextIO | None = None):
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.lora_rank and cfg.parallel == "fsdp":
            raise ValueError("--lora-rank runs with --parallel none or ddp (the adapters are small: replicate "
                             "them); shard a full fine-tune with fsdp")
        self.world: World = init_world(cfg.parallel, cfg.device)
        self.log = open_log(cfg.log) if self.world.main else None
        torch.manual_seed(cfg.seed)
        self.policy = load_policy(cfg.model, device=self.world.device if self.world.distributed else cfg.device,
                                  seed=cfg.seed)
        ref = copy.deepcopy(self.policy.model).eval() if cfg.kl_coef > 0 else None
        model = apply_lora(self.policy.model, cfg.lora_rank, cfg.lora_alpha) if cfg.lora_rank else self.policy.model
        self.learner = Learner(model, cfg, ref, self.world)
        self.selector = Selector(cfg.trainer_id, cfg.max_staleness, cfg.dynamic_sampling)
        self.vocab_size = int(self.policy.model.config.vocab_size)
        self.on_step = on_step
        self.err = err or sys.stderr
        self.stop_event = threading.Event()
        self.deadlettered = 0
        self.trained_this_run = 0
        self.records_since_step = 0
        self.stalls = 0
        self.groups_consumed = 0
        """Groups taken into a batch or dropped whole by this process (samplers pace themselves on it)."""
        self.training = False
        self._idle_since: float | None = None
        self._export_model = None
        """Under torchrun with --export-hf: rank 0's unsharded copy the gathered weights are exported from."""
        self.refused: dict[str, list[int]] = {}
        """Over this process's life: untrainable reason (scripted, replayed) -> [groups, samples] dropped."""
        self._restore()
        self._progress_at = self._stall_reported_at = time.monotonic()

    # -- resume ----------------------------------------------------------------------
    def _restore(self) -> None:
        ck = self.world.broadcast(latest_checkpoint(self.cfg.checkpoint_dir))
        if ck is not None:
            state = self._load(ck)
            log_.info("resumed from %s (step %d)", ck, state.step)
        else:
            state = CheckpointState(step=0, version=0, offsets={})
        self.step, self.version = state.step, state.version
        self.offsets = dict(state.offsets)
        self.pending = [Pending(p["partition"], p["offset"], datetime.fromisoformat(p["ts"]),
                                RolloutGroup.model_validate_json(p["group"])) for p in state.pending]
        self.dropped = Counter(state.dropped)
        self.filtered_groups = state.filtered_groups
        self.filtered_reward = state.filtered_reward
        self.checkpointed_step = state.step
        self.consumer = None
        if not self.world.main:
            return
        self.consumer = self.log.consumer(self.cfg.group, [TOPIC])
        committed = self.consumer.committed()
        if any(o > self.offsets.get(tp, 0) for tp, o in committed.items()):
            self.consumer.seek_to_beginning()  # the checkpoint is behind the group: it wins
        if state.policy_event:
            self.log.append("trainer", [events.decode(state.policy_event)])

    def _load(self, ck: Path) -> CheckpointState:
        sharded = (ck / "dcp").is_dir()
        if sharded != self.world.distributed:
            written = "sharded by torchrun ranks" if sharded else "by a single process"
            raise ValueError(f"{ck} was written {written}; resume it with the same --parallel and world size "
                             "(or start another --checkpoint-dir)")
        if sharded:
            return CheckpointState.from_json(load_sharded(ck, self.learner.module, self.learner.optimizer,
                                                          self.world))
        return load_checkpoint(ck, self.learner.model, self.learner.optimizer)

    # -- input -----------------------------------------------------------------------
    def poll(self, timeout_s: float = 0.5) -> int:
        """Fetch new rollout groups into `pending`; returns how many records were read."""
        records = self.consumer.poll(max_records=self.cfg.poll_records, timeout_s=timeout_s)
        records.sort(key=lambda r: (r.partition, r.offset))
        dead = []
        for rec in records:
            tp = (rec.topic, rec.partition)
            if rec.offset < self.offsets.get(tp, 0):
                continue  # consumed before the checkpoint this run resumed from
            self.offsets[tp] = rec.offset + 1
            self.records_since_step += 1
            if rec.event.type != "rollout.group":
                continue
            # never trained on (scripted, replayed): not validated either; selection drops and counts it
            reason = None if untrainable(rec.event.payload) else check_group(rec.event.payload, self.vocab_size)
            if reason:
                raw = RawRecord(rec.topic, rec.partition, rec.offset, rec.event.key, events.encode(rec.event))
                dead.append(dead_letter_for(raw, reason, consumer=self.cfg.group))
                log_.warning("deadletter: %s", reason)
            else:
                self.pending.append(Pending(rec.partition, rec.offset, rec.event.ts, rec.event.payload))
        if dead:
            self.log.append("deadletter", dead)
            self.deadlettered += len(dead)
        return len(records)

    def take_batch(self) -> Selected | None:
        """Judge pending groups oldest first; the first `batch_groups` trainable ones (fewer, once
        `dynamic_sampling_max_groups` zero-advantage groups were dropped since the last step), or
        None (then the groups judged trainable wait, filtered, for more)."""
        n, kept, rest, hist = self.cfg.batch_groups, [], [], Counter()
        for p in sorted(self.pending, key=lambda p: p.order):
            if len(kept) == n:
                rest.append(p)
                continue
            judged = self.selector.judge(p.group, self.step)
            self._record_drops(p.group, judged.drops)
            self.groups_consumed += judged.group is None
            if judged.group is not None:
                kept.append(Pending(p.partition, p.offset, p.ts, judged.group))
                hist.update(judged.staleness)
        bound = self.cfg.dynamic_sampling_max_groups
        if len(kept) < n and not (kept and bound is not None and self.filtered_groups >= bound):
            self.pending = kept + rest
            return None
        self.pending = rest
        self.groups_consumed += len(kept)
        return Selected([p.group for p in kept], dict(sorted(hist.items(), key=lambda kv: int(kv[0]))))

    def _record_drops(self, group: RolloutGroup, drops: dict[str, Drops]) -> None:
        evs = []
        for reason, d in sorted(drops.items()):
            self.dropped[reason] += d.samples
            if reason == "zero_advantage":
                self.filtered_groups += len(d.group_ids)
                self.filtered_reward += d.reward
            if reason == "untrainable":
                counts = self.refused.setdefault(untrainable(group) or "untrainable", [0, 0])
                counts[0], counts[1] = counts[0] + 1, counts[1] + d.samples
            detail = _HINTS[reason].format(trainer=self.cfg.trainer_id, max_staleness=self.cfg.max_staleness)
            payload = TrainerDropped(trainer_id=self.cfg.trainer_id, step=self.step, reason=reason, samples=d.samples,
                                     groups=len(d.group_ids), group_ids=[group.group_id],
                                     versions=dict(sorted(d.versions.items())), detail=detail)
            evs.append(self._derive(payload, "dropped", group.group_id, reason))
            if reason in ("lineage", "unknown_version"):
                log_.warning("trainer %s dropped %d samples of %s: %s", self.cfg.trainer_id, d.samples,
                             group.group_id, detail)
        if evs:
            self.log.append("trainer", evs)

    def next_batch(self, wait_s: float | None = None) -> Selected | None | str:
        """The next batch, or None (idle past `idle_exit_s`, or stopped); with `wait_s`, WAIT when
        none came within that long (ranks waiting in a broadcast hear from rank 0 that often)."""
        idle_since = self._idle_since if self._idle_since is not None else time.monotonic()
        self._idle_since = None
        start = time.monotonic()
        while not self.stop_event.is_set():
            sel = self.take_batch()
            if sel is not None:
                return sel
            now = time.monotonic()
            if self.poll():
                idle_since = now
            self._check_stall(time.monotonic())
            if (self.cfg.idle_exit_s is not None and time.monotonic() - idle_since > self.cfg.idle_exit_s
                    and self.consumer.caught_up()):  # a Kafka member still joining its group is not idle
                return None
            if wait_s is not None and time.monotonic() - start > wait_s:
                self._idle_since = idle_since
                return WAIT
        return None

    def next_batch_everywhere(self) -> Selected | None:
        """`next_batch` on rank 0, broadcast to every rank (itself when not distributed)."""
        if not self.world.distributed:
            return self.next_batch()
        while True:
            sel = self.next_batch(wait_s=_BROADCAST_EVERY_S) if self.world.main else None
            sel = self.world.broadcast(sel)
            if not isinstance(sel, str):
                return sel

    # -- no silent stall -------------------------------------------------------------
    def _check_stall(self, now: float) -> None:
        period = self.cfg.stall_timeout_s
        if now - self._progress_at < period or now - self._stall_reported_at < period:
            return
        self._stall_reported_at = now
        self.stalls += 1
        waited = now - self._progress_at
        message = self.stall_message(waited)
        print(message, file=self.err, flush=True)
        payload = TrainerStalled(trainer_id=self.cfg.trainer_id, step=self.step, waited_s=round(waited, 3),
                                 records=self.records_since_step, dropped=dict(self.dropped), message=message)
        self.log.append("trainer", [events.new(payload, producer="trainer", run_id=self.cfg.run_id)])

    def stall_message(self, waited_s: float) -> str:
        """What the trainer consumed and dropped since its last step, and what to do about it."""
        head = (f"trainer {self.cfg.trainer_id}: no trainable input for {waited_s:.0f}s at step {self.step}: "
                f"{self.records_since_step} rollout records consumed since the last step")
        if not self.records_since_step and not self.pending:
            return head + "; no rollout.group events arrived (are episodes finishing and the rollouts processor running?)"
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items()) if v)
        waiting = f"; {len(self.pending)} trainable groups waiting for a batch of {self.cfg.batch_groups}"
        hints = "; ".join(_HINTS[k].format(trainer=self.cfg.trainer_id, max_staleness=self.cfg.max_staleness)
                          for k, v in sorted(self.dropped.items()) if v)
        return head + (f"; dropped samples: {dropped} ({hints})" if dropped else "") + (waiting if self.pending else "")

    # -- training --------------------------------------------------------------------
    def run(self, until_step: int | None = None) -> int:
        """Train until `until_step` (default: `cfg.steps`) or idle/stop; returns the step reached."""
        target = until_step if until_step is not None else self.cfg.steps
        while target is None or self.step < target:
            sel = self.next_batch_everywhere()
            if sel is None:
                break
            self.train_on(sel)
        if self.step != self.checkpointed_step:
            self.checkpoint()
        return self.step

    def idle_for_s(self) -> float:
        """Seconds since the last step (0 while a step is being trained)."""
        return 0.0 if self.training else time.monotonic() - self._progress_at

    @property
    def judge_step(self) -> int:
        """The step at which the next batch's samples are judged (the step being trained counts)."""
        return self.step + (1 if self.training else 0)

    def train_on(self, sel: Selected) -> TrainerStep:
        self.training = True
        try:
            return self._train_on(sel)
        finally:
            self.training = False

    def _train_on(self, sel: Selected) -> TrainerStep:
        correct = self.cfg.rollout_correction == "on" or (
            self.cfg.rollout_correction == "auto" and any(int(k) > 0 for k in sel.staleness))
        result = self.learner.step(collate(sel.groups, self.policy.pad_id), correct=correct)
        self.step += 1
        self.version += 1
        ev = self._step_event(result, sel)
        if self.world.main:
            self.log.append("trainer", [ev])
        self.dropped, self.filtered_groups, self.filtered_reward, self.records_since_step = Counter(), 0, 0.0, 0
        self.trained_this_run += 1
        self._progress_at = self._stall_reported_at = time.monotonic()
        if self.step % self.cfg.checkpoint_every == 0:
            self.checkpoint()
        if self.on_step and self.world.main:
            self.on_step(ev.payload)
        return ev.payload

    def _step_event(self, r: StepResult, sel: Selected):
        payload = TrainerStep(
            trainer_id=self.cfg.trainer_id, step=self.step, loss=_finite(r.loss), clip_frac=r.clip_frac,
            clip_frac_lower=r.clip_frac_lower, kl=_finite(r.kl), pg_loss=_finite(r.pg_loss),
            entropy=_finite(r.entropy), grad_norm=_finite(r.grad_norm), reward_mean=r.reward_mean,
            reward_std=r.reward_std, samples=r.samples, groups=len(sel.groups),
            reward_mean_sampled=(r.reward_mean * r.samples + self.filtered_reward)
            / (r.samples + self.dropped.get("zero_advantage", 0)),
            group_ids=[g.group_id for g in sel.groups],
            dropped_stale=self.dropped.get("stale", 0), skipped_untrainable=self.dropped.get("untrainable", 0),
            dropped=dict(sorted(self.dropped.items())),
            filtered_groups=self.filtered_groups, excluded_episodes=sum(g.excluded for g in sel.groups),
            staleness=sel.staleness, optimizer_steps=r.optimizer_steps, micro_batches=r.micro_batches,
            rollout_corr={k: _finite(v) for k, v in sorted(r.rollout_corr.items())},
            tokens_per_s=r.tokens_per_s, lr=self.cfg.lr)
        return self._derive(payload, "step")

    def _derive(self, payload, kind: str, *more: str):
        return events.derive(payload, processor="trainer", version=1, run_id=self.cfg.run_id,
                             inputs=[self.cfg.run_id, self.cfg.trainer_id, kind, str(self.step), *more])

    def checkpoint(self) -> None:
        path = checkpoint_path(Path(self.cfg.checkpoint_dir), self.step)
        policy_ev = self._derive(PolicyUpdated(trainer_id=self.cfg.trainer_id, version=self.version,
                                               checkpoint=str(path.resolve()), step=self.step), "policy")
        state = CheckpointState(
            step=self.step, version=self.version, offsets=dict(self.offsets), dropped=dict(self.dropped),
            filtered_groups=self.filtered_groups, filtered_reward=self.filtered_reward,
            pending=[{"partition": p.partition, "offset": p.offset, "ts": p.ts.isoformat(),
                      "group": p.group.model_dump_json()} for p in self.pending],
            policy_event=events.encode(policy_ev).decode())
        if self.world.distributed:
            self._save_sharded(path, state)
        else:
            save_checkpoint(path.parent, state, self.learner.model, self.learner.optimizer,
                            tokenizer=self.policy.tokenizer, export_hf=self.cfg.export_hf)
        if self.world.main:
            self.consumer.transact({"trainer": [policy_ev]})
            prune(path.parent, self.cfg.keep_checkpoints)
        self.checkpointed_step = self.step

    def _save_sharded(self, path: Path, state: CheckpointState) -> None:
        """Every rank its shards (dcp/), rank 0 the state and the whole model (`model.pt`, and `hf/`
        with --export-hf) that samplers load, gathered from the shards."""
        if self.world.broadcast(path.exists()):
            return  # a resumed run re-made an identical checkpoint
        weights = merged_state(self.learner.model) if is_lora(self.learner.model) else full_state(self.learner.module)

        def whole_model(tmp: Path) -> None:
            torch.save(weights, tmp / MODEL_FILE)
            if is_lora(self.learner.model):
                save_adapter(tmp, self.learner.model)
            if self.cfg.export_hf:
                if self._export_model is None:  # an unsharded model of the architecture, loaded once
                    self._export_model = load_policy(self.cfg.model, seed=self.cfg.seed).model
                self._export_model.load_state_dict(weights)
                export_hf_dir(tmp / "hf", self._export_model, self.policy.tokenizer)

        save_sharded(path, self.learner.module, self.learner.optimizer, self.world, state.to_json(), whole_model)

    def exit_status(self, target: int | None) -> tuple[int, str | None]:
        """(status, message) after `run()` returned: 0 when the target was reached or, without one,
        when everything consumed since the last step was trained; STALLED_EXIT otherwise."""
        if target is not None and self.step >= target:
            return 0, None
        untrained = sum(self.dropped.values()) or self.pending
        if target is None and self.trained_this_run and not untrained:
            return 0, None
        if not self.trained_this_run and self.refused and set(self.dropped) <= {"untrainable"} and not self.pending:
            return STALLED_EXIT, nothing_trained(self.refused)
        goal = f" of {target}" if target is not None else ""
        return STALLED_EXIT, (f"trainer {self.cfg.trainer_id} stopped at step {self.step}{goal} "
                              f"({self.trained_this_run} trained this run): "
                              + self.stall_message(time.monotonic() - self._progress_at).split(": ", 1)[1])

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
        if self.log is not None:
            self.log.close()
        self.world.close()


def nothing_trained(refused: dict[str, list[int]]) -> str:
    """Why a run trained no step when all it saw was untrainable (scripted or replayed)."""
    groups = sum(g for g, _ in refused.values())
    samples = sum(n for _, n in refused.values())
    kinds = ", ".join(f"{r}: {g} groups / {n} samples" for r, (g, n) in sorted(refused.items()))
    return (f"trained nothing: all {groups} rollout groups ({samples} samples) were not trainable ({kinds}). "
            "Scripted (`demo` upstream) and replayed (`replay:`) responses are never trained on; "
            "sample with a model (hf:..., openai:...) to train.")


def _finite(x: float) -> float:
    """A metric as stored: non-finite values (a skipped update's gradient norm) become -1."""
    return float(x) if x == x and abs(x) != float("inf") else -1.0
