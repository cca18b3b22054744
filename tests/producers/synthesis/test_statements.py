"""Problem statements: the template (deterministic, from the failing tests) and, with
`--statements model`, a model's text through the proxy, recorded like every model call."""
from __future__ import annotations

import subprocess

import pytest

from events.log import open_log
from events.payloads import TaskSynthesized
from producers.inference.demo import UNRECOGNISED_REPLY
from producers.synthesis.statement import template_statement
from tests.conftest import REPO_ROOT

from .conftest import SMALL, synth_argv, synth_env

pytestmark = pytest.mark.timeout(1800)  # a real synthesis: minutes on a loaded machine

TRACEBACK = """def test_lru():
        cache = LRU(2)
>       assert cache.get("a") == 1
E       AssertionError: assert <object at 0x7f3a2b1c9d00> == 1

/tmp/ledger-sbx-abc123/repo/tests/test_lru.py:7: AssertionError
"""


def test_template_names_tests_messages_and_the_failing_line_without_volatile_parts():
    text = template_statement(
        ["tests/test_lru.py::test_lru", "tests/test_lru.py::test_b"],
        {"tests/test_lru.py::test_lru": ("AssertionError: assert <object at 0x7f3a2b1c9d00> == 1", TRACEBACK)},
        sandbox_root="/tmp/ledger-sbx-abc123/repo")
    assert text.startswith("2 tests in `tests/test_lru.py` fail")
    assert "AssertionError: assert <object at 0x…> == 1" in text and "0x7f3a" not in text
    assert 'failing at `assert cache.get("a") == 1` (tests/test_lru.py:7)' in text
    assert "ledger-sbx" not in text
    assert "`tests/test_lru.py::test_b`\n  (no failure message" in text


def test_model_statements_go_through_the_proxy(synth_cache, tmp_path):
    config = tmp_path / "one.yaml"
    text = SMALL.read_text().replace("id: small", "id: model-statements")
    text = text.replace("max_per_project: 12", "max_per_project: 1").replace(
        "max_candidates_per_project: 40", "max_candidates_per_project: 4")
    config.write_text(text[:text.index("  - name: toolz")])
    log_url = f"sqlite:///{tmp_path}/ledger.db"
    proc = subprocess.run(synth_argv(config, tmp_path / "out", log_url, synth_cache, "--statements", "model"),
                          cwd=REPO_ROOT, env=synth_env(), capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = open_log(log_url)
    try:
        tasks = [r.event.payload for r in log.read("synthesis") if isinstance(r.event.payload, TaskSynthesized)]
        proxied = [r.event for r in log.read("proxy")]
    finally:
        log.close()
    assert tasks, "no task was synthesized"
    for task in tasks:
        episode = f"synth.{task.instance_id}"
        assert task.statement_source == f"model:{episode}"
        assert task.problem_statement == UNRECOGNISED_REPLY  # the scripted stand-in's answer
        assert {e.type for e in proxied if e.key == episode} == {"proxy.request", "proxy.response"}
