"""Problem statements: a deterministic template from the failing tests, or a model's text.

The template names the failing tests, each one's assertion message (first line,
normalised: memory addresses and sandbox paths replaced) and the line of the test
where it failed, as a user would report it. It never shows the bug or the fix.

`model_statement` asks a model, through the proxy (so the call is recorded as
`proxy.request`/`proxy.response` events of episode `synth.<instance_id>`), to
rewrite the report as an issue.
"""
from __future__ import annotations

import re

__all__ = ["template_statement", "model_statement", "STATEMENT_PROMPT"]

_SHOWN = 3
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")
_LOCATION = re.compile(r"^([\w./-]+\.py):(\d+): ", re.M)
STATEMENT_PROMPT = ("You write GitHub issues. Rewrite the bug report below as a short issue a user "
                    "would file: what they ran, what they expected, what happened. Do not guess "
                    "the cause and do not propose a fix.")


def _normalise(text: str, sandbox_root: str) -> str:
    if sandbox_root:
        text = text.replace(sandbox_root.rstrip("/") + "/", "")
    text = re.sub(r"/tmp/ledger-sbx-\w+/repo/", "", text)
    return _ADDRESS.sub("0x…", text)


def _failing_line(test_id: str, traceback: str) -> str:
    """`> source line` of the test's own frame and its location, when pytest printed them."""
    path = test_id.split("::", 1)[0]
    source = next((ln[1:].strip() for ln in traceback.splitlines() if ln.startswith(">")), "")
    where = next((f"{m.group(1)}:{m.group(2)}" for m in _LOCATION.finditer(traceback)
                  if m.group(1).endswith(path)), "")
    if not source:
        return ""
    return f"  failing at `{source}`" + (f" ({where})" if where else "")


def template_statement(fail_to_pass: list[str], failures: dict[str, tuple[str, str]],
                       sandbox_root: str = "") -> str:
    tests = sorted(fail_to_pass)
    files = sorted({t.split("::", 1)[0] for t in tests})
    where = ", ".join(f"`{f}`" for f in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    lines = [f"{len(tests)} test{'s' if len(tests) != 1 else ''} in {where} "
             f"{'fail' if len(tests) != 1 else 'fails'}, although the test code is unchanged:", ""]
    for test in tests[:_SHOWN]:
        message, traceback = failures.get(test, ("", ""))
        lines.append(f"- `{test}`")
        first = _normalise(message, sandbox_root).strip().splitlines()[:1]
        if first:
            lines.append(f"  {first[0][:300]}")
        else:
            lines.append("  (no failure message: the test was not collected or did not run)")
        call = _failing_line(test, _normalise(traceback, sandbox_root))
        if call:
            lines.append(call[:400])
    if len(tests) > _SHOWN:
        lines.append(f"- and {len(tests) - _SHOWN} more")
    lines += ["", "These tests are expected to pass. Fix the library so that they do, "
              "without changing the tests."]
    return "\n".join(lines) + "\n"


def model_statement(base_url: str, api_key: str, model: str, report: str,
                    timeout_s: float = 120.0) -> str:
    """The model's issue text for `report` (raises on a failed call; empty text is returned)."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=1)
    reply = client.chat.completions.create(
        model=model, temperature=0.0, max_tokens=600,
        messages=[{"role": "system", "content": STATEMENT_PROMPT},
                  {"role": "user", "content": report}])
    return (reply.choices[0].message.content or "").strip()
