"""Create the catalog's topics on a log (DESIGN.md §3).

    python -m infra.topics --log kafka://127.0.0.1:9092[?prefix=staging.]

Kafka: each topic with the catalog's partition count and retention; existing
topics are left as they are. SQLite: the topics are registered in the file.
Prints one line per topic: logical name, partitions.
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["create_topics", "main"]


def create_topics(url: str) -> dict[str, int]:
    """Make sure every catalog topic exists on the log at `url`; its partitions by name."""
    from events.log import open_log
    from events.topics import TOPICS

    log = open_log(url)  # the Kafka backend creates them on open
    try:
        return {name: log.partitions(name) for name in TOPICS}
    finally:
        log.close()


def main(argv: list[str] | None = None) -> int:
    from events.log import LogError

    parser = argparse.ArgumentParser(prog="python -m infra.topics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", required=True, help="log URL, e.g. kafka://127.0.0.1:9092")
    args = parser.parse_args(argv)
    try:
        partitions = create_topics(args.log)
    except (LogError, ValueError) as exc:
        print(f"topics: {exc}", file=sys.stderr)
        return 1
    for name, n in partitions.items():
        print(f"{name}\t{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
