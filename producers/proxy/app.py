"""The proxy's HTTP surface: a FastAPI app behind a raw-ASGI fast path.

    POST /v1/chat/completions, /v1/completions     episode from X-Episode-Id, else `adhoc`
    POST /e/{episode_id}/v1/chat/completions, ...  episode from the base URL
    GET  /v1/models[/{model}], /e/{episode_id}/v1/models[/{model}]
    GET  /e/{episode_id}/status                    turns, errors, incomplete (for agent runners)
    GET  /healthz, /metrics                        no token needed

The two POST endpoints are the hot path: `ProxyApp` answers them straight from
the ASGI scope (body parsed once with orjson and checked in `intake`),
skipping the framework's middleware, routing and validation; every other
request goes to the FastAPI app. Every error, the framework's 404 and 405
included, is in the OpenAI shape `{"error": {"message", "type", "param", "code"}}`.
"""
from __future__ import annotations

import hmac
import time

import orjson
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import Request

from .forwarding import Forwarder, error_response
from .intake import Rejected, check_episode_id, check_id, parse_body
from .streaming import stream_call

__all__ = ["create_app", "ProxyApp", "ADHOC"]

ADHOC = "adhoc"
"""Episode of requests that name none."""

_ENDPOINTS = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}
_UNAUTHORISED = "missing or wrong bearer token (Authorization: Bearer <token>)"


def _route(path: str) -> tuple[str, str | None] | None:
    """(endpoint, episode from the path or None) for a hot-path URL, else None."""
    if path in _ENDPOINTS:
        return _ENDPOINTS[path], None
    if path.startswith("/e/"):
        episode, sep, rest = path[3:].partition("/")
        if sep and ("/" + rest) in _ENDPOINTS:
            return _ENDPOINTS["/" + rest], episode
    return None


def rejection(exc: Rejected) -> Response:
    return error_response(exc.status, exc.message, exc.code, exc.headers, param=exc.param)


class ProxyApp:
    """ASGI entry point: hot POSTs handled here, the rest by the FastAPI app."""

    def __init__(self, fw: Forwarder, token: str, api: FastAPI):
        self.fw = fw
        self.api = api
        self.expected = f"Bearer {token}".encode()
        self.max_body = fw.config.max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        route = _route(scope["path"])
        if route is None:
            await self.api(scope, receive, send)
            return
        if scope["method"] != "POST":
            response = error_response(405, f"{scope['method']} is not allowed on {scope['path']}; use POST",
                                      "method_not_allowed", {"Allow": "POST"})
        else:
            response = await self.handle(scope, receive, *route)
        if response is not None:
            await response(scope, receive, send)

    async def handle(self, scope, receive, endpoint: str, path_episode: str | None) -> Response | None:
        fw, t0 = self.fw, time.perf_counter()
        headers = dict(scope["headers"])
        try:
            if not hmac.compare_digest(headers.get(b"authorization", b""), self.expected):
                raise Rejected(401, _UNAUTHORISED, "invalid_api_key")
            episode = path_episode if path_episode is not None else \
                headers.get(b"x-episode-id", ADHOC.encode()).decode("latin-1")
            check_episode_id(episode)
            run_id = fw.config.run_id
            if b"x-run-id" in headers:
                run_id = check_id(headers[b"x-run-id"].decode("latin-1"), "run id")
            raw = await self.read_body(headers, receive)
            if raw is None:
                return None  # the client went away before sending its request
            parsed = parse_body(raw, endpoint)
            fw.check_choices(parsed)
            fw.check_size(episode, endpoint, raw, parsed, run_id)
        except Rejected as exc:
            fw.metrics.error("rejected")
            fw.metrics.observe(endpoint, exc.status, time.perf_counter() - t0)
            return rejection(exc)
        call = fw.open_call(episode, endpoint, raw, parsed, run_id)
        if parsed.stream:
            return await stream_call(fw, call)
        response = await fw.once(call)
        fw.metrics.observe(endpoint, response.status_code, time.perf_counter() - t0)
        return response

    async def read_body(self, headers: dict, receive) -> bytes | None:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise Rejected(413, f"request body of {int(declared)} bytes exceeds the limit of "
                           f"{self.max_body} bytes", "body_too_large")
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            piece = message.get("body", b"")
            size += len(piece)
            if size > self.max_body:
                raise Rejected(413, f"request body exceeds the limit of {self.max_body} bytes", "body_too_large")
            parts.append(piece)
            if not message.get("more_body"):
                return b"".join(parts) if len(parts) != 1 else parts[0]


def create_app(fw: Forwarder, token: str) -> ProxyApp:
    api = FastAPI(title="swe-ledger model proxy", docs_url=None, redoc_url=None, openapi_url=None)
    expected = f"Bearer {token}".encode()

    def authorised(request: Request) -> bool:
        return hmac.compare_digest(request.headers.get("authorization", "").encode("latin-1"), expected)

    def model_names() -> list[str]:
        return list(getattr(fw.upstream, "models", None) or [fw.upstream.name])

    def model_card(name: str) -> dict:
        return {"id": name, "object": "model", "created": 0, "owned_by": "swe-ledger"}

    async def models(request: Request) -> Response:
        if not authorised(request):
            return error_response(401, _UNAUTHORISED, "invalid_api_key")
        data = [model_card(n) for n in model_names()]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")

    async def model(request: Request) -> Response:
        if not authorised(request):
            return error_response(401, _UNAUTHORISED, "invalid_api_key")
        name = request.path_params["model"]
        if name not in model_names():
            return error_response(404, f"model {name[:200]!r} does not exist; GET /v1/models lists them",
                                  "model_not_found", param="model")
        return Response(orjson.dumps(model_card(name)), media_type="application/json")

    async def status(request: Request) -> Response:
        if not authorised(request):
            return error_response(401, _UNAUTHORISED, "invalid_api_key")
        try:
            episode = check_episode_id(request.path_params["episode_id"])
        except Rejected as exc:
            return rejection(exc)
        return Response(orjson.dumps(fw.status(episode)), media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(orjson.dumps({"ok": True, "upstream": fw.upstream.name}), media_type="application/json")

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(fw.metrics.render(), media_type="text/plain; version=0.0.4")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            allow = (exc.headers or {}).get("Allow", "GET")
            return error_response(405, f"{request.method} is not allowed on {request.url.path[:200]}; use {allow}",
                                  "method_not_allowed", {"Allow": allow})
        if exc.status_code == 404:
            return error_response(404, f"no such endpoint: {request.url.path[:200]}", "not_found")
        return error_response(exc.status_code, str(exc.detail), "invalid_request")

    for prefix in ("", "/e/{episode_id}"):
        api.router.add_route(f"{prefix}/v1/models", models, methods=["GET"])
        api.router.add_route(f"{prefix}/v1/models/{{model:path}}", model, methods=["GET"])
    api.router.add_route("/e/{episode_id}/status", status, methods=["GET"])
    api.router.add_route("/healthz", healthz, methods=["GET"])
    api.router.add_route("/metrics", metrics, methods=["GET"])
    api.add_exception_handler(HTTPException, http_error)
    return ProxyApp(fw, token, api)
