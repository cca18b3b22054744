"""The agents' only way to a model: the stock OpenAI client pointed at the proxy.

Errors are translated at this boundary into `ModelCallFailed`, which says
whether the call timed out and whether the proxy could not record it (HTTP 503:
the episode is then incomplete and must not reach the trainer).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import EpisodeContext

__all__ = ["ModelReply", "ModelCallFailed", "ProxyModel", "LOG_UNAVAILABLE_STATUS"]

LOG_UNAVAILABLE_STATUS = 503
"""The proxy answers 503 when it could not make a call durable in the log."""


@dataclass(frozen=True)
class ModelReply:
    text: str
    finish_reason: str | None
    raw: dict[str, Any]
    request_id: str | None = None
    """The completion's `id` (through the proxy: `chatcmpl-` + the proxy's request id)."""

    @property
    def response_event_id(self) -> str | None:
        """The call's `proxy.response` event id (None when the reply did not come through the proxy)."""
        from events.ids import proxy_response_of

        return proxy_response_of(self.request_id)


class ModelCallFailed(RuntimeError):
    def __init__(self, message: str, *, status: int | None = None, timed_out: bool = False):
        super().__init__(message)
        self.status = status
        self.timed_out = timed_out

    @property
    def unrecorded(self) -> bool:
        return self.status == LOG_UNAVAILABLE_STATUS


class ProxyModel:
    """Chat completions for one episode through the proxy (no client-side retries)."""

    def __init__(self, ctx: EpisodeContext, *, request_timeout_s: float = 600.0):
        import openai

        self._openai = openai
        self.ctx = ctx
        self.request_timeout_s = request_timeout_s
        self.client = openai.OpenAI(base_url=ctx.base_url, api_key=ctx.api_key, max_retries=0,
                                    timeout=request_timeout_s)

    def sampling_kwargs(self) -> dict[str, Any]:
        s = self.ctx.sampling
        kwargs: dict[str, Any] = {"temperature": s.temperature, "top_p": s.top_p}
        if s.max_tokens is not None:
            kwargs["max_tokens"] = s.max_tokens
        if self.ctx.seed is not None:
            kwargs["seed"] = self.ctx.seed
        return kwargs

    def complete(self, messages: list[dict[str, Any]], *, timeout_s: float | None = None) -> ModelReply:
        timeout = min(self.request_timeout_s, timeout_s) if timeout_s else self.request_timeout_s
        openai = self._openai
        try:
            resp = self.client.chat.completions.create(
                model=self.ctx.model, messages=_wire(messages), timeout=timeout,
                **self.sampling_kwargs())
        except openai.APITimeoutError as exc:
            raise ModelCallFailed(f"model call timed out after {timeout:.0f}s", timed_out=True) from exc
        except openai.APIStatusError as exc:
            raise ModelCallFailed(f"proxy answered HTTP {exc.status_code}: {_detail(exc)}",
                                  status=exc.status_code) from exc
        except openai.APIError as exc:
            raise ModelCallFailed(f"model call failed: {exc}") from exc
        if not resp.choices:
            raise ModelCallFailed("proxy answered with no choices")
        choice = resp.choices[0]
        return ModelReply(text=choice.message.content or "", finish_reason=choice.finish_reason,
                          raw=resp.model_dump(mode="json"), request_id=resp.id or None)


def _wire(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as sent: the agent's bookkeeping (`extra`) stays on this side."""
    return [{k: v for k, v in m.items() if k != "extra"} for m in messages]


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err)
        return str(err)
    return str(exc)
