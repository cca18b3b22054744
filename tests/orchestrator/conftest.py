"""Fixtures of the orchestrator tests."""
from tests.agents.conftest import bundled_cache  # noqa: F401  (the generated bundled suite, once per session)
