"""`ledger alerts`: print alert events as JSON lines as they happen; POST each to
its rule's webhook (a failed POST is reported on stderr and printing goes on)."""
from __future__ import annotations

import json
import sys
import threading

from .alert_rules import load_rules

__all__ = ["follow_alerts", "post_webhook"]


def post_webhook(url: str, body: dict) -> str | None:
    """POST `body` as JSON; the error text when it failed."""
    import httpx

    try:
        r = httpx.post(url, json=body, timeout=5.0)
        return None if r.status_code < 300 else f"HTTP {r.status_code}"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"


def _run_processor(url: str, rules, stop: threading.Event) -> None:
    from events.log import open_log

    from .reducers.alerts import Alerts
    from .runtime import Runtime

    log = open_log(url)
    try:
        Runtime(log, [Alerts(rules)], batch=500).run(follow=True, idle_s=0.1, should_stop=stop.is_set)
    finally:
        log.close()


def follow_alerts(log, *, follow: bool, rules_path: str | None, process: bool) -> int:
    rules = load_rules(rules_path)
    hooks = {r.name: r.webhook for r in rules if r.webhook}
    stop = threading.Event()
    if process:
        threading.Thread(target=_run_processor, args=(log.url, rules, stop), daemon=True).start()
    try:
        for rec in log.read("alerts", follow=follow, poll_s=0.1):
            body = json.loads(rec.event.model_dump_json())
            url = hooks.get(rec.event.payload.rule)
            if url:  # delivered (or reported) before the line is printed
                err = post_webhook(url, body)
                if err:
                    print(f"ledger alerts: webhook {url} for {rec.event.payload.rule}: {err}", file=sys.stderr)
            print(json.dumps(body, sort_keys=True), flush=True)
    finally:
        stop.set()
    return 0
