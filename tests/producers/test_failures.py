"""Which model-client errors are infrastructure failures (producers.failures)."""
from __future__ import annotations

import httpx
import openai

from producers.failures import LOG, PROXY, UPSTREAM, exception_cause, http_cause


def _status_error(code: int) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://proxy/e/ep/v1/chat/completions")
    return openai.APIStatusError("upstream failed", response=httpx.Response(code, request=request), body=None)


def _wrapped(inner: BaseException) -> RuntimeError:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise RuntimeError("litellm.InternalServerError: see above") from exc
    except RuntimeError as outer:
        return outer


def test_proxy_statuses_and_connection_failures_are_infra():
    assert [http_cause(c) for c in (502, 503, 504, 400, 429, None)] == [UPSTREAM, LOG, UPSTREAM, "", "", ""]
    assert exception_cause(_status_error(502)) == UPSTREAM
    assert exception_cause(_wrapped(_status_error(503))) == LOG          # found through the chain
    request = httpx.Request("POST", "http://127.0.0.1:1/v1")
    assert exception_cause(_wrapped(openai.APIConnectionError(request=request))) == PROXY


def test_model_side_errors_are_not():
    request = httpx.Request("POST", "http://proxy/v1")
    assert exception_cause(_status_error(400)) == ""                      # a bad request is the agent's
    assert exception_cause(openai.APITimeoutError(request=request)) == ""  # slow is not absent
    assert exception_cause(ValueError("no bash block")) == ""
