"""Model proxy: added latency vs. calling the upstream directly, and proxy throughput.

Three processes: the stub OpenAI-compatible upstream (`infra.openai_stub`), the
proxy (`ledger proxy`, one worker, every event durably appended to a SQLite
log) and this load generator. At each concurrency level, every load worker has
its own connections (one direct, one through the proxy) and sends the same
request alternately to both, so direct and proxied latencies are measured
interleaved under the same load. Then the proxy alone is driven as hard as the
workers can for the throughput figure. Finally the log is read back: every 200
answer the workers received must have its `proxy.response` event.

Added latency is p50(proxy) - p50(direct) and p99(proxy) - p99(direct).

`proxy_cpu_us_per_request` is the proxy process's CPU time (user + system)
per request in the throughput phase: unlike latency, it hardly moves with the
machine's load. `validation` is what checking a request costs, measured in this process on the
benchmark's body: the proxy's intake (JSON parse + depth bound + the OpenAI
schema) against the JSON parse alone, best of five rounds.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["add_arguments", "run"]

ROOT = Path(__file__).resolve().parents[2]
BODY = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "Say hi."}],
                   "max_tokens": 16, "temperature": 0.0}).encode()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--levels", default="1,16,64", help="concurrency levels, comma separated")
    p.add_argument("--pairs", type=int, default=1000, help="direct+proxy request pairs per level")
    p.add_argument("--throughput-requests", type=int, default=3000, help="proxy-only requests per level")
    p.add_argument("--log", default=None, help="sqlite log URL (default: a fresh temp file)")


class Conn:
    """One keep-alive HTTP/1.1 connection with a precomputed request (cheap to drive)."""

    def __init__(self, port: int, path: str, token: str | None):
        self.port = port
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
                f"Content-Length: {len(BODY)}"]
        if token:
            head.append(f"Authorization: Bearer {token}")
        self.request = ("\r\n".join(head) + "\r\n\r\n").encode() + BODY

    async def open(self) -> "Conn":
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def send(self) -> int:
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


async def _latency_phase(level: int, pairs: int, stub: int, proxy: int, token: str) -> dict:
    direct_ms: list[float] = []
    proxy_ms: list[float] = []
    ok = 0

    async def worker(w: int) -> None:
        nonlocal ok
        d = await Conn(stub, "/v1/chat/completions", None).open()
        p = await Conn(proxy, f"/e/bench-c{level}-w{w}/v1/chat/completions", token).open()
        for i in range(pairs // level):
            order = (d, p) if i % 2 == 0 else (p, d)
            for conn in order:
                t0 = time.perf_counter()
                status = await conn.send()
                (direct_ms if conn is d else proxy_ms).append(time.perf_counter() - t0)
                if conn is p and status == 200:
                    ok += 1
        d.close()
        p.close()

    await asyncio.gather(*[worker(w) for w in range(level)])
    return {"direct": direct_ms, "proxy": proxy_ms, "ok": ok}


async def _throughput_phase(level: int, total: int, proxy: int, token: str) -> tuple[float, int]:
    ok = 0

    async def worker(w: int) -> None:
        nonlocal ok
        p = await Conn(proxy, f"/e/bench-c{level}-t{w}/v1/chat/completions", token).open()
        for _ in range(total // level):
            status = await p.send()  # not `ok += await ...`: that reads `ok` before awaiting
            ok += status == 200
        p.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[worker(w) for w in range(level)])
    return (total // level) * level / (time.perf_counter() - t0), ok


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start(cmd: list[str]) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline()


def _recorded(log_url: str) -> dict[int, int]:
    from events.log import open_log

    counts: dict[int, int] = {}
    log = open_log(log_url)
    try:
        for rec in log.read("proxy"):
            ev = rec.event
            if ev.type == "proxy.response" and ev.payload.episode_id.startswith("bench-c"):
                level = int(ev.payload.episode_id[len("bench-c"):].split("-")[0])
                counts[level] = counts.get(level, 0) + 1
    finally:
        log.close()
    return counts


def _per_call_us(fn, n: int = 20000) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n * 1e6)
    return best


def validation_cost() -> dict:
    """Microseconds per request: the proxy's intake of BODY, and the bare JSON parse it starts with."""
    import orjson

    from producers.proxy.intake import parse_body

    intake = _per_call_us(lambda: parse_body(BODY, "chat"))
    parse = _per_call_us(lambda: orjson.loads(BODY))
    return {"intake_us": round(intake, 2), "json_parse_us": round(parse, 2),
            "checks_us": round(intake - parse, 2)}


def run(args: argparse.Namespace) -> dict:
    import uvloop

    levels = [int(x) for x in args.levels.split(",")]
    tmp = tempfile.mkdtemp(prefix="bench-proxy-")
    log_url = args.log or f"sqlite:///{tmp}/ledger.db"
    stub, line = _start([sys.executable, "-m", "infra.openai_stub", "--port", "0"])
    stub_port = int(line.split()[-1])
    proxy, line = _start([sys.executable, "main.py", "proxy", "--log", log_url, "--port", "0", "--token", "bench",
                          "--upstream", f"openai:http://127.0.0.1:{stub_port}/v1"])
    proxy_port = json.loads(line)["port"]
    results: dict[str, dict] = {}
    acked: dict[int, int] = {}
    try:
        for level in levels:
            lat = uvloop.run(_latency_phase(level, args.pairs, stub_port, proxy_port, "bench"))
            cpu0 = _cpu_s(proxy.pid)
            rps, ok = uvloop.run(_throughput_phase(level, args.throughput_requests, proxy_port, "bench"))
            cpu_us = (_cpu_s(proxy.pid) - cpu0) / max(1, args.throughput_requests // level * level) * 1e6
            acked[level] = lat["ok"] + ok
            d, p = lat["direct"], lat["proxy"]
            results[str(level)] = {
                "direct_p50_ms": round(_pct(d, 0.5), 3), "proxy_p50_ms": round(_pct(p, 0.5), 3),
                "added_p50_ms": round(_pct(p, 0.5) - _pct(d, 0.5), 3),
                "direct_p99_ms": round(_pct(d, 0.99), 3), "proxy_p99_ms": round(_pct(p, 0.99), 3),
                "added_p99_ms": round(_pct(p, 0.99) - _pct(d, 0.99), 3),
                "direct_mean_ms": round(statistics.fmean(d) * 1000, 3),
                "proxy_rps": round(rps, 1), "requests": len(p) + args.throughput_requests // level * level,
                "proxy_cpu_us_per_request": round(cpu_us),
            }
    finally:
        proxy.terminate()
        proxy.wait(30)
        stub.kill()
        stub.wait()
    recorded = _recorded(log_url)
    for level in levels:
        results[str(level)]["events_lost"] = max(0, acked[level] - recorded.get(level, 0))
        results[str(level)]["acknowledged"] = acked[level]
    results["validation"] = validation_cost()
    results["setup"] = {"log": log_url, "cpus": os.cpu_count(), "proxy_workers": 1,
                        "upstream": "infra.openai_stub (uvicorn+httptools, raw ASGI)"}
    return results
