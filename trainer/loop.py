"""The trainer as a consumer of `rollout.group` events (DESIGN.md §3-4).

Per step: poll rollout groups (malformed ones go to `deadletter` with the
reason; untrainable ones — scripted or replayed traffic — are refused and
counted, `skipped_untrainable`), drop stale samples (counted), train on
`batch_groups` groups, append `trainer.step`. Every `checkpoint_every` steps, in this order:

1. write the checkpoint (weights, optimizer, RNG, consumed offsets and the
   polled-but-untrained groups) atomically and durably;
2. append `policy.updated` and commit the group's offsets in one `transact`.

A crash anywhere resumes from the newest checkpoint: its offsets win over the
group's committed ones and its pending groups are restored, so no batch is
trained twice or skipped. Event ids are derived from (run, trainer, step), so
events re-emitted by a resumed run are the same events.
"""
from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

import events
from events.log import RawRecord, dead_letter_for, open_log
from events.payloads import PolicyUpdated, RolloutGroup, TrainerStep

from .batch import check_group, collate, drop_stale, untrainable
from .checkpoint import (CheckpointState, checkpoint_path, latest_checkpoint, load_checkpoint, prune,
                         save_checkpoint)
from .config import TrainerConfig
from .model import load_policy
from .step import Learner, StepResult

__all__ = ["Trainer", "Pending"]

log_ = logging.getLogger("trainer")
TOPIC = "rollouts"


@dataclass
class Pending:
    partition: int
    offset: int
    group: RolloutGroup


class Trainer:
    """One trainer process: `run()` trains until `steps`/idle/stop; `on_step` sees each TrainerStep.

    The reference policy for `kl_coef` is the initial model (before any resume).
    """

    def __init__(self, cfg: TrainerConfig, on_step: Callable[[TrainerStep], None] | None = None):
        self.cfg = cfg
        self.log = open_log(cfg.log)
        torch.manual_seed(cfg.seed)
        self.policy = load_policy(cfg.model, device=cfg.device, seed=cfg.seed)
        ref = copy.deepcopy(self.policy.model).eval() if cfg.kl_coef > 0 else None
        self.learner = Learner(self.policy.model, cfg, ref)
        self.vocab_size = int(self.policy.model.config.vocab_size)
        self.on_step = on_step
        self.stop_event = threading.Event()
        self.deadlettered = 0
        self.skipped_untrainable = 0
        """Samples refused since the last step (reported in the next trainer.step)."""
        self.refused: dict[str, list[int]] = {}
        """Over this process's life: untrainable reason -> [groups, samples] refused."""
        self._restore()

    # -- resume ----------------------------------------------------------------------
    def _restore(self) -> None:
        ck = latest_checkpoint(self.cfg.checkpoint_dir)
        if ck is not None:
            state = load_checkpoint(ck, self.policy.model, self.learner.optimizer)
            log_.info("resumed from %s (step %d)", ck, state.step)
        else:
            state = CheckpointState(step=0, version=0, offsets={})
        self.step, self.version = state.step, state.version
        self.offsets = dict(state.offsets)
        self.pending = [Pending(p["partition"], p["offset"], RolloutGroup.model_validate_json(p["group"]))
                        for p in state.pending]
        self.dropped_stale = state.dropped_stale
        self.checkpointed_step = state.step
        self.consumer = self.log.consumer(self.cfg.group, [TOPIC])
        committed = self.consumer.committed()
        if any(o > self.offsets.get(tp, 0) for tp, o in committed.items()):
            self.consumer.seek_to_beginning()  # the checkpoint is behind the group: it wins
        if state.policy_event:
            self.log.append("trainer", [events.decode(state.policy_event)])

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
            if rec.event.type != "rollout.group":
                continue
            if self._refuse(rec.event.payload):
                continue
            reason = check_group(rec.event.payload, self.vocab_size)
            if reason:
                raw = RawRecord(rec.topic, rec.partition, rec.offset, rec.event.key, events.encode(rec.event))
                dead.append(dead_letter_for(raw, reason, consumer=self.cfg.group))
                log_.warning("deadletter: %s", reason)
            else:
                self.pending.append(Pending(rec.partition, rec.offset, rec.event.payload))
        if dead:
            self.log.append("deadletter", dead)
            self.deadlettered += len(dead)
        return len(records)

    def _refuse(self, group: RolloutGroup) -> bool:
        """Count and skip a group that must never be trained on; True when refused."""
        reason = untrainable(group)
        if reason is None:
            return False
        n = len(group.samples)
        self.skipped_untrainable += n
        counts = self.refused.setdefault(reason, [0, 0])
        counts[0] += 1
        counts[1] += n
        log_.warning("refused rollout group %s (%d samples): not trainable (%s)", group.group_id, n, reason)
        return True

    def _take_batch(self):
        """Drop stale samples from pending; return the next full batch's selection, or None."""
        kept = []
        for p in self.pending:
            sel = drop_stale([p.group], self.version, self.cfg.max_staleness)
            self.dropped_stale += sel.dropped_stale
            if sel.groups:
                kept.append(Pending(p.partition, p.offset, sel.groups[0]))
        self.pending = kept
        n = self.cfg.batch_groups
        if len(kept) < n:
            return None
        taken, self.pending = kept[:n], kept[n:]
        groups = sorted((p.group for p in taken), key=lambda g: g.group_id)
        return drop_stale(groups, self.version, self.cfg.max_staleness)

    def next_batch(self):
        idle_since = time.monotonic()
        while not self.stop_event.is_set():
            sel = self._take_batch()
            if sel is not None:
                return sel
            if self.poll():
                idle_since = time.monotonic()
            elif self.cfg.idle_exit_s is not None and time.monotonic() - idle_since > self.cfg.idle_exit_s:
                return None
        return None

    # -- training --------------------------------------------------------------------
    def run(self, until_step: int | None = None) -> int:
        """Train until `until_step` (default: `cfg.steps`) or idle/stop; returns the step reached."""
        target = until_step if until_step is not None else self.cfg.steps
        while target is None or self.step < target:
            sel = self.next_batch()
            if sel is None:
                break
            self.train_on(sel)
        if self.step != self.checkpointed_step:
            self.checkpoint()
        return self.step

    def train_on(self, sel) -> TrainerStep:
        result = self.learner.step(collate(sel.groups, self.policy.pad_id))
        self.step += 1
        self.version += 1
        ev = self._step_event(result, sel.staleness)
        self.log.append("trainer", [ev])
        self.dropped_stale = 0
        self.skipped_untrainable = 0
        if self.step % self.cfg.checkpoint_every == 0:
            self.checkpoint()
        if self.on_step:
            self.on_step(ev.payload)
        return ev.payload

    def _step_event(self, r: StepResult, staleness: dict[str, int]):
        payload = TrainerStep(
            trainer_id=self.cfg.trainer_id, step=self.step, loss=r.loss, clip_frac=r.clip_frac, kl=r.kl,
            grad_norm=r.grad_norm, reward_mean=r.reward_mean, reward_std=r.reward_std, samples=r.samples,
            dropped_stale=self.dropped_stale, skipped_untrainable=self.skipped_untrainable,
            staleness=staleness, tokens_per_s=r.tokens_per_s,
            lr=self.cfg.lr, policy_version=self.version)
        return self._derive(payload, "step")

    def _derive(self, payload, kind: str):
        return events.derive(payload, processor="trainer", version=1, run_id=self.cfg.run_id,
                             inputs=[self.cfg.run_id, self.cfg.trainer_id, kind, str(self.step)])

    def checkpoint(self) -> None:
        path = checkpoint_path(Path(self.cfg.checkpoint_dir), self.step)
        policy_ev = self._derive(PolicyUpdated(trainer_id=self.cfg.trainer_id, version=self.version,
                                               checkpoint=str(path.resolve()), step=self.step), "policy")
        state = CheckpointState(
            step=self.step, version=self.version, offsets=dict(self.offsets), dropped_stale=self.dropped_stale,
            pending=[{"partition": p.partition, "offset": p.offset, "group": p.group.model_dump_json()}
                     for p in self.pending],
            policy_event=events.encode(policy_ev).decode())
        save_checkpoint(path.parent, state, self.policy.model, self.learner.optimizer,
                        tokenizer=self.policy.tokenizer, export_hf=self.cfg.export_hf)
        self.consumer.transact({"trainer": [policy_ev]})
        self.checkpointed_step = self.step
        prune(path.parent, self.cfg.keep_checkpoints)

    def close(self) -> None:
        self.consumer.close()
        self.log.close()
