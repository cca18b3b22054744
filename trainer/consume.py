"""`python -m trainer.consume` / `ledger train`: rollout groups in, policy updates out.

Prints one JSON line per `trainer.step`. Resumes from the newest checkpoint in
`--checkpoint-dir` when one exists. Untrainable groups (scripted `demo` or
`replay:` traffic) are refused and counted; a run that trained no step because
everything it saw was untrainable says so on stderr and exits 1.
"""
from __future__ import annotations

import argparse
import json
import sys

__all__ = ["main", "register", "add_arguments", "config_from_args", "nothing_trained"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log", required=True, help="event log URL (sqlite:///PATH or kafka://HOST:PORT)")
    p.add_argument("--model", default="tiny", help="'tiny' or a local Hugging Face model directory")
    p.add_argument("--group", default="trainer", help="consumer group on the rollouts topic")
    p.add_argument("--trainer-id", default="trainer", help="key of the trainer's events")
    p.add_argument("--run-id", default="", help="run_id stamped on the trainer's events")
    p.add_argument("--batch-groups", type=int, default=4, help="rollout groups per step")
    p.add_argument("--max-staleness", type=int, default=1, help="max policy versions a sample may lag")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--clip", type=float, default=0.2, help="PPO clip range")
    p.add_argument("--kl-coef", type=float, default=0.0, help="KL-to-reference weight (0: none)")
    p.add_argument("--adv", default="grpo", help="grpo | rloo | reinforce++")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of the rollouts")
    p.add_argument("--steps", type=int, default=None, help="stop after this many steps in total")
    p.add_argument("--checkpoint-dir", default=".ledger/checkpoints/trainer")
    p.add_argument("--checkpoint-every", type=int, default=1)
    p.add_argument("--export-hf", action="store_true", help="write hf/ (save_pretrained) into each checkpoint")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--idle-exit", type=float, default=None, help="exit after this many idle seconds")


def config_from_args(args: argparse.Namespace):
    from .config import TrainerConfig

    return TrainerConfig(
        log=args.log, model=args.model, group=args.group, trainer_id=args.trainer_id, run_id=args.run_id,
        batch_groups=args.batch_groups, max_staleness=args.max_staleness, lr=args.lr, clip=args.clip,
        kl_coef=args.kl_coef, adv=args.adv, temperature=args.temperature, steps=args.steps,
        checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every, device=args.device,
        export_hf=args.export_hf,
        seed=args.seed, idle_exit_s=args.idle_exit)


def _run(args: argparse.Namespace) -> int:
    from .loop import Trainer

    def show(step) -> None:
        print(json.dumps(step.model_dump()), flush=True)

    trainer = Trainer(config_from_args(args), on_step=show)
    start = trainer.step
    try:
        trainer.run()
    except KeyboardInterrupt:
        if trainer.step != trainer.checkpointed_step:
            trainer.checkpoint()
    finally:
        trainer.close()
    if trainer.step == start and trainer.refused:
        print(nothing_trained(trainer.refused), file=sys.stderr)
        return 1
    return 0


def nothing_trained(refused: dict[str, list[int]]) -> str:
    """Why a run trained no step when all it saw was untrainable."""
    groups = sum(g for g, _ in refused.values())
    samples = sum(n for _, n in refused.values())
    kinds = ", ".join(f"{r}: {g} groups / {n} samples" for r, (g, n) in sorted(refused.items()))
    return (f"trained nothing: all {groups} rollout groups ({samples} samples) were not trainable ({kinds}). "
            "Scripted (`demo` upstream) and replayed (`replay:`) responses are never trained on; "
            "sample with a model (hf:..., openai:...) to train.")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a policy on rollout.group events (python -m trainer.consume)")
    add_arguments(p)
    p.set_defaults(func=_run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.consume", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return _run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
