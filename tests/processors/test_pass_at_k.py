"""pass_at_k reducer: scopes, normalizer, n < k, against exact fractions."""
from __future__ import annotations

from fractions import Fraction
from math import comb

from hypothesis import given, settings
from hypothesis import strategies as st

import events
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
        last[(p.scope, p.scope_key, p.metric, p.k)] = (p.value, p.n, p.samples, p.c)
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
        value, n, samples, c = got[key]
        assert abs(value - float(want)) < 1e-9
        # n: instances scored; samples: the fewest samples among them; c only at instance scope
        assert n == len(scored) and samples == min(s for s, _ in scored) and c is None
    avg = got[("run", "r", "avg@k", 1)]
    assert abs(avg[0] - sum(Fraction(sum(r), len(r)) for r in table) / len(table)) < 1e-9
    assert avg[1] == len(table) and avg[3] is None
    assert not [key for key in got if key[2] == "avg@k" and key[3] != 1]  # avg@k = avg@1 by definition
    for i, row in enumerate(table):
        inst = got[("instance", f"o__p-{i}", "avg@k", 1)]
        assert inst[1:] == (1, len(row), sum(row))
        for k in ks:
            key = ("instance", f"o__p-{i}", "pass@k", k)
            assert (key in got) == (len(row) >= k)  # samples < k is never reported


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
               "neg": lambda: eval_result("r", p.instance_id, -1, True),
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
    assert run.coverage == 0.5 and run.n == 2 and run.samples == 1 and run.c is None
    assert run.dataset == "bundled"
    assert run.model == "demo-model" and run.dropped_duplicates == 1 and run.scorer_version == 1
    assert abs(run.value - 0.25) < 1e-12  # (1/2 + 0) / 2
    repo = [e.payload for e in out if e.payload.scope == "repo" and e.payload.scope_key == "a/b"][-1]
    assert repo.coverage == 0.5
    inst2 = [e.payload for e in out if e.payload.scope == "instance" and e.payload.k == 2
             and e.payload.metric == "pass@k"]
    assert inst2 and inst2[-1].value == 1.0  # n=2, c=1: pass@2 = 1
    assert not [e for e in out if e.payload.scope == "run" and e.payload.metric == "pass@k"
                and e.payload.k == 2 and e.payload.n != 1]
    inst1 = [e.payload for e in out if e.payload.scope == "instance" and e.payload.scope_key == "a__b-1"][-1]
    assert (inst1.n, inst1.samples, inst1.c) == (1, 2, 1)


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


def test_repo_coverage_counts_the_plan_by_the_datasets_own_repo_names():
    """Instance ids say nothing reliable about the repo (`textkit__3` is ledger-bundled/textkit):
    the plan comes from the manifest's repos, the results from eval.result.repo."""
    from events.payloads import DatasetManifest, RunStarted

    ids = ["textkit__1", "textkit__2", "money__1", "pager__1"]
    repos = {"ledger-bundled/textkit": 2, "ledger-bundled/money": 1, "ledger-bundled/pager": 1}
    manifest = DatasetManifest(source="bundled", sha256="0" * 64, count=4, instance_ids=ids, repos=repos)
    plan = events.new(RunStarted(config={}, manifest=manifest, planned=4), producer="test", run_id="r")
    evs = [eval_result("r", "textkit__1", 0, True, repo="ledger-bundled/textkit"),
           eval_result("r", "money__1", 0, False, repo="ledger-bundled/money")]
    _, out = fold(PassAtK((1,)), [plan] + evs)
    cover = {e.payload.scope_key: e.payload.coverage for e in out if e.payload.scope == "repo"}
    assert cover == {"ledger-bundled/textkit": 0.5, "ledger-bundled/money": 1.0}
    assert [e.payload.coverage for e in out if e.payload.scope == "run"][-1] == 0.5


def test_a_v1_score_reads_with_the_v2_meaning_of_n_samples_and_c():
    import orjson

    from events.codec import decode

    v1 = {"id": events.uuid7(), "type": "score.updated", "v": 1, "ts": "2026-01-02T03:04:05Z", "run_id": "r",
          "key": "r", "parent": None, "producer": "processor.pass_at_k@1",
          "payload": {"scope": "run", "scope_key": "r", "metric": "pass@k", "k": 1, "value": 0.5, "n": 4,
                      "c": 10, "coverage": 1.0, "instances": 5, "scorer_version": 1}}
    p = decode(orjson.dumps(v1)).payload
    assert (p.n, p.samples, p.c) == (5, 4, None)
    inst = {**v1, "payload": {**v1["payload"], "scope": "instance", "n": 4, "c": 3, "instances": 1}}
    p = decode(orjson.dumps(inst)).payload
    assert (p.n, p.samples, p.c) == (1, 4, 3)
