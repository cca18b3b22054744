"""A small OpenAI-compatible server that answers like vLLM, for tests and benchmarks.

`python -m infra.openai_stub --port 8000 [--text-only]` prints `listening on PORT`.

Replies are deterministic functions of the request. Token ids come from
`ByteTokenizer` and are returned in vLLM's shapes when asked. A completions
`prompt` may be a list of token ids (vLLM's token-in path): those are the prompt
ids, used as they are
(`return_token_ids`: top-level `prompt_token_ids` for chat, per-choice for
completions, `choices[].token_ids`; logprobs in `choices[].logprobs` with each
token's text and bytes, and `top_logprobs` alternatives when asked). `n` > 1
makes n choices (choice i > 0 appends ` #i` to the reply). With `--text-only`
it behaves like a server that knows no token ids.

Knobs a test may put in the request body (this is a test server):
`stub_reply` (text to answer), `stub_pieces` (split the reply into this many
stream chunks), `stub_delay_s` (sleep before answering / before each stream chunk),
`stub_status` (answer with this HTTP error status), `stub_drop_after`
(close the connection after this many stream chunks).

Weights, as a vLLM server in dev mode takes them (`POST /collective_rpc`,
producers/inference/vllm_sync.py): `reload_weights` with `kwargs.weights_path`
(or, with `--old-reload`, only `update_config` + `reload_weights` without
arguments) records the path as the weights being served; `--no-dev-mode`
answers 404 there. `GET /stub/weights` returns the path and the history of
reloads and answered requests, in order.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from itertools import zip_longest
from typing import Any

import orjson

from producers.inference.base import token_text_of_bytes
from producers.inference.tokenizer import BOS, IM_END, VOCAB_SIZE, ByteTokenizer

__all__ = ["app", "reply_text", "prompt_ids", "completion_ids", "logprob_of", "token_text", "main"]

_TOK = ByteTokenizer()
TEXT_ONLY = False
OLD_RELOAD = False
DEV_MODE = True
WEIGHTS: dict[str, Any] = {"path": None, "pending": None, "history": []}


def logprob_of(token: int, position: int) -> float:
    return -0.05 - ((token * 13 + position * 7) % 89) / 50.0


def reply_text(body: dict[str, Any], endpoint: str, choice: int = 0) -> str:
    suffix = f" #{choice}" if choice else ""
    if isinstance(body.get("stub_reply"), str):
        return body["stub_reply"] + suffix
    if endpoint == "chat":
        last = body["messages"][-1].get("content") or ""
        if isinstance(last, list):
            last = "".join(p.get("text", "") for p in last if isinstance(p, dict))
        return f"stub reply {len(body['messages'])} ✓ to: {last[-48:]}{suffix}"
    prompt = body["prompt"]
    if isinstance(prompt, list):
        return f"stub completion ✓ of {len(prompt)} ids{suffix}"
    return f"stub completion ✓ of: {prompt[-48:]}{suffix}"


def prompt_ids(body: dict[str, Any], endpoint: str) -> list[int]:
    if endpoint == "chat":
        return _TOK.apply_chat_template(body["messages"])
    if isinstance(body["prompt"], list):
        return [int(i) for i in body["prompt"]]
    return [BOS, *_TOK.encode(body["prompt"])]


def completion_ids(text: str) -> list[int]:
    return [*_TOK.encode(text), IM_END]


def token_text(token: int) -> str:
    return _TEXT[token]


def _token_text(token: int) -> str:
    return token_text_of_bytes(bytes([token])) if token < 256 else _TOK.decode([token], skip_special=False)


_TEXT = [_token_text(t) for t in range(VOCAB_SIZE)]
_BYTES = [[t] if t < 256 else list(_TEXT[t].encode()) for t in range(VOCAB_SIZE)]


def _alternatives(token: int, lp: float, k: int) -> list[tuple[int, float]]:
    return [(token if j == 0 else (token + 11 * j) % 256, lp - 0.5 * j) for j in range(k)]


def _logprobs(endpoint: str, ids: list[int], start: int, k: int = 0) -> dict:
    lps = [logprob_of(t, start + i) for i, t in enumerate(ids)]
    if endpoint == "chat":
        if not k:
            return {"content": [{"token": _TEXT[t], "logprob": lp, "bytes": _BYTES[t], "top_logprobs": []}
                                for t, lp in zip(ids, lps)]}
        return {"content": [{"token": _TEXT[t], "logprob": lp, "bytes": _BYTES[t],
                             "top_logprobs": [{"token": _TEXT[a], "logprob": alp, "bytes": _BYTES[a]}
                                              for a, alp in _alternatives(t, lp, k)]}
                            for t, lp in zip(ids, lps)]}
    return {"tokens": [_TEXT[t] for t in ids], "token_logprobs": lps,
            "top_logprobs": [{_TEXT[a]: alp for a, alp in _alternatives(t, lp, k)} for t, lp in zip(ids, lps)]
            if k else None, "text_offset": None}


def _top(body: dict, endpoint: str) -> int:
    k = body.get("top_logprobs") if endpoint == "chat" else body.get("logprobs")
    return k if isinstance(k, int) and not isinstance(k, bool) else 0


def _wants_logprobs(body: dict) -> bool:
    lp = body.get("logprobs")
    return lp is not None and lp is not False


def _respond(body: dict, endpoint: str) -> dict:
    p_ids = prompt_ids(body, endpoint)
    choices, completion_tokens = [], 0
    for index in range(int(body.get("n") or 1)):
        text = reply_text(body, endpoint, index)
        c_ids = completion_ids(text)
        completion_tokens += len(c_ids)
        choice: dict[str, Any] = {"index": index, "finish_reason": "stop", "logprobs": None}
        if endpoint == "chat":
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        if not TEXT_ONLY and _wants_logprobs(body):
            choice["logprobs"] = _logprobs(endpoint, c_ids, 0, _top(body, endpoint))
        if not TEXT_ONLY and body.get("return_token_ids"):
            choice["token_ids"] = c_ids
            if endpoint != "chat":
                choice["prompt_token_ids"] = p_ids
        choices.append(choice)
    out = {"id": "stub-1", "object": "chat.completion" if endpoint == "chat" else "text_completion",
           "created": 0, "model": body.get("model", ""), "choices": choices,
           "usage": {"prompt_tokens": len(p_ids), "completion_tokens": completion_tokens,
                     "total_tokens": len(p_ids) + completion_tokens}}
    if not TEXT_ONLY and body.get("return_token_ids") and endpoint == "chat":
        out["prompt_token_ids"] = p_ids
    return out


def _pieces(text: str, n: int) -> list[str]:
    n = max(1, min(n, len(text))) if text else 1
    step = -(-len(text) // n) if text else 1
    return [text[i:i + step] for i in range(0, len(text), step)] or [""]


def _stream_events(body: dict, endpoint: str) -> list[bytes]:
    p_ids = prompt_ids(body, endpoint)
    per_choice = [_choice_chunks(body, endpoint, i, p_ids) for i in range(int(body.get("n") or 1))]
    out = [c for chunks in zip_longest(*per_choice) for c in chunks if c is not None]  # interleaved, like vLLM
    positions = sum(len(completion_ids(reply_text(body, endpoint, i))) for i in range(len(per_choice)))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": len(p_ids), "completion_tokens": positions, "total_tokens": len(p_ids) + positions}
        obj_name = "chat.completion.chunk" if endpoint == "chat" else "text_completion"
        out.append(b"data: " + orjson.dumps({"id": "stub-1", "object": obj_name, "created": 0,
                                              "model": body.get("model", ""), "choices": [],
                                              "usage": usage}) + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return out


def _choice_chunks(body: dict, endpoint: str, index: int, p_ids: list[int]) -> list[bytes]:
    text = reply_text(body, endpoint, index)
    pieces = _pieces(text, int(body.get("stub_pieces", 4)))
    want_lp = _wants_logprobs(body) and not TEXT_ONLY
    want_ids = bool(body.get("return_token_ids")) and not TEXT_ONLY
    out, pos = [], 0
    obj_name = "chat.completion.chunk" if endpoint == "chat" else "text_completion"
    for i, piece in enumerate([*pieces, None]):
        ids = _TOK.encode(piece) if piece is not None else [IM_END]
        choice: dict[str, Any] = {"index": index, "finish_reason": None if piece is not None else "stop",
                                  "logprobs": _logprobs(endpoint, ids, pos, _top(body, endpoint)) if want_lp else None}
        if endpoint == "chat":
            choice["delta"] = {"content": piece or ""} | ({"role": "assistant"} if i == 0 else {})
        else:
            choice["text"] = piece or ""
        chunk: dict[str, Any] = {"id": "stub-1", "object": obj_name, "created": 0,
                                 "model": body.get("model", ""), "choices": [choice]}
        if want_ids:
            choice["token_ids"] = ids
            if i == 0:
                if endpoint == "chat":
                    chunk["prompt_token_ids"] = p_ids
                else:
                    choice["prompt_token_ids"] = p_ids
        out.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
        pos += len(ids)
    return out


async def _read(receive) -> bytes:
    parts = []
    while True:
        msg = await receive()
        parts.append(msg.get("body", b""))
        if not msg.get("more_body"):
            return b"".join(parts)


async def _send(send, status: int, body: bytes, ctype: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _collective_rpc(body: dict) -> tuple[int, bytes]:
    """vLLM's dev-mode RPC, for the two weight-reload calls (see the module docstring)."""
    method, args, kwargs = body.get("method"), body.get("args") or [], body.get("kwargs") or {}
    if method == "update_config":
        WEIGHTS["pending"] = args[0]["model_config"]["model"]
        return 200, b"[null]"
    if method != "reload_weights":
        return 500, orjson.dumps({"error": f"worker has no method {method!r}"})
    if kwargs.get("weights_path") is not None and OLD_RELOAD:
        return 500, b'{"error": "TypeError: reload_weights() got an unexpected keyword argument \'weights_path\'"}'
    WEIGHTS["path"] = kwargs.get("weights_path") or WEIGHTS["pending"]
    WEIGHTS["history"].append(["reload", WEIGHTS["path"]])
    return 200, b"[null]"


async def app(scope, receive, send) -> None:
    """The raw ASGI app (no framework: this server must cost little in benchmarks)."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/collective_rpc" and scope["method"] == "POST":
        if not DEV_MODE:
            return await _send(send, 404, b'{"detail": "Not Found"}')
        return await _send(send, *_collective_rpc(orjson.loads(await _read(receive))))
    if scope["method"] == "GET":
        if path == "/stub/weights":
            return await _send(send, 200, orjson.dumps(WEIGHTS))
        if path.endswith("/models"):
            return await _send(send, 200, orjson.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]}))
        return await _send(send, 200 if path == "/healthz" else 404, b'{"ok": true}')
    endpoint = "chat" if path.endswith("/chat/completions") else "completions" if path.endswith("/completions") else None
    if endpoint is None:
        return await _send(send, 404, b'{"error": {"message": "not found"}}')
    try:
        body = orjson.loads(await _read(receive))
        if body.get("stub_status"):
            msg = orjson.dumps({"error": {"message": f"stub asked to fail with {body['stub_status']}"}})
            return await _send(send, int(body["stub_status"]), msg)
        if not body.get("stream"):
            if body.get("stub_delay_s"):
                await asyncio.sleep(float(body["stub_delay_s"]))
            WEIGHTS["history"].append(["answered", WEIGHTS["path"]])
            return await _send(send, 200, orjson.dumps(_respond(body, endpoint)))
        events = _stream_events(body, endpoint)
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
        return await _send(send, 400, orjson.dumps({"error": {"message": f"bad request: {exc!r}"}}))
    await _stream(send, events, float(body.get("stub_delay_s", 0)), body.get("stub_drop_after"))


async def _stream(send, events: list[bytes], delay: float, drop_after: int | None) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream")]})
    for i, ev in enumerate(events):
        if drop_after is not None and i >= drop_after:
            raise ConnectionAbortedError("stub asked to drop the stream")  # uvicorn closes the connection
        if delay:
            await asyncio.sleep(delay)
        await send({"type": "http.response.body", "body": ev, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def main(argv: list[str] | None = None) -> int:
    global TEXT_ONLY, OLD_RELOAD, DEV_MODE
    p = argparse.ArgumentParser(prog="python -m infra.openai_stub", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--text-only", action="store_true", help="answer like a server without token ids")
    p.add_argument("--keep-alive", type=float, default=300.0, help="seconds an idle connection is kept")
    p.add_argument("--old-reload", action="store_true", help="reload_weights takes no weights_path (older vLLM)")
    p.add_argument("--no-dev-mode", action="store_true", help="no /collective_rpc (vLLM without dev mode)")
    args = p.parse_args(argv)
    TEXT_ONLY, OLD_RELOAD, DEV_MODE = args.text_only, args.old_reload, not args.no_dev_mode
    import socket

    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)  # connections queue from now on, before uvicorn accepts them
    print(f"listening on {sock.getsockname()[1]}", flush=True)
    cfg = uvicorn.Config(app, loop="uvloop", http="httptools", lifespan="off", log_level="error",
                         access_log=False, timeout_keep_alive=args.keep_alive, backlog=2048)
    uvicorn.Server(cfg).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
