"""Event log: append and replay+decode rates against the raw clients.

For each backend, in one run on the same machine:
- append_eps: `log.append` of ~400-byte events in batches of 1000 (encoding,
  partitioning, offsets, durability included);
- raw_append_eps: the raw client writing the same encoded rows in batches of
  1000: sqlite3 `executemany` into a table of the same schema and settings / a
  kafka-python producer (same acks, idempotence, batching) on the same broker;
- raw_encode_append_eps (SQLite): the raw client given events, not bytes: it
  serialises each with the same codec inside the loop, then `executemany`
  (append_encode_ratio compares the backend with that);
- raw_multirow_append_eps (SQLite): the raw client given the same encoded rows
  but writing them the way the backend does, instead of `executemany`: 256 rows
  per multi-row INSERT, values bound as `bytearray` (append_multirow_ratio
  compares the backend with that: its overhead once both use SQLite alike);
- replay_eps: `log.read` of everything from offset 0, decoded to events;
- raw_replay_eps: the raw client fetching the same records and decoding them
  with the same codec; raw_fetch_eps: fetching only, for scale.
Ratios are backend / raw. SQLite appends take turns in slices of 10,000
events (every writer one slice, in a rotating order, until all have written
everything), so drift in the machine's speed hits all of them alike; replays
run back to back, the raw client first in every other round. Each rate is
the best of the rounds; each ratio is the median over rounds of the ratio
measured within a round.
The Kafka part starts the dev broker unless --kafka is given.
"""
from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable

__all__ = ["add_arguments", "run", "sample_events"]

BATCH = 1000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=100_000, help="events per backend and round")
    p.add_argument("--rounds", type=int, default=3, help="rounds per backend; the best round counts")
    p.add_argument("--kafka", default=None, help="kafka://HOST:PORT (default: start the dev broker)")
    p.add_argument("--only", choices=["sqlite", "kafka"], default=None, help="run one backend only")


def run(args: argparse.Namespace) -> dict:
    from events import encode

    n = max(BATCH, args.n // BATCH * BATCH)
    evs = sample_events(n)
    rounds = max(1, args.rounds)
    result: dict = {"n": n, "batch": BATCH, "rounds": rounds, "event_bytes": len(encode(evs[0]))}
    if args.only in (None, "sqlite"):
        result["sqlite"] = _best(rounds, lambda i: sqlite_round(evs, raw_first=i % 2 == 1))
    if args.only in (None, "kafka"):
        result["kafka"] = kafka_rounds(evs, rounds, args.kafka)
    return result


def sample_events(n: int) -> list:
    """`reward.assigned` events of ~400 bytes over 64 episodes (all partitions used)."""
    import events
    from events.payloads import RewardAssigned

    return [events.new(RewardAssigned(
        episode_id=f"ep-{i % 64:08d}", instance_id=f"django__django-{11000 + i % 500}", sample_idx=i % 8,
        eval_id=str(uuid.UUID(int=i)), reward=float(i % 3 == 0), components={"resolved": float(i % 3 == 0)},
        reward_fn="swebench_resolved", reward_version=2), producer="processor.rewards@2", run_id="run-bench-01")
        for i in range(n)]


_RATIOS = {"append_ratio": ("append_eps", "raw_append_eps"),
           "replay_ratio": ("replay_eps", "raw_replay_eps"),
           "append_encode_ratio": ("append_eps", "raw_encode_append_eps"),
           "append_multirow_ratio": ("append_eps", "raw_multirow_append_eps")}


def _best(rounds: int, one_round: Callable[[int], dict]) -> dict:
    """Run `one_round(i)` (a dict of events/s figures) `rounds` times.

    Each rate is its best round; each ratio is the median over rounds of that
    round's own backend/raw ratio (both sides measured together, so drift
    between rounds does not pair one round's backend with another's raw).
    """
    best: dict = {}
    ratios: dict[str, list[float]] = {}
    for i in range(rounds):
        figures = one_round(i)
        for name, eps in figures.items():
            best[name] = max(best.get(name, 0.0), eps)
        for name, (num, den) in _RATIOS.items():
            if num in figures and den in figures:
                ratios.setdefault(name, []).append(figures[num] / figures[den])
    out = {k: round(v, 1) for k, v in sorted(best.items())}
    for name, values in sorted(ratios.items()):
        out[name] = round(statistics.median(values), 3)
    return out


def _pair(backend: Callable[[], tuple[float, int]], raw: Callable[[], tuple[float, int]],
          raw_first: bool) -> tuple[tuple[float, int], tuple[float, int]]:
    """Both measurements, in the order asked; returned as (backend, raw)."""
    if raw_first:
        r = raw()
        return backend(), r
    b = backend()
    return b, raw()


def _timed(fn: Callable[[], int]) -> tuple[float, int]:
    t0 = time.perf_counter()
    count = fn()
    return time.perf_counter() - t0, count


def _eps(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def _decode_each(values) -> int:
    from events import decode

    count = 0
    for value in values:
        decode(value)
        count += 1
    return count


def _append_batches(append: Callable[[list], object], items: list) -> int:
    for i in range(0, len(items), BATCH):
        append(items[i:i + BATCH])
    return len(items)


# -- SQLite -----------------------------------------------------------------------------
_STORED: dict = {}


def sqlite_round(evs: list, raw_first: bool = False) -> dict:
    from events.log import open_log

    if _STORED.get("n") != len(evs):  # the raw client's rows: exactly what the backend stores
        with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
            with open_log(f"sqlite:///{tmp}/ledger.db") as log:
                _append_batches(lambda b: log.append("rewards", b), evs)
            _STORED.update(zip(("columns", "ddl", "rows"), _stored_rows(Path(tmp) / "ledger.db")), n=len(evs))
    columns, rows = _STORED["columns"], _STORED["rows"]
    insert = f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        log = open_log(f"sqlite:///{tmp}/ledger.db")
        log.partitions("rewards")
        # the same file settings for every raw writer: only the code differs
        raw, raw_encode, raw_multirow = (_raw_sqlite_connection(Path(tmp) / f"{name}.db")
                                         for name in ("raw", "raw-encode", "raw-multirow"))
        writers = {
            "append": lambda lo, hi: _append_batches(lambda b: log.append("rewards", b), evs[lo:hi]),
            "raw_append": lambda lo, hi: _append_batches(lambda b: _raw_sqlite_batch(raw, insert, b), rows[lo:hi]),
            "raw_encode_append": lambda lo, hi: _raw_sqlite_encoding(raw_encode, evs[lo:hi], rows[lo:hi], insert),
            "raw_multirow_append": lambda lo, hi: _raw_sqlite_multirow(raw_multirow, rows[lo:hi], columns),
        }
        seconds = _interleaved(writers, len(evs), reverse=raw_first)
        (replay_s, replayed), (raw_replay_s, raw_replayed) = _pair(
            lambda: _timed(lambda: sum(1 for _ in log.read("rewards"))),
            lambda: _timed(lambda: _decode_each(v for (v,) in raw.execute("SELECT value FROM events"))), raw_first)
        fetch_s, fetched = _timed(lambda: sum(1 for _ in raw.execute("SELECT value FROM events")))
        for conn in (raw, raw_encode, raw_multirow):
            conn.close()
        log.close()
    assert replayed == raw_replayed == fetched == len(evs), (replayed, raw_replayed, fetched)
    n = len(evs)
    return {**{f"{name}_eps": _eps(n, s) for name, s in seconds.items()},
            "replay_eps": _eps(n, replay_s), "raw_replay_eps": _eps(n, raw_replay_s),
            "raw_fetch_eps": _eps(n, fetch_s)}


SLICE = 10 * BATCH
"""Events each writer appends before the next one takes its turn."""


def _interleaved(writers: dict[str, Callable[[int, int], object]], n: int, reverse: bool) -> dict[str, float]:
    """Seconds each writer spends on all n events, the writers taking turns slice by slice.

    Short turns in a rotating order spread the machine's drift (other load, frequency)
    over every writer alike, so the ratios between them hold even when the absolute
    rates move during the run.
    """
    names = list(writers)[::-1] if reverse else list(writers)
    seconds = dict.fromkeys(writers, 0.0)
    for turn, lo in enumerate(range(0, n, SLICE)):
        shift = turn % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            writers[name](lo, min(n, lo + SLICE))
            seconds[name] += time.perf_counter() - t0
    return seconds


def _stored_rows(path: Path) -> tuple[list[str], list[str], list[tuple]]:
    """The backend's stored rows, with its `events` table and index definitions."""
    src = sqlite3.connect(path)
    ddl = [sql for (sql,) in src.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND type IN ('table', 'index') "
        "AND sql IS NOT NULL ORDER BY type DESC")]
    columns = [row[1] for row in src.execute("PRAGMA table_info(events)")]
    rows = src.execute(f"SELECT {', '.join(columns)} FROM events ORDER BY rowid").fetchall()
    src.close()
    return columns, ddl, rows


def _raw_sqlite_encoding(conn: sqlite3.Connection, evs: list, rows: list, insert: str) -> None:
    """sqlite3 storing the same rows, each value serialised with the same codec in the loop."""
    from events import encode

    assert _STORED["columns"][-1] == "value", _STORED["columns"]
    for i in range(0, len(evs), BATCH):
        batch = [(*row[:-1], encode(ev)) for row, ev in zip(rows[i:i + BATCH], evs[i:i + BATCH])]
        _raw_sqlite_batch(conn, insert, batch)


def _raw_sqlite_multirow(conn: sqlite3.Connection, rows: list, columns: list[str], per_insert: int = 256) -> None:
    """sqlite3 storing the same encoded rows `per_insert` rows per INSERT, values bound as bytearray."""
    marks = f"({', '.join('?' * len(columns))})"
    head = f"INSERT INTO events ({', '.join(columns)}) VALUES "
    full = head + ", ".join([marks] * per_insert)
    for i in range(0, len(rows), BATCH):
        batch = rows[i:i + BATCH]
        conn.execute("BEGIN IMMEDIATE")
        for j in range(0, len(batch), per_insert):
            chunk = batch[j:j + per_insert]
            sql = full if len(chunk) == per_insert else head + ", ".join([marks] * len(chunk))
            conn.execute(sql, [x for row in chunk for x in (*row[:-1], bytearray(row[-1]))])
        conn.execute("COMMIT")


def _raw_sqlite_connection(path: Path) -> sqlite3.Connection:
    """A raw connection with the backend's file settings and its `events` table."""
    from events.log.sqlite_schema import NEW_FILE_PRAGMAS, PRAGMAS

    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in NEW_FILE_PRAGMAS + PRAGMAS + ["PRAGMA synchronous = NORMAL"]:
        conn.execute(pragma)
    for sql in _STORED["ddl"]:
        conn.execute(sql)
    return conn


def _raw_sqlite_batch(conn: sqlite3.Connection, insert: str, rows: list) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(insert, rows)
    conn.execute("COMMIT")


# -- Kafka ------------------------------------------------------------------------------
def kafka_rounds(evs: list, rounds: int, url: str | None) -> dict:
    if url:
        return _best(rounds, lambda i: kafka_round(evs, url, raw_first=i % 2 == 1))
    from infra.broker import Broker

    with Broker() as broker:
        return _best(rounds, lambda i: kafka_round(evs, broker.url, raw_first=i % 2 == 1))


def kafka_round(evs: list, url: str, raw_first: bool = False) -> dict:
    """Fresh topics (a new prefix) for the backend and for the raw client on one cluster."""
    from kafka import KafkaAdminClient, KafkaProducer

    from events import encode
    from events.log import open_log
    from events.log.partitioner import partition_for

    prefix = f"bench{uuid.uuid4().hex[:8]}."
    log = open_log(f"{url}{'&' if '?' in url else '?'}prefix={prefix}")
    parts, servers, opts = log.partitions("rewards"), list(log.options.bootstrap), log.options
    raw_topic = f"{prefix}raw-rewards"
    admin = KafkaAdminClient(bootstrap_servers=servers)
    admin.create_topics({raw_topic: {"num_partitions": parts}}, wait_for_metadata=True)
    admin.close()
    rows = [(ev.key.encode(), encode(ev), partition_for(ev.key, parts)) for ev in evs]
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=True,
                             linger_ms=opts.linger_ms, batch_size=opts.batch_size,
                             max_request_size=8 * 1024 * 1024)
    try:
        (append_s, _), (raw_append_s, _) = _pair(
            lambda: _timed(lambda: _append_batches(lambda b: log.append("rewards", b), evs)),
            lambda: _timed(lambda: _append_batches(lambda b: _raw_kafka_batch(producer, raw_topic, b), rows)),
            raw_first)
        (replay_s, replayed), (raw_replay_s, raw_replayed) = _pair(
            lambda: _timed(lambda: sum(1 for _ in log.read("rewards"))),
            lambda: _raw_kafka_read(servers, raw_topic, parts, len(rows), decode=True), raw_first)
        fetch_s, fetched = _raw_kafka_read(servers, raw_topic, parts, len(rows), decode=False)
    finally:
        producer.close()
        log.close()
    assert replayed == raw_replayed == fetched == len(evs), (replayed, raw_replayed, fetched)
    n = len(evs)
    return {"append_eps": _eps(n, append_s), "raw_append_eps": _eps(n, raw_append_s),
            "replay_eps": _eps(n, replay_s), "raw_replay_eps": _eps(n, raw_replay_s),
            "raw_fetch_eps": _eps(n, fetch_s)}


def _raw_kafka_batch(producer, topic: str, rows: list) -> None:
    futures = [producer.send(topic, value=v, key=k, partition=p) for k, v, p in rows]
    producer.flush()
    for f in futures:
        f.get()


def _raw_kafka_read(servers: list, topic: str, parts: int, n: int, *, decode: bool) -> tuple[float, int]:
    """Assign every partition, seek to the beginning, poll until `n` records came (timed)."""
    from kafka import KafkaConsumer, TopicPartition

    t0 = time.perf_counter()
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False,
                             max_partition_fetch_bytes=4 * 1024 * 1024)
    tps = [TopicPartition(topic, p) for p in range(parts)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    count = 0
    while count < n:
        for recs in consumer.poll(timeout_ms=500, max_records=5000).values():
            count += _decode_each(r.value for r in recs) if decode else len(recs)
    consumer.close(autocommit=False)
    return time.perf_counter() - t0, count
