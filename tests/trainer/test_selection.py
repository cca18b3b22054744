"""Which samples a trainer trains on: lineage, unknown versions, staleness, zero advantage, exclusions."""
from __future__ import annotations

from events.payloads import BASE_POLICY, UNKNOWN_POLICY, PolicyVersion
from tests.trainer.synthetic import make_group
from trainer.selection import Selector


def _with_versions(group, versions):
    return group.model_copy(update={"samples": [s.model_copy(update={"policy_version": v})
                                                for s, v in zip(group.samples, versions)]})


def test_each_sample_is_judged_by_lineage_version_and_staleness():
    sel = Selector("t", max_staleness=1)
    g = _with_versions(make_group("g", n=6, trainer="t"), [
        PolicyVersion.of("t", 5), PolicyVersion.of("t", 4), PolicyVersion.of("t", 3),
        PolicyVersion.of("other", 5), UNKNOWN_POLICY, BASE_POLICY])
    judged = sel.judge(g, step=5)
    assert [s.policy_version.step for s in judged.group.samples] == [5, 4]
    assert {k: d.samples for k, d in judged.drops.items()} == {"stale": 1, "lineage": 2, "unknown_version": 1}
    assert judged.drops["lineage"].versions == {"other@5": 1, "base@0": 1}
    assert judged.staleness == {"0": 1, "1": 1}
    assert not any(d.group_ids for d in judged.drops.values())  # the group itself survives


def test_zero_advantage_and_all_excluded_groups_are_dropped_whole():
    sel = Selector("trainer", max_staleness=0)
    same = make_group("same", reward=1.0)
    judged = sel.judge(same, step=0)
    assert judged.group is None and judged.drops["zero_advantage"].group_ids == ["same"]
    assert judged.drops["zero_advantage"].samples == 4
    # What is left after dropping a stale sample can be zero-advantage too.
    mixed = make_group("mixed", n=2)
    mixed = _with_versions(mixed, [PolicyVersion.of("trainer", 0), PolicyVersion.of("trainer", 3)])
    left = sel.judge(mixed, step=3)
    assert left.group is None and set(left.drops) == {"stale", "zero_advantage"}
    assert Selector("trainer", 0, dynamic_sampling=False).judge(same, step=0).group is same
    empty = make_group("gone").model_copy(update={"samples": [], "excluded": 3})
    judged = sel.judge(empty, step=0)
    assert judged.group is None and judged.drops["excluded"].samples == 3
