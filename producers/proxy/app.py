"""The proxy's HTTP surface (FastAPI).

    POST /v1/chat/completions, /v1/completions     episode from X-Episode-Id, else `adhoc`
    POST /e/{episode_id}/v1/chat/completions, ...  episode from the base URL
    GET  /v1/models, /e/{episode_id}/v1/models
    GET  /e/{episode_id}/status                    turns, errors, incomplete (for agent runners)
    GET  /healthz, /metrics                        no token needed

Routes are plain Starlette routes on the FastAPI app: the request body is
parsed once with orjson and checked by hand (`intake`), so no pydantic
validation sits on the hot path.
"""
from __future__ import annotations

import hmac
import time

import orjson
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from starlette.requests import ClientDisconnect, Request

from .forwarding import Forwarder, error_response
from .intake import Rejected, check_episode_id, parse_body
from .streaming import stream_call

__all__ = ["create_app", "ADHOC"]

ADHOC = "adhoc"
"""Episode of requests that name none."""


def create_app(fw: Forwarder, token: str) -> FastAPI:
    app = FastAPI(title="swe-ledger model proxy", docs_url=None, redoc_url=None, openapi_url=None)
    expected = f"Bearer {token}".encode()
    max_body = fw.config.max_body_bytes

    def authorised(request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, expected)

    def episode_of(request: Request) -> str:
        episode = request.path_params.get("episode_id") or request.headers.get("x-episode-id") or ADHOC
        return check_episode_id(episode)

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise Rejected(400, f"bad Content-Length header {declared[:40]!r}")
            if int(declared) > max_body:
                raise Rejected(413, f"request body of {declared} bytes exceeds the limit of {max_body} bytes",
                               "body_too_large")
        parts, size = [], 0
        async for piece in request.stream():
            size += len(piece)
            if size > max_body:
                raise Rejected(413, f"request body exceeds the limit of {max_body} bytes", "body_too_large")
            parts.append(piece)
        return b"".join(parts)

    async def handle(request: Request, endpoint: str) -> Response:
        t0 = time.perf_counter()
        try:
            if not authorised(request):
                raise Rejected(401, "missing or wrong bearer token (Authorization: Bearer <token>)",
                               "unauthorized")
            episode = episode_of(request)
            raw = await read_body(request)
            parsed = parse_body(raw, endpoint)
        except Rejected as exc:
            fw.metrics.error("rejected")
            fw.metrics.observe(endpoint, exc.status, time.perf_counter() - t0)
            return error_response(exc.status, exc.message, exc.code)
        except ClientDisconnect:
            return Response(status_code=499)
        run_id = request.headers.get("x-run-id") or fw.config.run_id
        call = fw.open_call(episode, endpoint, raw, parsed, run_id)
        if parsed.stream:
            return await stream_call(fw, call)
        response = await fw.once(call)
        fw.metrics.observe(endpoint, response.status_code, time.perf_counter() - t0)
        return response

    async def chat(request: Request) -> Response:
        return await handle(request, "chat")

    async def completions(request: Request) -> Response:
        return await handle(request, "completions")

    async def models(request: Request) -> Response:
        if not authorised(request):
            return error_response(401, "missing or wrong bearer token", "unauthorized")
        names = getattr(fw.upstream, "models", None) or [fw.upstream.name]
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "swe-ledger"} for n in names]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")

    async def status(request: Request) -> Response:
        if not authorised(request):
            return error_response(401, "missing or wrong bearer token", "unauthorized")
        try:
            episode = check_episode_id(request.path_params["episode_id"])
        except Rejected as exc:
            return error_response(exc.status, exc.message, exc.code)
        return Response(orjson.dumps(fw.status(episode)), media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(orjson.dumps({"ok": True, "upstream": fw.upstream.name}), media_type="application/json")

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(fw.metrics.render(), media_type="text/plain; version=0.0.4")

    for prefix in ("", "/e/{episode_id}"):
        app.router.add_route(f"{prefix}/v1/chat/completions", chat, methods=["POST"])
        app.router.add_route(f"{prefix}/v1/completions", completions, methods=["POST"])
        app.router.add_route(f"{prefix}/v1/models", models, methods=["GET"])
    app.router.add_route("/e/{episode_id}/status", status, methods=["GET"])
    app.router.add_route("/healthz", healthz, methods=["GET"])
    app.router.add_route("/metrics", metrics, methods=["GET"])
    return app
