"""Weights for an `openai:` upstream that is a vLLM server: pushed on each `policy.updated`.

`vllm serve` started with `VLLM_SERVER_DEV_MODE=1` serves a development
endpoint (vLLM's `collective_rpc` route of its API server):

    POST {server}/collective_rpc  {"method": NAME, "args": [...], "kwargs": {...}}

which calls NAME on every worker. `VllmWeightSync` loads a trainer checkpoint's
`hf/` directory (written with `--export-hf`) into the running server with

1. `{"method": "reload_weights", "kwargs": {"weights_path": DIR}}` (the
   model runner's in-place reload from a path, vLLM >= 0.12), or where that
   signature is not there,
2. `{"method": "update_config", "args": [{"model_config": {"model": DIR}}]}`
   then `{"method": "reload_weights"}` (in-place reload from the model path).

Around the push the upstream's `WeightGate` is closed: new requests wait,
in-flight ones finish on the old weights and are stamped with the old version;
then the version is switched and the gate reopens. This holds as long as the
proxy is the server's only client. If a push fails, the weights the server holds
can no longer be known: responses are stamped `unknown` (never trained on)
until a later push succeeds. Restarting the server on the checkpoint is the
fallback for servers without the development endpoint (docs/training.md).
"""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from events.payloads.policy import UNKNOWN_POLICY, PolicyVersion

__all__ = ["WeightGate", "VllmWeightSync", "WeightSyncError"]


class WeightSyncError(RuntimeError):
    """The server did not take the new weights; the message carries its answer."""


class WeightGate:
    """Lets requests through while open; `close_and_drain()` waits for in-flight ones to finish.

    Requests run on the proxy's event loop, the weight push on the follower's thread.
    """

    def __init__(self, version: PolicyVersion = UNKNOWN_POLICY):
        self.version = version
        self._lock = threading.Lock()
        self._inflight = 0
        self._closed = False

    async def enter(self) -> PolicyVersion:
        """Wait until open, count this request in; returns the version it will be served by."""
        while True:
            with self._lock:
                if not self._closed:
                    self._inflight += 1
                    return self.version
            await asyncio.sleep(0.005)

    def exit(self) -> None:
        with self._lock:
            self._inflight -= 1

    def close_and_drain(self, timeout_s: float) -> None:
        with self._lock:
            self._closed = True
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                if self._inflight == 0:
                    return
            if time.monotonic() > deadline:
                raise WeightSyncError(f"in-flight requests did not finish within {timeout_s}s")
            time.sleep(0.005)

    def open(self, version: PolicyVersion) -> None:
        with self._lock:
            self.version = version
            self._closed = False


class VllmWeightSync:
    """`apply(checkpoint, version)` for a PolicyFollower: push `checkpoint/hf` into the server."""

    def __init__(self, base_url: str, gate: WeightGate, *, timeout_s: float = 600.0, api_key: str | None = None):
        self.root = base_url.rstrip("/").removesuffix("/v1")
        self.gate = gate
        self.timeout_s = timeout_s
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.calls: list[str] = []
        """Which method loaded each checkpoint ("reload_weights(path)" or "update_config+reload_weights")."""

    def __call__(self, checkpoint: str, version: PolicyVersion) -> None:
        hf = Path(checkpoint) / "hf"
        if not (hf / "config.json").exists():
            raise WeightSyncError(f"{checkpoint} has no hf/ model directory: run the trainer with --export-hf")
        self.gate.close_and_drain(self.timeout_s)
        served = UNKNOWN_POLICY
        try:
            self.calls.append(self._push(str(hf.resolve())))
            served = version
        finally:
            self.gate.open(served)

    def _push(self, path: str) -> str:
        import httpx

        with httpx.Client(base_url=self.root, headers=self.headers, timeout=self.timeout_s) as client:
            first = self._rpc(client, {"method": "reload_weights", "kwargs": {"weights_path": path}})
            if first is None:
                return "reload_weights(weights_path)"
            second = self._rpc(client, {"method": "update_config", "args": [{"model_config": {"model": path}}]})
            third = second or self._rpc(client, {"method": "reload_weights"})
            if third is None:
                return "update_config+reload_weights"
        raise WeightSyncError(f"{self.root}/collective_rpc refused both reload calls: {first}; {third} "
                              "(is the server started with VLLM_SERVER_DEV_MODE=1?)")

    @staticmethod
    def _rpc(client: Any, body: dict) -> str | None:
        """None on success, else what the server said."""
        try:
            resp = client.post("/collective_rpc", json=body)
        except Exception as exc:  # noqa: BLE001 - reported to the caller with the server's URL
            return f"{type(exc).__name__}: {exc}"
        return None if resp.status_code == 200 else f"{body['method']} -> {resp.status_code} {resp.text[:300]}"
