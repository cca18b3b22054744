"""The trainer's typed configuration (one docstring per knob)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["TrainerConfig", "ADVANTAGES"]

ADVANTAGES = {"grpo": "grpo", "rloo": "rloo", "reinforce++": "reinforce_plus_plus",
              "reinforce_plus_plus": "reinforce_plus_plus"}
"""Accepted `--adv` names -> verl advantage-estimator registry names."""


class TrainerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    log: str
    """URL of the event log the rollout groups come from and trainer events go to."""
    model: str = "tiny"
    """`tiny` (random 2-layer model over the byte tokenizer) or a local HF model directory."""
    group: str = "trainer"
    """Consumer group on the `rollouts` topic."""
    trainer_id: str = "trainer"
    """Key of this trainer's `trainer.step` / `policy.updated` events."""
    run_id: str = ""
    """run_id stamped on the events the trainer emits."""
    batch_groups: int = 4
    """Rollout groups per optimizer step."""
    max_staleness: int = 1
    """Samples sampled more than this many policy versions ago are dropped and counted."""
    lr: float = 1e-3
    """AdamW learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    clip: float = 0.2
    """PPO clip range epsilon (symmetric)."""
    kl_coef: float = 0.0
    """Weight of the KL penalty to the initial (reference) policy; 0 skips the reference model."""
    entropy_coeff: float = 0.0
    """Weight of the entropy bonus (verl actor `entropy_coeff`); keeps exploration alive."""
    kl_type: str = "low_var_kl"
    """verl `kl_penalty` estimator name (kl, abs, mse, low_var_kl)."""
    adv: str = "grpo"
    """Advantage estimator: grpo, rloo or reinforce++ (verl core_algos)."""
    policy_loss: str = "vanilla"
    """verl policy-loss registry name (`vanilla` is PPO clip)."""
    loss_agg_mode: str = "token-mean"
    """verl `agg_loss` mode."""
    max_grad_norm: float = 1.0
    """Gradient clipping threshold (global L2 norm)."""
    temperature: float = 1.0
    """Sampling temperature the behaviour logprobs were recorded under; logits are divided by it."""
    steps: int | None = None
    """Stop after this many optimizer steps in total (None: run until stopped)."""
    checkpoint_dir: str = ".ledger/checkpoints/trainer"
    """Where `step-NNNNNNNN/` checkpoints are written (atomically)."""
    checkpoint_every: int = 1
    """Checkpoint (and publish `policy.updated`, commit offsets) every N steps."""
    keep_checkpoints: int = 3
    """Older checkpoints beyond this many are deleted."""
    export_hf: bool = False
    """Also write `hf/` (save_pretrained weights + tokenizer) into each checkpoint, for vLLM to load."""
    device: str = "cpu"
    """Torch device (cpu or cuda)."""
    seed: int = 0
    """Seed of the initial `tiny` weights and of every RNG the trainer uses."""
    poll_records: int = 64
    """Most rollout groups fetched per poll."""
    idle_exit_s: float | None = None
    """Exit after this long without new input (None: wait forever)."""
