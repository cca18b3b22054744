"""Failure classes: `model` (the agent ran and its patch fails) vs `infra`.

An infrastructure failure says nothing about the model: the upstream was
unreachable after the proxy's retries, the event log could not take the events,
the sandbox, repository, image or environment could not be made, or the harness
crashed. Such a pair is recorded (`episode.finished.infra_cause`, `eval.result`
status `infra`), counted (`run.finished.infra_errors`) and left out of pass@k and
avg@k, never scored as a failure. The causes below are the words every event uses.
"""
from __future__ import annotations

__all__ = ["UPSTREAM", "PROXY", "LOG", "SANDBOX", "REPOSITORY", "IMAGE", "ENVIRONMENT", "HARNESS",
           "http_cause", "exception_cause"]

UPSTREAM = "upstream unreachable"
PROXY = "proxy unreachable"
LOG = "event log unavailable"
SANDBOX = "sandbox"
REPOSITORY = "repository missing"
IMAGE = "image"
ENVIRONMENT = "environment"
HARNESS = "harness"

_HTTP = {502: UPSTREAM, 503: LOG, 504: UPSTREAM}
"""What the proxy answers when it could not get or keep an answer (after its retries)."""


def http_cause(status: int | None) -> str:
    """The infra cause of a proxy HTTP status, or "" when the status is the model's business."""
    return _HTTP.get(status, "") if status is not None else ""


def exception_cause(exc: BaseException) -> str:
    """The infra cause behind an exception raised by a model client, or "".

    Walks the chain (`raise ... from`), so errors wrapped by other libraries
    (litellm around openai) are recognised: an HTTP status the proxy uses for
    infrastructure, or a connection that could not be made at all.
    """
    seen: BaseException | None = exc
    while seen is not None:
        for attr in ("status_code", "status"):
            code = getattr(seen, attr, None)
            if isinstance(code, int) and http_cause(code):
                return http_cause(code)
        name = type(seen).__name__
        if "Timeout" in name:
            return ""  # a slow answer is not an absent one; the episode's limits judge it
        if isinstance(seen, ConnectionError) or name in ("APIConnectionError", "ConnectError"):
            return PROXY
        seen = seen.__cause__ or seen.__context__
    return ""
