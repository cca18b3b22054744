"""The reducers as faust-streaming agents, for Kafka scale-out across workers.

    LEDGER_LOG=kafka://127.0.0.1:9092?prefix=dev. faust -A processors.faust_app worker -l warn

Settings from the environment:
- LEDGER_LOG: the Kafka log URL (bootstrap servers and topic prefix).
- LEDGER_FAUST_APP: the faust app id = consumer group (default `ledger-processors`).
- LEDGER_FAUST_K: comma-separated k values for pass@k (default `1`).
- LEDGER_FAUST_REWARD: reward function NAME@VERSION (default `binary@1`); rollouts use its rewards.
- LEDGER_FAUST_GROUP_SIZE: episodes per GRPO group (default `4`).
- LEDGER_FAUST_EVERY: successes per memory scope between induction requests (default `5`).
- LEDGER_FAUST_ALERT_RULES: a rules YAML for alerts (default: the built-in rules).

Every agent runs one of the runtime's pure reducers; each reducer's state is
split by the key its fold needs and kept in faust Tables (changelogged, so a
worker that takes over a partition recovers it). Inputs are re-keyed into
internal `faust.*` topics so records that must meet land in one partition:
- `rewards`: stateless, `evals` -> `rewards`.
- `pass_at_k`: `runs` + `evals` re-keyed by run id; state per run.
- `experiences`: `episodes` + `actions` + `evals` re-keyed by episode id
  (`faust.by_episode`); the per-episode fold writes `experience.recorded` to
  `experiences` (keyed by memory scope), which a second stage folds per scope
  into `workflow.induction_requested`.
- `rollouts`: `episodes` + `proxy` + `rewards` via `faust.by_episode`; a ready
  episode (samples or exclusion) goes to `faust.rollouts.by_prompt`, re-keyed by
  run/instance, where the GRPO groups form.
- `alerts`: its inputs go to `faust.alerts.all`, ONE partition (the windows are
  global), so this stage does not scale out; it is cheap per record.
Outputs carry the runtime's deterministic, content-addressed ids; where a fold
depends on arrival order across partitions (the run scope of pass@k on its way,
which episodes share a GRPO group, which successes share an induction request,
an alert window) faust's order is each partition's arrival order, the runtime's
is the log's. Records that do not decode go to `deadletter` (same ids
as the runtime's). `processing_guarantee="at_least_once"`: after a crash records
are re-folded and outputs re-sent with the same ids; sinks dedupe by id
(events.log.dedupe) and every keyed stage ignores an input it already folded.
"""
from __future__ import annotations

import os
import pickle
import faust

from events.codec import DecodeError, decode, encode
from events.log.base import RawRecord, Record, dead_letter_for
from events.log.kafka_options import parse_kafka_url
from events.log.partitioner import partition_for
from events.topics import CATALOG, logical_name

from .alert_rules import load_rules
from .reducers.alerts import Alerts
from .reducers.experiences import EpisodeNotes, Experiences
from .reducers.pass_at_k import PassAtK
from .reducers.rewards import Rewards
from .reducers.rollouts import EpisodeTurns, PendingGroup, Rollouts
from .reward_fns import parse_reward

__all__ = ["app", "settings_from_env", "INTERNAL_TOPICS"]


def settings_from_env() -> dict:
    url = os.environ.get("LEDGER_LOG", "kafka://127.0.0.1:9092")
    opts = parse_kafka_url(url)
    return {"prefix": opts.prefix, "broker": ";".join(f"kafka://{b}" for b in opts.bootstrap),
            "app_id": os.environ.get("LEDGER_FAUST_APP", "ledger-processors"),
            "ks": tuple(int(k) for k in os.environ.get("LEDGER_FAUST_K", "1").split(",") if k),
            "reward": os.environ.get("LEDGER_FAUST_REWARD", "binary@1"),
            "group_size": int(os.environ.get("LEDGER_FAUST_GROUP_SIZE", "4")),
            "every": int(os.environ.get("LEDGER_FAUST_EVERY", "5")),
            "alert_rules": os.environ.get("LEDGER_FAUST_ALERT_RULES") or None}


_S = settings_from_env()
_P = _S["prefix"]
app = faust.App(_S["app_id"], broker=_S["broker"], store="memory://", web_enabled=False,
                processing_guarantee="at_least_once", consumer_auto_offset_reset="earliest",
                topic_partitions=CATALOG["evals"].partitions, topic_replication_factor=1,
                broker_session_timeout=10.0, broker_heartbeat_interval=1.0, broker_commit_every=100,
                stream_wait_empty=False)

PASS_AT_K = PassAtK(_S["ks"])
REWARDS = Rewards(parse_reward(_S["reward"]))
EXPERIENCES = Experiences(_S["every"])
ROLLOUTS = Rollouts(_S["group_size"], REWARDS.fn)
ALERTS = Alerts(load_rules(_S["alert_rules"]))

INTERNAL_TOPICS = {"by_run": f"faust.{PASS_AT_K.name}.by_run", "by_episode": "faust.by_episode",
                   "by_prompt": f"faust.{ROLLOUTS.name}.by_prompt", "alerts_all": f"faust.{ALERTS.name}.all"}
"""Logical names of the re-keyed internal topics (physical: the log's prefix + name)."""
_EPISODE_INPUTS = ("episodes", "actions", "proxy", "evals", "rewards")
_ALERT_SEEN = 4096
"""Input ids the alerts stage remembers to skip a re-delivered or duplicated record."""
_DONE = b"done"
_ROLLOUT_TYPES = ("proxy.request", "proxy.response", "proxy.error", "episode.started", "episode.finished",
                  "reward.assigned")
_EXPERIENCE_TYPES = ("agent.action", "episode.started", "episode.finished", "eval.result")


def _topic(*names: str, **kw):
    return app.topic(*(f"{_P}{n}" for n in names), key_type=bytes, value_type=bytes, key_serializer="raw",
                     value_serializer="raw", **kw)


def _internal(name: str, partitions: int):
    return _topic(INTERNAL_TOPICS[name], partitions=partitions, internal=True)


def _table(name: str, partitions: int):
    return app.Table(name, default=bytes, key_type=bytes, value_type=bytes, partitions=partitions)


_N = CATALOG["evals"].partitions
by_run, by_episode, by_prompt = _internal("by_run", _N), _internal("by_episode", _N), _internal("by_prompt", _N)
alerts_all = _internal("alerts_all", 1)
states = _table(f"{PASS_AT_K.name}-state", _N)
episode_notes = _table(f"{EXPERIENCES.name}-episodes", _N)
scope_counts = _table(f"{EXPERIENCES.name}-scopes", CATALOG["experiences"].partitions)
episode_turns = _table(f"{ROLLOUTS.name}-episodes", _N)
pending_groups = _table(f"{ROLLOUTS.name}-groups", _N)
alert_state = _table(f"{ALERTS.name}-state", 1)
_outputs = {t: _topic(t) for t in ("scores", "rewards", "experiences", "workflows", "rollouts", "alerts",
                                   "deadletter")}


async def _emit(events) -> None:
    for ev in events:
        topic = ev.topic
        await _outputs[topic].send(key=ev.key.encode(), value=encode(ev),
                                   partition=partition_for(ev.key, CATALOG[topic].partitions))


def _logical(event) -> str:
    return logical_name(event.message.topic, _P)


async def _decode(event, logical: str, *, dead: bool = True):
    """The event of a faust stream event, or None (dead-lettered unless `dead` is False:
    another agent dead-letters that topic)."""
    msg = event.message
    try:
        return decode(event.value)
    except DecodeError as exc:
        if dead:
            key = msg.key.decode("utf-8", "replace") if msg.key is not None else None
            raw = RawRecord(logical, msg.partition, msg.offset, key, bytes(event.value))
            await _emit([dead_letter_for(raw, exc.reason, consumer="processors")])
        return None


def _record(ev, event) -> Record:
    return Record(ev.topic, event.message.partition, event.message.offset, ev)


def _load(table, key: bytes, fresh):
    blob = table[key]
    if blob == _DONE:
        return None
    return pickle.loads(blob) if blob else fresh()


def _store(table, key: bytes, value) -> None:
    table[key] = _DONE if value is None else pickle.dumps(value, protocol=5)


@app.agent(_topic("evals"))
async def rewards(stream):
    async for event in stream.events():
        ev = await _decode(event, "evals")
        if ev is not None:
            _, out = REWARDS.apply(None, _record(ev, event))
            await _emit(out)


@app.agent(_topic("runs", "evals"))
async def route_by_run(stream):
    async for event in stream.events():
        ev = await _decode(event, _logical(event), dead=False)  # evals: the rewards agent; runs: not ours
        if ev is not None:
            await by_run.send(key=ev.run_id.encode(), value=event.value)


@app.agent(by_run)
async def pass_at_k(stream):
    async for event in stream.events():
        ev = decode(event.value)
        key = ev.run_id.encode()
        state = _load(states, key, PASS_AT_K.initial_state)
        state, out = PASS_AT_K.apply(state, _record(ev, event))
        _store(states, key, state)
        await _emit(out)


@app.agent(_topic(*_EPISODE_INPUTS))
async def route_by_episode(stream):
    """Everything the per-episode folds read, keyed by episode id (eval.result and
    reward.assigned carry it in the payload)."""
    async for event in stream.events():
        logical = _logical(event)
        ev = await _decode(event, logical, dead=logical != "evals")  # evals: the rewards agent
        ep_id = getattr(ev.payload, "episode_id", None) if ev is not None else None
        if ep_id:
            await by_episode.send(key=ep_id.encode(), value=event.value)


@app.agent(by_episode)
async def experiences(stream):
    async for event in stream.events():
        ev = decode(event.value)
        if ev.type not in _EXPERIENCE_TYPES:
            continue
        key = ev.payload.episode_id.encode()
        notes = _load(episode_notes, key, EpisodeNotes)
        if notes is None:
            continue  # closed
        closed, exp = EXPERIENCES.fold_episode(ev.payload.episode_id, notes, ev)
        _store(episode_notes, key, None if closed else notes)
        if exp is not None:
            await _emit([exp])


@app.agent(_topic("experiences"))
async def induction(stream):
    """Second stage of experiences: `experiences` is keyed by memory scope."""
    producer = f"processor.{EXPERIENCES.name}@{EXPERIENCES.version}"
    async for event in stream.events():
        ev = await _decode(event, "experiences", dead=False)
        if ev is None or ev.type != "experience.recorded" or ev.producer != producer:
            continue
        key = ev.payload.scope.encode()
        blob = scope_counts[key]
        scopes, seen = pickle.loads(blob) if blob else ({}, set())
        if ev.id in seen:
            continue  # re-sent after a crash upstream
        seen.add(ev.id)
        out = EXPERIENCES.count_success(scopes, ev)
        scope_counts[key] = pickle.dumps((scopes, seen), protocol=5)
        await _emit(out)


@app.agent(by_episode)
async def rollout_episodes(stream):
    async for event in stream.events():
        ev = decode(event.value)
        if ev.type not in _ROLLOUT_TYPES:
            continue
        ep_id = ev.payload.episode_id
        key = ep_id.encode()
        ep = _load(episode_turns, key, EpisodeTurns)
        if ep is None:
            continue  # ready already
        if not ROLLOUTS.fold_episode(ep, ev):
            _store(episode_turns, key, ep)
            continue
        _store(episode_turns, key, None)
        ready = {"episode_id": ep_id, "key": (ep.run_id, ep.instance_id),
                 "outcome": ROLLOUTS.outcome(ep_id, ep), "event": ev}
        await by_prompt.send(key=f"{ep.run_id}/{ep.instance_id}".encode(), value=pickle.dumps(ready, protocol=5))


@app.agent(by_prompt)
async def rollouts(stream):
    """Second stage of rollouts: GRPO groups per (run, instance)."""
    async for event in stream.events():
        ready = pickle.loads(event.value)
        key = event.key
        blob = pending_groups[key]
        pending, done = pickle.loads(blob) if blob else (PendingGroup(), set())
        if ready["episode_id"] in done:
            continue
        done.add(ready["episode_id"])
        out = ROLLOUTS.add_ready(pending, {}, ready["episode_id"], ready["key"], ready["outcome"], ready["event"])
        pending_groups[key] = pickle.dumps((pending, done), protocol=5)
        await _emit(out)


@app.agent(_topic(*ALERTS.inputs))
async def route_alerts(stream):
    async for event in stream.events():
        logical = _logical(event)
        ev = await _decode(event, logical, dead=logical in ("rollouts", "deadletter"))  # others: keyed routers
        if ev is not None:
            await alerts_all.send(key=b"all", value=event.value, partition=0)


@app.agent(alerts_all)
async def alerts(stream):
    async for event in stream.events():
        ev = decode(event.value)
        blob = alert_state[b"all"]
        state, seen = pickle.loads(blob) if blob else (ALERTS.initial_state(), {})
        if ev.id in seen:
            continue  # re-delivered, or one dead letter routed by several agents
        seen[ev.id] = None
        if len(seen) > _ALERT_SEEN:
            del seen[next(iter(seen))]
        state, out = ALERTS.apply(state, _record(ev, event))
        alert_state[b"all"] = pickle.dumps((state, seen), protocol=5)
        await _emit(out)
