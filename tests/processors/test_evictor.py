"""The evictor reducer, folded directly: bounded scopes, deterministic evictions."""
from __future__ import annotations

import pytest

import events
from events.log.base import Record
from events.payloads import WorkflowEvicted, WorkflowInduced
from processors.base import Reducer
from processors.evictor import Evictor


def _records(names: list[tuple[str, str]]) -> list[Record]:
    return [Record("workflows", 0, i, events.new(WorkflowInduced(scope=scope, name=name, description="d",
                                                                 steps=["s"]), producer="inducer"))
            for i, (scope, name) in enumerate(names)]


def _fold(reducer: Evictor, records: list[Record]):
    state, out = reducer.initial_state(), []
    for rec in records:
        state, emitted = reducer.apply(state, rec)
        out += emitted
    return state, out


def test_is_a_reducer():
    assert isinstance(Evictor(), Reducer)
    with pytest.raises(ValueError, match="max_workflows"):
        Evictor(0)


def test_evicts_oldest_beyond_max_workflows_per_scope():
    recs = _records([("s", "a"), ("s", "b"), ("t", "x"), ("s", "c"), ("s", "a"), ("s", "d")])
    state, out = _fold(Evictor(max_workflows=2), recs)
    assert [(e.type, e.payload.scope, e.payload.name) for e in out] == [
        ("workflow.evicted", "s", "a"), ("workflow.evicted", "s", "b"), ("workflow.evicted", "s", "c")]
    assert state == {"s": ["a", "d"], "t": ["x"]}
    assert all(e.producer == "processor.evictor@1" and e.key == "s" for e in out)
    assert out[0].parent == recs[3].event.id


def test_rerun_emits_identical_ids_and_reading_back_outputs_is_a_noop():
    recs = _records([("s", f"w{i}") for i in range(6)])
    state1, out1 = _fold(Evictor(max_workflows=3), recs)
    _, out2 = _fold(Evictor(max_workflows=3), recs)
    assert [e.id for e in out1] == [e.id for e in out2] and len(out1) == 3
    back = [Record("workflows", 0, 100 + i, e) for i, e in enumerate(out1)]
    state_after, more = _fold_from(Evictor(max_workflows=3), state1, back)
    assert state_after == state1 and more == []


def test_external_eviction_frees_a_slot():
    ev = events.new(WorkflowEvicted(scope="s", name="w0", reason="manual"), producer="ops")
    reducer = Evictor(max_workflows=2)
    state, _ = _fold(reducer, _records([("s", "w0"), ("s", "w1")]))
    state, out = reducer.apply(state, Record("workflows", 0, 9, ev))
    assert state == {"s": ["w1"]} and out == []
    state, out = reducer.apply(state, _records([("s", "w2")])[0])
    assert out == [] and state == {"s": ["w1", "w2"]}


def _fold_from(reducer, state, records):
    out = []
    for rec in records:
        state, emitted = reducer.apply(state, rec)
        out += emitted
    return state, out
