"""The append-only log behind one interface, chosen by URL (DESIGN.md §2).

    from events.log import open_log
    log = open_log("sqlite:///.ledger/ledger.db")   # or "kafka://127.0.0.1:9092"
"""
from __future__ import annotations

from .base import (Consumer, EventLog, LogError, LogUnavailable, Outputs, Position, RawRecord,
                   Record, dead_letter_for)
from .dedupe import SeenIds

__all__ = ["open_log", "DEFAULT_URL", "Consumer", "EventLog", "LogError", "LogUnavailable",
           "Outputs", "Position", "RawRecord", "Record", "SeenIds", "dead_letter_for"]

DEFAULT_URL = "sqlite:///.ledger/ledger.db"


def open_log(url: str = DEFAULT_URL) -> EventLog:
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "sqlite":
        from .sqlite import SqliteLog

        return SqliteLog(url)
    if scheme == "kafka":
        from .kafka import KafkaLog

        return KafkaLog(url)
    raise ValueError(f"unsupported log URL {url!r}: expected sqlite:///PATH or kafka://HOST:PORT[,HOST:PORT]")
