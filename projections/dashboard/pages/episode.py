"""The Episode page: the transcript turn by turn (messages sent, the model's response, the
action it led to and what the action printed), the final patch as a diff, the evaluation with
its per-test table and log excerpt, the reward, tokens and policy versions."""
from __future__ import annotations

from typing import Any

from ..episodes import outcome_of
from ..html import Column, badge, cards, details, diff, duration, esc, num, run_link, section, table, when

__all__ = ["episode_body"]

_MAX_TEXT = 20_000
"""Characters of one message shown inline (the lake holds them whole)."""


def _text(text: Any) -> str:
    text = "" if text is None else str(text)
    cut = len(text) > _MAX_TEXT
    shown = text[:_MAX_TEXT] + (f"\n… ({len(text) - _MAX_TEXT:,} more characters)" if cut else "")
    return f"<pre>{esc(shown)}</pre>"


def _calls(calls: list[dict[str, Any]] | None) -> str:
    """Tool calls as `name(arguments)`."""
    out = []
    for c in calls or []:
        fn = c.get("function") or {}
        out.append(f"<pre>{esc(fn.get('name'))}({esc(fn.get('arguments'))})</pre>")
    return "".join(out)


def _message(m: dict[str, Any]) -> str:
    role = f'<div class="label"><b>{esc(m.get("role"))}</b></div>'
    return f'<div class="msg">{role}{_text(m.get("content"))}{_calls(m.get("tool_calls"))}</div>'


def _messages(turn: dict[str, Any]) -> str:
    msgs = turn["new_messages"]
    if not msgs:
        return ""
    note = " (the history was rewritten: the whole prompt)" if turn["history_rewritten"] else ""
    body = "".join(_message(m) for m in msgs)
    if turn["turn"] == 0:
        system = [m for m in msgs if m.get("role") == "system"]
        rest = [m for m in msgs if m.get("role") != "system"]
        return ((details("system prompt", "".join(_message(m) for m in system)) if system else "")
                + "".join(_message(m) for m in rest))
    return details(f"messages sent ({len(msgs)}){note}", body)


def _action(a: dict[str, Any]) -> str:
    obs = a.get("observation") or {}
    note = "" if obs.get("complete", True) else \
        f" (excerpt of {obs.get('size') or 0:,} bytes, sha256 {str(obs.get('sha256', ''))[:12]}…)"
    code = a.get("exit_code")
    status = badge("no exit code", "warn") if code is None else badge(f"exit {code}", "ok" if code == 0 else "bad")
    timed = badge("timed out", "warn") if a.get("timed_out") else ""
    head = (f'<b>action</b>{esc(a.get("tool"))} · step {a.get("step")} · {duration(a.get("duration_s"))} '
            f'{status} {timed}')
    return (f'<div class="action"><div class="label">{head}</div><pre>{esc(a.get("command"))}</pre></div>'
            f'<div class="observation"><div class="label"><b>observation</b>{esc(note)}</div>'
            f'{_text(obs.get("text"))}</div>')


def _ms(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.2f} ms"


def _turn(t: dict[str, Any]) -> str:
    resp, err = t["response"], t["error"]
    parts = [f'<div class="turn" id="turn-{t["turn"]}"><h3>Turn {t["turn"]}</h3>', _messages(t)]
    if resp:
        usage = resp.get("usage") or {}
        meta = (f'{num(usage.get("prompt_tokens"))} prompt + {num(usage.get("completion_tokens"))} completion tokens · '
                f'{_ms(resp.get("latency_ms"))} · finish {esc(resp.get("finish_reason"))}')
        parts.append(f'<div class="response"><div class="label"><b>model response</b>{meta}</div>'
                     f'{_text(resp.get("text"))}{_calls(resp.get("tool_calls"))}</div>')
    elif err:
        parts.append(f'<div class="response"><div class="label"><b>model call failed</b></div>'
                     f'<pre>{esc(err.get("status"))} {esc(err.get("kind"))}: {esc(err.get("message"))}</pre></div>')
    else:
        parts.append('<p class="muted">no response recorded</p>')
    parts += [_action(a) for a in t["actions"]]
    if resp and not t["actions"]:
        parts.append('<p class="muted">no action from this response</p>')
    parts.append("</div>")
    return "".join(parts)


_TEST_COLUMNS = [Column("test", lambda r: esc(r["test"])), Column("set", lambda r: esc(r["set"])),
                 Column("status", lambda r: badge(r["status"], "ok" if r["status"] == "PASSED" else None))]


def _evaluation(ev: dict[str, Any] | None) -> str:
    if ev is None:
        return '<p id="evaluation" class="muted">not evaluated</p>'
    verdict = badge("resolved", "ok") if ev["resolved"] else badge("not resolved", "bad")
    head = (f'<p id="evaluation">{verdict} status {badge(ev.get("status"))} · {esc(ev.get("reason"))} · harness '
            f'{esc(ev.get("harness"))} {esc(ev.get("harness_version"))} · {duration(ev.get("duration_s"))}</p>')
    tests = table(ev["tests"], _TEST_COLUMNS, "tests-table", "no per-test statuses")
    log = ev.get("log") or {}
    excerpt = ("" if not log else details(f"test log ({num(log.get('size'))} bytes"
                                          f"{'' if log.get('complete', True) else ', excerpt'})",
                                          _text(log.get("text")), open_=not ev["resolved"]))
    return head + tests + excerpt


def episode_body(d: dict[str, Any]) -> str:
    s, f = d["started"] or {}, d["finished"] or {}
    ev, reward = d["eval"], d["reward"]
    run_id = d.get("run_id") or ""
    outcome = outcome_of({"resolved": (ev or {}).get("resolved"), "eval_status": (ev or {}).get("status"),
                          "infra_cause": (ev or {}).get("infra_cause"), "reason": f.get("reason"),
                          "reward": (reward or {}).get("reward")})
    title = (f'{esc(s.get("instance_id") or f.get("instance_id"))} '
             f'<span class="muted">#{esc(s.get("sample_idx"))}</span>')
    head = (f'<p class="crumbs"><a href="/">Runs</a> › {run_link(run_id)} › {esc(d["episode_id"])}</p>'
            f'<h1>{title}</h1><p class="sub">episode {esc(d["episode_id"])} · attempt {esc(s.get("attempt"))} · '
            f'agent {esc(s.get("agent"))} · model {esc(s.get("model") or "–")} · repo {esc(s.get("repo") or "–")} · '
            f'started {when(s.get("ts"))}</p>')
    tok = d["tokens"]
    summary = cards([("outcome", badge(outcome)), ("agent ended", esc(f.get("reason") or "running")),
                     ("reward", num((reward or {}).get("reward"))), ("model calls", num(len(d["turns"]))),
                     ("actions", num(f.get("turns"))), ("prompt tokens", num(tok["prompt_tokens"])),
                     ("completion tokens", num(tok["completion_tokens"])), ("duration", duration(f.get("duration_s"))),
                     ("policy", esc(", ".join(d["policy_versions"]) or "–"))])
    problem = s.get("problem_statement") or ""
    error = f'<pre class="bad">{esc(f["error"])}</pre>' if f.get("error") else ""
    return (head + summary + error
            + section("Problem statement", _text(problem) if problem else '<p class="muted">not recorded</p>')
            + section("Transcript", '<div id="transcript">' + ("".join(_turn(t) for t in d["turns"])
                                                               or '<p class="muted">no model calls</p>') + "</div>")
            + section("Patch", diff(f.get("patch") or ""), "patch-section")
            + section("Evaluation", _evaluation(ev)) + section("Reward", _reward(reward)))


def _reward(reward: dict[str, Any] | None) -> str:
    if not reward:
        return '<p class="muted">no reward</p>'
    components = ", ".join(f"{c['name']} {c['value']:g}" for c in reward.get("components") or [])
    source = f"{esc(reward.get('reward_fn'))} v{esc(reward.get('reward_version'))}"
    return f"<p>{num(reward['reward'])} from {source}{' · ' + esc(components) if components else ''}</p>"
