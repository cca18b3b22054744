"""The append-only log behind one interface, chosen by URL (DESIGN.md §2).

    from events.log import open_log
    log = open_log("sqlite:///.ledger/ledger.db")   # or "kafka://127.0.0.1:9092"
"""
from __future__ import annotations

from .base import (Consumer, EventLog, LogDamaged, LogError, LogFull, LogReadOnly, LogUnavailable,
                   OnUndecodable, Outputs, Position, RawRecord, Record, Stored, dead_letter_for,
                   report_undecodable)
from .dedupe import SeenIds

__all__ = ["open_log", "DEFAULT_URL", "Consumer", "EventLog", "LogDamaged", "LogError", "LogFull",
           "LogReadOnly", "LogUnavailable", "OnUndecodable", "Outputs", "Position", "RawRecord", "Record",
           "SeenIds", "Stored", "dead_letter_for", "report_undecodable"]

DEFAULT_URL = "sqlite:///.ledger/ledger.db"


def open_log(url: str = DEFAULT_URL, *, read_only: bool = False) -> EventLog:
    """The log at `url`. `read_only`: for readers, which must never write (no file, table,
    topic or dead letter is created; appends raise LogReadOnly)."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "sqlite":
        from .sqlite import SqliteLog

        return SqliteLog(url, read_only=read_only)
    if scheme == "kafka":
        from .kafka import KafkaLog

        return KafkaLog(url, read_only=read_only)
    raise ValueError(f"unsupported log URL {url!r}: expected sqlite:///PATH or kafka://HOST:PORT[,HOST:PORT]")
