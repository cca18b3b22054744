"""Local sandbox: episode set-up, per-command cost and output throughput against raw git/bash.

Raw baseline, measured in the same run: `git clone --shared` + `bash -c` via
subprocess + `git diff` + rmtree for an episode; `subprocess.run(["bash", "-c",
cmd])` for a command; a plain pipe read for output. The sandbox adds a fresh
shallow checkout, prlimit, network and read-only mount namespaces,
process-group bookkeeping and the capped reader. `writable_command_ms` is the
same command in a sandbox that may write outside itself (no mount namespace):
the difference is what filesystem isolation costs per command.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--episodes", type=int, default=20, help="sandboxes created and closed")
    p.add_argument("--commands", type=int, default=100, help="`true` commands run")
    p.add_argument("--output-mb", type=int, default=256, help="MiB of output for throughput")


def run(args: argparse.Namespace) -> dict:
    from producers.datasets.bundled import ensure_bundled
    from producers.sandbox.local import LocalSandboxFactory

    work = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    try:
        inst = ensure_bundled(work / "cache")[0]
        repo = Path(inst.repo_path)
        factory = LocalSandboxFactory(root=work / "sandboxes")
        result = {"episodes": args.episodes, "commands": args.commands,
                  "output_mb": args.output_mb}
        result |= _episodes(factory, repo, inst.base_commit, work, args.episodes)
        with factory.create(repo, inst.base_commit) as sb:
            result |= _commands(sb, args.commands)
            result |= _throughput(sb, args.output_mb)
        writable = LocalSandboxFactory(root=work / "sandboxes", write_outside=True)
        with writable.create(repo, inst.base_commit) as sb:
            result["writable_command_ms"] = _commands(sb, args.commands)["command_ms"]
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _episodes(factory, repo: Path, base: str, work: Path, n: int) -> dict:
    start = time.perf_counter()
    for _ in range(n):
        with factory.create(repo, base) as sb:
            sb.run("true")
            sb.diff()
    ledger = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for i in range(n):
        dest = work / f"raw-{i}"
        subprocess.run(["git", "clone", "-q", "--shared", str(repo), str(dest)], check=True)
        subprocess.run(["git", "checkout", "-q", "--detach", base], cwd=dest, check=True)
        subprocess.run(["bash", "-c", "true"], cwd=dest, check=True)
        subprocess.run(["git", "diff", base], cwd=dest, check=True, capture_output=True)
        shutil.rmtree(dest)
    raw = (time.perf_counter() - start) / n
    return {"episode_ms": round(ledger * 1e3, 1), "raw_episode_ms": round(raw * 1e3, 1),
            "episode_ratio": round(ledger / raw, 2)}


def _commands(sb, n: int) -> dict:
    start = time.perf_counter()
    for _ in range(n):
        sb.run("true")
    ledger = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run(["bash", "-c", "true"], cwd=sb.workdir, capture_output=True)
    raw = (time.perf_counter() - start) / n
    return {"command_ms": round(ledger * 1e3, 2), "raw_command_ms": round(raw * 1e3, 2),
            "command_ratio": round(ledger / raw, 2)}


def _throughput(sb, mb: int) -> dict:
    cmd = f"head -c {mb << 20} /dev/zero"
    start = time.perf_counter()
    res = sb.run(cmd, timeout_s=600)
    ledger = time.perf_counter() - start
    assert res.output_size == mb << 20
    start = time.perf_counter()
    with subprocess.Popen(["bash", "-c", cmd], stdout=subprocess.PIPE) as proc:
        while proc.stdout.read(1 << 20):
            pass
    raw = time.perf_counter() - start
    return {"output_mb_s": round(mb / ledger, 1), "raw_output_mb_s": round(mb / raw, 1),
            "output_ratio": round(raw / ledger, 2)}
