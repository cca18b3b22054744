"""SeenIds: the consumer-side duplicate filter for at-least-once logs."""
from __future__ import annotations

import pytest

from events.log import Record, SeenIds
from tests.events.samples import actions


def records(evs):
    return [Record("actions", 0, i, ev) for i, ev in enumerate(evs)]


def test_repeats_are_dropped_and_counted():
    evs = actions(5)
    seen = SeenIds()
    assert seen.fresh(records(evs + evs[1:3])) == records(evs)
    assert seen.duplicates == 2 and len(seen) == 5


def test_the_window_forgets_the_oldest_ids_first():
    seen = SeenIds(capacity=3)
    for i in "abcd":
        assert seen.first_time(i)
    assert "a" not in seen and "d" in seen
    assert seen.first_time("a")  # outside the window: treated as new
    assert not seen.first_time("d")


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity"):
        SeenIds(capacity=0)
