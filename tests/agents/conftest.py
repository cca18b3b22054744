"""Fixtures of the agents/evaluator tests."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def bundled_cache(tmp_path_factory):
    """A cache directory holding the generated bundled suite (generated once per session)."""
    from producers.datasets.bundled import ensure_bundled_tasks

    cache = tmp_path_factory.mktemp("bundled-cache")
    ensure_bundled_tasks(cache)
    return cache
