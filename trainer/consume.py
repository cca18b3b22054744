"""`python -m trainer.consume` / `ledger train`: rollout groups in, policy updates out.

Prints one JSON line per `trainer.step`. Resumes from the newest checkpoint in
`--checkpoint-dir` when one exists. Every TrainerConfig field is a flag (the
field name with dashes; a `_s` suffix dropped: `--idle-exit`, `--stall-timeout`).
Exit status: 0 when `--steps` was reached (or, without `--steps`, when it went
idle having trained on everything it consumed); 4 when it stopped with input
it could not train on or trained nothing — with the reason on stderr; 2 for
flags, a launcher or a checkpoint that do not fit together.

Data parallel on one or more machines (docs/scaling.md):

    torchrun --nproc-per-node N -m trainer.consume --parallel fsdp|ddp --log-url ... [--dtype bf16]
"""
from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from typing import Any

__all__ = ["main", "register", "add_arguments", "config_from_args"]


def _flag(name: str) -> str:
    return "--" + name.removesuffix("_s").replace("_", "-")


def _parser_type(annotation: Any) -> tuple[Any, list | None]:
    """(argparse type, choices) for a field annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        if len(args) == 1:
            return _parser_type(args[0])
        return (float if float in args else str), None  # float | str: thresholds such as "0.5_5.0"
    if typing.get_origin(annotation) is typing.Literal:
        return str, list(args)
    return annotation, None


def _float_or_str(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .config import TrainerConfig

    for name, field in TrainerConfig.model_fields.items():
        help_text = (field.description or "").split("\n")[0]
        if name == "log":
            p.add_argument("--log", "--log-url", dest="log", required=True,
                           help="event log URL (sqlite:///PATH or kafka://HOST:PORT); under torchrun write "
                                "--log-url (torchrun reads --log as its own --log-dir)")
            continue
        kind, choices = _parser_type(field.annotation)
        default = field.default
        show = f" (default: {default})" if default is not None else ""
        if kind is bool:
            p.add_argument(_flag(name), dest=name, action=argparse.BooleanOptionalAction, default=None,
                           help=help_text + show)
        else:
            typ = _float_or_str if str in typing.get_args(field.annotation) and float in typing.get_args(
                field.annotation) else kind
            p.add_argument(_flag(name), dest=name, type=typ, choices=choices, default=None, help=help_text + show)


def config_from_args(args: argparse.Namespace):
    from .config import TrainerConfig

    given = {k: v for k, v in vars(args).items() if k in TrainerConfig.model_fields and v is not None}
    return TrainerConfig(**given)


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from .loop import Trainer

    try:
        cfg = config_from_args(args)
    except ValidationError as exc:
        print(f"ledger train: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2

    def show(step) -> None:
        print(json.dumps(step.model_dump(mode="json")), flush=True)

    try:
        trainer = Trainer(cfg, on_step=show)
    except ValueError as exc:  # a checkpoint or a launcher that does not fit the flags
        print(f"ledger train: {exc}", file=sys.stderr)
        return 2
    try:
        trainer.run()
        status, message = trainer.world.broadcast(trainer.exit_status(cfg.steps))
    except KeyboardInterrupt:
        # under torchrun the ranks may be anywhere in a step: the last checkpoint stands
        if trainer.step != trainer.checkpointed_step and not trainer.world.distributed:
            trainer.checkpoint()
        status, message = trainer.exit_status(cfg.steps)
    finally:
        trainer.close()
    if message and trainer.world.main:
        print(message, file=sys.stderr, flush=True)
    return status


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a policy on rollout.group events (python -m trainer.consume)",
                       description=__doc__.splitlines()[0])
    add_arguments(p)
    p.set_defaults(func=_run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.consume", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return _run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
