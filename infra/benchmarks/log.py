"""Event log: append and replay+decode rates against the raw clients.

For each backend, in one run on the same machine:
- append_eps: `log.append` of ~400-byte events in batches of 1000 (encoding,
  partitioning, offsets, durability included);
- raw_append_eps: the raw client writing the same encoded rows in batches of
  1000: sqlite3 `executemany` into a table of the same schema / a kafka-python
  producer (same acks, idempotence, batching) on the same broker;
- replay_eps: `log.read` of everything from offset 0, decoded to events;
- raw_replay_eps: the raw client fetching the same records and decoding them
  with the same codec (GC paused, as the backends do); raw_fetch_eps: fetching
  only, for scale.
Ratios are backend / raw. The Kafka part starts the dev broker unless --kafka.
"""
from __future__ import annotations

import argparse
import gc
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

__all__ = ["add_arguments", "run", "sample_events"]

BATCH = 1000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=200_000, help="events per backend")
    p.add_argument("--kafka", default=None, help="kafka://HOST:PORT (default: start the dev broker)")
    p.add_argument("--only", choices=["sqlite", "kafka"], default=None, help="run one backend only")


def run(args: argparse.Namespace) -> dict:
    n = max(BATCH, args.n // BATCH * BATCH)
    evs = sample_events(n)
    from events import encode

    result: dict = {"n": n, "batch": BATCH, "event_bytes": len(encode(evs[0]))}
    if args.only in (None, "sqlite"):
        result["sqlite"] = bench_sqlite(evs)
    if args.only in (None, "kafka"):
        result["kafka"] = bench_kafka(evs, args.kafka)
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


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def _ratios(fig: dict) -> dict:
    fig["append_ratio"] = round(fig["append_eps"] / fig["raw_append_eps"], 3)
    fig["replay_ratio"] = round(fig["replay_eps"] / fig["raw_replay_eps"], 3)
    return fig


def _decode_all(values) -> int:
    from events import decode

    enabled = gc.isenabled()
    gc.disable()
    try:
        count = 0
        for value in values:
            decode(value)
            count += 1
        return count
    finally:
        if enabled:
            gc.enable()


# -- SQLite -----------------------------------------------------------------------------
def bench_sqlite(evs: list) -> dict:
    from events.log import open_log

    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        log = open_log(f"sqlite:///{tmp}/ledger.db")
        log.partitions("rewards")
        t0 = time.perf_counter()
        for i in range(0, len(evs), BATCH):
            log.append("rewards", evs[i:i + BATCH])
        append_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        replayed = sum(1 for _ in log.read("rewards"))
        replay_s = time.perf_counter() - t0
        log.close()
        assert replayed == len(evs), f"replayed {replayed} of {len(evs)}"
        raw = _raw_sqlite(Path(tmp) / "ledger.db", Path(tmp) / "raw.db")
    return _ratios({"append_eps": _rate(len(evs), append_s), "replay_eps": _rate(len(evs), replay_s), **raw})


def _raw_sqlite(ours: Path, raw_path: Path) -> dict:
    """The same stored rows, written and read back by plain sqlite3 in a same-schema table."""
    src = sqlite3.connect(ours)
    ddl = [sql for (sql,) in src.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND type IN ('table', 'index') "
        "AND sql IS NOT NULL ORDER BY type DESC")]
    columns = [row[1] for row in src.execute("PRAGMA table_info(events)")]
    rows = src.execute(f"SELECT {', '.join(columns)} FROM events ORDER BY rowid").fetchall()
    src.close()
    from events.log.sqlite_schema import NEW_FILE_PRAGMAS, PRAGMAS

    conn = sqlite3.connect(raw_path, isolation_level=None)
    for pragma in NEW_FILE_PRAGMAS + PRAGMAS + ["PRAGMA synchronous = NORMAL"]:
        conn.execute(pragma)  # the same file settings as the backend: only the code differs
    for sql in ddl:
        conn.execute(sql)
    insert = f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    t0 = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert, rows[i:i + BATCH])
        conn.execute("COMMIT")
    append_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fetched = sum(1 for _ in conn.execute("SELECT value FROM events"))
    fetch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded = _decode_all(v for (v,) in conn.execute("SELECT value FROM events"))
    replay_s = time.perf_counter() - t0
    conn.close()
    assert fetched == decoded == len(rows)
    return {"raw_append_eps": _rate(len(rows), append_s), "raw_replay_eps": _rate(len(rows), replay_s),
            "raw_fetch_eps": _rate(len(rows), fetch_s)}


# -- Kafka ------------------------------------------------------------------------------
def bench_kafka(evs: list, url: str | None) -> dict:
    if url:
        return _bench_kafka_at(evs, url)
    from infra.broker import Broker

    with Broker() as broker:
        return _bench_kafka_at(evs, broker.url)


def _bench_kafka_at(evs: list, url: str) -> dict:
    from events.log import open_log

    prefix = f"bench{uuid.uuid4().hex[:8]}."
    sep = "&" if "?" in url else "?"
    log = open_log(f"{url}{sep}prefix={prefix}")
    try:
        t0 = time.perf_counter()
        for i in range(0, len(evs), BATCH):
            log.append("rewards", evs[i:i + BATCH])
        append_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        replayed = sum(1 for _ in log.read("rewards"))
        replay_s = time.perf_counter() - t0
        assert replayed == len(evs), f"replayed {replayed} of {len(evs)}"
        raw = _raw_kafka(log, evs, f"{prefix}raw-rewards")
    finally:
        log.close()
    return _ratios({"append_eps": _rate(len(evs), append_s), "replay_eps": _rate(len(evs), replay_s), **raw})


def _raw_kafka(log, evs: list, topic: str) -> dict:
    """kafka-python alone: the same records, producer settings and partitions, another topic."""
    from kafka import KafkaAdminClient, KafkaProducer

    from events import encode
    from events.log.partitioner import partition_for

    parts = log.partitions("rewards")
    servers = list(log.options.bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=servers)
    admin.create_topics({topic: {"num_partitions": parts}}, wait_for_metadata=True)
    admin.close()
    rows = [(ev.key.encode(), encode(ev), partition_for(ev.key, parts)) for ev in evs]
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=True,
                             linger_ms=log.options.linger_ms, batch_size=log.options.batch_size,
                             max_request_size=8 * 1024 * 1024)
    t0 = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        futures = [producer.send(topic, value=v, key=k, partition=p) for k, v, p in rows[i:i + BATCH]]
        producer.flush()
        for f in futures:
            f.get()
    append_s = time.perf_counter() - t0
    producer.close()
    fetch_s, _ = _raw_kafka_read(servers, topic, parts, len(rows), decode=False)
    replay_s, _ = _raw_kafka_read(servers, topic, parts, len(rows), decode=True)
    return {"raw_append_eps": _rate(len(rows), append_s), "raw_replay_eps": _rate(len(rows), replay_s),
            "raw_fetch_eps": _rate(len(rows), fetch_s)}


def _raw_kafka_read(servers: list, topic: str, parts: int, n: int, *, decode: bool) -> tuple[float, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False,
                             max_partition_fetch_bytes=4 * 1024 * 1024)
    tps = [TopicPartition(topic, p) for p in range(parts)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    t0 = time.perf_counter()
    count = 0
    while count < n:
        for recs in consumer.poll(timeout_ms=500, max_records=5000).values():
            count += _decode_all(r.value for r in recs) if decode else len(recs)
    elapsed = time.perf_counter() - t0
    consumer.close(autocommit=False)
    return elapsed, count
