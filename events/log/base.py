"""The `EventLog` interface every backend implements, and its record types.

Positions are Kafka's: (topic, partition, offset), offsets dense and monotonic
per partition. Group consumption (processors) decodes records; anything that
does not decode is routed to `deadletter` (with the reason and the raw bytes)
and skipped, so one bad record never stops a consumer. Plain reads never write:
a record they cannot decode, or a hole in a partition's offsets, is skipped and
handed to `on_undecodable` (by default a line on stderr naming its position).

Errors form one tree: `LogError` > `LogUnavailable` (cannot reach the backend or
make a write durable) > `LogFull` (out of disk) and `LogDamaged` (the stored
file is corrupt); each message is one line that says what to do.
"""
from __future__ import annotations

import base64
import sys
from typing import Callable, Iterator, Mapping, NamedTuple, Protocol, Sequence, runtime_checkable

from ..codec import DecodeError, decode
from ..envelope import Envelope
from ..payloads import DeadLetter
from ..registry import derive

__all__ = ["Position", "Record", "RawRecord", "EventLog", "Consumer", "LogError", "LogUnavailable",
           "LogFull", "LogDamaged", "LogReadOnly", "OnUndecodable", "report_undecodable",
           "dead_letter_for", "decode_or_deadletter", "Outputs", "Stored"]

Outputs = Mapping[str, Sequence[Envelope]]
"""Events to append, by logical topic."""


class LogError(RuntimeError):
    """Base of every error the log raises."""


class LogUnavailable(LogError):
    """The backend could not be reached or could not make a write durable."""


class LogFull(LogUnavailable):
    """The disk holding the log is full: nothing more can be written until space is freed."""

    @classmethod
    def at(cls, where: str, detail: str) -> "LogFull":
        return cls(f"the log at {where} cannot grow: the disk is full ({detail}); "
                   "free some space and run the command again (nothing half-written was kept)")


class LogDamaged(LogUnavailable):
    """The stored log is corrupt (a damaged file, an unreadable record)."""

    detail = ""
    """What is damaged, without the advice."""

    @classmethod
    def at(cls, where: str, detail: str) -> "LogDamaged":
        exc = cls(f"the log at {where} is damaged: {detail}; run ledger check {where}")
        exc.detail = detail
        return exc


class LogReadOnly(LogError):
    """A write was attempted on a log opened read-only."""


OnUndecodable = Callable[["Position", str], None]
"""Called by `read` for each record it skips: its position and why (undecodable, or missing)."""


def report_undecodable(pos: "Position", reason: str) -> None:
    """The default `on_undecodable`: one line on stderr naming the record."""
    print(f"ledger: skipped record {pos.topic}/{pos.partition}/{pos.offset}: {reason}", file=sys.stderr)


# Records are NamedTuples, not frozen dataclasses: immutable and compared by value all
# the same, and ~3x cheaper to build (one per event on every append and read).
class Position(NamedTuple):
    topic: str
    partition: int
    offset: int


class RawRecord(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    event: Envelope


class Stored(NamedTuple):
    """What an append stored: every event's position, and how many were new (not already there)."""

    positions: list[Position]
    fresh: int


@runtime_checkable
class Consumer(Protocol):
    """A consumer-group member reading some topics from the group's committed offsets."""

    group: str

    def poll(self, max_records: int = 1000, timeout_s: float = 0.5) -> list[Record]:
        """Next decoded records (undecodable ones go to deadletter and are skipped)."""

    def commit(self) -> None:
        """Commit the position after everything polled so far."""

    def transact(self, outputs: Outputs) -> list[Position]:
        """Append `outputs` and commit the current position: one transaction on SQLite,
        append-then-commit (at-least-once, deterministic ids) on Kafka."""

    def committed(self) -> dict[tuple[str, int], int]:
        """Committed next-offset per (topic, partition)."""

    def caught_up(self) -> bool:
        """True once this member holds its partitions and has read all they held: only then
        does an empty poll mean there is nothing to do (a Kafka member still joining its
        group gets empty polls for seconds)."""

    def seek_to_beginning(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class EventLog(Protocol):
    url: str
    read_only: bool

    def append(self, topic: str, events: Sequence[Envelope]) -> list[Position]:
        """Append a batch to a topic; idempotent by event id on SQLite."""

    def append_many(self, outputs: Outputs) -> list[Position]:
        """Append to several topics at once (one transaction on SQLite)."""

    def append_raw(self, topic: str, records: Sequence[tuple[str | None, bytes]]) -> list[Position]:
        """Append undecoded bytes (foreign producers, tests of the dead-letter path)."""

    def append_counted(self, topic: str, events: Sequence[Envelope],
                       check: Callable[[dict[str, bytes]], None] | None = None) -> Stored:
        """Append and count what was new. `check(stored)` first sees the stored value of every
        id of `events` that is already in the log (on SQLite: inside the write transaction)
        and may raise to append nothing."""

    def read(self, topic: str, start: int = 0, partition: int | None = None, *,
             follow: bool = False, poll_s: float = 0.05,
             on_undecodable: OnUndecodable | None = None) -> Iterator[Record]:
        """Records of a topic from offset `start` (per partition); `follow` waits for new ones.
        Never writes: skipped records go to `on_undecodable` (default: `report_undecodable`)."""

    def read_raw(self, topic: str, start: int = 0, partition: int | None = None) -> Iterator[RawRecord]: ...

    def partitions(self, topic: str) -> int: ...

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Next offset to be written, per partition."""

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer: ...

    def close(self) -> None: ...


def dead_letter_for(raw: RawRecord, reason: str, consumer: str = "") -> Envelope:
    """The deadletter event for an undecodable record; its id is a function of the
    record's position, so routing the same record twice appends it once (SQLite) or
    is detectable (Kafka)."""
    payload = DeadLetter(source_topic=raw.topic, partition=raw.partition, offset=raw.offset,
                         reason=reason, raw_b64=base64.b64encode(raw.value).decode("ascii"),
                         key=raw.key, consumer=consumer)
    return derive(payload, processor="deadletter", version=1,
                  inputs=f"{raw.topic}/{raw.partition}/{raw.offset}")


def decode_or_deadletter(raw: RawRecord, dead: list[Envelope], consumer: str = "") -> Record | None:
    try:
        return Record(raw.topic, raw.partition, raw.offset, decode(raw.value))
    except DecodeError as exc:
        if raw.topic != "deadletter":
            dead.append(dead_letter_for(raw, exc.reason, consumer))
        return None
