"""Data parallelism for the trainer: one process per rank under `torchrun`.

    torchrun --nproc-per-node N -m trainer.consume --parallel fsdp|ddp ...

`init_world(mode)` joins the process group torchrun describes (RANK,
WORLD_SIZE, MASTER_ADDR/PORT in the environment; gloo on CPU, nccl on CUDA)
and `parallelize(module, world, dtype)` wraps the trainer's logprob module:

- `fsdp`: FSDP2 — `fully_shard` on each decoder layer, then on the whole module
  (embeddings, final norm, output projection); parameters, gradients and
  optimizer state are sharded across ranks; with `bf16`, parameters are
  gathered in bf16 and gradients reduced in fp32 (`MixedPrecisionPolicy`);
- `ddp`: DistributedDataParallel (a full replica per rank, gradients averaged);
- `none`: the module as it is (a single process).

The training loop does not know how it is sharded: every rank runs the same
step on its share of each mini-batch (`shard`), and the loss is normalised over
the whole mini-batch (verl's `global_batch_info` with `dp_size` = world size),
so averaging the ranks' gradients gives the single-process gradient.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import torch

from .checkpoint import publish_dir

__all__ = ["PARALLEL_MODES", "World", "decoder_layers", "full_state", "init_world", "latest_sharded", "load_sharded",
           "loss_info", "parallelize", "save_sharded", "shard"]

PARALLEL_MODES = ("none", "ddp", "fsdp")
Mode = Literal["none", "ddp", "fsdp"]


@dataclass
class World:
    mode: str
    rank: int = 0
    size: int = 1
    device: str = "cpu"

    @property
    def main(self) -> bool:
        """Rank 0: reads the log, commits offsets, writes events."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1 or self.mode != "none"

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank (pickled)."""
        if not self.distributed:
            return obj
        import torch.distributed as dist

        box = [obj if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """All-reduce `tensor` in place (sum over ranks) and return it."""
        if self.distributed:
            import torch.distributed as dist

            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def mean(self, value: float) -> float:
        """The mean of a float over ranks (fp64 on the wire)."""
        if not self.distributed:
            return value
        t = self.sum_(torch.tensor([value], dtype=torch.float64, device=self.device))
        return float(t[0]) / self.size

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def init_world(mode: str, device: str = "cpu", timeout_s: float = 1800.0) -> World:
    """The process group for `mode`; `none` must run alone (not under torchrun with N > 1)."""
    if mode not in PARALLEL_MODES:
        raise ValueError(f"unknown --parallel {mode!r}; choose from {', '.join(PARALLEL_MODES)}")
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if mode == "none":
        if size > 1:
            raise ValueError(f"--parallel none under a launcher with WORLD_SIZE={size}: "
                             "use --parallel ddp or fsdp (or run one process)")
        return World("none", 0, 1, device)
    if "RANK" not in os.environ:
        raise ValueError(f"--parallel {mode} runs under torchrun (RANK/WORLD_SIZE unset): "
                         f"torchrun --nproc-per-node N -m trainer.consume --parallel {mode} ...")
    import torch.distributed as dist

    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return World(mode, dist.get_rank(), dist.get_world_size(), device)


def decoder_layers(model: Any) -> list[torch.nn.Module]:
    """The transformer blocks of a Hugging Face causal LM (what FSDP shards one by one)."""
    decoder = model.get_decoder()
    layers = getattr(decoder, "layers", None) or getattr(decoder, "h", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__}: no decoder layers found to shard")
    return list(layers)


def parallelize(module: torch.nn.Module, world: World, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """`module` (a trainer.logprobs.TokenLogprobs) wrapped for `world.mode`."""
    if world.mode == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mesh = init_device_mesh(torch.device(world.device).type, (world.size,))
        mp = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)
        for layer in decoder_layers(module.model):
            fully_shard(layer, mesh=mesh, mp_policy=mp)
        fully_shard(module, mesh=mesh, mp_policy=mp)
        return module
    if world.mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [torch.device(world.device).index] if world.device.startswith("cuda") else None
        return DistributedDataParallel(module, device_ids=ids)
    return module


def shard(rows: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's rows of a mini-batch: every `size`-th row from `rank` (balanced within one row)."""
    return rows[world.rank::world.size]


def loss_info(response_mask: torch.Tensor, world: World) -> dict[str, Any]:
    """verl's `global_batch_info` for a mini-batch whose rows are split over the ranks.

    `response_mask` is the whole mini-batch's (every rank holds it); with `dp_size` =
    world size, verl's `agg_loss` scales each rank's share so that the gradient the
    ranks average (DDP/FSDP) is the single process's gradient of the mini-batch."""
    return {"dp_size": world.size, "batch_num_tokens": max(1, int(response_mask.sum())),
            "global_batch_size": max(1, int((response_mask.sum(-1) > 0).sum()))}


def save_sharded(path: Path, module: torch.nn.Module, optimizer: torch.optim.Optimizer, world: World,
                 state: dict[str, Any], on_main: Callable[[Path], None] | None = None) -> Path:
    """Write a checkpoint directory atomically: `dcp/` (model and optimizer through
    torch.distributed.checkpoint, each rank its own shards), `rng-<rank>.pt`, and rank 0's
    `state.json` (`state`: the consumed offsets and whatever the loop resumes from); `on_main(tmp)`
    adds rank 0's other files (the whole model for samplers) before the directory is published.

    Every rank writes under `.tmp-<name>`; after a barrier rank 0 fsyncs and renames it, so a
    directory with the final name is always whole (a SIGKILL of any rank before the rename
    leaves only the previous checkpoint)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    path = Path(path)
    tmp = path.parent / f".tmp-{path.name}"
    if world.main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    world.barrier()
    model_sd, optim_sd = get_state_dict(module, optimizer)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(tmp / "dcp"),
             no_dist=not world.distributed)
    torch.save(torch.get_rng_state(), tmp / f"rng-{world.rank}.pt")
    world.barrier()
    if world.main:
        if on_main is not None:
            on_main(tmp)
        (tmp / "state.json").write_text(json.dumps(state))
        publish_dir(tmp, path)
    world.barrier()
    return path


def load_sharded(path: Path, module: torch.nn.Module, optimizer: torch.optim.Optimizer, world: World
                 ) -> dict[str, Any]:
    """Load a `save_sharded` checkpoint into `module` and `optimizer` (the same world size);
    returns rank 0's state."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    path = Path(path)
    model_sd, optim_sd = get_state_dict(module, optimizer)
    box = {"model": model_sd, "optim": optim_sd}
    dcp.load(box, checkpoint_id=str(path / "dcp"), no_dist=not world.distributed)
    set_state_dict(module, optimizer, model_state_dict=box["model"], optim_state_dict=box["optim"])
    rng = path / f"rng-{world.rank}.pt"
    if not rng.exists():
        raise ValueError(f"{path} was written by fewer ranks (no {rng.name}): resume on the same world size")
    torch.set_rng_state(torch.load(rng, weights_only=True))
    return json.loads((path / "state.json").read_text())


def latest_sharded(root: Path) -> Path | None:
    """The newest whole checkpoint under `root` (`step-*` with state.json), or None."""
    root = Path(root)
    done = sorted(p for p in root.glob("step-*") if (p / "state.json").exists()) if root.is_dir() else []
    return done[-1] if done else None


def full_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The whole model's weights on CPU (gathered from the shards under FSDP; every rank calls it),
    under the causal LM's own parameter names (what `model.pt` holds and samplers load)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    from .logprobs import TokenLogprobs

    state = get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if isinstance(getattr(module, "module", module), TokenLogprobs):
        state = {k.removeprefix("model."): v for k, v in state.items()}
    return state

