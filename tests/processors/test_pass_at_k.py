"""pass_at_k reducer: scopes, normalizer, n < k, against exact fractions."""
from __future__ import annotations

from fractions import Fraction
from math import comb

from hypothesis import given, settings
from hypothesis import strategies as st

from events.log.base import Record
from processors.normalizer import Normalizer, Verdict
from processors.reducers.pass_at_k import PassAtK
from processors.scoreboard import Board
from tests.processors.synth import eval_result, run_started


def fold(reducer, evs):
    state, out = reducer.initial_state(), []
    for i, ev in enumerate(evs):
        state, made = reducer.apply(state, Record(ev.topic, 0, i, ev))
        out.extend(made)
    return state, out


def final(out):
    """Last value per (scope, key, metric, k)."""
    last = {}
    for ev in out:
        p = ev.payload
        last[(p.scope, p.scope_key, p.metric, p.k if p.metric == "pass@k" else 0)] = (p.value, p.n, p.c)
    return last


def exact_pass(n, c, k):
    return 1 - Fraction(comb(n - c, k), comb(n, k))


outcomes = st.lists(st.lists(st.booleans(), min_size=1, max_size=12), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(outcomes, st.sampled_from([(1,), (1, 3), (2, 5, 10)]))
def test_run_scope_is_mean_of_exact_instance_values(table, ks):
    evs = [eval_result("r", f"o__p-{i}", s, ok) for i, row in enumerate(table) for s, ok in enumerate(row)]
    _, out = fold(PassAtK(ks), [run_started("r", [f"o__p-{i}" for i in range(len(table))])] + evs)
    got = final(out)
    for k in ks:
        scored = [(len(r), sum(r)) for r in table if len(r) >= k]
        key = ("run", "r", "pass@k", k)
        if not scored:
            assert key not in got
            continue
        want = sum(exact_pass(n, c, k) for n, c in scored) / len(scored)
        value, n, c = got[key]
        assert abs(value - float(want)) < 1e-9
        assert n == min(n for n, _ in scored) and c == sum(c for _, c in scored)
    for i, row in enumerate(table):
        for k in ks:
            key = ("instance", f"o__p-{i}", "pass@k", k)
            assert (key in got) == (len(row) >= k)  # n < k is never reported


def negative_sample(run_id: str, instance_id: str):
    """A verdict with sample_idx -1: the payload model refuses it, so it is built unvalidated,
    as a record from before that range existed would look to a reader that skips validation."""
    import events
    from events.payloads import EvalResult

    payload = EvalResult.model_construct(instance_id=instance_id, sample_idx=-1, resolved=True,
                                         episode_id=f"ep-{run_id}-{instance_id}--1")
    return events.new(payload, producer="test", run_id=run_id)


@settings(max_examples=60, deadline=None)
@given(outcomes, st.data())
def test_duplicates_and_malformed_do_not_change_scores(table, data):
    clean = [eval_result("r", f"o__p-{i}", s, ok) for i, row in enumerate(table) for s, ok in enumerate(row)]
    noisy = list(clean)
    for _ in range(data.draw(st.integers(0, 10))):
        at = data.draw(st.integers(0, len(noisy)))
        kind = data.draw(st.sampled_from(["dup", "neg", "empty", "norun", "contradiction"]))
        src = data.draw(st.sampled_from(clean))
        p = src.payload
        # a duplicate may only come after the verdict it repeats (the first one wins)
        at = max(at, noisy.index(src) + 1)
        bad = {"dup": lambda: eval_result("r", p.instance_id, p.sample_idx, not p.resolved),
               "neg": lambda: negative_sample("r", p.instance_id),
               "empty": lambda: eval_result("r", "", 0, True),
               "norun": lambda: eval_result("", p.instance_id, 0, True),
               "contradiction": lambda: eval_result("r", "x__y-9", 0, True, status="timeout")}[kind]()
        noisy.insert(at, bad)
    plan = run_started("r", [f"o__p-{i}" for i in range(len(table))])
    _, a = fold(PassAtK((1, 2)), [plan] + clean)
    state, b = fold(PassAtK((1, 2)), [plan] + noisy)
    assert final(a) == final(b)
    dropped = len(noisy) - len(clean)
    assert sum(state.norm.duplicates.values()) + sum(state.norm.malformed.values()) == dropped


def test_score_payload_fields_and_deterministic_ids():
    plan = run_started("r", ["a__b-1", "a__b-2", "c__d-3", "c__d-4"])
    evs = [eval_result("r", "a__b-1", 0, True), eval_result("r", "a__b-1", 1, False),
           eval_result("r", "a__b-1", 0, False), eval_result("r", "c__d-3", 0, False)]
    state, out = fold(PassAtK((1, 2)), [plan] + evs)
    _, again = fold(PassAtK((1, 2)), [plan] + evs)
    assert [e.id for e in out] == [e.id for e in again]
    assert len({e.id for e in out}) == len(out)
    last = {(e.payload.scope, e.payload.metric, e.payload.k): e.payload for e in out}
    run = last[("run", "pass@k", 1)]
    assert run.coverage == 0.5 and run.instances == 2 and run.dataset == "bundled"
    assert run.model == "demo-model" and run.dropped_duplicates == 1 and run.scorer_version == 1
    assert abs(run.value - 0.25) < 1e-12  # (1/2 + 0) / 2
    repo = [e.payload for e in out if e.payload.scope == "repo" and e.payload.scope_key == "a/b"][-1]
    assert repo.coverage == 0.5
    inst2 = [e.payload for e in out if e.payload.scope == "instance" and e.payload.k == 2
             and e.payload.metric == "pass@k"]
    assert inst2 and inst2[-1].value == 1.0  # n=2, c=1: pass@2 = 1
    assert not [e for e in out if e.payload.scope == "run" and e.payload.metric == "pass@k"
                and e.payload.k == 2 and e.payload.instances != 1]


def test_normalizer_first_wins():
    norm, board = Normalizer(), Board((1,))
    assert norm.accept(Verdict("r", "i", 0, True, ""))
    assert not norm.accept(Verdict("r", "i", 0, False, ""))
    assert norm.duplicates == {"r": 1}
    assert not norm.accept(Verdict("r", "i", -3, True, "")) and norm.malformed == {"r": 1}
    board.add(Verdict("r", "i", 0, True, ""))
    assert board.all_scores("r")[0].value == 1.0


def test_run_started_after_verdicts_reemits_with_coverage():
    plan = run_started("r", ["a__b-1", "a__b-2"])
    evs = [eval_result("r", "a__b-1", 0, True)]
    _, out = fold(PassAtK(), evs + [plan])
    late = [e.payload for e in out[-6:]]
    assert {(p.scope, p.metric) for p in late} == {(s, m) for s in ("instance", "repo", "run")
                                                     for m in ("pass@k", "avg@k")}
    run = [p for p in late if p.scope == "run" and p.metric == "pass@k"][0]
    assert run.coverage == 0.5 and run.model == "demo-model"
    assert [p.coverage for p in [e.payload for e in out[:6]] if p.scope == "run"] == [0.0, 0.0]
