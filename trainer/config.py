"""The trainer's typed configuration (one docstring per knob).

Every field is also a `ledger train` / `python -m trainer.consume` flag (the
field name with dashes) and a key under `rl.trainer` in a run config. The
PPO fields map onto verl's `ActorConfig` / `PolicyLossConfig` /
`RolloutCorrectionConfig` (trainer/verl_config.py); their meaning is verl's.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["TrainerConfig", "ADVANTAGES", "LOSS_AGG_MODES", "KL_TYPES"]

ADVANTAGES = {"grpo": "grpo", "rloo": "rloo", "reinforce++": "reinforce_plus_plus",
              "reinforce_plus_plus": "reinforce_plus_plus"}
"""Accepted `--adv` names -> verl advantage-estimator registry names."""
LOSS_AGG_MODES = ("token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
KL_TYPES = ("kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3")
"""verl `kl_penalty` names; each also with a `+` suffix (straight-through gradient)."""


class TrainerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    # -- where -----------------------------------------------------------------------
    log: str
    """URL of the event log the rollout groups come from and trainer events go to."""
    model: str = "tiny"
    """`tiny` (random 2-layer model over the byte tokenizer) or a local HF model directory."""
    group: str = "trainer"
    """Consumer group on the `rollouts` topic."""
    trainer_id: str = "trainer"
    """This trainer's lineage: key of its events; only samples stamped {trainer_id, step} are trained on."""
    run_id: str = ""
    """run_id stamped on the events the trainer emits."""
    device: str = "cpu"
    """Torch device (cpu or cuda)."""
    seed: int = 0
    """Seed of the initial `tiny` weights and of every RNG the trainer uses (mini-batch shuffles too)."""
    threads: int | None = Field(None, ge=1)
    """torch intra-op threads (None: torch's default). Small models on a busy CPU run far faster on 1."""

    # -- scale: processes, precision, memory ---------------------------------------------
    parallel: Literal["none", "ddp", "fsdp"] = "none"
    """Data parallelism under `torchrun --nproc-per-node N -m trainer.consume`: `fsdp` (FSDP2,
    parameters, gradients and optimizer state sharded), `ddp` (a replica per rank) or `none` (one
    process). Rank 0 reads the log and writes events; every rank trains on its share of each
    mini-batch; checkpoints are sharded (torch.distributed.checkpoint)."""
    dtype: Literal["fp32", "bf16"] = "fp32"
    """Compute dtype of forward and backward (weights, gradients and optimizer state stay fp32)."""
    logprob_chunk: str = "auto"
    """Output-projection positions per chunk when computing token logprobs: `auto` (~4M logits per
    chunk), a number, or `none` (full (B, L, V) logits, the old path)."""
    pack: bool = False
    """Sequence packing: a micro-batch's samples laid end to end without padding."""
    gradient_checkpointing: bool = False
    """Recompute each decoder layer's activations in the backward pass instead of keeping them."""
    lora_rank: int | None = Field(None, ge=1)
    """Train LoRA adapters of this rank (peft, all linear layers of the decoder) instead of the whole
    model; checkpoints hold the adapters and the merged weights samplers load."""
    lora_alpha: float | None = Field(None, gt=0)
    """LoRA alpha (None: 2 x rank)."""

    # -- input: batches, lineage, staleness -------------------------------------------
    batch_groups: int = Field(4, ge=1)
    """Rollout groups per step: the oldest complete, trainable groups across partitions."""
    max_staleness: int = Field(1, ge=0)
    """Samples of this lineage sampled more than this many steps ago are dropped (trainer.dropped)."""
    dynamic_sampling: bool = True
    """Drop groups whose samples all have the same reward (zero advantage, DAPO); counted and reported."""
    dynamic_sampling_max_groups: int | None = Field(None, ge=1)
    """After this many zero-advantage groups dropped since the last step, train on the informative
    groups found so far even if fewer than batch_groups (at least one): bounds sampling per step once
    the policy has nearly solved the prompts (cf. DAPO's max_num_gen_batches). None: no bound."""
    poll_records: int = Field(64, ge=1)
    """Most rollout groups fetched per poll."""
    stall_timeout_s: float = Field(300.0, gt=0)
    """No step for this long: say so on stderr and in a `trainer.stalled` event (repeated each period)."""
    idle_exit_s: float | None = None
    """Exit after this long without new input (None: wait forever); exit status 4 when input was not
    trained on (see docs/training.md)."""
    steps: int | None = None
    """Stop after this many optimizer steps in total (None: run until stopped)."""

    # -- PPO -------------------------------------------------------------------------
    adv: str = "grpo"
    """Advantage estimator: grpo, rloo or reinforce++ (verl core_algos)."""
    adv_std_norm: bool = True
    """GRPO: divide by the group's reward std (verl `norm_adv_by_std_in_grpo`; False = Dr.GRPO)."""
    policy_loss: str = "vanilla"
    """verl policy-loss registry name: vanilla (PPO clip), gspo, cispo, clip_cov, kl_cov, geo_mean, gpg,
    sapo, dppo_tv, dppo_kl, dro, bypass_mode."""
    ppo_epochs: int = Field(1, ge=1)
    """Passes over each batch (verl `ppo_epochs`)."""
    mini_batch_samples: int | None = Field(None, ge=1)
    """Samples per optimizer update (None: the whole batch, one update per epoch)."""
    micro_batch_samples: int | None = Field(None, ge=1)
    """Samples per forward/backward; gradients accumulate over a mini-batch (None: the whole mini-batch)."""
    shuffle: bool = True
    """Shuffle samples across mini-batches each epoch (seeded; part of the checkpointed RNG state)."""
    clip: float = Field(0.2, ge=0)
    """PPO clip range epsilon (verl `clip_ratio`, and `clip_ratio_low`)."""
    clip_high: float | None = Field(None, ge=0)
    """Upper clip range (verl `clip_ratio_high`; > clip is DAPO's clip-higher). None: = clip."""
    clip_c: float = Field(3.0, gt=1.0)
    """Dual-clip bound for negative advantages (verl `clip_ratio_c`)."""
    loss_agg_mode: str = "token-mean"
    """verl `agg_loss` mode: token-mean, token-sum, seq-mean-token-sum, seq-mean-token-mean,
    seq-mean-token-sum-norm."""
    loss_scale_factor: int | None = None
    """verl `loss_scale_factor` for seq-mean-token-sum-norm (None: the response length)."""
    entropy_coeff: float = 0.0
    """Weight of the entropy bonus (verl `entropy_coeff`)."""
    kl_coef: float = Field(0.0, ge=0)
    """Weight of the KL to the initial (reference) policy; 0 skips the reference model."""
    kl_mode: Literal["loss", "reward"] = "loss"
    """`loss`: a KL term in the loss (verl `use_kl_loss`); `reward`: subtracted from the token rewards
    before advantages (verl's KL-in-reward)."""
    kl_type: str = "low_var_kl"
    """verl `kl_penalty` estimator: kl (k1), abs, mse (k2), low_var_kl (k3); `+` suffix: straight-through."""
    clip_cov_ratio: float = 0.0002
    """clip_cov: fraction of tokens whose gradient is cut (verl PolicyLossConfig)."""
    clip_cov_lb: float = 1.0
    clip_cov_ub: float = 5.0
    kl_cov_ratio: float = 0.0002
    """kl_cov: fraction of tokens that get the KL penalty."""
    ppo_kl_coef: float = 0.1
    """kl_cov: KL penalty coefficient."""
    dro_beta: float = 0.1
    """dro: quadratic log-ratio penalty."""
    tau_pos: float = 1.0
    """sapo: positive-advantage smoothing temperature."""
    tau_neg: float = 1.05
    """sapo: negative-advantage smoothing temperature."""

    # -- off-policy correction -----------------------------------------------------------
    rollout_correction: Literal["auto", "on", "off"] = "auto"
    """Importance-sample stale/mismatched samples with verl's rollout correction (decoupled PPO: the
    ratio is against logprobs recomputed by the current weights, IS weights against the sampler's).
    auto: on for a batch with any sample staleness > 0."""
    rollout_is: Literal["token", "sequence", "none"] = "token"
    """IS weight level (verl `rollout_is`); none keeps metrics and rejection only."""
    rollout_is_threshold: float | str = 2.0
    """Truncation upper bound (float: TIS) or `lower_upper` (IcePop masking), as verl."""
    rollout_is_batch_normalize: bool = False
    rollout_rs: str | None = None
    """verl rejection-sampling modes (e.g. `seq_mean_k3`), comma separated; None: no rejection."""
    rollout_rs_threshold: float | str | None = None

    # -- optimizer ----------------------------------------------------------------------
    lr: float = Field(1e-3, gt=0)
    """AdamW learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Gradient clipping threshold (global L2 norm); an update with a non-finite norm is skipped."""
    temperature: float = Field(1.0, gt=0)
    """Sampling temperature the behaviour logprobs were recorded under; logits are divided by it."""

    # -- checkpoints -----------------------------------------------------------------------
    checkpoint_dir: str = ".ledger/checkpoints/trainer"
    """Where `step-NNNNNNNN/` checkpoints are written (atomically)."""
    checkpoint_every: int = Field(1, ge=1)
    """Checkpoint (and publish `policy.updated`, commit offsets) every N steps."""
    keep_checkpoints: int = Field(3, ge=1)
    """Older checkpoints beyond this many are deleted."""
    export_hf: bool = False
    """Also write `hf/` (save_pretrained weights + tokenizer) into each checkpoint, for vLLM to load."""

    @model_validator(mode="after")
    def _known_names(self) -> "TrainerConfig":
        if self.adv not in ADVANTAGES:
            raise ValueError(f"unknown advantage estimator {self.adv!r}; choose from {sorted(ADVANTAGES)}")
        if self.loss_agg_mode not in LOSS_AGG_MODES:
            raise ValueError(f"unknown loss_agg_mode {self.loss_agg_mode!r}; choose from {list(LOSS_AGG_MODES)}")
        if self.kl_type.removesuffix("+") not in KL_TYPES:
            raise ValueError(f"unknown kl_type {self.kl_type!r}; choose from {list(KL_TYPES)}")
        if self.logprob_chunk not in ("auto", "none") and not (self.logprob_chunk.isdigit()
                                                               and int(self.logprob_chunk) > 0):
            raise ValueError(f"logprob_chunk must be 'auto', 'none' or a positive number, got {self.logprob_chunk!r}")
        if self.mini_batch_samples and self.micro_batch_samples and self.micro_batch_samples > self.mini_batch_samples:
            raise ValueError("micro_batch_samples must not exceed mini_batch_samples")
        return self

    @property
    def chunk(self) -> int | str | None:
        """`logprob_chunk` as trainer.logprobs.TokenLogprobs takes it."""
        if self.logprob_chunk == "none":
            return None
        return "auto" if self.logprob_chunk == "auto" else int(self.logprob_chunk)
