"""Event log: append and replay+decode rates against the raw clients."""
from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=200_000, help="events per backend")
    p.add_argument("--kafka", default=None, help="kafka://HOST:PORT (default: start the dev broker)")


def run(args: argparse.Namespace) -> dict:
    raise NotImplementedError("log benchmark lands with the Kafka backend")
