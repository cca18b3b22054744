"""Processor checkpoints on the embedded log: a runtime-owned side table next to the events.

`commit_checkpoint` stores outputs, group offsets and processor progress in ONE
transaction, so a processor killed at any point resumes exactly where its last
commit left it.
"""
from __future__ import annotations

from typing import Iterator, Sequence

from .base import Outputs, Position, RawRecord

__all__ = ["CheckpointsMixin"]


class CheckpointsMixin:
    """Methods of SqliteLog used by the processor runtime (processors/runtime.py)."""

    def fetch_merged(self, topics: Sequence[str], after_seq: int, limit: int = 5000) -> list[tuple[int, RawRecord]]:
        """Records of several topics in global append order (`seq`), after `after_seq`.

        Writers serialise on the write lock, so the visible rows are always a prefix
        of that order: a reader that follows it sees the same sequence whatever its
        batch boundaries or restart points.
        """
        marks = ",".join("?" * len(topics))
        with self._sql("reading"):
            rows = self._conn.execute(
                f"SELECT seq, topic, partition, offset, key, value FROM events "
                f"WHERE seq > ? AND topic IN ({marks}) ORDER BY seq LIMIT ?",
                (after_seq, *topics, limit)).fetchall()
        if not all(type(p) is int and type(o) is int and p >= 0 and o >= 0 for _, _, p, o, _, _ in rows):
            from .base import LogDamaged

            raise LogDamaged.at(self.where, f"a row after seq {after_seq} has a non-integer partition or offset")
        return [(seq, RawRecord(t, p, o, k, v)) for seq, t, p, o, k, v in rows]

    def scan_values(self, topic: str, chunk: int = 20_000) -> Iterator[tuple[int, int, bytes]]:
        """Every record of a topic in append order (so each partition's in offset order),
        as (partition, offset, value bytes): bulk re-reads such as re-scoring, one
        sequential scan, no per-record objects."""
        cur = self._conn.cursor()
        with self._sql("reading"):
            cur.execute("SELECT partition, offset, value FROM events WHERE topic = ? ORDER BY seq", (topic,))
            rows = cur.fetchmany(chunk)
        while rows:
            yield from rows
            with self._sql("reading"):
                rows = cur.fetchmany(chunk)
        cur.close()

    def load_checkpoint(self, group: str) -> tuple[int, int, bytes | None]:
        """(seq processed, seq of the snapshot, snapshot bytes) of a group; zeros when new."""
        with self._sql("reading checkpoints from"):
            row = self._conn.execute(
                "SELECT seq, snapshot_seq, snapshot FROM processor_checkpoints WHERE grp = ?",
                (group,)).fetchone()
        return (int(row[0]), int(row[1]), row[2]) if row else (0, 0, None)

    def commit_checkpoint(self, group: str, offsets: dict[tuple[str, int], int], outputs: Outputs,
                          seq: int, snapshot: bytes | None = None) -> list[Position]:
        """Append `outputs`, store the group's offsets and its progress (`seq`, and a
        state snapshot taken at `seq` when given) in ONE transaction."""
        batches = self._batches(outputs) if outputs else []

        def work() -> list[Position]:
            positions = self._insert(batches) if batches else []
            self._store_offsets(group, offsets)
            if snapshot is None:
                self._conn.execute(
                    "INSERT INTO processor_checkpoints (grp, seq, snapshot_seq, snapshot) VALUES (?, ?, 0, NULL) "
                    "ON CONFLICT (grp) DO UPDATE SET seq = excluded.seq", (group, seq))
            else:
                self._conn.execute(
                    "INSERT OR REPLACE INTO processor_checkpoints (grp, seq, snapshot_seq, snapshot) "
                    "VALUES (?, ?, ?, ?)", (group, seq, seq, snapshot))
            return positions

        with self._lock:
            return self._in_transaction(work)
