"""Problem statements: the template (deterministic, from the failing tests) and, with
`--statements model`, a model's text through the proxy, recorded like every model call."""
from __future__ import annotations

from events.log import open_log
from producers.inference.demo import UNRECOGNISED_REPLY
from producers.synthesis.statement import STATEMENT_PROMPT, model_statement, template_statement

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


def test_model_statements_go_through_the_proxy(sqlite_url):
    """`statements: model`: the worker asks the proxy (the demo upstream stands in for a
    model here), and the call is recorded under the task's episode id."""
    from producers.proxy.server import ProxyServer

    episode = "synth.parse__func_pm_op_swap-0ceb531a"
    with ProxyServer(sqlite_url, "demo", run_id="synth-test") as proxy:
        text = model_statement(proxy.base_url(episode), proxy.token, "demo-scripted",
                               template_statement(["tests/test_lru.py::test_lru"], {}))
    assert text == UNRECOGNISED_REPLY  # the scripted stand-in's answer, passed through
    log = open_log(sqlite_url)
    try:
        recorded = [r.event for r in log.read("proxy")]
    finally:
        log.close()
    assert {e.type for e in recorded if e.key == episode} == {"proxy.request", "proxy.response"}
    request = next(e.payload for e in recorded if e.type == "proxy.request")
    assert request.messages[0]["content"] == STATEMENT_PROMPT
