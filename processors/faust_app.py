"""The reducers as faust-streaming agents, for Kafka scale-out across workers.

    LEDGER_LOG=kafka://127.0.0.1:9092?prefix=dev. faust -A processors.faust_app worker -l warn

Settings from the environment:
- LEDGER_LOG: the Kafka log URL (bootstrap servers and topic prefix).
- LEDGER_FAUST_APP: the faust app id = consumer group (default `ledger-processors`).
- LEDGER_FAUST_K: comma-separated k values for pass@k (default `1`).
- LEDGER_FAUST_REWARD: reward function NAME@VERSION (default `binary@1`).

Agents:
- `rewards`: stateless, `evals` -> `rewards` (the same reward events, same ids).
- `pass_at_k`: `runs` + `evals` are re-keyed by run id into a repartition topic,
  so each run's verdicts meet in one partition; the reducer's state per run is a
  faust Table (changelogged, so a worker that takes over a partition recovers it).
  Outputs are the runtime's: same ids for the same inputs; the final value of
  every scope equals the runtime's (the order of runs vs evals may differ, the
  reducer re-emits scores when a run's plan arrives late).
Records that do not decode go to `deadletter` (same ids as the runtime's).
`processing_guarantee="at_least_once"`: a crash re-sends outputs with the same
ids; sinks dedupe by id (events.log.dedupe).
"""
from __future__ import annotations

import os
import pickle

import faust

from events.codec import DecodeError, decode, encode
from events.log.base import RawRecord, Record, dead_letter_for
from events.log.kafka_options import parse_kafka_url
from events.log.partitioner import partition_for
from events.topics import CATALOG

from .reducers.pass_at_k import PassAtK
from .reducers.rewards import Rewards
from .reward_fns import parse_reward

__all__ = ["app", "settings_from_env"]


def settings_from_env() -> dict:
    url = os.environ.get("LEDGER_LOG", "kafka://127.0.0.1:9092")
    opts = parse_kafka_url(url)
    return {"prefix": opts.prefix, "broker": ";".join(f"kafka://{b}" for b in opts.bootstrap),
            "app_id": os.environ.get("LEDGER_FAUST_APP", "ledger-processors"),
            "ks": tuple(int(k) for k in os.environ.get("LEDGER_FAUST_K", "1").split(",") if k),
            "reward": os.environ.get("LEDGER_FAUST_REWARD", "binary@1")}


_S = settings_from_env()
app = faust.App(_S["app_id"], broker=_S["broker"], store="memory://", web_enabled=False,
                processing_guarantee="at_least_once", consumer_auto_offset_reset="earliest",
                topic_partitions=CATALOG["evals"].partitions, topic_replication_factor=1,
                broker_session_timeout=10.0, broker_heartbeat_interval=1.0, broker_commit_every=100,
                stream_wait_empty=False)

PASS_AT_K = PassAtK(_S["ks"])
REWARDS = Rewards(parse_reward(_S["reward"]))


def _topic(name: str, **kw):
    return app.topic(f"{_S['prefix']}{name}", key_type=bytes, value_type=bytes, key_serializer="raw",
                     value_serializer="raw", **kw)


runs_topic, evals_topic = _topic("runs"), _topic("evals")
by_run = _topic(f"faust.{PASS_AT_K.name}.by_run", partitions=CATALOG["evals"].partitions, internal=True)
states = app.Table(f"{PASS_AT_K.name}-state", default=bytes, key_type=bytes, value_type=bytes,
                   partitions=CATALOG["evals"].partitions)
_outputs = {t: _topic(t) for t in ("scores", "rewards", "deadletter")}


async def _emit(events) -> None:
    for ev in events:
        topic = ev.topic
        await _outputs[topic].send(key=ev.key.encode(), value=encode(ev),
                                   partition=partition_for(ev.key, CATALOG[topic].partitions))


async def _decode(event, logical: str):
    """The event of a faust stream event, or None after dead-lettering it."""
    msg = event.message
    try:
        return decode(event.value)
    except DecodeError as exc:
        key = msg.key.decode("utf-8", "replace") if msg.key is not None else None
        raw = RawRecord(logical, msg.partition, msg.offset, key, bytes(event.value))
        await _emit([dead_letter_for(raw, exc.reason, consumer="processors")])
        return None


@app.agent(evals_topic)
async def rewards(stream):
    async for event in stream.events():
        ev = await _decode(event, "evals")
        if ev is not None:
            _, out = REWARDS.apply(None, Record("evals", event.message.partition, event.message.offset, ev))
            await _emit(out)


@app.agent(app.topic(f"{_S['prefix']}runs", f"{_S['prefix']}evals", key_type=bytes, value_type=bytes,
                     key_serializer="raw", value_serializer="raw"))
async def route_by_run(stream):
    async for event in stream.events():
        try:
            ev = decode(event.value)
        except DecodeError:
            continue  # dead-lettered by the rewards agent (evals) / not ours (runs)
        await by_run.send(key=ev.run_id.encode(), value=event.value)


@app.agent(by_run)
async def pass_at_k(stream):
    async for event in stream.events():
        ev = decode(event.value)
        key = ev.run_id.encode()
        blob = states[key]
        state = pickle.loads(blob) if blob else PASS_AT_K.initial_state()
        state, out = PASS_AT_K.apply(state, Record(ev.topic, event.message.partition, event.message.offset, ev))
        states[key] = pickle.dumps(state, protocol=5)
        await _emit(out)
